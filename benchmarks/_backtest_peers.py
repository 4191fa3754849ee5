"""Peer implementations of the backtest benchmark's strategy (not project code; timed by bench_backtest.py).

Strategy everywhere: entry = SMA(10) crosses above SMA(30) and RSI(14) < 70; exit = SMA(10) crosses below
SMA(30); stop loss 5 %, take profit 10 % from the entry price; fees 0.1 % per side; fills at the signal
bar's close (the baseline's ``close_fee`` variant and ruleengine's fill contract with
``execution_price=close``). Long only, one position per symbol.

- `vectorbt_backtest`: what a vectorbt user writes: ``vbt.MA`` for the averages, TA-Lib's RSI through
  ``vbt.IndicatorFactory.from_talib`` (Wilder's RSI, ruleengine's definition; ``vbt.RSI`` is a different,
  simple-average RSI), ``ma_crossed_above/below`` + ``real_below``, ``Portfolio.from_signals`` (numba engine)
  with ``sl_stop``, ``tp_stop``, ``fees``; then the total return and the trade records.
- `backtesting_py_backtest`: backtesting.py, one ``Backtest`` per symbol, ``trade_on_close=True``, an entry
  blocked on the bar of a stop exit (vectorbt's one order per bar and symbol).
- `naive_backtest`: a per-day Python loop in the style of seed 003's ``BacktestEngine``: dicts of market data
  per (day, symbol), conditions as ``{field, operator, value}`` dicts, indicators updated incrementally.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

FAST, SLOW, RSI_N, RSI_MAX = 10, 30, 14, 70.0
SL, TP, FEES = 0.05, 0.10, 0.001


@dataclass
class PeerResult:
    """What every engine returns: trades as (column, entry_bar, exit_bar) plus prices, and total returns."""

    trades: list[tuple[int, int, int]]
    total_return: np.ndarray  # one per column (independent) or one value (portfolio)
    exit_prices: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- vectorbt


def _vbt() -> Any:
    import vectorbt as vbt

    return vbt


_RSI: Any = None
_SMA: Any = None


def _talib_indicators() -> tuple[Any, Any]:
    """TA-Lib RSI / SMA through vectorbt's TA-Lib integration (built once per process, like a user would)."""
    global _RSI, _SMA
    if _RSI is None:
        vbt = _vbt()
        _RSI = vbt.IndicatorFactory.from_talib("RSI")
        _SMA = vbt.IndicatorFactory.from_talib("SMA")
    return _RSI, _SMA


def vectorbt_signals(close: pd.DataFrame, sma: str = "vbt.MA") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Entries / exits of the strategy, hand-written in vectorbt.

    ``sma="vbt.MA"`` is the timed version; ``"talib"`` (check only) takes the averages from TA-Lib's SMA, whose
    running window sum is bit-identical to ruleengine's (vbt.MA subtracts cumulative sums and rounds exact
    ties the other way now and then)."""
    vbt = _vbt()
    rsi_ind, sma_ind = _talib_indicators()
    rsi = rsi_ind.run(close, timeperiod=RSI_N)
    if sma == "talib":
        fast = sma_ind.run(close, timeperiod=FAST, short_name="fast")
        slow = sma_ind.run(close, timeperiod=SLOW, short_name="slow")
        entries = fast.real_crossed_above(slow).vbt & rsi.real_below(RSI_MAX)
        exits = fast.real_crossed_below(slow)
    else:
        fast = vbt.MA.run(close, FAST, short_name="fast")
        slow = vbt.MA.run(close, SLOW, short_name="slow")
        entries = fast.ma_crossed_above(slow).vbt & rsi.real_below(RSI_MAX)
        exits = fast.ma_crossed_below(slow)
    return entries, exits


def vectorbt_backtest(ohlc: dict[str, pd.DataFrame], init_cash: float, *, portfolio_pct: float | None = None,
                      sma: str = "vbt.MA") -> PeerResult:
    """Signals + ``Portfolio.from_signals`` + total return + trade records (one timed call).

    Independent (``portfolio_pct=None``): every column all-in on its own cash (vectorbt's default
    ``size=inf``). Portfolio: ``cash_sharing=True, group_by=True, call_seq="auto"`` (sells first),
    ``size=portfolio_pct / 100, size_type="percent"``: a percent of the cash available at the order (from_signals
    accepts only amount, value and percent-of-cash sizes; a percent of equity is not expressible)."""
    vbt = _vbt()
    entries, exits = vectorbt_signals(ohlc["close"], sma)
    kwargs: dict[str, Any] = {}
    if portfolio_pct is not None:
        kwargs = {"cash_sharing": True, "group_by": True, "call_seq": "auto", "size": portfolio_pct / 100.0,
                  "size_type": "percent"}
    pf = vbt.Portfolio.from_signals(ohlc["close"], entries, exits, open=ohlc["open"], high=ohlc["high"],
                                    low=ohlc["low"], sl_stop=SL, tp_stop=TP, fees=FEES, init_cash=init_cash,
                                    direction="longonly", engine="numba", **kwargs)
    ret = np.atleast_1d(np.asarray(pf.total_return(), dtype=np.float64))
    rec = pf.trades.records_arr
    trades = list(zip(rec["col"].tolist(), rec["entry_idx"].tolist(), rec["exit_idx"].tolist(), strict=True))
    return PeerResult(trades, ret, rec["exit_price"].tolist(),
                      {"entries": entries, "exits": exits, "orders": len(pf.orders.records_arr)})


def vectorbt_portfolio_oracle(ohlc: dict[str, np.ndarray], entries: np.ndarray, exits: np.ndarray,
                              amounts: np.ndarray, init_cash: float) -> PeerResult:
    """Check only: ``from_signals`` with shared cash, ruleengine's signals, and ruleengine's units per entry.

    ``amounts`` (T, N): the units ruleengine bought on each of its entry bars, 0 elsewhere (an entry signal
    ruleengine skipped for lack of cash gets size 0: no order). vectorbt then decides every exit itself
    (stops, signals) and keeps the books; returns its trades and total return."""
    vbt = _vbt()
    pf = vbt.Portfolio.from_signals(ohlc["close"], entries, exits, open=ohlc["open"], high=ohlc["high"],
                                    low=ohlc["low"], sl_stop=SL, tp_stop=TP, fees=FEES, init_cash=init_cash,
                                    size=amounts, size_type="amount", cash_sharing=True, group_by=True,
                                    call_seq="auto", direction="longonly", engine="numba")
    rec = pf.trades.records_arr
    trades = list(zip(rec["col"].tolist(), rec["entry_idx"].tolist(), rec["exit_idx"].tolist(), strict=True))
    ret = np.atleast_1d(np.asarray(pf.total_return(), dtype=np.float64))
    return PeerResult(trades, ret, rec["exit_price"].tolist())


# ----------------------------------------------------------------------------------------------- backtesting.py


_BT_STRATEGY: Any = None
ALL_IN = 1 - 1e-12  # backtesting.py: a size in (0, 1) is a fraction of the available cash (whole units)


def _bt_strategy() -> Any:
    """The backtesting.py Strategy class (built on first use: backtesting imports bokeh)."""
    global _BT_STRATEGY
    if _BT_STRATEGY is not None:
        return _BT_STRATEGY
    import backtesting.backtesting as bt_module
    import talib
    from backtesting import Strategy

    bt_module._tqdm = lambda seq, **_: seq  # no progress bar on stderr (and no tqdm cost in the timings)

    class GoldenCrossRSI(Strategy):
        """Same rules; TA-Lib indicators (ruleengine's SMA is bit-identical to TA-Lib's)."""

        def init(self) -> None:
            close = self.data.Close
            self.fast = self.I(talib.SMA, close, FAST)
            self.slow = self.I(talib.SMA, close, SLOW)
            self.rsi = self.I(talib.RSI, close, RSI_N)

        def next(self) -> None:
            f, s = self.fast, self.slow
            entry = f[-1] > s[-1] and f[-2] <= s[-2] and self.rsi[-1] < RSI_MAX
            exit_ = f[-1] < s[-1] and f[-2] >= s[-2]
            if self.position:
                if exit_ and not entry:
                    self.position.close()  # a market order: with trade_on_close it fills at this close
            elif entry and not exit_:
                # vectorbt/ruleengine: at most one order per bar; a stop filled on this bar blocks the entry
                if self.closed_trades and self.closed_trades[-1].exit_bar == len(self.data) - 1:
                    return
                c = self.data.Close[-1]
                self.buy(size=ALL_IN, sl=c * (1 - SL), tp=c * (1 + TP))

    _BT_STRATEGY = GoldenCrossRSI
    return GoldenCrossRSI


def backtesting_py_backtest(frames: Sequence[pd.DataFrame], init_cash: float) -> PeerResult:
    """One ``Backtest(..., commission=0.001, trade_on_close=True)`` per symbol, in turn.

    ``frames``: per symbol a DataFrame with Open, High, Low, Close, Volume and a DatetimeIndex. A position
    still open at the end is listed with the last bar as its exit bar and the last close as its price, and the
    final equity marks it there without an exit fee: ruleengine's convention. (``finalize_trades=True``
    would instead close it at the second-to-last close with ``trade_on_close``, and charge the fee.)"""
    from backtesting import Backtest

    strat = _bt_strategy()
    trades: list[tuple[int, int, int]] = []
    prices: list[float] = []
    rets = np.empty(len(frames))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "some trades remain open at the end"
        for j, df in enumerate(frames):
            bt = Backtest(df, strat, cash=init_cash, commission=FEES, trade_on_close=True, exclusive_orders=False)
            stats = bt.run()
            tr = stats["_trades"]
            trades += [(j, int(a), int(b)) for a, b in zip(tr["EntryBar"], tr["ExitBar"], strict=True)]
            prices += [float(p) for p in tr["ExitPrice"]]
            last = len(df) - 1
            for open_trade in stats["_strategy"].trades:
                trades.append((j, int(open_trade.entry_bar), last))
                prices.append(float(df["Close"].iloc[-1]))
            rets[j] = float(stats["Equity Final [$]"]) / init_cash - 1.0
    return PeerResult(trades, rets, prices)


# ----------------------------------------------------------------------------------------------- naive loop


ENTRY_CONDITIONS = [{"field": "sma_fast", "operator": "crosses_above", "value": "sma_slow"},
                    {"field": "rsi", "operator": "lt", "value": RSI_MAX}]
EXIT_CONDITIONS = [{"field": "sma_fast", "operator": "crosses_below", "value": "sma_slow"}]


class _Indicators:
    """Per-symbol indicator state, updated bar by bar (TA-Lib's SMA order of operations, Wilder's RSI)."""

    def __init__(self) -> None:
        self.closes: list[float] = []
        self.tot = {FAST: 0.0, SLOW: 0.0}
        self.gain = self.loss = 0.0
        self.prev: dict[str, float | None] = {"sma_fast": None, "sma_slow": None}

    def _sma(self, n: int, x: float, i: int) -> float | None:
        self.tot[n] += x
        if i < n - 1:
            return None
        value = self.tot[n] / n
        self.tot[n] -= self.closes[i - n + 1]
        return value

    def _rsi(self, i: int) -> float | None:
        if i == 0:
            return None
        d = self.closes[i] - self.closes[i - 1]
        if i <= RSI_N:
            self.loss -= min(d, 0.0)
            self.gain += max(d, 0.0)
            if i < RSI_N:
                return None
            self.loss /= RSI_N
            self.gain /= RSI_N
        else:
            inv = 1.0 / RSI_N
            self.loss = (self.loss * (RSI_N - 1) - min(d, 0.0)) * inv
            self.gain = (self.gain * (RSI_N - 1) + max(d, 0.0)) * inv
        tot = self.gain + self.loss
        return 100.0 * (self.gain / tot) if tot > 0.0 else 0.0

    def update(self, bar: dict[str, float]) -> dict[str, Any]:
        """The market-data dict of this bar: prices, indicators and the previous bar's averages."""
        i = len(self.closes)
        self.closes.append(bar["close"])
        data = dict(bar)
        data["sma_fast"] = self._sma(FAST, bar["close"], i)
        data["sma_slow"] = self._sma(SLOW, bar["close"], i)
        data["rsi"] = self._rsi(i)
        data["sma_fast_prev"], data["sma_slow_prev"] = self.prev["sma_fast"], self.prev["sma_slow"]
        self.prev = {"sma_fast": data["sma_fast"], "sma_slow": data["sma_slow"]}
        return data


def _evaluate_conditions(conditions: list[dict[str, Any]], data: dict[str, Any], logic: str) -> bool:
    """Seed 003's condition evaluator, plus the two crossing operators (field vs another field)."""
    results = []
    for cond in conditions:
        value = data.get(cond["field"])
        if value is None:
            results.append(False)
            continue
        op = cond["operator"]
        if op in ("crosses_above", "crosses_below"):
            other, prev, other_prev = (data.get(cond["value"]), data.get(cond["field"] + "_prev"),
                                       data.get(cond["value"] + "_prev"))
            if other is None or prev is None or other_prev is None:
                results.append(False)
            elif op == "crosses_above":
                results.append(value > other and prev <= other_prev)
            else:
                results.append(value < other and prev >= other_prev)
        elif op == "gt":
            results.append(value > cond["value"])
        elif op == "lt":
            results.append(value < cond["value"])
    return all(results) if logic == "AND" else any(results)


def _stop_fill(bar: dict[str, float], entry: float) -> float | None:
    """Stop loss, then take profit (gap: the open; else the level); None when neither is reached."""
    level = entry * (1 - SL)
    if bar["open"] <= level:
        return bar["open"]
    if bar["low"] <= level <= bar["high"]:
        return level
    level = entry * (1 + TP)
    if level <= bar["open"]:
        return bar["open"]
    if bar["low"] <= level <= bar["high"]:
        return level
    return None


def naive_backtest(ohlc: dict[str, np.ndarray], init_cash: float, *, portfolio_pct: float | None = None
                   ) -> PeerResult:
    """Day loop over the symbols (seed 003's BacktestEngine shape), ruleengine's fill contract, close fills.

    ``ohlc``: (T, N) arrays. Independent runs (``portfolio_pct=None``, all-in per symbol) or one portfolio
    (shared cash; each entry takes ``portfolio_pct`` % of the equity after the bar's exits, skipped when the
    cash is short; exits of all symbols first, then entries, in symbol order)."""
    T, N = ohlc["close"].shape
    cols = {k: ohlc[k].T.tolist() for k in ("open", "high", "low", "close")}
    state = [_Indicators() for _ in range(N)]
    shared = portfolio_pct is not None
    cash = [init_cash] if shared else [init_cash] * N
    positions: dict[int, dict[str, Any]] = {}
    trades: list[tuple[int, int, int]] = []
    prices: list[float] = []
    last_close = [math.nan] * N
    for t in range(T):
        market: dict[int, dict[str, Any]] = {}
        for j in range(N):
            bar = {k: cols[k][j][t] for k in ("open", "high", "low", "close")}
            market[j] = state[j].update(bar)
            last_close[j] = bar["close"]
        entering: list[int] = []
        for j in range(N):
            data = market[j]
            enter = _evaluate_conditions(ENTRY_CONDITIONS, data, "AND")
            leave = _evaluate_conditions(EXIT_CONDITIONS, data, "OR")
            pos = positions.get(j)
            if pos is None:
                if enter and not leave:
                    entering.append(j)
                continue
            price = _stop_fill(data, pos["entry_price"])
            if price is None and leave and not enter:
                price = data["close"]
            if price is not None:
                gross = pos["units"] * price
                cash[0 if shared else j] += gross - gross * FEES
                trades.append((j, pos["entry_bar"], t))
                prices.append(price)
                del positions[j]
        value = 0.0
        if shared and entering:
            value = cash[0] + sum(p["units"] * market[k]["close"] for k, p in positions.items())
        for j in entering:
            k = 0 if shared else j
            want = portfolio_pct / 100.0 * value if shared else cash[k]
            if want > cash[k] or want <= 0:
                continue
            close = market[j]["close"]
            positions[j] = {"entry_bar": t, "entry_price": close, "units": want / (1 + FEES) / close}
            cash[k] -= want
    for j, pos in sorted(positions.items()):  # marked at the last close, no exit fee
        trades.append((j, pos["entry_bar"], T - 1))
        prices.append(last_close[j])
    trades.sort()
    if shared:
        final = cash[0] + sum(p["units"] * last_close[j] for j, p in positions.items())
        ret = np.array([final / init_cash - 1.0])
    else:
        ret = np.array([(cash[j] + (positions[j]["units"] * last_close[j] if j in positions else 0.0))
                        / init_cash - 1.0 for j in range(N)])
    return PeerResult(trades, ret, prices)
