"""Stage 7 for a pair strategy: both legs of each pair column simulated as one position (`simulate_pairs`).

The kernel is `ruleengine.kernels.pairs.simulate_pairs_nb`, which opens and closes each leg through the fill
step of `ruleengine.kernels.simulate` (`PAIR_FILL_CONTRACT` says what is the pair's own).

Example:
    >>> import numpy as np, pandas as pd
    >>> from ruleengine.backtest.risk import RiskSpec
    >>> idx = pd.date_range("2024-01-01", periods=3, freq="D", tz="UTC")
    >>> a = np.array([[100.0], [110.0], [120.0]])
    >>> b = np.array([[50.0], [50.0], [40.0]])
    >>> bars = lambda px: {"open": px, "high": px, "low": px, "close": px}
    >>> risk = RiskSpec(position_size_pct=100.0, fees_pct=0.0, slippage_pct=0.0, execution_price="close")
    >>> sim = simulate_pairs(bars(a), bars(b), np.array([[True], [False], [False]]),
    ...                      np.array([[False], [False], [True]]), idx, risk)
    >>> sim.trades[["entry_price", "exit_price", "leg_b_entry_price", "leg_b_exit_price", "pnl"]].values.tolist()
    [[100.0, 120.0, 50.0, 40.0, 2000.0]]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from ..schema.strategy import PAIR_SIZINGS
from .risk import RiskSpec
from .simulation import Simulation, _kernel_args, _max_trades, _prepare, notes_frame, trades_frame


def simulate_pairs(prices_a: Mapping[str, np.ndarray], prices_b: Mapping[str, np.ndarray], entries: np.ndarray,
                   exits: np.ndarray, index: pd.DatetimeIndex, risk: RiskSpec | Sequence[RiskSpec], *,
                   hedge_ratio: float | np.ndarray = 1.0, sizing: str = "dollar_neutral",
                   short_entries: np.ndarray | None = None, short_exits: np.ndarray | None = None,
                   levels: Mapping[str, np.ndarray] | None = None, exit_program: Any = None,
                   short_exit_program: Any = None, init_cash: float = 10_000.0, start: int = 0) -> Simulation:
    """Simulate each pair column on its own `init_cash`: leg a is column j of `prices_a`, leg b of `prices_b`.

    Args:
        prices_a, prices_b: ``{"open", "high", "low", "close"}`` -> (T, N) float64 of each leg (NaN: no bar).
        entries, exits: (T, N) bool: go long the pair (buy a, sell b short) and leave it (with
            ``direction: short`` in `risk`: go short the pair and leave it).
        hedge_ratio: a number > 0 or (T, N) float64 read at the signal bar (NaN or <= 0 there: no entry).
        sizing: ``dollar_neutral`` (leg b's value = hedge_ratio x leg a's) or ``hedge_ratio_units``
            (units_b = hedge_ratio x units_a).
        short_entries, short_exits: (T, N) bool, the short side of a long/short pair strategy.
        levels: the strategy's other levels (kind -> (T, N) float64): ``volatility`` (volatility_target_pct),
            and the exit programs' (``exit_program:<k>``, ``short_exit_program:<k>``).
        exit_program: the strategy's exit program on the pair's position variables, or None (the ``exit``
            block's: a long_short strategy's long pairs, any pair of a long or short one).
        short_exit_program: a long_short strategy's ``short_exit`` program, run for its short pairs, or None.
        index, risk, init_cash, start: as `ruleengine.backtest.simulation.simulate`.

    Returns:
        A `Simulation` whose trades hold one row per pair position (the first leg's prices and size, the
        combined pnl, pnl_pct and fees, ``leg_a_pnl``, ``leg_b_pnl`` and the second leg's ``leg_b_*``),
        ``position`` the first leg's units and ``position_b`` the second's; ``skipped`` the entries a sizing
        rule skipped or cut down to the cash.
    """
    return _simulate(False, prices_a, prices_b, entries, exits, index, risk, hedge_ratio, sizing, short_entries,
                     short_exits, levels, exit_program, short_exit_program, init_cash, start)


def simulate_pairs_portfolio(prices_a: Mapping[str, np.ndarray], prices_b: Mapping[str, np.ndarray],
                             entries: np.ndarray, exits: np.ndarray, index: pd.DatetimeIndex,
                             risk: RiskSpec | Sequence[RiskSpec], *, hedge_ratio: float | np.ndarray = 1.0,
                             sizing: str = "dollar_neutral", short_entries: np.ndarray | None = None,
                             short_exits: np.ndarray | None = None, levels: Mapping[str, np.ndarray] | None = None,
                             exit_program: Any = None, short_exit_program: Any = None, init_cash: float = 10_000.0,
                             start: int = 0) -> Simulation:
    """The pair columns as one portfolio sharing `init_cash` (`ruleengine.kernels.pair_portfolio`): each entry
    sized on the portfolio's equity, never cut to the cash, and capped by ``max_open_positions`` (a pair is
    one position) and ``max_gross_exposure_pct`` (both legs' value). Arguments as `simulate_pairs`; the
    simulation's equity and cash are (T, 1), its trades in entry order."""
    return _simulate(True, prices_a, prices_b, entries, exits, index, risk, hedge_ratio, sizing, short_entries,
                     short_exits, levels, exit_program, short_exit_program, init_cash, start)


def _simulate(portfolio: bool, prices_a: Mapping[str, np.ndarray], prices_b: Mapping[str, np.ndarray],
              entries: np.ndarray, exits: np.ndarray, index: pd.DatetimeIndex, risk: RiskSpec | Sequence[RiskSpec],
              hedge_ratio: float | np.ndarray, sizing: str, short_entries: np.ndarray | None,
              short_exits: np.ndarray | None, levels: Mapping[str, np.ndarray] | None, exit_program: Any,
              short_exit_program: Any, init_cash: float, start: int) -> Simulation:
    """`simulate_pairs` (independent pairs) or `simulate_pairs_portfolio` (`portfolio`) through its kernel."""
    if sizing not in PAIR_SIZINGS:
        raise ValueError(f"sizing must be one of {PAIR_SIZINGS}, got {sizing!r}")
    arrays, ent, ext, times, risks = _prepare(prices_a, entries, exits, index, risk, start)
    arrays_b = _prepare(prices_b, entries, exits, index, risk, start)[0]
    shape = (ent.shape[1], ent.shape[0])
    hedge = np.broadcast_to(np.asarray(hedge_ratio, dtype=np.float64), shape)
    args = _kernel_args(arrays, ent, ext, times, risks, start, short_entries, short_exits,
                        {**(levels or {}), "hedge_ratio": hedge}, exit_program, short_exit_program)
    (open_a, high_a, low_a, close_a, ent_, ext_, short_e, short_x, lv, ops, op_args, times_, start_, risk_rec) = args
    n_trades = _max_trades(ent, start) + (0 if short_entries is None else int(np.sum(short_entries)))
    kernel = _kernel("simulate_pairs_portfolio_nb" if portfolio else "simulate_pairs_nb")
    records, n, eq, cash, units_a, units_b, notes, n_notes = kernel(
        open_a, high_a, low_a, close_a, arrays_b["open"], arrays_b["high"], arrays_b["low"], arrays_b["close"], ent_,
        ext_, short_e, short_x, lv, ops, op_args, times_, start_, risk_rec, sizing == "hedge_ratio_units",
        float(init_cash), n_trades)
    trades = trades_frame(records[:n], index, by_time=portfolio)
    return Simulation(trades, eq.T, cash.T, units_a.T, "numba", notes_frame(notes, index), int(n_notes),
                      position_b=units_b.T)


def simulate_pair_run(pair: Any, prices_a: Mapping[str, np.ndarray], prices_b: Mapping[str, np.ndarray],
                      signals: Mapping[str, Any], *, portfolio: bool = False, **options: Any) -> Simulation:
    """`simulate_pairs` (or, `portfolio`, `simulate_pairs_portfolio`) of a `PairSpec` on a strategy's signal
    columns (`SignalSet.columns`): its hedge ratio from the levels (`hedge_levels`), its other levels and exit
    program, and its sizing; `options` are `simulate_pairs`' (index, risk, ...)."""
    given = dict(signals)
    levels = dict(given.pop("levels", None) or {})
    hedge = hedge_levels(pair, levels, prices_a["close"].shape)
    levels.pop("hedge_ratio", None)
    run = simulate_pairs_portfolio if portfolio else simulate_pairs
    return run(prices_a, prices_b, hedge_ratio=hedge, sizing=pair.sizing, levels=levels, **given, **options)


def pair_fills_return(pair: Mapping[str, Any], side: str, entry: tuple[float, float], exit_: tuple[float, float],
                      times: tuple[Any, Any], risk: RiskSpec) -> dict[str, float]:
    """A pair traded at the user's own fills, counted by the pair kernel: both legs opened at `entry` (leg a's
    and leg b's fill prices) at ``times[0]`` and closed at `exit_` at ``times[1]``, sized at the signal's hedge
    ratio and sizing (`pair`: a signal's ``data_snapshot["pair"]``) on the entry fills, with `risk`'s fees and
    borrow cost; no slippage (the fills are the prices paid) and no stops (the user closed it).

    Returns ``return_pct`` (the pair's pnl over both legs' cost, fees in, as a backtest's ``pnl_pct``) and each
    leg's pnl per 100 of stake (``leg_a_pnl``, ``leg_b_pnl``)."""

    t0 = pd.Timestamp(times[0])
    t1 = max(pd.Timestamp(times[1]), t0 + pd.Timedelta(microseconds=1))  # the kernel needs bars in time order
    index = pd.DatetimeIndex([t0, t1])
    index = index.tz_localize("UTC") if index.tz is None else index

    def bars(first: float, last: float) -> dict[str, np.ndarray]:
        px = np.array([[first], [last]], dtype=np.float64)
        return {"open": px, "high": px, "low": px, "close": px}

    plain = RiskSpec(execution_price="close", direction=side, position_size_pct=100.0, slippage_pct=0.0,
                     fees_pct=risk.fees_pct, borrow_cost_pct=risk.borrow_cost_pct)
    sim = simulate_pairs(bars(entry[0], exit_[0]), bars(entry[1], exit_[1]), np.array([[True], [False]]),
                         np.array([[False], [True]]), index, plain, hedge_ratio=float(pair["hedge_ratio"]),
                         sizing=str(pair["sizing"]), init_cash=100.0)
    (trade,) = sim.trades.itertuples(index=False)
    return {"return_pct": float(trade.pnl_pct), "leg_a_pnl": float(trade.leg_a_pnl),
            "leg_b_pnl": float(trade.leg_b_pnl)}


def hedge_levels(pair: Any, levels: Mapping[str, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """The hedge ratio of every bar and column (`shape`) of a `PairSpec`'s run: the strategy's level
    ``hedge_ratio`` (an expression's values), else the document's number on every bar."""
    given = levels.get("hedge_ratio")
    return np.full(shape, pair.hedge_ratio, dtype=np.float64) if given is None else given


def refuse_pairs(strategy: object, what: str, why: str, hint: str) -> None:
    """Raise D145 when `strategy` (a `TradingStrategy`) has a pair block: `what` (an engine, ...) cannot run a
    pair, for the reason `why`."""
    if getattr(strategy, "pair", None) is not None:
        raise RuleEngineError([Diagnostic("D145", f"a pair strategy does not run on {what}: {why}", path="pair",
                                          hint=hint)])


def _kernel(name: str) -> Any:
    """A pair kernel by name, imported on first use (numba stays out of imports that do not simulate)."""
    from ..kernels import pair_portfolio, pairs

    return getattr(pairs if name == "simulate_pairs_nb" else pair_portfolio, name)


__all__ = ["hedge_levels", "pair_fills_return", "refuse_pairs", "simulate_pair_run", "simulate_pairs",
           "simulate_pairs_portfolio"]
