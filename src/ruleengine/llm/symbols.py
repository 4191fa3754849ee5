"""Symbols named in a prompt, taken out before the model sees it (seed 000: symbols are injected at run time).

A strategy is a template: "buy SPY when RSI(14) < 30" becomes rules over a price slot, and SPY is given when
it runs. The model receives the prompt with each symbol replaced by a placeholder (``<symbol 1>``), so it
cannot write a ticker into the document, and the symbols come back separately for the backtest.

What counts as a symbol: a cashtag (``$AAPL``), an explicit slot mapping (``asset_a=GLD``), or an upper-case
word of 2-5 letters (optionally ``BRK.B`` / ``BF-B``) that is not a known abbreviation of trading prose
(RSI, SMA, ETF, EPS, the function names, ...). Single letters need a cashtag (``$F``): "I" and "A" are words.

Example:
    >>> e = extract_symbols("Buy SPY and QQQ when RSI(14) < 30 and price is above the 200-day SMA")
    >>> e.symbols, e.text
    (('SPY', 'QQQ'), 'Buy <symbol 1> and <symbol 2> when RSI(14) < 30 and price is above the 200-day SMA')
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import FUNCTIONS, KIND_COLUMNS

#: upper-case words of trading prose that are not tickers (plus every function and column name, below)
_NOT_SYMBOLS_TEXT = """
AND OR NOT IF THEN ELSE WHEN BUY SELL LONG SHORT STOP LOSS TAKE PROFIT EXIT ENTRY HOLD ALL ANY THE
MA DMA SMA EMA WMA RSI MACD ATR ADX OBV CCI MFI ROC VWAP TWAP BB KC DC PSAR SAR STOCH TRIX DI DMI
EPS PE PEG PB PS ROE ROA ROI EBIT EBITDA FCF TTM YOY QOQ YTD MTD QTD ATH ATL EOD HOD LOD OHLC OHLCV
USD EUR GBP JPY CHF CAD AUD US USA UK EU ETF ETFS ETN IPO CEO CFO CTO COO SEC FOMC FED GDP CPI PPI
NFP AI ML API LLM GPT TA SL TP PNL NAV AUM DCA BTFD FOMO OTC NYSE NASDAQ AMEX ARCA CBOE NYMEX
ID OK NA TBD FYI ASAP MAX MIN AVG STD DEV VOL PCT BPS DAY DAYS WEEK MONTH YEAR
"""
NOT_SYMBOLS = frozenset(_NOT_SYMBOLS_TEXT.split())

_CASHTAG = re.compile(r"\$([A-Za-z]{1,6}(?:[.-][A-Za-z]{1,2})?)\b")
_MAPPING = re.compile(r"\b([a-z_][a-z0-9_]*)\s*=\s*\$?([A-Z]{1,6}(?:[.-][A-Z]{1,2})?)\b")
_WORD = re.compile(r"(?<![\w$.])([A-Z]{2,5}(?:[.-][A-Z]{1,2})?)(?![\w(])")


def _stop_words() -> frozenset[str]:
    cols = {c.upper() for cs in KIND_COLUMNS.values() for c in cs}
    return NOT_SYMBOLS | {f.upper() for f in FUNCTIONS} | cols | {k.upper() for k in KIND_COLUMNS}


@dataclass(frozen=True)
class Extraction:
    """A prompt without its symbols.

    Attributes:
        text: the prompt with symbols replaced by ``<symbol N>`` (explicit mappings by their slot name).
        symbols: the symbols in order of first mention, without duplicates.
        slots: explicit slot mappings written in the prompt (``asset_a=GLD`` -> {"asset_a": "GLD"}).
    """

    text: str
    symbols: tuple[str, ...] = ()
    slots: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"symbols": list(self.symbols), "slots": dict(self.slots)}


def extract_symbols(prompt: str, extra_stop_words: Sequence[str] = ()) -> Extraction:
    """Take the symbols out of `prompt` (see the module docstring for what counts as one)."""
    stop = _stop_words() | {w.upper() for w in extra_stop_words}
    order: list[str] = []
    slots: dict[str, str] = {}

    def remember(sym: str) -> int:
        sym = sym.upper()
        if sym not in order:
            order.append(sym)
        return order.index(sym) + 1

    def mapping(m: re.Match[str]) -> str:
        slot, sym = m.group(1), m.group(2).upper()
        if sym in stop:
            return m.group(0)
        slots[slot] = sym
        remember(sym)
        return slot

    text = _MAPPING.sub(mapping, prompt)
    text = _CASHTAG.sub(lambda m: f"<symbol {remember(m.group(1))}>", text)

    def word(m: re.Match[str]) -> str:
        sym = m.group(1)
        if sym in stop or sym.split(".")[0].split("-")[0] in stop:
            return sym
        return f"<symbol {remember(sym)}>"

    text = _WORD.sub(word, text)
    return Extraction(text=text, symbols=tuple(order), slots=slots)


def symbols_for(strategy: Any, symbols: Sequence[str], slots: Mapping[str, str] | None = None) -> Any:
    """The ``symbols`` argument of `ruleengine.backtest` for a strategy: None, ``"SPY,QQQ"`` or a slot mapping.

    Explicit slot mappings win. A strategy with several price slots and as many symbols maps them in the
    order of its slots (a pair: asset_a, asset_b); one price slot runs every symbol (a universe).

    Example:
        >>> from ruleengine import load_strategy
        >>> pair = load_strategy({"name": "p", "data": {"asset_a": {}, "asset_b": {}},
        ...                       "entry": ["asset_a.close > asset_b.close"]})
        >>> symbols_for(pair, ["GLD", "SLV"])
        {'asset_a': 'GLD', 'asset_b': 'SLV'}
    """
    if slots:
        return dict(slots)
    if not symbols:
        return None
    price_slots = [name for name, slot in strategy.data.items() if slot.kind == "ohlcv"]
    if len(price_slots) > 1 and len(symbols) == len(price_slots):
        return dict(zip(price_slots, symbols, strict=True))
    return ",".join(symbols)
