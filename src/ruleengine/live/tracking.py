"""Performance tracking: hypothetical (every stored entry signal taken) and actual (the signals acted on).

**Hypothetical**: each stored entry signal is simulated as its own trade by the backtest engine
(`ruleengine.backtest.simulation.simulate`, the same kernel as `ruleengine.backtest`): an entry on the signal's
bar only, the strategy's exit conditions computed over the data that arrived since, and its stops, take profit,
trailing stop and maximum holding period (`resolve_risk`, with the document's fill price and fees). A trade
still open is marked at the latest close (status ``open``); with ``execution_price: open`` a signal on the
newest bar is ``pending`` (its fill is the next open).

**Actual**: an acted entry signal is a trade from its acted price to the price given to ``signals close``
(or to an acted exit signal of the same side); an open one is marked at the latest close. Returns are price
returns (the user's own fills; fees unknown). With ``RULEENGINE_PORTFOLIO`` set, the user's fills act on and
close the signals themselves (`ruleengine.live.fills`).

**Sides**: a signal's trade has the side it records (``direction``). A short entry's hypothetical trade is
simulated as a short (the kernel's mirrored fill step: stops above the entry, its side's exit signals) and its
returns, actual and hypothetical, gain when the price falls (`ruleengine.sides.price_return_pct`). A
long_short strategy's trade ends at its side's exit or at an entry of the other side (the fill contract's
reversal: `ruleengine.live.signals.closing_signals`); an entry cancelled on its own bar by such a signal is
``cancelled``, as is any entry whose own bar had an exit of its side (an entry and an exit of one bar cancel).

**Pairs**: a pair strategy's signal (ticker ``XLE/XLF``) is re-priced from both legs' data (the symbols in its
snapshot) and simulated by the pair kernel as a backtest trades it (`ruleengine.backtest.pairs`); its
hypothetical trade holds ``legs`` (each leg's symbol, side, units, entry and exit or mark prices, P&L) and its
mark the second leg's latest close (``price_b``). Its actual trade is the user's fills of both legs (``signals act
ID --price XLE=50.1 --price XLF=30.2``, ``signals close`` alike, or the broker's fills of each leg), counted by
the pair kernel at the signal's hedge ratio and sizing with the strategy's fees and borrow cost, no slippage
(`ruleengine.backtest.pairs.pair_fills_return`); an acted pair still open is marked at both legs' latest closes
(the mark's ``acted_return_pct``).

**Universes**: a signal of a point-in-time universe run (``@sp500``; its snapshot's ``universe``) is simulated with
that membership, as a backtest over the universe: an exit on a bar outside it is ``left_universe``, a position
whose prices ended before the data is ``delisted`` (`ruleengine.live.universe`).

**Same data as the signal**: a signal is re-priced with the provider it was generated from (recorded with it),
never another: an explicit ``--provider`` that differs is T111, and so is a recorded provider that is not
available now (``local`` without ``--data``). Synthetic data are never used (D160). Signals stored before
provenance was recorded and found to be synthetic (migration 0003) are neither re-priced nor counted.

**Aggregates** (the ``strategy_performance`` row and the leaderboard): ``*_trades`` count closed trades,
wins/losses are closed trades with a return > 0 / < 0, ``*_open`` the open ones, and ``*_return_pct`` is the
sum of the trade returns in percent, open trades marked to market included: the gain of putting one equal
stake on every signal, not compounded.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from ..backtest.params import RunRequest
from ..errors import Diagnostic, RuleEngineError
from ..sides import price_return_pct
from .fills import apply_fills, portfolio_fills
from .signals import closing_signals, load_live_data, resolve_target
from .universe import signals_universe


def track(store: Any, strategy_id: int | None = None, *, asof: Any = None, provider: str | None = None,
          data: str | None = None, no_cache: bool = False) -> list[dict[str, Any]]:
    """Update the hypothetical trade of every stored entry signal and each strategy's performance row.

    Args:
        store: an open `ruleengine.store.Store`.
        strategy_id: one strategy (its errors raise); default every strategy with signals (a strategy that
            fails is reported in its row under ``error`` and the others go on).
        asof: track with the data up to this date (default: the latest data).

    Returns:
        One dict per strategy: the performance values (see the module doc) plus ``strategy_id``, ``name``.

    Example:
        >>> rows = track(open_store(), 1)  # doctest: +SKIP
    """
    ids = [strategy_id] if strategy_id is not None else store.strategy_ids_with_signals()
    if strategy_id is not None:
        store.get_strategy(strategy_id)  # T101 for an unknown id
    # the symbols and the start come from each strategy's signals; the data end at `asof`
    request = RunRequest(symbols=None, end=asof, provider=provider, data=data)
    out: list[dict[str, Any]] = []
    for sid in ids:
        try:
            out.append(_track_one(store, sid, request, no_cache))
        except RuleEngineError as exc:
            if strategy_id is not None:
                raise
            out.append({"strategy_id": sid, "name": store.get_strategy(sid).name, "error": str(exc),
                        "details": [d.to_dict() for d in exc.diagnostics]})
    return out


def _track_one(store: Any, sid: int, request: RunRequest, no_cache: bool) -> dict[str, Any]:
    fills = portfolio_fills()
    if fills is not None:  # what the user really did, from their own fills (live/fills.py)
        apply_fills(store, [s for s in store.list_signals(sid) if s.synthetic is not True], fills)
    signals = store.list_signals(sid)
    entries = [s for s in signals if s.signal_type == "entry" and s.synthetic is not True]
    groups: dict[tuple[int, tuple[tuple[str, str], ...]], list[Any]] = defaultdict(list)
    for s in entries:  # one data load per version and recorded provenance
        groups[(s.strategy_version, tuple(sorted((s.data_providers or {}).items())))].append(s)
    updates: dict[int, dict[str, Any]] = {}
    for (version, recorded), sigs in groups.items():
        updates.update(hypothetical_trades(store.get_strategy(sid, version), sigs, request, no_cache=no_cache,
                                           recorded=dict(recorded)))
    if updates:
        store.set_hypothetical(updates)
    signals = store.list_signals(sid)
    values = aggregate(signals)
    store.save_performance(sid, values)
    return {"strategy_id": sid, "name": store.get_strategy(sid).name, **values}


def hypothetical_trades(record: Any, signals: list[Any], request: RunRequest | None = None, *,
                        no_cache: bool = False, recorded: dict[str, str] | None = None) -> dict[int, dict[str, Any]]:
    """Signal id -> its hypothetical trade (see the module doc) for entry signals of one strategy version.

    `request` gives the data's end (``end``, default the latest data), ``provider``, ``data`` and the stake
    of each trade (``init_cash``); the symbols and the start are the signals'. `recorded` (slot -> provider)
    is the provenance the signals were generated with; they are re-priced with exactly those providers (T111
    when one is not available or ``request.provider`` names another).
    """
    from ..backtest.pairs import simulate_pair_run
    from ..backtest.risk import resolve_risk
    from ..backtest.simulation import simulate

    if not signals:
        return {}
    req = request or RunRequest(symbols=None)
    target = resolve_target(record)
    strat = target.strategy
    # a pair's signal names its run (XLE/XLF): its legs' symbols are in its snapshot
    tickers: Any = list(dict.fromkeys(s.ticker for s in signals)) if strat.pair is None else \
        list({s.ticker: dict((s.data_snapshot or {}).get("symbols") or {}) for s in signals}.values())
    first = min(s.bar_time for s in signals)
    registry = same_data_registry(strat, signals, recorded or {}, req.provider, req.data, no_cache)
    md = load_live_data(target, tickers, asof=req.end, params={}, provider=None if recorded else req.provider,
                        data=req.data, no_cache=no_cache, history_from=first, registry=registry)
    universe = signals_universe(signals, req.data)  # signals of an @sp500 run: its membership, as a backtest's
    if universe is not None:
        md = replace(md, members=universe.membership.mask(md.index, [r[strat.price_slot() or next(iter(r))]
                                                                     for r in md.runs]))
    sig = target.compiled.signals(md)  # default parameters: signal column j is market column j
    exits = closing_signals(strat, sig)
    base = strat.price_slot() or next(s for s, _ in md.inputs)
    bars = md.index.tz_convert("UTC").tz_localize(None)
    col_of = {label: j for j, label in enumerate(md.labels)}
    values = strat.default_params()
    risk = resolve_risk(strat, {"execution_price": values.get("execution_price", "close")})
    out: dict[int, dict[str, Any]] = {}
    picks: list[tuple[Any, int, int]] = []  # (signal, market column, bar row)
    for s in signals:
        j = col_of.get(s.ticker)
        row = bars.get_indexer([pd.Timestamp(s.bar_time)])[0]
        if j is None or row < 0:
            out[s.id] = {"status": "no_data", "note": "the signal's bar is not in the data any more"}
            continue
        picks.append((s, j, int(row)))
    last_close, last_time = _last_closes(md, base)
    last_b = _last_closes(md, strat.pair.legs[1])[0] if strat.pair is not None else None
    for side in dict.fromkeys(s.direction for s, _, _ in picks):  # one simulation per side
        side_picks = [p for p in picks if p[0].direction == side]
        side_risk = replace(risk, direction=side)
        cols = [j for _, j, _ in side_picks]
        ent = np.zeros((md.n_rows, len(side_picks)), dtype=np.bool_, order="F")
        for k, (_, _, row) in enumerate(side_picks):
            ent[row, k] = True
        ext = np.asfortranarray(exits[side][:, cols])
        # the strategy's per-bar levels (an order price, a stop distance, a hedge ratio) and exit program of the
        # same columns, as a backtest reads them; the program is the held side's (`_side_program`)
        chosen = sig.columns(cols)
        if strat.direction == "long_short" and side == "short" and "short_exit_order_price" in chosen["levels"]:
            # simulated as a short strategy, whose exit order is at the exit_order_price row: the shorts' level
            chosen = {**chosen, "levels": {**chosen["levels"],
                                           "exit_order_price": chosen["levels"]["short_exit_order_price"]}}
        levels, program = _side_program(chosen, side == "short" and strat.direction == "long_short")
        if strat.pair is not None:  # both legs as one position, as a backtest of the pair trades them
            a, b = strat.pair.legs
            sim = simulate_pair_run(strat.pair, _leg_prices(md, a, cols), _leg_prices(md, b, cols),
                                    {"entries": ent, "exits": ext, "levels": levels, "exit_program": program},
                                    index=md.index, risk=side_risk, init_cash=float(req.init_cash), start=0)
        else:
            sim = simulate(_leg_prices(md, base, cols), ent, ext, md.index, side_risk, levels=levels,
                           exit_program=program, init_cash=float(req.init_cash), start=0)
        trades = {int(t.column): t for t in _universe_reasons(sim.trades, md.members, cols,
                                                              risk.execution_price == "open").itertuples(index=False)}
        for k, (s, j, row) in enumerate(side_picks):
            t = trades.get(k)
            mark = {"price": last_close[j], "time": last_time[j]}
            if last_b is not None:  # a pair: the second leg's latest close too
                mark["price_b"] = last_b[j]
                mark |= _acted_pair_mark(s, mark, risk)
            if t is None:
                out[s.id] = _no_trade(strat.entry_order, risk.execution_price, row, md.n_rows) | {"mark": mark}
                continue
            open_ = t.exit_reason == "end_of_data"
            out[s.id] = {"status": "open" if open_ else "closed", "entry_time": _iso(t.entry_time),
                         "entry_price": float(t.entry_price), "exit_time": _iso(t.exit_time),
                         "exit_price": float(t.exit_price), "exit_reason": None if open_ else t.exit_reason,
                         "return_pct": float(t.pnl_pct), "bars_held": int(t.exit_bar - t.entry_bar),
                         "mark": mark, "risk": side_risk.to_dict()}
            if strat.pair is not None:
                out[s.id]["legs"] = _pair_legs(md, strat.pair.legs, j, side, t, open_)
    tracked_at = datetime.now(UTC).replace(tzinfo=None).isoformat()
    for v in out.values():
        v["tracked_at"] = tracked_at
        v["data_until"] = _iso(md.index[-1]) if md.n_rows else None
    return out


def _side_program(chosen: dict[str, Any], long_short_short: bool) -> tuple[dict[str, np.ndarray], Any]:
    """(levels, exit program) of a one-side simulation of tracked signals (`SignalSet.columns`' `chosen`): the
    ``exit`` block's program; for the shorts of a long_short strategy (`long_short_short`, simulated as a short
    strategy, whose kernels run the ``exit`` program on shorts) its ``short_exit`` program, its levels renamed
    to the ``exit_program:<k>`` kinds that run reads."""
    from ..kernels.enums import EXIT_PROGRAM_LEVEL, SHORT_EXIT_PROGRAM_LEVEL

    levels = chosen["levels"]
    if not long_short_short:
        return {k: v for k, v in levels.items() if not k.startswith(SHORT_EXIT_PROGRAM_LEVEL)}, chosen["exit_program"]
    kept = {k: v for k, v in levels.items() if not k.startswith((EXIT_PROGRAM_LEVEL, SHORT_EXIT_PROGRAM_LEVEL))}
    kept |= {EXIT_PROGRAM_LEVEL + k[len(SHORT_EXIT_PROGRAM_LEVEL):]: v for k, v in levels.items()
             if k.startswith(SHORT_EXIT_PROGRAM_LEVEL)}
    return kept, chosen["short_exit_program"]


def _no_trade(order: Any, execution_price: str, row: int, n_rows: int) -> dict[str, str]:
    """Status and note of an entry signal the simulation made no trade of (its bar is row `row` of `n_rows`): a
    fill still to come (the next open; a limit/stop order worked on bars not in the data yet) is pending; else an
    exit on the signal's bar cancelled it or, for an order, no bar of its valid_bars reached its level."""
    if not order.is_market():
        bars = f"{order.valid_bars} bar" + ("s" if order.valid_bars != 1 else "")
        if row + order.valid_bars > n_rows - 1:
            return {"status": "pending", "note": f"the {order.type} order is worked for {bars} after the signal's "
                    f"bar, and {n_rows - 1 - row} of them are in the data"}
        return {"status": "cancelled", "note": f"the {order.type} order was not filled within its {bars} (the "
                "price never reached its level), or an exit signal cancelled it"}
    if execution_price == "open" and row == n_rows - 1:
        return {"status": "pending", "note": "the entry fills at the next bar's open"}
    return {"status": "cancelled", "note": "an exit on the signal's bar cancelled the entry (fill contract: an entry "
            "and an exit of one bar cancel)"}


def same_data_registry(strat: Any, signals: list[Any], recorded: dict[str, str], provider: str | None,
                       data: str | None, no_cache: bool) -> Any:
    """A real-data-only registry whose default for each slot's kind is the provider the signals came from.

    Raises T111 when `provider` differs from a recorded one, or a recorded provider is not available here.
    """
    from ..data.registry import default_registry

    kinds: dict[str, str] = {}
    ids = ", ".join(str(s.id) for s in signals[:10]) + (" ..." if len(signals) > 10 else "")
    for slot, name in recorded.items():
        spec = strat.data.get(slot)
        if spec is None:
            continue
        if provider and provider != name:
            raise _not_same(f"signal(s) {ids} were generated with provider '{name}' for '{slot}'; tracking "
                            f"re-prices them with that provider, not '{provider}'",
                            f"leave out --provider (or give --provider {name})")
        kinds[spec.kind] = name
    registry = default_registry(data, no_cache=no_cache, real_only=True, defaults=kinds)
    for name in dict.fromkeys(kinds.values()):
        try:
            registry.get(name)
        except RuleEngineError as exc:
            hint = ("give the data path they were generated from: --data PATH (or set RULEENGINE_DATA)"
                    if name == "local" else exc.diagnostics[0].hint or "see: ruleengine providers")
            raise _not_same(f"signal(s) {ids} were generated with provider '{name}', which is not available "
                            f"here ({exc.diagnostics[0].message})", hint) from None
    return registry


def _leg_prices(md: Any, slot: str, cols: list[int]) -> dict[str, np.ndarray]:
    """A slot's OHLC of the chosen columns, column-major (the kernels' layout)."""
    return {c: np.asfortranarray(md.inputs[(slot, c)][:, cols]) for c in ("open", "high", "low", "close")}


def _pair_legs(md: Any, slots: list[str], j: int, side: str, t: Any, open_: bool) -> list[dict[str, Any]]:
    """Both legs of a pair's hypothetical trade: symbol, side, units, entry and exit (or mark) prices, P&L."""
    other = "short" if side == "long" else "long"
    a, b = (md.runs[j][slots[0]], md.runs[j][slots[1]])
    return [{"slot": slots[0], "symbol": a, "side": side, "size": float(t.size), "entry_price": float(t.entry_price),
             "exit_price": float(t.exit_price), "pnl": float(t.leg_a_pnl), "open": open_},
            {"slot": slots[1], "symbol": b, "side": other, "size": float(t.leg_b_size),
             "entry_price": float(t.leg_b_entry_price), "exit_price": float(t.leg_b_exit_price),
             "pnl": float(t.leg_b_pnl), "open": open_}]


def _universe_reasons(trades: pd.DataFrame, members: np.ndarray | None, cols: list[int], exec_open: bool
                      ) -> pd.DataFrame:
    """A point-in-time universe's exit reasons (`universe_exit_reasons`, as a backtest names them): an exit on
    a bar outside the membership is ``left_universe``, a position whose prices ended before the data did is
    ``delisted`` (closed at its last close). `cols`: the market column of each simulated column."""
    if members is None or trades.empty:
        return trades
    from ..backtest.build import universe_exit_reasons

    found = {"exit_reason": trades["exit_reason"].to_numpy(), "exit_bar": trades["exit_bar"].to_numpy()}
    if exec_open:
        found["exit_at_open"] = found["exit_reason"] == "signal"
    return trades.assign(exit_reason=universe_exit_reasons(found, members, [cols[int(c)] for c in trades["column"]]))


def _acted_pair_mark(sig: Any, mark: dict[str, Any], risk: Any) -> dict[str, Any]:
    """An acted pair still open, marked at both legs' latest closes: its return on the user's fills (both legs'),
    as the pair kernel counts it (`pair_fills_return`, the strategy's fees and borrow cost); {} otherwise."""
    from ..backtest.pairs import pair_fills_return

    legs = sig.acted_legs or {}
    pair = (sig.data_snapshot or {}).get("pair") or {}
    symbols = [leg["symbol"] for leg in pair.get("legs") or []]
    if not sig.user_acted or sig.outcome is not None or len(legs) != 2 or mark["price"] is None \
            or mark["price_b"] is None or any(x not in legs for x in symbols):
        return {}
    got = pair_fills_return(pair, sig.direction, (legs[symbols[0]]["price"], legs[symbols[1]]["price"]),
                            (mark["price"], mark["price_b"]), (sig.acted_at, mark["time"]), risk)
    return {"acted_return_pct": got["return_pct"]}


def _not_same(message: str, hint: str) -> RuleEngineError:
    return RuleEngineError([Diagnostic("T111", message, path="provider", hint=hint)])


def _last_closes(md: Any, base: str) -> tuple[list[float | None], list[str | None]]:
    """Each column's latest finite close and its bar time (for marking open positions)."""
    close = md.inputs[(base, "close")]
    prices: list[float | None] = []
    times: list[str | None] = []
    for j in range(md.n_cols):
        ok = np.flatnonzero(np.isfinite(close[:, j]))
        if ok.size == 0:
            prices.append(None)
            times.append(None)
        else:
            prices.append(float(close[ok[-1], j]))
            times.append(_iso(md.index[ok[-1]]))
    return prices, times


def _iso(t: Any) -> str:
    ts = pd.Timestamp(t)
    if ts.tz is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.isoformat()


def actual_return(sig: Any) -> tuple[float | None, bool]:
    """(return in percent, closed?) of an acted entry signal: closed at its outcome, else marked. A pair's
    counts both legs' fills: its outcome's return, or open its mark on both legs (``acted_return_pct``); None
    for a pair acted on with one price (before both legs were recorded)."""
    if sig.outcome is not None:
        got = sig.outcome.get("return_pct", 0.0)
        return (None if got is None else float(got)), True
    if "pair" in (sig.data_snapshot or {}):
        marked = ((sig.hypothetical or {}).get("mark") or {}).get("acted_return_pct")
        return (None if marked is None else float(marked)), False
    mark = ((sig.hypothetical or {}).get("mark") or {}).get("price")
    if mark is None or not sig.acted_price:
        return None, False
    return price_return_pct(float(sig.acted_price), float(mark), sig.direction), False


def aggregate(signals: list[Any]) -> dict[str, Any]:
    """The performance values of a list of stored signals (see the module doc); old synthetic ones left out."""
    signals = [s for s in signals if getattr(s, "synthetic", None) is not True]
    acted = [s for s in signals if s.user_acted]
    a_closed: list[float] = []
    a_open: list[float] = []
    for s in (s for s in acted if s.signal_type == "entry"):
        r, closed = actual_return(s)
        if r is not None:
            (a_closed if closed else a_open).append(r)
    h_closed: list[float] = []
    h_open: list[float] = []
    for s in signals:
        h = s.hypothetical or {}
        if s.signal_type == "entry" and h.get("status") in ("open", "closed"):
            (h_closed if h["status"] == "closed" else h_open).append(float(h["return_pct"]))
    last = max((s.bar_time for s in signals), default=None)
    return {"signals_generated": len(signals), "signals_acted_on": len(acted),
            "actual_trades": len(a_closed), "actual_wins": sum(r > 0 for r in a_closed),
            "actual_losses": sum(r < 0 for r in a_closed), "actual_open": len(a_open),
            "actual_return_pct": float(sum(a_closed) + sum(a_open)),
            "hypothetical_trades": len(h_closed), "hypothetical_wins": sum(r > 0 for r in h_closed),
            "hypothetical_losses": sum(r < 0 for r in h_closed), "hypothetical_open": len(h_open),
            "hypothetical_return_pct": float(sum(h_closed) + sum(h_open)), "last_signal_date": last}
