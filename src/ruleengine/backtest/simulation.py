"""Stage 7: simulate signals under the fill contract (`ruleengine.backtest.risk.FILL_CONTRACT`).

`simulate` runs every column on its own cash (one result per symbol, or per symbol x parameter set);
`simulate_portfolio` runs the columns as one portfolio with shared cash (``--portfolio``).

Engines: the default ``engine="numba"`` is ruleengine's own kernel (``ruleengine.kernels.simulate``,
``@numba.njit(cache=True)``, no pandas). vectorbt 1.2's numba ``Portfolio.from_signals`` is not used by
default because its kernel is not cached (about 12 s of compilation in every new process, while the CLI
must answer a one-symbol backtest in 3 s or less) and because it has no time stop (``max_hold_days`` /
``max_hold_bars``), which must act inside the simulation (a max-hold exit frees the bar for the next
signal), not as a post-processing of trades. ``engine="vectorbt"`` runs ``from_signals`` instead
(`ruleengine.backtest.vbt_engine`, what it cannot express is listed there); the tests prove both give the
same trades.

Example:
    >>> import numpy as np, pandas as pd
    >>> from ruleengine.backtest.risk import RiskSpec
    >>> idx = pd.date_range("2024-01-01", periods=4, freq="D", tz="UTC")
    >>> px = np.array([[10.0], [11.0], [12.0], [13.0]])
    >>> prices = {"open": px, "high": px, "low": px, "close": px}
    >>> entries = np.array([[True], [False], [False], [False]])
    >>> exits = np.array([[False], [False], [True], [False]])
    >>> risk = RiskSpec(position_size_pct=100.0, fees_pct=0.0, slippage_pct=0.0, execution_price="close")
    >>> sim = simulate(prices, entries, exits, idx, risk)
    >>> sim.trades[["entry_bar", "exit_bar", "exit_price", "exit_reason"]].values.tolist()
    [[0, 2, 12.0, 'signal']]
    >>> float(sim.equity[-1, 0])
    12000.0
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from ..kernels.enums import (
    EXIT_PROGRAM_LEVEL,
    EXIT_REASON_NAMES,
    LEVEL_KINDS,
    PAIR_TRADE_COLUMNS,
    SHORT_EXIT_PROGRAM_LEVEL,
    SIZE_NOTE_NAMES,
    pair_trade_dt,
    trade_dt,
)
from ..schema.orders import ORDER_TYPES
from ..schema.strategy import FLAG_RISK_FIELDS, INTEGER_RISK_FIELDS, MAX_TAKE_PROFIT_ROWS, RISK_FIELDS, SIZING_METHODS
from .risk import RiskSpec

#: the exit reasons of trades, as users see them (`ruleengine.kernels.enums.ExitReason`)
EXIT_REASONS = EXIT_REASON_NAMES
TRADE_COLUMNS = ("column", "entry_bar", "exit_bar", "entry_time", "exit_time", "entry_price", "exit_price",
                 "size", "pnl", "pnl_pct", "exit_reason", "fees", "direction")
ENGINES = ("numba", "vectorbt")
#: "time": the fill contract (a bar's events in time order); "vectorbt": vectorbt's order; "backtesting":
#: backtesting.py's (the oracle tests of `simulate`)
FILL_ORDERS = ("time", "vectorbt", "backtesting")
_PRICE_KEYS = ("open", "high", "low", "close")
#: seed 003's portfolio sizing: an entry takes 5 % of the equity unless the document or the run sets
#: position_size_pct (a single run's default stays all-in: one position needs no room for others)
PORTFOLIO_POSITION_SIZE_PCT = 5.0


@dataclass
class Simulation:
    """Trades and account arrays of one simulation (axis 0 = the bars of `index`).

    ``trades`` has one row per trade: column (int, the run column), entry_bar, exit_bar (int rows),
    entry_time, exit_time, entry_price, exit_price (after slippage), size (units), pnl (after fees),
    pnl_pct (pnl / cash spent on the entry x 100), exit_reason (one of `EXIT_REASONS`), fees (both sides).
    A position open at the end is closed at its last close with reason end_of_data (marked: no exit fee).
    ``equity`` / ``cash`` are (T, N) for independent runs, (T, 1) for a portfolio; ``position`` is (T, N)
    units held after each bar.
    """

    trades: pd.DataFrame
    equity: np.ndarray
    cash: np.ndarray
    position: np.ndarray
    engine: str = "numba"
    #: entries skipped (the cash left was short in a portfolio, a cap, a sizing rule) or cut down to the cash
    #: (a single run), one row each (the first ones; a portfolio's in time order, a single run's by column
    #: then time): bar, time, column, reason (`ruleengine.kernels.enums.SizeNote`'s names); `skipped_count`
    #: counts them all. None: the engine does not report them (vectorbt)
    skipped: pd.DataFrame | None = None
    skipped_count: int = 0
    #: a pair run (`ruleengine.backtest.pairs.simulate_pairs`): the second leg's units held (T, N), negative
    #: short; ``position`` is then the first leg's
    position_b: np.ndarray | None = None


def simulate(prices: Mapping[str, np.ndarray], entries: np.ndarray, exits: np.ndarray, index: pd.DatetimeIndex,
             risk: RiskSpec | Sequence[RiskSpec], *, short_entries: np.ndarray | None = None,
             short_exits: np.ndarray | None = None, levels: Mapping[str, np.ndarray] | None = None,
             exit_program: Any = None, short_exit_program: Any = None, init_cash: float = 10_000.0, start: int = 0,
             engine: str = "numba", fill_order: str = "time") -> Simulation:
    """Simulate each column independently, each with `init_cash`.

    Args:
        prices: ``{"open", "high", "low", "close"}`` -> (T, N) float64; NaN = no bar for that column
            (no fill, no stop check; max hold counts calendar days / the bars that exist).
        entries, exits: (T, N) bool signals, computed at each bar's close.
        index: the T bar times.
        risk: one `RiskSpec` for every column or one per column.
        short_entries, short_exits: (T, N) bool, the short side of a long/short strategy (None: none).
        levels: kind (`ruleengine.kernels.enums.LEVEL_KINDS`) -> (T, N) float64, the strategy's per-bar
            levels (e.g. an entry order's price), read at the bar of the signal they belong to; and the
            levels of the exit program (``exit_program:<k>``).
        exit_program: the strategy's exit program on position variables
            (`ruleengine.compile.exit_program.ExitProgram`, its levels in `levels`), or None: the ``exit`` block's,
            run for a long_short strategy's longs and any position of a long or short one.
        short_exit_program: a long_short strategy's ``short_exit`` program (its levels
            ``short_exit_program:<k>``), run for its shorts, or None.
        init_cash: starting cash of every column.
        start: rows before it are history: never traded.
        engine: ``"numba"`` (default) or ``"vectorbt"`` (the oracle; see `ruleengine.backtest.vbt_engine`).
        fill_order: ``"time"`` (default, the fill contract), ``"vectorbt"``: vectorbt's order of a bar's
            events with open fills (a stop reached inside a bar wins over the exit order pending at its open;
            no stop check on the bar of an entry at the open), or ``"backtesting"``: backtesting.py's, the
            time order except that no stop or target acts on the bar a limit or stop entry order filled (it
            cannot tell whether that bar's extremes came after the fill, and waits for the next bar); so that
            the oracle tests compare like with like.

    Raises:
        RuleEngineError: D114 for prices <= 0; D103 for risk the vectorbt engine cannot express.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if fill_order not in FILL_ORDERS:
        raise ValueError(f"fill_order must be one of {FILL_ORDERS}, got {fill_order!r}")
    arrays, ent, ext, times, risks = _prepare(prices, entries, exits, index, risk, start)
    if engine == "vectorbt":
        from .vbt_engine import refuse_unexpressible, simulate_vectorbt

        refuse_unexpressible(risks, exit_program or short_exit_program)  # D103 for the exits from_signals has not
        if levels:
            raise ValueError("the vectorbt engine takes signals only, no levels")
        return simulate_vectorbt(prices, entries, exits, index, risks, init_cash=init_cash, start=start,
                                 short_entries=short_entries, short_exits=short_exits)
    args = _kernel_args(arrays, ent, ext, times, risks, start, short_entries, short_exits, levels, exit_program,
                        short_exit_program)
    args[-1]["fill_bar_stops"] = fill_order != "backtesting"  # the risk records
    records, n, eq, cash, pos, notes, n_notes = _kernel("simulate_nb")(
        *args, fill_order == "vectorbt", float(init_cash), _max_trades(ent, start, short_entries))
    trades = trades_frame(records[:n], index, by_time=False)
    return Simulation(trades, eq.T, cash.T, pos.T, "numba", notes_frame(notes, index), int(n_notes))


def simulate_portfolio(prices: Mapping[str, np.ndarray], entries: np.ndarray, exits: np.ndarray,
                       index: pd.DatetimeIndex, risk: RiskSpec | Sequence[RiskSpec], *,
                       short_entries: np.ndarray | None = None, short_exits: np.ndarray | None = None,
                       levels: Mapping[str, np.ndarray] | None = None, exit_program: Any = None,
                       short_exit_program: Any = None, init_cash: float = 10_000.0,
                       start: int = 0) -> Simulation:
    """Simulate the N columns as one portfolio with shared cash (``--portfolio``).

    Each entry takes ``position_size_pct`` of the current equity (cash + open positions at the bar's fill
    price) and is skipped when the cash left is short (``skipped`` / ``skipped_count``). A bar runs in time
    order over all columns (column order in each phase): the exits at the open, the entries at the open
    (open fills), the stops and the exits at the close, the entries at the close (close fills); so cash
    freed earlier in a bar can fund that bar's later entries and, when cash is short, lower columns are
    served first. ``equity`` and ``cash`` are (T, 1); trades are sorted by entry bar, then column. Every
    column must use the same execution price. ``short_entries``, ``short_exits``, ``levels``, ``exit_program``
    and ``short_exit_program`` as for `simulate`.
    """
    arrays, ent, ext, times, risks = _prepare(prices, entries, exits, index, risk, start)
    if len({r.execution_price for r in risks}) > 1:
        raise ValueError("a portfolio needs one execution_price for every column")
    if len({r.direction == "long_short" for r in risks}) > 1:
        raise ValueError("a portfolio's columns are all long_short or none is")
    args = _kernel_args(arrays, ent, ext, times, risks, start, short_entries, short_exits, levels, exit_program,
                        short_exit_program)
    records, n, eq, cash, pos, skip, n_skip = _kernel("simulate_portfolio_nb")(
        *args, False, float(init_cash), _max_trades(ent, start, short_entries))
    trades = trades_frame(records[:n], index, by_time=True)
    return Simulation(trades, eq.T, cash.T, pos.T, "numba", notes_frame(skip, index), int(n_skip))


def portfolio_risk(risk: RiskSpec) -> RiskSpec:
    """The risk of a portfolio run: `PORTFOLIO_POSITION_SIZE_PCT` when the run is sized by position_size_pct's
    default (neither the document nor an override gives a sizing method); the default stays named in
    ``defaults_used``."""
    if "position_size_pct" not in risk.defaults_used:
        return risk
    size: dict[str, Any] = {"position_size_pct": PORTFOLIO_POSITION_SIZE_PCT}  # a field only `dataclass` sees
    return replace(risk, **size)


# ---------------------------------------------------------------------------------------------- helpers
def _kernel(name: str) -> Any:
    """A simulation kernel, imported on first use (numba stays out of imports that do not simulate)."""
    from ..kernels import simulate as kernels

    return getattr(kernels, name)


def _prepare(prices: Mapping[str, np.ndarray], entries: np.ndarray, exits: np.ndarray, index: pd.DatetimeIndex,
             risk: RiskSpec | Sequence[RiskSpec], start: int
             ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray, np.ndarray, list[RiskSpec]]:
    """Check shapes, reject non-positive prices, return (N, T) C-ordered views (no copy for F-ordered input)."""
    missing = [k for k in _PRICE_KEYS if k not in prices]
    if missing:
        raise ValueError(f"prices needs {list(_PRICE_KEYS)}; missing {missing}")
    close = np.asarray(prices["close"], dtype=np.float64)
    if close.ndim != 2:
        raise ValueError("prices must be (T, N) arrays")
    T, N = close.shape
    arrays: dict[str, np.ndarray] = {}
    for k in _PRICE_KEYS:
        a = np.asarray(prices[k], dtype=np.float64)
        if a.shape != (T, N):
            raise ValueError(f"prices[{k!r}] has shape {a.shape}, expected {(T, N)}")
        with np.errstate(invalid="ignore"):
            bad = a <= 0
        if bad.any():
            t, j = np.argwhere(bad)[0]
            raise RuleEngineError([Diagnostic(
                "D114", f"{k} price {a[t, j]!r} <= 0 at {index[t]} (column {j})", path=f"prices.{k}",
                hint="prices must be positive: check the data source or exclude this symbol")])
        arrays[k] = np.ascontiguousarray(a.T)
    ent = np.ascontiguousarray(np.asarray(entries, dtype=np.bool_).T)
    ext = np.ascontiguousarray(np.asarray(exits, dtype=np.bool_).T)
    if ent.shape != (N, T) or ext.shape != (N, T):
        raise ValueError(f"entries/exits must have the prices' shape {(T, N)}")
    if len(index) != T:
        raise ValueError(f"index has {len(index)} bars, prices {T}")
    if not 0 <= start <= T:
        raise ValueError(f"start must be in [0, {T}], got {start}")
    risks = [risk] * N if isinstance(risk, RiskSpec) else list(risk)
    if len(risks) != N:
        raise ValueError(f"risk needs one RiskSpec or one per column ({N}), got {len(risks)}")
    times = pd.DatetimeIndex(index).as_unit("ns").asi8
    return arrays, ent, ext, np.ascontiguousarray(times, dtype=np.int64), risks


def kernel_risk_name(field: str) -> str:
    """A risk field's name in the kernels' record: a percentage is a fraction there and drops ``_pct``."""
    return field.removesuffix("_pct")


def _kernel_type(field: str) -> type:
    return np.int64 if field in INTEGER_RISK_FIELDS else np.bool_ if field in FLAG_RISK_FIELDS else np.float64


#: the kernels' risk record (`ruleengine.kernels.simulate` reads it by field name), one per column: every risk
#: field of the document model in its order (`RISK_FIELDS`) under `kernel_risk_name`, percentages as float64
#: fractions (NaN = off or not given), other numbers (a cash amount) as float64 (NaN = not given), whole
#: numbers as int64 (0 = off), flags as bool; then ``exec_open`` (execution_price open), ``short``,
#: ``long_short``, ``order_kind`` (the index of the entry order's type in `ORDER_TYPES`: 0 market, 1 limit,
#: 2 stop), ``order_valid_bars``, ``fill_bar_stops`` (True; False for `simulate`'s fill_order="backtesting":
#: no stop on the bar a limit or stop order filled), ``exit_order_kind`` (the exit order's type, as
#: ``order_kind``: 0 none), one ``<kind>_row`` per `LEVEL_KINDS` (the row of
#: ``levels`` holding that series, -1 = not used), ``exit_program_row`` (the ``exit`` block's program's first
#: level row, -1 = no program), ``exit_program_end`` (where its ops end: a long_short strategy's ``short_exit``
#: program follows) and ``short_exit_program_row`` (the ``short_exit`` program's first level row, -1 = none).
#: A new risk field of the document is in it without a change here.
risk_dt = np.dtype([(kernel_risk_name(f), _kernel_type(f)) for f in RISK_FIELDS]
                   + [("exec_open", np.bool_), ("short", np.bool_), ("long_short", np.bool_),
                      ("order_kind", np.int64), ("order_valid_bars", np.int64), ("fill_bar_stops", np.bool_),
                      ("exit_order_kind", np.int64)]
                   + [(f"{kind}_row", np.int64) for kind in LEVEL_KINDS]
                   + [("exit_program_row", np.int64), ("exit_program_end", np.int64),
                      ("short_exit_program_row", np.int64)]
                   # take_profit_by_bars: its rows (bars held, take profit as a fraction), sorted by bars
                   + [("take_profit_rows", np.int64), ("take_profit_row_bars", np.int64, (MAX_TAKE_PROFIT_ROWS,)),
                      ("take_profit_row_pct", np.float64, (MAX_TAKE_PROFIT_ROWS,))], align=True)
_INT64_MAX = np.iinfo(np.int64).max


def risk_arrays(risks: Sequence[RiskSpec]) -> np.ndarray:
    """The kernels' risk records (`risk_dt`), one per spec: the one conversion of resolved risk for the kernels.

    A limit beyond int64 is the same as int64's largest: never. Every spec has one sizing method (a
    `RiskSpec` from `resolve_risk` always has): a spec without one is a bug, not a run.
    """
    for r in risks:
        if all(getattr(r, m) is None for m in SIZING_METHODS):
            raise ValueError(f"a RiskSpec needs a sizing method ({', '.join(SIZING_METHODS)}): {r}")
    out = np.empty(len(risks), dtype=risk_dt)
    for f in RISK_FIELDS:
        values = [getattr(r, f) for r in risks]
        if f in INTEGER_RISK_FIELDS:
            out[kernel_risk_name(f)] = [min(int(v or 0), _INT64_MAX) for v in values]
        elif f in FLAG_RISK_FIELDS:
            out[kernel_risk_name(f)] = [bool(v) for v in values]
        else:
            scale = 100.0 if f.endswith("_pct") else 1.0
            out[kernel_risk_name(f)] = [np.nan if v is None else float(v) / scale for v in values]
    out["exec_open"] = [r.execution_price == "open" for r in risks]
    out["short"] = [r.direction == "short" for r in risks]
    out["long_short"] = [r.direction == "long_short" for r in risks]
    out["order_kind"] = [ORDER_TYPES.index(r.entry_order) for r in risks]
    out["order_valid_bars"] = [r.order_valid_bars for r in risks]
    out["fill_bar_stops"] = True
    out["exit_order_kind"] = [ORDER_TYPES.index(r.exit_order) for r in risks]
    for kind in LEVEL_KINDS:
        out[f"{kind}_row"] = -1  # set where the strategy hands the kind (`level_array`)
    out["exit_program_row"] = -1
    out["exit_program_end"] = 0
    out["short_exit_program_row"] = -1
    out["take_profit_row_bars"] = 0
    out["take_profit_row_pct"] = np.nan
    for i, r in enumerate(risks):
        table = r.take_profit_by_bars or ()
        out[i]["take_profit_rows"] = len(table)
        for k, (bars, pct) in enumerate(table):
            out[i]["take_profit_row_bars"][k] = bars
            out[i]["take_profit_row_pct"][k] = pct / 100.0
    return out


def level_array(levels: Mapping[str, np.ndarray] | None, shape: tuple[int, int], risk: np.ndarray,
                exit_program: Any = None, short_exit_program: Any = None) -> np.ndarray:
    """The kernels' (L, N, T) levels array of `levels` (kind -> (T, N) float64) in `LEVEL_KINDS` order, the
    kinds given only, then the levels of `exit_program` (``exit_program:0``, ``exit_program:1``, ...), then those
    of a long_short strategy's `short_exit_program` (``short_exit_program:<k>``); writes each kind's row into the
    risk records ``risk`` (``<kind>_row``; ``exit_program_row`` / ``short_exit_program_row``, a program's first
    row, whenever there is the program: one of constants and position variables has no level; and
    ``exit_program_end``, where the ``exit`` program's ops end in `exit_program_arrays`)."""
    levels = levels or {}
    programs = [(EXIT_PROGRAM_LEVEL, exit_program), (SHORT_EXIT_PROGRAM_LEVEL, short_exit_program)]
    rows: list[str] = []
    for prefix, prog in programs:
        kinds = [f"{prefix}{k}" for k in range(sum(1 for kind in levels if kind.startswith(prefix)))]
        if prog is None and kinds:
            raise ValueError(f"levels of an exit program ({prefix}<k>) without the program")
        if prog is not None and len(kinds) != len(prog.levels):
            raise ValueError(f"the exit program reads {len(prog.levels)} levels, {len(kinds)} given")
        rows += kinds
    unknown = sorted(set(levels) - set(LEVEL_KINDS) - set(rows))
    if unknown:
        raise ValueError(f"unknown level kinds {unknown}; known: {list(LEVEL_KINDS)}, {EXIT_PROGRAM_LEVEL}<k> and "
                         f"{SHORT_EXIT_PROGRAM_LEVEL}<k>")
    given = [kind for kind in LEVEL_KINDS if kind in levels]
    out = np.empty((len(given) + len(rows), shape[1], shape[0]), dtype=np.float64)
    for row, kind in enumerate(given + rows):
        a = np.asarray(levels[kind], dtype=np.float64)
        if a.shape != shape:
            raise ValueError(f"levels[{kind!r}] has shape {a.shape}, expected {shape}")
        out[row] = a.T
        if kind in LEVEL_KINDS:
            risk[f"{kind}_row"] = row
    if exit_program is not None:
        risk["exit_program_row"] = len(given)
        risk["exit_program_end"] = len(exit_program.ops)
    if short_exit_program is not None:
        risk["short_exit_program_row"] = len(given) + (0 if exit_program is None else len(exit_program.levels))
    ordered = risk["exit_order_kind"] != 0  # an exit order needs its levels: never run without it, silently
    if (ordered & (risk["exit_order_price_row"] < 0)).any() or \
            (ordered & risk["long_short"] & (risk["short_exit_order_price_row"] < 0)).any():
        raise ValueError("a risk with an exit_order needs its levels: exit_order_price (and short_exit_order_price "
                         "for long_short)")
    return out


def exit_program_arrays(program: Any, short_program: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(ops, args) of the exit programs (`ruleengine.compile.exit_program.ExitProgram`) as the kernels take them:
    the ``exit`` block's, then a long_short strategy's ``short_exit`` program (the risk record's
    ``exit_program_end`` divides them, `level_array`); empty arrays without one."""
    parts = [p.arrays() for p in (program, short_program) if p is not None]
    if not parts:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    return np.concatenate([ops for ops, _ in parts]), np.concatenate([args for _, args in parts])


def side_signals(x: np.ndarray | None, shape: tuple[int, int], what: str) -> np.ndarray:
    """A short side's (T, N) signals as the kernels' (N, T) C-ordered array; an empty one when None (unread)."""
    if x is None:
        return np.zeros((0, shape[0]), dtype=np.bool_)
    a = np.asarray(x, dtype=np.bool_)
    if a.shape != shape:
        raise ValueError(f"{what} has shape {a.shape}, expected {shape}")
    return np.ascontiguousarray(a.T)


def _kernel_args(arrays: dict[str, np.ndarray], ent: np.ndarray, ext: np.ndarray, times: np.ndarray,
                 risks: list[RiskSpec], start: int, short_entries: np.ndarray | None,
                 short_exits: np.ndarray | None, levels: Mapping[str, np.ndarray] | None,
                 exit_program: Any, short_exit_program: Any = None) -> tuple:
    shape = (ent.shape[1], ent.shape[0])  # (T, N)
    if any(r.direction == "long_short" for r in risks):  # the kernels read the short side of such a column
        if short_entries is None:
            raise ValueError("a long_short run needs short_entries (and short_exits, or none)")
        if short_exits is None:
            short_exits = np.zeros(shape, dtype=np.bool_)
    risk = risk_arrays(risks)
    lv = level_array(levels, shape, risk, exit_program, short_exit_program)
    return (arrays["open"], arrays["high"], arrays["low"], arrays["close"], ent, ext,
            side_signals(short_entries, shape, "short_entries"), side_signals(short_exits, shape, "short_exits"),
            lv, *exit_program_arrays(exit_program, short_exit_program), times, int(start), risk)


#: the distance levels an entry reads: each gives its trade an exit only when > 0 at the entry signal's bar
DISTANCE_KINDS = ("stop_loss_distance", "take_profit_distance")


def unusable_distances(trades: pd.DataFrame, levels: Mapping[str, np.ndarray], close: np.ndarray,
                       exec_open: bool, order_entries: np.ndarray | None = None,
                       order_short_entries: np.ndarray | None = None) -> dict[str, list[tuple[int, int]]]:
    """Per distance kind, the trades (entry bar, column) whose distance at the entry signal's bar was <= 0 or
    NaN, so that the trade had no such exit (the kernels' `arm_nb` leaves it off): what warning L123 reports.

    The signal's bar is the entry bar with close fills, the column's previous bar with a close with open fills
    (the bar whose levels the kernels read); for limit or stop entry orders (`order_entries`: the entry
    signals, (T, N)) the bar that placed the filled order: the last entry signal before the fill (a later one
    would have replaced it; a long_short strategy's short trades: the last short entry signal,
    `order_short_entries`). `levels` and `close` are (T, N) in the simulation's columns.
    """
    out: dict[str, list[tuple[int, int]]] = {}
    if trades.empty:
        return out
    entry, col = trades["entry_bar"].to_numpy(), trades["column"].to_numpy()
    signal = entry.copy()
    if order_entries is not None:
        short = trades["direction"].to_numpy() < 0
        for i, (t, j) in enumerate(zip(entry.tolist(), col.tolist(), strict=True)):
            placing = order_short_entries if order_short_entries is not None and short[i] else order_entries
            before = np.flatnonzero(placing[:t, j])
            signal[i] = before[-1] if before.size else t
    elif exec_open:
        for i, (t, j) in enumerate(zip(entry.tolist(), col.tolist(), strict=True)):
            before = np.flatnonzero(~np.isnan(close[:t, j]))
            signal[i] = before[-1] if before.size else t
    for kind in DISTANCE_KINDS:
        if kind in levels:
            d = np.asarray(levels[kind])[signal, col]
            bad = ~(d > 0)
            if bad.any():
                out[kind] = list(zip(entry[bad].tolist(), col[bad].tolist(), strict=True))
    return out


def _max_trades(ent: np.ndarray, start: int, short_entries: np.ndarray | None = None) -> int:
    """Every trade starts on a distinct entry signal (of either side) at or after `start` (plus one pending open
    fill per side)."""
    n = int(ent[:, max(start - 1, 0):].sum()) + 1
    if short_entries is not None:  # (T, N) as given
        n += int(np.asarray(short_entries)[max(start - 1, 0):].sum()) + 1
    return n


def notes_frame(records: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    """The kernel's `skip_dt` records as a table: bar, time, column, reason (a `SIZE_NOTE_NAMES` name)."""
    reasons = np.array(SIZE_NOTE_NAMES, dtype=object)
    return pd.DataFrame({"bar": records["bar"], "time": pd.DatetimeIndex(index)[records["bar"]],
                         "column": records["column"],
                         "reason": reasons[records["reason"]].astype(str) if len(records) else np.array([], str)})


def trades_frame(records: np.ndarray, index: pd.DatetimeIndex, *, by_time: bool) -> pd.DataFrame:
    """The trade table from the kernel's `trade_dt` records (sorted by column then entry, or entry then
    column)."""
    pair = getattr(records, "dtype", None) == pair_trade_dt
    records = np.asarray(records, dtype=pair_trade_dt if pair else trade_dt)
    # one int64 key per trade (column-major or time-major); the kernels usually hand the records over in that
    # order already (columns in order, each column's trades in time order): then no sort and no gather
    column, entry = records["column"].astype(np.int64), records["entry_bar"].astype(np.int64)
    key = entry * (int(column.max()) + 1) + column if by_time and len(records) else column * len(index) + entry
    sorted_already = len(key) < 2 or bool((key[1:] >= key[:-1]).all())
    rec = records if sorted_already else records[np.argsort(key, kind="stable")]
    idx = pd.DatetimeIndex(index)
    # pandas' string array of the reason names, taken by code: the same column as an object array of the names
    # would give, without converting one Python string per trade (~2 ms per 50,000 trades)
    reasons = pd.array(list(EXIT_REASONS), dtype="str")
    return pd.DataFrame({
        "column": rec["column"], "entry_bar": rec["entry_bar"], "exit_bar": rec["exit_bar"],
        "entry_time": idx[rec["entry_bar"]], "exit_time": idx[rec["exit_bar"]],
        "entry_price": rec["entry_price"], "exit_price": rec["exit_price"], "size": rec["size"],
        "pnl": rec["pnl"], "pnl_pct": rec["pnl_pct"],
        "exit_reason": reasons.take(rec["exit_reason"].astype(np.intp)) if len(rec) else np.array([], str),
        "fees": rec["fees"], "direction": rec["direction"],
        **{c: rec[c] for c in PAIR_TRADE_COLUMNS if pair}},
        columns=list(TRADE_COLUMNS) + (list(PAIR_TRADE_COLUMNS) if pair else []))
