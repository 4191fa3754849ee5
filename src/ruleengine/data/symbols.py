"""Symbols given at run time, mapped onto a strategy's data slots (seed 000: symbols are never in a strategy).

A *run* maps every slot to one ticker. Accepted forms:

* ``"SPY"``: one run; every slot reads SPY (prices + earnings of the same company). A strategy with two
  or more price slots (a pair) needs a ticker per slot (D115 otherwise).
* ``"SPY,QQQ,IWM"`` or ``["SPY", "QQQ"]``: a universe, one run per symbol (every slot reads that symbol).
* ``"asset_a=GLD,asset_b=SLV"`` or ``{"asset_a": "GLD", "asset_b": "SLV"}``: one run with a ticker per slot.
  When every named slot has the same ticker (``prices=AAPL``), unnamed slots that are not price slots read
  it too (the company's earnings); otherwise a slot without a ticker, or a ticker for a slot the strategy
  does not have, is error D115.
* ``"asset_a=XLE,asset_b=XLF;asset_a=GLD,asset_b=GDX"`` or a list of such mappings: several runs, each a
  ticker per slot (several pairs; ``portfolio=True`` trades them from one account). A malformed run is D117
  with its character position in the text.
* ``"@path/to/universe.txt"`` (one symbol per line, ``#`` comments) or a constituents Parquet/CSV with a
  ``symbol`` column: a universe read from a file.

Example:
    >>> parse_symbols("asset_a=GLD,asset_b=SLV", ["asset_a", "asset_b"])
    [{'asset_a': 'GLD', 'asset_b': 'SLV'}]
    >>> parse_symbols("SPY,QQQ", ["prices", "earnings"], {"prices": "ohlcv", "earnings": "earnings"})
    [{'prices': 'SPY', 'earnings': 'SPY'}, {'prices': 'QQQ', 'earnings': 'QQQ'}]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import Diagnostic, RuleEngineError, Span, did_you_mean

Run = dict[str, str]
#: Reads the universe file of an ``@path`` symbols spec (the path without its '@') into symbols.
UniverseReader = Callable[[str], list[str]]
_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.\-+^=_/]*$")


def _bad(code: str, message: str, hint: str | None = None, path: str = "symbols") -> RuleEngineError:
    return RuleEngineError([Diagnostic(code, message, path=path, hint=hint)])


def _check_symbol(symbol: Any, path: str) -> str:
    if not isinstance(symbol, str) or not symbol.strip():
        raise _bad("D117", f"a symbol must be a non-empty text, got {symbol!r}", path=path)
    s = symbol.strip()
    if not _SYMBOL.match(s):
        raise _bad("D117", f"'{s}' is not a ticker symbol", "tickers are letters, digits and . - + ^ _ /",
                   path)
    return s


def read_universe(path: str | Path) -> list[str]:
    """Symbols from a text file (one per line, '#' comments) or a Parquet/CSV file with a `symbol` column."""
    p = Path(path)
    if p.exists() and not p.is_file():  # a folder, device or FIFO: never read (it could block or never end)
        raise _bad("D117", f"universe file '{p}' is not a regular file", "give a text file with one symbol per "
                   "line, or a Parquet/CSV file with a 'symbol' column")
    if not p.is_file():
        raise _bad("D117", f"universe file '{p}' not found", "give a text file with one symbol per line, or a "
                   "Parquet/CSV file with a 'symbol' column")
    return universe_symbols(p.read_bytes(), p)


def universe_symbols(data: bytes, name: str | Path) -> list[str]:
    """The symbols of a universe file's content (`read_universe`'s formats; the suffix of `name` says which):
    callers that already hold the bytes (the agent tools' confined reader) parse them without a second open."""
    import io

    p = Path(name)
    if p.suffix.lower() in (".parquet", ".csv"):
        import pandas as pd

        try:
            df = pd.read_parquet(io.BytesIO(data)) if p.suffix.lower() == ".parquet" else \
                pd.read_csv(io.BytesIO(data))
        except Exception as exc:  # noqa: BLE001 - any reader failure is the user's file
            raise _bad("D117", f"cannot read universe file '{p}': {exc}") from None
        cols = {str(c).lower(): c for c in df.columns}
        if "symbol" not in cols:
            raise _bad("D117", f"universe file '{p}' has no 'symbol' column",
                       "columns: " + ", ".join(map(str, df.columns)))
        if "list" in cols and df[cols["list"]].nunique() > 1:  # constituents.parquet: the current list
            lists = sorted(df[cols["list"]].astype(str).unique())
            current = [x for x in lists if x.endswith("current")]
            df = df[df[cols["list"]] == (current[0] if current else lists[0])]
        raw = [str(s) for s in df[cols["symbol"]].dropna().unique()]
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad("D117", f"universe file '{p}' is not a text file",
                       "give a text file with one symbol per line, or a Parquet/CSV file with a 'symbol' "
                       "column") from None
        raw = [line.split("#", 1)[0].strip() for line in text.splitlines()]
        raw = [x for part in raw for x in part.replace(",", " ").split()]
    symbols = list(dict.fromkeys(_check_symbol(s, f"symbols ({p.name})") for s in raw))
    if not symbols:
        raise _bad("D117", f"universe file '{p}' lists no symbols")
    return symbols


def parse_symbols(spec: Any, slots: Sequence[str], kinds: Mapping[str, str] | None = None, *,
                  read_file: UniverseReader | None = read_universe) -> list[Run]:
    """The runs a symbols specification asks for: one {slot: symbol} mapping per run (see module doc).

    `kinds` maps slot -> data kind (default: every slot holds prices). `read_file` reads ``@path`` universes;
    None where callers must not reach the machine's files (the agent tools pass their own confined reader or
    None): an ``@`` spec is then D117 and no file is opened."""
    slots = list(slots)
    kinds = dict(kinds or {})
    prices = [s for s in slots if kinds.get(s, "ohlcv") == "ohlcv"]
    if not slots:
        raise _bad("D115", "the strategy has no data slots to give symbols to", path="data")
    if isinstance(spec, Mapping):
        return [_mapping_run({str(k): v for k, v in spec.items()}, slots, prices)]
    if isinstance(spec, (list, tuple)):
        if not spec:
            raise _bad("D117", "the list of symbols is empty")
        if all(isinstance(x, Mapping) for x in spec):
            return [_mapping_run({str(k): v for k, v in x.items()}, slots, prices) for x in spec]
        _one_price_slot(prices, [str(x) for x in spec])
        return [dict.fromkeys(slots, _check_symbol(s, f"symbols[{i}]")) for i, s in enumerate(spec)]
    if not isinstance(spec, str) or not spec.strip():
        raise _bad("D117", f"symbols must be text, a list or a mapping, got {spec!r}",
                   "e.g. --symbols SPY, --symbols SPY,QQQ or --symbols asset_a=GLD,asset_b=SLV")
    text = spec.strip()
    if text.startswith("@"):
        _one_price_slot(prices)
        if read_file is None:
            raise _bad("D117", "universe files ('@...') are not read here",
                       "give the symbols themselves, e.g. SPY,QQQ,IWM")
        return [dict.fromkeys(slots, s) for s in read_file(text[1:])]
    if ";" in text:  # several runs of a multi-slot strategy, each naming its slots
        return [_mapping_run(run, slots, prices) for run in named_runs(text)]
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise _bad("D117", f"'{text}' names no symbol", "e.g. --symbols SPY or --symbols SPY,QQQ")
    if any("=" in p for p in parts):
        return [_mapping_run(named_runs(text)[0], slots, prices)]
    _one_price_slot(prices, list(dict.fromkeys(parts)))
    return [dict.fromkeys(slots, _check_symbol(s, "symbols")) for s in dict.fromkeys(parts)]


def named_runs(text: str) -> list[dict[str, str]]:
    """The runs of ``"asset_a=XLE,asset_b=XLF;asset_a=GLD,asset_b=GDX"``: one ``{slot: symbol}`` per
    ';'-separated run (slots not checked against a strategy here). A malformed run is D117 with the character
    position in the text (1-based, as `Diagnostic.span` columns) and the run's number.

    Example:
        >>> named_runs("asset_a=XLE,asset_b=XLF;asset_a=GLD,asset_b=GDX")
        [{'asset_a': 'XLE', 'asset_b': 'XLF'}, {'asset_a': 'GLD', 'asset_b': 'GDX'}]
    """
    runs: list[dict[str, str]] = []
    several = ";" in text
    offset = 0
    for n, chunk in enumerate(text.split(";"), 1):
        where = f"run {n}, " if several else ""
        runs.append(_named_run(text, chunk, offset, where, several))
        offset += len(chunk) + 1
    return runs


def _named_run(text: str, chunk: str, offset: int, where: str, several: bool) -> dict[str, str]:
    """One run's ``slot=symbol`` items; `offset` is where `chunk` starts in `text` (for the error's position)."""
    example = "asset_a=XLE,asset_b=XLF;asset_a=GLD,asset_b=GDX" if several else "asset_a=GLD,asset_b=SLV"

    def bad(at: int, width: int, message: str, hint: str, path: str = "symbols") -> RuleEngineError:
        col = offset + at + 1
        span = Span(1, col, 1, col + max(width, 1), "--symbols")
        return RuleEngineError([Diagnostic("D117", f"{message} ({where}character {col} of '{text}')", span,
                                           path=path, hint=hint)])

    if not chunk.strip():
        raise bad(0, 1, "an empty run between ';'", f"each run names every slot, e.g. {example}")
    pairs: dict[str, str] = {}
    at = 0
    for item in chunk.split(","):
        start = at + len(item) - len(item.lstrip())
        at += len(item) + 1
        if not item.strip():
            continue
        if "=" not in item:
            raise bad(start, len(item.strip()), f"'{item.strip()}' is a bare symbol among slot=symbol pairs",
                      f"name every slot ({example}) or none (SPY,QQQ); several runs of a pair are separated "
                      "by ';'")
        slot, _, sym = item.partition("=")
        slot = slot.strip()
        if not slot or not sym.strip():
            raise bad(start, len(item.strip()), f"'{item.strip()}' lacks a {'slot' if not slot else 'symbol'}",
                      f"slot=SYMBOL, e.g. {example}", f"symbols.{slot}" if slot else "symbols")
        if slot in pairs:  # the later one would silently replace the first
            raise bad(start, len(item.strip()), f"slot '{slot}' is given twice ({slot}={pairs[slot]}, "
                      f"{item.strip()})", "one symbol per slot in a run; several runs are separated by ';' ("
                      f"{example}), a universe of one-slot runs is bare symbols (AAPL,MSFT)", f"symbols.{slot}")
        pairs[slot] = sym.strip()
    return pairs


def _one_price_slot(prices: list[str], given: Sequence[str] = ()) -> None:
    """D115 when bare symbols (`given`, each its own run) meet a strategy with several price slots: a run
    of one symbol cannot fill them, and the order of several does not say which is which slot."""
    if len(prices) <= 1:
        return
    runs = f"the bare symbols {', '.join(given)} are one run each, and " if len(given) > 1 else ""
    example = ",".join(f"{s}={sym}" for s, sym in zip(prices, given, strict=False)) \
        if len(given) == len(prices) else ",".join(f"{s}=..." for s in prices)
    raise _bad("D115", f"the strategy has {len(prices)} price slots ({', '.join(prices)}); {runs}one symbol "
               "cannot fill them", f"name a ticker per slot, e.g. {example}")


def _mapping_run(pairs: Mapping[str, Any], slots: list[str], prices: list[str]) -> Run:
    problems: list[Diagnostic] = []
    for slot in pairs:
        if slot not in slots:
            problems.append(Diagnostic("D115", f"symbol given for unknown slot '{slot}'", path=f"symbols.{slot}",
                                       hint=did_you_mean(slot, slots) or "slots: " + ", ".join(slots)))
    run = {slot: _check_symbol(sym, f"symbols.{slot}") for slot, sym in pairs.items() if slot in slots}
    missing = [s for s in slots if s not in run]
    if missing and run and len(set(run.values())) == 1 and not set(missing) & set(prices):
        run.update(dict.fromkeys(missing, next(iter(run.values()))))  # one company: its other data too
        missing = []
    if missing:
        problems.append(Diagnostic("D115", f"no symbol for slot{'s' if len(missing) > 1 else ''} "
                                   + ", ".join(f"'{m}'" for m in missing), path="symbols",
                                   hint="give one per slot, e.g. " + ",".join(f"{s}=..." for s in slots)))
    if problems:
        raise RuleEngineError(problems)
    return {s: run[s] for s in slots}


def slot_runs(spec: Any, data: Mapping[str, Any]) -> list[Run]:
    """The runs of a strategy's data slots (`DataSlot`s by name), with ``symbol_from`` slots bound.

    A slot with ``symbol_from: prices`` reads the symbol of slot ``prices`` (the same instrument at another
    frequency): it needs no symbol of its own, so ``--symbols SPY`` fills ``prices`` and its weekly view. A
    mapping may repeat the slot's symbol (a run read back from `MarketData.runs`); another symbol for it
    (``prices=SPY,weekly=QQQ``) is error D142. A pair still needs a symbol per slot that has its own.

    Example:
        >>> from ruleengine.schema.strategy import DataSlot
        >>> slots = {"prices": DataSlot(), "weekly": DataSlot(frequency="1Week", symbol_from="prices")}
        >>> slot_runs("SPY", slots)
        [{'prices': 'SPY', 'weekly': 'SPY'}]
    """
    source = {name: _chain_end(name, data) for name in data}
    derived = {name for name in data if source[name] != name}
    if derived:
        spec = _without_views(spec, derived, source, data)
    own = [name for name in data if source[name] == name]
    runs = parse_symbols(spec, own, {name: data[name].kind for name in own})
    return [{name: run[source[name]] for name in data} for run in runs]


def _without_views(spec: Any, derived: set[str], source: Mapping[str, str], data: Mapping[str, Any]) -> Any:
    """`spec` without the symbols given to ``symbol_from`` slots; D142 where one differs from its source's."""
    if isinstance(spec, str) and ";" in spec and not spec.strip().startswith("@"):
        spec = named_runs(spec.strip())  # several runs: each checked as a mapping below
    if isinstance(spec, str) and "=" in spec and not spec.strip().startswith("@"):
        pairs = [p.strip() for p in spec.split(",") if p.strip()]
        named = {p.partition("=")[0].strip(): p.partition("=")[2].strip() for p in pairs if "=" in p}
        _check_views(named, derived, source, data)
        return ",".join(p for p in pairs if p.partition("=")[0].strip() not in derived)
    if isinstance(spec, Mapping):
        named = {str(k): v for k, v in spec.items()}
        _check_views(named, derived, source, data)
        return {k: v for k, v in named.items() if k not in derived}
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(x, Mapping) for x in spec):
        return [_without_views(x, derived, source, data) for x in spec]
    return spec


def _check_views(named: Mapping[str, Any], derived: set[str], source: Mapping[str, str],
                 data: Mapping[str, Any]) -> None:
    clash = [s for s in named if s in derived and named[s] != named.get(source[s])]
    if clash:
        raise RuleEngineError([Diagnostic(
            "D142", f"slot '{s}' takes its symbol from slot '{data[s].symbol_from}'; it cannot be given another "
            f"one ('{named[s]}')", path=f"symbols.{s}", hint=f"give the symbol to '{source[s]}' only")
            for s in clash])


def _chain_end(slot: str, data: Mapping[str, Any]) -> str:
    """The slot at the end of `slot`'s ``symbol_from`` chain (the document model rejects cycles)."""
    seen = {slot}
    while getattr(data[slot], "symbol_from", None) is not None and data[slot].symbol_from in data:
        slot = data[slot].symbol_from
        if slot in seen:
            break
        seen.add(slot)
    return slot
