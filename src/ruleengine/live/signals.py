"""Live signals: a strategy evaluated on the latest completed bar of each symbol, explained.

The signal is read from the same `signals` a backtest runs, over data loaded by the same data layer
with the compiler's convergence history before it, so the live signal on a bar equals the backtest's signal on
that bar (tested on real data with ``--asof`` cuts). The reasoning tree comes from
`ruleengine.compile.inspect` (the same kernels, per condition); confidence from `ruleengine.live.confidence`.

- **Latest completed bar**: the last bar at or before ``asof`` (a date: that day's close counts as done).
  Without ``asof`` the last bar the provider has; a daily bar dated today is left out before 16:00 New York
  time, because a provider may deliver the session in progress.
- **Symbols without a bar on that date** (delisted, halted, data ending earlier) give no signal and are
  counted in a warning.
- **Path-dependent functions** (``bars_since``, ``obv``): their value depends on where the data start, so
  for strategies using them 2,520 bars of history are loaded (`PATH_HISTORY_BARS`); a backtest that starts
  later than the last event before a bar can still differ on that bar.
- **Near misses**: for an ``all`` group of two or more conditions, the symbols where every condition but one
  held, closest to flipping first.
- **Sides**: each signal says the side of the position it opens or closes (``direction``) and the order to
  place (``action``): a long strategy's entry buys and its exit sells; a ``direction: short`` strategy's entry
  sells short and its exit buys to cover (the same conditions, the other side).
- **Exits on position variables** (``bars_held >= 10``, ``unrealized_pct > 5``): they need the position the
  user holds (`ruleengine.live.positions`: the store's acted entries of the strategy, or ``positions`` given);
  for a ticker with one, the variables are computed on the bar as the fill step defines them, shown in the
  reasoning, and such a condition can fire the exit; for the others the condition has no value (its note says
  why) and warning D147 lists them. A pair strategy's are a held pair's (`ruleengine.live.held_pairs`: both
  legs, the variables of the pair's combined value).
- **Limit and stop entries** (``entry_order``): an entry signal says the order it places, its level on the
  bar and how long it is worked (`ruleengine.live.orders`), instead of a buy at the close.
- **Pairs** (a ``pair`` block): one signal per pair run (ticker ``XLE/XLF``) naming both legs with their
  orders, closes and the hedge ratio of the bar (`ruleengine.live.pairs`); an entry whose hedge ratio opens no
  pair is left out (D148); single symbols instead of the named legs are D146.
- **Point-in-time universes** (``--symbols @sp500``): a symbol that is not a member on the bar gets no entry and
  warning D158 says so ("not a member of sp500 on 2012-03-22 (left it on 2012-03-16)"); an exit on it carries the
  backtest's reason (``left_universe``), and a held position in a symbol that left is loaded to get that exit
  (`ruleengine.live.universe`); a held position in a symbol whose prices ended before the bar gets warning
  D165 with its last close and date (the backtest's ``delisted`` exit).
- **Exit orders** (``exit_order: stop | limit``): the level of the evaluated bar's close is the order to place
  for the next bar; warning D166 lists it per symbol (the held ones with their side) and each signal's data
  snapshot carries it (``exit_order``: `ruleengine.live.exit_orders`).
- **Real data only**: live signals are acted on and stored, so they are never computed on synthetic data.
  Without a data path, a provider or an FMP key the call stops with D160 saying how to give one; an explicit
  synthetic provider (``provider="sample"``) is D160 too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from ..sides import Side, group_side
from .exit_orders import next_bar_exit_orders
from .fills import holding_note, portfolio_fills
from .held_pairs import (
    PAIR_POSITION_FORMAT,
    HeldPair,
    PairInputs,
    fill_pairs,
    pair_note,
    pair_runs,
    pair_values,
)
from .models import LiveScan, NearMiss, StrategySignal
from .orders import entry_order_note
from .pairs import both_legs_have_a_bar, drop_entries_without_hedge, pair_bars, refuse_universe
from .positions import (
    POSITION_FORMAT,
    HeldPosition,
    by_ticker,
    fill_positions,
    parse_position,
    position_values,
    stored_positions,
)
from .reasoning import build_node, condition_held, fmt, reasoning
from .universe import entries_held, live_universe

#: calendar days of bars requested before the evaluated bar (the warm-up history comes on top)
_SPAN_DAYS = {"1Week": 70, "1Month": 130}
#: bars of each condition's values kept for the typical-move scale (`confidence.SCALE_BARS` + 1)
_TAIL = 21
_INTRADAY = ("1Min", "5Min", "15Min", "30Min", "1Hour")
#: a strategy whose values on a bar depend on how far back the data go, not only on a window (its source's
#: ``path_dependent``: ``bars_since`` counts from the last event however old, ``obv`` accumulates from the first
#: bar): no finite warm-up makes them equal to a longer run's, so live signals load this much history for it (a
#: default backtest's 10 years of daily bars): the last event then lies inside the data of both.
PATH_HISTORY_BARS = 2520


@dataclass
class Target:
    """A strategy ready to evaluate, with its store identity when it came from the store."""

    compiled: Any  # a `ruleengine.strategies.SignalSource` (rules or code)
    strategy: Any  # TradingStrategy
    strategy_id: int | None = None
    version: int | None = None


def resolve_target(strategy: Any) -> Target:
    """Compile a path/text/dict/`TradingStrategy`/`SignalSource`/`StrategyRecord`.

    A stored strategy that no longer loads or compiles raises T105 with the compiler's diagnostics.
    """
    from ..strategies import signal_source as compile_strategy

    if isinstance(strategy, Target):
        return strategy
    rec_id = getattr(strategy, "content_hash", None) and getattr(strategy, "id", None)
    if rec_id is not None:  # a StrategyRecord
        try:
            strat = strategy.strategy
            return Target(compile_strategy(strat), strat, strategy.id, strategy.version)
        except RuleEngineError as exc:
            first = exc.diagnostics[0]
            raise RuleEngineError([Diagnostic(
                "T105", f"stored strategy {strategy.id} (version {strategy.version}, '{strategy.name}') no "
                f"longer compiles: {first.code} {first.message}", path="strategy_id",
                hint=f"export it (ruleengine strategies export {strategy.id}), fix it and add the fixed file as a "
                f"new version: ruleengine strategies add FILE --id {strategy.id}"), *exc.diagnostics]) from None
    compiled = compile_strategy(strategy)
    return Target(compiled, compiled.strategy)


@dataclass(frozen=True)
class Leg:
    """One kind of signal a strategy gives: entries or exits of one side, and the condition group behind them."""

    kind: str  # entry | exit
    side: Side
    group: str  # the document's condition group: entry | exit | short_entry | short_exit
    array: str  # its `SignalSet` field: entries | exits | short_entries | short_exits


def signal_legs(strat: Any) -> list[Leg]:
    """The signals a strategy gives, in the order they are listed: one leg per condition group
    (`TradingStrategy.signal_groups`). A long_short strategy's short_entry / short_exit are the short side;
    the entry / exit of a ``direction: short`` strategy are short too."""
    return [Leg("entry" if group.endswith("entry") else "exit", group_side(group, strat.direction), group,
                _ARRAYS[group]) for group in strat.signal_groups()]


_ARRAYS = {"entry": "entries", "exit": "exits", "short_entry": "short_entries", "short_exit": "short_exits"}


def leg_signals(sig: Any, leg: Leg) -> np.ndarray:
    """The bool signal array of `leg` in a strategy's `SignalSet` (all False where the strategy has no such
    group: a long_short strategy without short_exit conditions)."""
    arr = getattr(sig, leg.array)
    return np.zeros_like(sig.entries) if arr is None else arr


def acting_signals(strat: Any, sig: Any) -> dict[str, np.ndarray]:
    """Each condition group's signals as the fill step acts on them. A long_short strategy's follow its
    contract: an entry and an exit of one side on one bar cancel, then a long and a short entry cancel;
    every other strategy's are its signals as computed (its one side's cancel happens in the simulation)."""
    raw = {leg.group: leg_signals(sig, leg) for leg in signal_legs(strat)}
    if strat.direction != "long_short":
        return raw
    long_in, long_out = raw["entry"] & ~raw["exit"], raw["exit"] & ~raw["entry"]
    short_in, short_out = raw["short_entry"] & ~raw["short_exit"], raw["short_exit"] & ~raw["short_entry"]
    both = long_in & short_in
    return {"entry": long_in & ~both, "exit": long_out, "short_entry": short_in & ~both, "short_exit": short_out}


def closing_signals(strat: Any, sig: Any) -> dict[str, np.ndarray]:
    """What closes a position of each side the strategy trades: its exits and, for long_short, the other
    side's entries too (an opposite entry reverses the position), as the fill step acts on them."""
    acting = acting_signals(strat, sig)
    if strat.direction == "long_short":
        return {"long": acting["exit"] | acting["short_entry"], "short": acting["short_exit"] | acting["entry"]}
    return {leg.side: acting[leg.group] for leg in signal_legs(strat) if leg.kind == "exit"}


def live_signals(strategy: Any, symbols: Any, *, asof: Any = None, min_confidence: float = 0.0,
                 provider: str | None = None, data: str | None = None, **options: Any) -> list[StrategySignal]:
    """Entry/exit signals of a strategy on the latest completed bar of each symbol, with their reasoning.

    Args:
        strategy: a path, text, dict, `TradingStrategy`, `CompiledStrategy` or a stored `StrategyRecord`.
        symbols: ``"SPY,QQQ"``, a list, ``"@universe.txt"``, ... (as for `ruleengine.backtest`).
        asof: evaluate the last bar at or before this date (default: the latest data).
        min_confidence: leave out signals below this confidence (0-100).
        provider, data: the data layer's ``--provider`` / ``--data``.
        **options: see `live_scan` (params, hit_rate, store, signal_types, now, no_cache).

    Example:
        >>> sigs = live_signals("rules/rsi_mean_reversion.yaml", "SPY,QQQ", asof="2017-06-30")  # doctest: +SKIP
        >>> [(s.ticker, s.signal_type, s.confidence_score) for s in sigs]  # doctest: +SKIP
    """
    return live_scan(strategy, symbols, asof=asof, min_confidence=min_confidence, provider=provider, data=data,
                     **options).signals


def live_scan(strategy: Any, symbols: Any, *, asof: Any = None, min_confidence: float = 0.0,
              provider: str | None = None, data: str | None = None, params: Mapping[str, Any] | None = None,
              hit_rate: tuple[int, int] | None = None, store: Any = None,
              signal_types: Sequence[str] = ("entry", "exit"), near_misses: bool = True,
              max_near_misses: int = 20, now: datetime | None = None, no_cache: bool = False,
              positions: Sequence[HeldPosition | HeldPair | str] = ()) -> LiveScan:
    """`live_signals` plus the near misses, the evaluated bar and the data warnings.

    `hit_rate` is (wins, trades) for the confidence; by default, with a `store` and a stored strategy, that of
    its newest stored backtest. `now` (UTC) replaces the clock for the partial-bar rule. `positions` are the
    positions the user holds (`HeldPosition`, or ``"AAPL:long:140.5:2017-06-01"``; a pair strategy's a
    `HeldPair`, or ``"XLE/XLF:long:XLE=60.1,XLF=24.3:2017-06-01"``), beside those of the store; a given one
    replaces the store's for its ticker. Exit conditions on position variables read them.
    """
    if not 0 <= float(min_confidence) <= 100:
        raise RuleEngineError([Diagnostic("T107", f"min_confidence must be within 0..100, got {min_confidence}",
                                          path="min_confidence")])
    target = resolve_target(strategy)
    strat = target.strategy
    refuse_universe(strat, symbols)
    if strat.rotation is not None:  # one account over the universe: its signal is a plan, not a signal per symbol
        raise RuleEngineError([Diagnostic(
            "S143", "a rotation portfolio has no entry/exit signals per symbol (scans and tracking take none)",
            path="rotation", hint="its rebalance plan: ruleengine signals FILE --symbols ... (rotation_plan)")])
    if hit_rate is None and store is not None and target.strategy_id is not None:
        hit_rate = store.latest_hit_rate(target.strategy_id)
    strat_params = _strategy_params(strat, params)
    values = strat.default_params() | strat_params
    exec_open = str(values.get("execution_price") or "close") == "open"
    fills = portfolio_fills()  # the user's own position (broker export / SnapTrade), named in each reasoning
    held = _held_positions(target, store, positions, exec_open, fills, asof, symbols)
    universe = live_universe(symbols, data)  # @sp500: membership on the bar, said aloud (live/universe.py)
    md = load_live_data(target, symbols, asof=asof, params=strat_params, provider=provider, data=data,
                        no_cache=no_cache, history_from=min((p.entry_time for p in held.values()), default=None),
                        also=universe.held_symbols(held) if universe is not None else ())
    clock = now or datetime.now(UTC)
    r = _last_completed_row(md, asof, clock)
    seen = md.head(r + 1)  # the bars up to the evaluated one
    sig = target.compiled.signals(seen, strat_params or None)
    base = strat.price_slot() or next(s for s, _ in md.inputs)
    close = md.inputs[(base, "close")][r]
    bar = md.index[r]
    bar_time = bar.tz_convert("UTC").tz_localize(None).to_pydatetime()
    has_bar = np.isfinite(close) if strat.pair is None else both_legs_have_a_bar(strat, md, r)
    warnings = [w.to_dict() for w in md.warnings]
    stale = [md.labels[j] for j in np.flatnonzero(~has_bar)]
    if stale:
        warnings.append(Diagnostic("D116", f"{len(stale)} symbol(s) have no bar on {bar.date()}: "
                                   + ", ".join(stale[:10]) + (" ..." if len(stale) > 10 else "")
                                   + "; no signal for them", severity="warning", path="symbols").to_dict())
    inspected = target.compiled.inspect(seen, strat_params, tail=_TAIL)  # []: no conditions (code)
    generated = clock.astimezone(UTC).replace(tzinfo=None)
    out: list[StrategySignal] = []
    fired = _fired(strat, sig, r, md.n_cols, has_bar, warnings, md.labels, bar)
    pairs = pair_bars(strat, md, sig.levels, r) if strat.pair is not None else None
    if pairs is not None:
        drop_entries_without_hedge(fired, [leg.group for leg in signal_legs(strat) if leg.kind == "entry"], pairs,
                                   md.labels, bar, warnings)
    outside = universe.outside(md, r, has_bar) if universe is not None and md.members is not None else {}
    ended = universe.delisted(md, md.inputs[(base, "close")], r, has_bar, held) \
        if universe is not None and strat.pair is None else {}
    if ended:  # a held symbol whose prices ended: the backtest's delisted exit, said aloud
        assert universe is not None
        warnings.append(universe.delisted_warning(ended, md.labels, bar))
    if outside:
        assert universe is not None
        warnings.append(universe.warning(outside, md.labels, entries_held(
            inspected, [(leg.group, _group(strat, leg.group)) for leg in signal_legs(strat) if leg.kind == "entry"],
            outside), bar))
    exit_orders, said = next_bar_exit_orders(strat, sig.levels, r, md.labels, has_bar, held)
    warnings += said  # the exit order to place for the next bar: never ignored silently
    legs = [leg for leg in signal_legs(strat) if leg.kind in signal_types]
    held_now: dict[tuple[str, int], tuple[str, dict[str, Any]]] = {}
    exit_groups = [leg.group for leg in legs if leg.group in ("exit", "short_exit")]
    if exit_groups:
        held_now = _exit_on_positions(target, exit_groups, inspected, fired, held, md, r, exec_open, has_bar, warnings,
                                      PairInputs.of(strat, sig.levels, seen.inputs[(base, "close")].shape, params)
                                      if pairs is not None else None)
    from ..data.calendar import bar_close_times

    bar_close = bar_close_times(md.index[r:r + 1], md.frequency)[0]
    for leg in legs:
        logic = _group(strat, leg.group)
        conds = [c for c in inspected if c.group == leg.group]
        reversal = (_PAIR_REVERSAL if strat.pair is not None else _REVERSAL if strat.entry_order.is_market()
                    else _ORDER_REVERSAL)[leg.side] \
            if strat.direction == "long_short" and leg.kind == "entry" else ""
        for j in np.flatnonzero(fired[leg.group]):
            holding = held_now.get((leg.group, int(j)))
            pair = pairs[int(j)] if pairs is not None else None
            own = [holding_note(fills, md.labels[j], bar_close)] if pair is None else \
                [f"{sym}: " + mine for sym in pair.symbols if (mine := holding_note(fills, sym, bar_close))]
            gone = outside.get(int(j)) if leg.kind == "exit" else None  # the backtest's left_universe exit
            placed = entry_order_note(strat, sig.levels, r, int(j), leg.side) if leg.kind == "entry" else None
            note = "; ".join(n for n in (pair.note(leg.kind, leg.side) if pair is not None else "",
                                         placed[0] if placed is not None else "",
                                         universe.exit_note(gone) if gone and universe is not None else "",
                                         reversal if holding is None else holding[0], *own) if n)
            why = reasoning(leg.kind, logic, conds, int(j), hit_rate, leg.side, note)
            if why.confidence < float(min_confidence):
                continue
            out.append(StrategySignal(
                strategy_id=target.strategy_id, strategy_version=target.version, strategy_name=strat.name,
                ticker=md.labels[j], signal_type=leg.kind, direction=leg.side, generated_at=generated,
                bar_time=bar_time,
                price_at_signal=float(close[j]), confidence_score=round(why.confidence, 2), reasoning=why,
                data_snapshot=_snapshot(md, seen.inputs, r, int(j), base, why, values)
                | ({"position": holding[1]} if holding is not None else {})
                | ({"order": placed[1]} if placed is not None else {})
                | ({"pair": pair.snapshot(leg.kind, leg.side)} if pair is not None else {})
                | ({"universe": universe.snapshot(int(j) not in outside, outside.get(int(j)))}
                   if universe is not None else {})
                | ({"exit_reason": "left_universe"} if gone else {})
                | ({"exit_order": exit_orders[int(j)]} if int(j) in exit_orders else {})))
    misses = [m for leg in legs if leg.kind == "entry" and near_misses
              for m in _near_misses(strat, leg, inspected, leg_signals(sig, leg)[r, :md.n_cols], has_bar, md,
                                    bar_time, close, hit_rate, max_near_misses)]
    return LiveScan(strategy_name=strat.name, bar_time=bar_time, signals=out, near_misses=misses,
                    evaluated=int(has_bar.sum()), warnings=warnings, providers=dict(md.providers),
                    synthetic=bool(md.synthetic))


def _held_positions(target: Target, store: Any, given: Sequence[HeldPosition | HeldPair | str], exec_open: bool,
                    fills: pd.DataFrame | None, asof: Any, symbols: Any) -> dict[str, HeldPosition | HeldPair]:
    """The positions the user holds, by ticker: those their own fills leave open up to `asof` (the end of that
    day for a date; now without it), then the store's (a stored strategy's acted entries), then the given ones;
    a later source replaces an earlier one for its ticker. A pair strategy's are pairs, by run (``XLE/XLF``):
    its fills' pairs are the runs of `symbols` whose legs are both held on opposite sides (`fill_pairs`); a
    given position of the other kind than the strategy's is T107."""
    until = pd.Timestamp.now(tz="UTC") if asof is None else pd.Timestamp(asof)
    if asof is not None and until == until.normalize():
        until = until + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    if asof is not None and until.tzinfo is None:
        until = until.tz_localize("America/New_York")
    pair = target.strategy.pair
    open_now = fill_positions(fills, until)
    from_fills: dict[str, HeldPosition | HeldPair] = by_ticker(
        open_now if pair is None else fill_pairs(open_now, pair_runs(target.strategy, symbols)) if open_now else [])
    stored = by_ticker(stored_positions(store, target.strategy_id, open_fills=exec_open)) \
        if store is not None and target.strategy_id is not None else {}
    named = [parse_position(p) if isinstance(p, str) else p for p in given]
    for p in named:
        if isinstance(p, HeldPair) != (pair is not None):
            raise RuleEngineError([Diagnostic(
                "T107", f"--position {p.ticker}: a {'pair' if isinstance(p, HeldPair) else 'single symbol'}'s "
                f"position for a strategy {'without' if pair is None else 'with'} a pair block", path="position",
                hint=f"write it as {POSITION_FORMAT if pair is None else PAIR_POSITION_FORMAT}")])
    return from_fills | stored | by_ticker(named)


def _exit_on_positions(target: Target, groups: Sequence[str], inspected: list[Any], fired: dict[str, np.ndarray],
                       held: Mapping[str, HeldPosition | HeldPair], md: Any, r: int, exec_open: bool,
                       has_bar: np.ndarray, warnings: list[dict[str, Any]], pair: PairInputs | None
                       ) -> dict[tuple[str, int], tuple[str, dict[str, Any]]]:
    """The exit groups' (`groups`: ``exit``, and a long_short strategy's ``short_exit``) conditions on position
    variables on bar `r`: for each column whose ticker the user holds on the group's side, the variables
    (`position_values`; a pair's, `pair_values`, with `pair`'s hedge ratio, sizing and borrow cost) and every
    such node's value go into the inspected conditions (the reasoning shows them) and the group's exit fires when
    the block holds, as in the fill step (its program joins the signal of the held side); the others get a note
    on those nodes and warning D147. Returns (group, column) -> (the exit reasoning's note, the position for the
    signal's data snapshot)."""
    from ..lang.position import position_dependent

    strat = target.strategy
    dependent = {g: [c for c in inspected if c.group == g and position_dependent(c.tree)] for g in groups}
    out: dict[tuple[str, int], tuple[str, dict[str, Any]]] = {}
    for group in groups:
        if dependent[group]:
            out |= {(group, j): found for j, found in _group_on_positions(
                strat, group, inspected, fired, held, md, r, exec_open, has_bar, warnings, pair).items()}
    return out


def _group_on_positions(strat: Any, group: str, inspected: list[Any], fired: dict[str, np.ndarray],
                        held: Mapping[str, HeldPosition | HeldPair], md: Any, r: int, exec_open: bool,
                        has_bar: np.ndarray, warnings: list[dict[str, Any]], pair: PairInputs | None
                        ) -> dict[int, tuple[str, dict[str, Any]]]:
    """`_exit_on_positions` for one exit group. A long_short strategy's position of the other side is not
    missing (that side's exits act on it): D147 does not list it."""
    from ..compile.exit_program import node_values
    from ..lang.position import position_dependent

    conds = [c for c in inspected if c.group == group]
    dependent = [c for c in conds if position_dependent(c.tree)]
    side = group_side(group, strat.direction)
    what = "position" if pair is None else "pair"
    logic = getattr(strat, group).logic
    in_program = dependent if logic == "any" else conds
    out: dict[int, tuple[str, dict[str, Any]]] = {}
    unknown: list[str] = []
    on_position = {id(c): position_dependent(c.tree) for c in dependent}
    for j in range(md.n_cols):
        if not has_bar[j]:
            continue
        position = held.get(str(md.labels[j]).upper())
        found: tuple[dict[str, float], str, dict[str, Any]] | str = f"no open {side} {what} known in {md.labels[j]}"
        if position is not None and position.side == side:
            found = _held_values(strat, position, md, j, r, exec_open, pair)
        if isinstance(found, str):  # a position held without values says why in the warning too
            if not (strat.direction == "long_short" and position is not None and position.side != side):
                unknown.append(str(md.labels[j]) + (f" ({found})" if position is not None
                                                    and position.side == side else ""))
            for c in dependent:
                for node_id in on_position[id(c)]:
                    c.notes[(node_id, j)] = f"needs a held {what}: {found}"
            continue
        variables, note, snapshot = found
        truths = []
        for c in in_program:
            got = node_values(c.tree, partial(_last, c, col=j), variables)
            for node_id, v in got.items():
                column = c.values.setdefault(node_id, np.full((1, md.n_cols), np.nan))
                column[-1, j] = v
            root = got.get(id(c.tree), _last(c, c.tree, j))
            truths.append(root is not None and bool(root == root) and bool(root))
        fires = any(truths) if logic == "any" else all(truths)
        fired[group][j] = bool(fired[group][j]) or fires
        out[j] = (note, snapshot)
    if unknown:
        spelling = POSITION_FORMAT if pair is None else PAIR_POSITION_FORMAT
        warnings.append(Diagnostic(
            "D147", f"{group} conditions on position variables need a held "
            f"{'short ' + what if group == 'short_exit' else what}: none known (or valued on the bar) for "
            f"{len(unknown)} " + ("symbol(s): " if pair is None else "pair(s): ") + ", ".join(unknown[:10])
            + (" ..." if len(unknown) > 10 else "") + "; their exits come from the other conditions only",
            severity="warning", path=group,
            hint=f"give the {what} with --position {spelling}, or record the entry you took: "
            "ruleengine signals act ID" + (" --price LEG=P --price LEG=P" if pair is not None else "")).to_dict())
    return out


def _held_values(strat: Any, position: HeldPosition | HeldPair, md: Any, j: int, r: int, exec_open: bool,
                 pair: PairInputs | None) -> tuple[dict[str, float], str, dict[str, Any]] | str:
    """Column j's held position's variables on bar `r`, the reasoning's note and the data snapshot's
    ``position``; or why they have no value."""
    if pair is not None:
        if not isinstance(position, HeldPair):
            return f"{position.describe()} records one price; a pair's variables need each leg's"
        a, b = strat.pair.legs
        prices = {f"{col}_{leg}": md.inputs[(slot, col)][: r + 1, j]
                  for leg, slot in (("a", a), ("b", b)) for col in ("open", "close")}
        got = pair_values(position, md.index[: r + 1], prices, pair.hedge[:, j], pair.sizing, r, exec_open,
                          pair.borrow_cost_pct)
        if isinstance(got, str):
            return got
        variables, units = got
        return variables, pair_note(position, variables, units), position.snapshot(variables, units)
    assert isinstance(position, HeldPosition)
    base = strat.price_slot() or next(s for s, _ in md.inputs)
    series = {col: md.inputs[(base, col)][: r + 1, j] for col in ("high", "low", "close")}
    found = position_values(position, md.index[: r + 1], series["high"], series["low"], series["close"], r,
                            exec_open)
    if isinstance(found, str):
        return found
    return (found, f"position held: {position.describe()}; " + ", ".join(f"{k} {fmt(v)}" for k, v in found.items()),
            {"side": position.side, "entry_price": position.entry_price, "entry_time": str(position.entry_time),
             "source": position.source, "variables": found})


def _last(cond: Any, node: Any, col: int) -> Any:
    """A node's inspected value on the evaluated bar for column `col` (None when it has none)."""
    v = cond.values.get(id(node))
    if isinstance(v, np.ndarray):
        x = v[-1, col]
        return bool(x) if v.dtype == np.bool_ else float(x)
    return v


#: what a long_short entry does to a position of the other side (the fill contract's reversal)
_REVERSAL = {"long": "a short held is bought back first (reversal)",
             "short": "a long held is sold first (reversal)"}
#: a limit/stop strategy's reversal happens when its order fills (the long/short orders addendum), not at once
_ORDER_REVERSAL = {"long": "a short held is bought back at the order's fill (reversal)",
                   "short": "a long held is sold at the order's fill (reversal)"}
_PAIR_REVERSAL = {"long": "a short pair held is closed first, both legs (reversal)",
                  "short": "a long pair held is closed first, both legs (reversal)"}


def _fired(strat: Any, sig: Any, r: int, n_cols: int, has_bar: np.ndarray, warnings: list[dict[str, Any]],
           labels: Sequence[Any], bar: Any) -> dict[str, np.ndarray]:
    """Each condition group's signal on bar `r` for the symbols with a bar, as computed (an entry and an exit
    of one side on one bar are both shown, as for a long strategy). A long_short strategy's long and short
    entries that cancel in the fill step (`acting_signals`: neither acts) are left out, with warning D137."""
    fired = {leg.group: leg_signals(sig, leg)[r, :n_cols] & has_bar for leg in signal_legs(strat)}
    if strat.direction == "long_short":
        acting = acting_signals(strat, sig)
        both = fired["entry"] & fired["short_entry"] & ~acting["entry"][r, :n_cols] \
            & ~acting["short_entry"][r, :n_cols]
        if both.any():
            fired["entry"], fired["short_entry"] = fired["entry"] & ~both, fired["short_entry"] & ~both
            names = [str(labels[int(j)]) for j in np.flatnonzero(both)]
            warnings.append(Diagnostic(
                "D137", f"{len(names)} symbol(s) had a long and a short entry on {bar.date()}: "
                + ", ".join(names[:10]) + (" ..." if len(names) > 10 else "") + "; they cancel (neither acts, "
                "as in a backtest), so no entry signal for them", severity="warning", path="short_entry",
                hint="the fill contract's long_short rules: ruleengine contract").to_dict())
    return fired


def _strategy_params(strat: Any, params: Mapping[str, Any] | None) -> dict[str, Any]:
    from ..backtest.params import split_params
    from ..schema.params import expand

    strat_params, _risk = split_params(strat, params)
    if len(expand(strat.params, strat_params or None)) != 1:
        raise RuleEngineError([Diagnostic("D103", "live signals take one value per parameter, not a grid",
                                          path="params", hint="pass single values")])
    return strat_params


def _group(strat: Any, name: str) -> str:
    """The logic (all / any) of the document's condition group `name`; ``code`` for a code strategy."""
    if strat.code is not None:
        return "code"
    group = getattr(strat, name)
    return group.logic if group is not None else "any"


def load_live_data(target: Target, symbols: Any, *, asof: Any, params: Mapping[str, Any], provider: str | None,
                   data: str | None, no_cache: bool = False, history_from: Any = None,
                   registry: Any = None, span_days: int | None = None, also: Sequence[str] = ()) -> Any:
    """The strategy's real market data from a few bars before the evaluated date (plus its warm-up) up to it.

    `history_from` (a date) starts the requested range there instead (tracking needs the bars after a
    signal); `span_days` replaces the few bars by that many calendar days (a rotation's last rebalance).
    `registry` replaces the default one (which is ``real_only``: D160 rather than synthetic data). `also`:
    symbols a point-in-time universe loads beside its members (held positions that left it)."""
    from ..data.market import load_market_data
    from ..data.registry import default_registry

    strat = target.strategy
    freq = str((strat.default_params() | dict(params)).get("execution_frequency") or "1Day")
    if registry is None:
        registry = default_registry(data, no_cache=no_cache, real_only=True)
    end = pd.Timestamp(asof) if asof is not None else _latest_end(registry, strat, symbols, freq, provider)
    if end.tz is not None:
        end = end.tz_convert("America/New_York").tz_localize(None)
    if freq in _INTRADAY:
        end_arg: Any = end if (asof is not None and ":" in str(asof)) else end.normalize() + pd.Timedelta(hours=23)
        start = end.normalize() - pd.Timedelta(days=5)
    else:
        end_arg = end.normalize()
        start = end.normalize() - pd.Timedelta(days=span_days or _SPAN_DAYS.get(freq, 10))
    if history_from is not None:
        start = min(start, pd.Timestamp(history_from).tz_localize(None).normalize()
                    if pd.Timestamp(history_from).tz is not None else pd.Timestamp(history_from).normalize())
    request = target.compiled.data_request(dict(params) or None)
    if target.compiled.path_dependent(dict(params) or None):
        request = request.with_overrides(warmup_bars=max(PATH_HISTORY_BARS, request.warmup_bars))
    return load_market_data(request, symbols, start, end_arg, registry=registry, provider=provider,
                            data=data, no_cache=no_cache, also=also)


def _latest_end(registry: Any, strat: Any, symbols: Any, freq: str, provider: str | None) -> pd.Timestamp:
    """The latest date any of the symbols has data for (today when the provider cannot say)."""
    from ..data.market import fetch_frequency
    from ..data.symbols import slot_runs

    today = pd.Timestamp.now(tz="America/New_York").tz_localize(None).normalize()
    base = strat.price_slot() or next(iter(strat.data))
    slot = strat.data[base]
    runs = slot_runs(symbols, strat.data)
    source = registry.resolve(slot.provider, slot.kind, fetch_frequency(slot.kind, slot.frequency, freq), provider,
                              slot=base)
    last: pd.Timestamp | None = None
    for sym in dict.fromkeys(r[base] for r in runs):
        try:
            span = source.available_range(sym, "ohlcv", slot.frequency)
        except RuleEngineError:
            continue  # the load reports unknown symbols with its own diagnostics
        if span is None:  # the provider cannot say: today
            continue
        end = pd.Timestamp(span[1])
        if end.tz is not None:  # daily labels are dates at 00:00 UTC; intraday ones are instants
            end = end.tz_convert("UTC" if freq not in _INTRADAY else "America/New_York").tz_localize(None)
        last = end if last is None or end > last else last
    return min(last, today + pd.Timedelta(days=1)) if last is not None else today


def _last_completed_row(md: Any, asof: Any, clock: datetime) -> int:
    if md.n_rows == 0:
        raise RuleEngineError([Diagnostic("T109", "no bar to evaluate", path="asof",
                                          hint="check the date and the symbols' data")])
    r = md.n_rows - 1
    if asof is None and md.frequency == "1Day":
        ny = pd.Timestamp(clock).tz_convert("America/New_York")
        if md.index[r].date() == ny.date() and ny.hour < 16:
            r -= 1  # today's session is still running: its bar is not complete
    if r < md.start:
        raise RuleEngineError([Diagnostic("T109", "no completed bar at or before the date asked for",
                                          path="asof", hint="use an earlier --asof or wait for the session close")])
    return r


def _snapshot(md: Any, inputs: Mapping[tuple[str, str], np.ndarray], r: int, j: int, base: str, why: Any,
              params: Mapping[str, Any]) -> dict[str, Any]:
    """The data the decision used: the bar's prices, every operand's value, the parameters, the providers."""
    bar = {col: _clean(inputs[(slot, col)][r, j]) for slot, col in sorted(inputs) if slot == base}
    other = {f"{slot}.{col}": _clean(inputs[(slot, col)][r, j]) for slot, col in sorted(inputs) if slot != base}
    values: dict[str, Any] = {}

    def collect(node: Any) -> None:
        for side in (node.left, node.right):
            if side is not None:
                values[side.text] = side.value
        for k in node.children:
            collect(k)

    for n in why.conditions:
        collect(n)
    return {"bar_time": str(md.index[r]), "symbols": dict(md.runs[j]), "bar": bar, "slots": other,
            "values": values, "params": dict(params), "providers": dict(md.providers),
            **({"price_basis": dict(md.price_basis)} if md.price_basis else {}),
            "synthetic": bool(md.synthetic)}


def _clean(v: Any) -> float | None:
    x = float(v)
    return None if not np.isfinite(x) else x


def _near_misses(strat: Any, leg: Leg, inspected: list[Any], fired: np.ndarray, has_bar: np.ndarray, md: Any,
                 bar_time: datetime, close: np.ndarray, hit: tuple[int, int] | None, limit: int) -> list[NearMiss]:
    conds = [c for c in inspected if c.group == leg.group]
    if strat.code is not None or _group(strat, leg.group) != "all" or len(conds) < 2:
        return []
    held = np.zeros(md.n_cols, dtype=np.int64)
    for c in conds:
        v = c.values_of(c.tree)
        held += np.asarray(v[-1] if isinstance(v, np.ndarray) else np.full(md.n_cols, bool(v)), dtype=np.int64)
    cols = np.flatnonzero((held == len(conds) - 1) & ~fired & has_bar)
    # rank by the failing condition alone; whole trees only for the ones shown
    ranked: list[tuple[float, int]] = []
    for j in cols:
        bad = next(c for c in conds if not condition_held(c, int(j)))
        norm = build_node(bad.tree, bad, int(j)).norm_margin
        ranked.append((-(norm if norm is not None else -np.inf), int(j)))
    ranked.sort()
    found: list[NearMiss] = []
    for _, col in ranked[:limit]:
        why = reasoning("entry", "all", conds, col, hit, leg.side)
        failed = next(n for n in why.conditions if not n.result)
        found.append(NearMiss(ticker=md.labels[col], signal_type="entry", direction=leg.side, bar_time=bar_time,
                              price=float(close[col]), failed=failed, reasoning=why))
    return found

