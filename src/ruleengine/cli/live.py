"""`ruleengine signals | track | compare | scan`: live signals, tracking, the leaderboard, the scheduled scan.

``signals`` is a group with a default command: ``ruleengine signals rules/x.yaml --symbols SPY`` (or a stored
strategy's id) runs ``signals run``, while ``signals act 3`` / ``close`` / ``list`` / ``show`` are its other
commands. Only typer and the standard library are imported at module level.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from .common import (
    DATA_HELP,
    DB_HELP,
    JSON_HELP,
    PROVIDER_HELP,
    SYMBOLS_HELP,
    compact_table,
    console,
    emit,
    open_db,
    or_exit,
    user_error,
)


class _DefaultRunGroup(TyperGroup):
    """A group whose first argument, when it is not one of its commands, goes to the ``run`` command."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


signals_app = typer.Typer(cls=_DefaultRunGroup, no_args_is_help=True,
                          help="Live signals: `signals ID_OR_FILE --symbols SPEC` evaluates the latest completed "
                          "bar; `signals act|close|list|show` record and review what you did with them.")


def register(app: typer.Typer) -> None:
    """Add the ``signals`` group and track, compare and scan to `app`."""
    app.add_typer(signals_app, name="signals")
    app.command("track")(track_command)
    app.command("compare")(compare_command)
    app.command("scan")(scan_command)


def _bad(message: str, hint: str, path: str) -> Exception:
    return user_error("T107", message, hint, path)


# ---------------------------------------------------------------------------------------------- signals


@signals_app.command("run")
def signals_run(
    target: str = typer.Argument(..., metavar="ID_OR_FILE", help="a stored strategy's id or a strategy file"),
    symbols: str | None = typer.Option(None, "--symbols", help=SYMBOLS_HELP + " (default: the stored "
                                                               "strategy's universe)"),
    universe: str | None = typer.Option(None, "--universe", help="a file of symbols, one per line"),
    asof: str | None = typer.Option(None, "--asof", help="evaluate the last bar at or before this date"),
    min_confidence: float = typer.Option(0.0, "--min-confidence", help="leave out signals below this (0-100)"),
    save: bool = typer.Option(False, "--save", help="store the signals (a file is stored as a strategy first)"),
    signal_type: str = typer.Option("both", "--type", help="entry, exit or both"),
    near: bool = typer.Option(True, "--near-misses/--no-near-misses", help="show symbols one condition away"),
    param: Annotated[list[str] | None, typer.Option("--param", help="name=value; repeatable")] = None,
    position: Annotated[list[str] | None, typer.Option(
        "--position", help="a position you hold, TICKER:SIDE:PRICE:DATE (e.g. AAPL:long:140.5:2017-06-01); "
        "exit conditions on position variables (bars_held, unrealized_pct, ...) read it; repeatable. A pair "
        "strategy's: A/B:SIDE:A=PRICE,B=PRICE:DATE (units optional, A=UNITS@PRICE; e.g. "
        "XLE/XLF:long:XLE=60.1,XLF=24.3:2017-06-01). A stored strategy's acted entries count without it")] = None,
    provider: str | None = typer.Option(None, "--provider", help=PROVIDER_HELP),
    data: str | None = typer.Option(None, "--data", help=DATA_HELP),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Evaluate a strategy on the latest completed bar: signals with confidence and reasoning, near misses."""

    def go() -> Any:
        from ruleengine import live_scan, live_target, parse_param_args

        if symbols and universe:
            raise _bad("give --symbols or --universe, not both", "--universe FILE is --symbols @FILE", "symbols")
        if signal_type not in ("entry", "exit", "both"):
            raise _bad(f"unknown signal type '{signal_type}'", "entry, exit or both", "type")
        spec = symbols or (f"@{universe}" if universe else None)
        store = None
        if target.isdigit():
            store = open_db(db)
            strategy: Any = store.get_strategy(int(target))
            spec = spec or strategy.universe
            if not spec:
                raise _bad(f"strategy {target} has no universe and no --symbols were given",
                           f"--symbols SPY,QQQ, or: ruleengine strategies universe {target} SPEC", "symbols")
        else:
            if not spec:
                raise _bad("no symbols", "--symbols SPY,QQQ or --universe FILE", "symbols")
            strategy = target
            if save:
                store = open_db(db)
                strategy = _stored(store, target)
        compiled = live_target(strategy)
        params = parse_param_args(compiled.strategy, param or [])
        if compiled.strategy.rotation is not None:  # one account: its rebalance plan, not signals per symbol
            from ruleengine import rotation_plan

            if save:
                raise _bad("a rotation's rebalance plan is not stored as signals", "leave out --save", "save")
            return compiled, rotation_plan(compiled, spec, asof=asof, provider=provider, data=data, params=params)
        types = ("entry", "exit") if signal_type == "both" else (signal_type,)
        result = live_scan(compiled, spec, asof=asof, min_confidence=min_confidence, provider=provider, data=data,
                           params=params, store=store, signal_types=types, near_misses=near,
                           positions=position or ())
        if save and store is not None:
            if compiled.strategy_id is None:  # a new file: stored only now that its signals exist
                rec = store.add_strategy(compiled.strategy)
                compiled.strategy_id, compiled.version = rec.id, rec.version
                for sig in result.signals:
                    sig.strategy_id, sig.strategy_version = rec.id, rec.version
            for sig, sid in zip(result.signals, store.save_signals(result.signals), strict=True):
                sig.id = sid
        return compiled, result

    compiled, result = or_exit(go, as_json)
    if as_json:
        emit({"strategy": {"id": compiled.strategy_id, "version": compiled.version, "name": compiled.strategy.name},
              **result.model_dump(mode="json")})
        return
    if compiled.strategy.rotation is not None:
        _print_plan(result)
        return
    _print_scan(compiled, result, save)


def _print_plan(plan: Any) -> None:
    """A rotation's rebalance plan: the summary line, then each name's target, action and reason."""
    from rich.markup import escape

    c = console()
    c.print(f"[bold]{escape(plan.strategy_name)}[/] (rotation, every {plan.rebalance}): bar "
            f"{plan.bar_time:%Y-%m-%d}, {plan.evaluated} symbols evaluated, last rebalance {plan.last_rebalance}")
    c.print(escape(plan.text), highlight=False)
    table = compact_table()
    for col in ("symbol", "target", "now", "action", "reason"):
        table.add_column(col, justify="right" if col in ("target", "now") else "left")
    for t in plan.targets:
        table.add_row(escape(t.symbol), f"{t.weight * 100:.1f} %", f"{t.held_weight * 100:.1f} %", t.action,
                      escape(t.reason))
    c.print(table)
    for w in plan.warnings:
        c.print(f"[yellow]warning\\[{w['code']}][/]: " + escape(w["message"]), highlight=False)


def _stored(store: Any, file: str) -> Any:
    """The stored strategy with this file's content, else the file's compiled target (stored after the scan:
    a scan that fails, e.g. without real data, leaves nothing behind)."""
    from ruleengine import live_target

    target = live_target(file)
    found = store.find_same_strategy(target.strategy)
    return found if found is not None else target


def _print_scan(target: Any, result: Any, saved: bool) -> None:
    from rich.markup import escape

    c = console()
    ident = f" (strategy {target.strategy_id} v{target.version})" if target.strategy_id is not None else ""
    when = f"{result.bar_time:%Y-%m-%d}" if result.bar_time else "-"
    c.print(f"[bold]{escape(result.strategy_name)}[/]{ident}: bar {when}, {result.evaluated} symbols evaluated, "
            f"{len(result.signals)} signal(s)")
    for s in result.signals:
        sid = f"  signal {s.id}" if s.id is not None else ""
        c.print(f"\n[bold]{_kind(s).upper()} {escape(s.ticker)}[/] at {_signal_price(s)}  "
                f"confidence {s.confidence_score:.0f}/100{sid}", highlight=False)
        c.print(escape(s.reasoning.text), highlight=False, soft_wrap=True)
    if result.near_misses:
        c.print("\n[bold]near misses[/] (all entry conditions but one held; closest first):")
        for m in result.near_misses:
            c.print(f"  {escape(m.ticker)}: {escape(m.failed.line)}", highlight=False, soft_wrap=True)
    for w in result.warnings:
        c.print(f"[yellow]warning\\[{w['code']}][/]: " + escape(w["message"]), highlight=False)
    if result.signals and not saved:
        c.print("\n(not stored: add --save to track them)", style="dim")


PRICE_HELP = "your fill price; a pair's signal (XLE/XLF) takes one per leg: --price XLE=50.10 --price XLF=30.20"
EXIT_PRICE_HELP = "your exit price; a pair's signal (XLE/XLF) takes one per leg: --price XLE=51 --price XLF=29.8"


def _prices(values: list[str] | None) -> float | dict[str, float] | None:
    """``--price`` as the store takes it: None, one number, or symbol -> number (a pair's legs, ``SYM=P``)."""
    if not values:
        return None
    if not any("=" in v for v in values):
        if len(values) > 1:
            raise _bad(f"--price given {len(values)} times without symbols", "one price, or one per leg of a pair: "
                       "--price XLE=50.10 --price XLF=30.20", "price")
        return _number(values[0], "--price")
    legs: dict[str, float] = {}
    for v in values:
        sym, eq, num = v.partition("=")
        if not eq or not sym.strip():
            raise _bad(f"--price '{v}' names no symbol", "a pair's legs: --price XLE=50.10 --price XLF=30.20",
                       "price")
        legs[sym.strip().upper()] = _number(num, f"--price {sym.strip()}")
    return legs


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise _bad(f"{what} must be a number, got '{text}'", "e.g. --price 101.25", "price") from None


def _legs_text(rec: Any, key: str = "price") -> str:
    """``XLE 50.1 / XLF 30.2`` for a pair's recorded legs (`acted_legs` or an outcome's legs)."""
    return " / ".join(f"{sym} {leg[key]:g}" for sym, leg in (rec or {}).items())


@signals_app.command("act")
def signals_act(signal_id: int = typer.Argument(..., help="signal id"),
                price: list[str] | None = typer.Option(None, "--price", help=PRICE_HELP + " (default: the signal's "
                                                       "price, each leg's close for a pair)"),
                date: str | None = typer.Option(None, "--date", help="when (default: now)"),
                db: str | None = typer.Option(None, "--db", help=DB_HELP),
                as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Record that you took a signal (an exit signal also closes your open position in that ticker)."""
    rec = or_exit(lambda: open_db(db).act(signal_id, _prices(price), date), as_json)
    if as_json:
        emit({"signal": rec.to_dict()})
        return
    at = _legs_text(rec.acted_legs) if rec.acted_legs else f"{rec.acted_price:g}"
    sys.stdout.write(f"acted: signal {rec.id} {_kind(rec)} {rec.ticker} at {at}\n")


@signals_app.command("close")
def signals_close(signal_id: int = typer.Argument(..., help="an acted entry signal's id"),
                  price: list[str] = typer.Option(..., "--price", help=EXIT_PRICE_HELP),
                  date: str | None = typer.Option(None, "--date", help="when (default: now)"),
                  db: str | None = typer.Option(None, "--db", help=DB_HELP),
                  as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Record the outcome of a signal you acted on: your exit price (a pair's: each leg's)."""
    rec = or_exit(lambda: open_db(db).close_signal(signal_id, _prices(price), date), as_json)
    if as_json:
        emit({"signal": rec.to_dict()})
        return
    out = rec.outcome or {}
    legs = out.get("legs")
    moves = (_legs_text(legs, "entry_price") + " -> " + _legs_text(legs, "exit_price")) if legs else \
        f"{out.get('entry_price', 0):g} -> {out.get('exit_price', 0):g}"
    ret = out.get("return_pct")
    sys.stdout.write(f"closed: signal {rec.id} {rec.ticker} {moves} "
                     + (f"({ret:+.2f} %)" if ret is not None else f"(no return: {out.get('note')})") + "\n")


@signals_app.command("list")
def signals_list(strategy_id: int | None = typer.Argument(None, help="only this strategy's signals"),
                 limit: int = typer.Option(50, "--limit", min=1, help="newest N signals"),
                 db: str | None = typer.Option(None, "--db", help=DB_HELP),
                 as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Stored signals, newest bar first, with what happened to them."""

    def go() -> Any:
        store = open_db(db)
        if strategy_id is not None:
            store.get_strategy(strategy_id)
        return store.list_signals(strategy_id, limit=limit)

    sigs = or_exit(go, as_json)
    if as_json:
        emit({"signals": [s.to_dict() for s in sigs]})
        return
    if not sigs:
        sys.stdout.write("no signals stored; run: ruleengine signals ID --save, or ruleengine scan\n")
        return
    from rich.markup import escape

    table = compact_table("signals")
    for col in ("id", "strategy", "bar", "ticker", "type", "price", "confidence", "acted", "outcome",
                "hypothetical"):
        table.add_column(col)
    for s in sigs:
        h = s.hypothetical or {}
        hyp = f"{h.get('status')} {h['return_pct']:+.2f} %" if "return_pct" in h else str(h.get("status", "-"))
        outcome = ("closed" if s.outcome.get("return_pct") is None else f"{s.outcome['return_pct']:+.2f} %") \
            if s.outcome else ("open" if s.user_acted and s.signal_type == "entry" else "-")
        table.add_row(str(s.id), f"{s.strategy_id} v{s.strategy_version}", f"{s.bar_time:%Y-%m-%d}",
                      escape(s.ticker), _kind(s) + ("" if s.real else " SYNTHETIC" if s.synthetic else " ?"),
                      _signal_price(s), f"{s.confidence_score:.0f}",
                      _legs_text(s.acted_legs) if s.acted_legs else f"{s.acted_price:g}"
                      if s.user_acted and s.acted_price else "-", outcome, hyp)
    console().print(table)


@signals_app.command("show")
def signals_show(signal_id: int = typer.Argument(..., help="signal id"),
                 db: str | None = typer.Option(None, "--db", help=DB_HELP),
                 as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """One stored signal with its reasoning and data snapshot."""
    rec = or_exit(lambda: open_db(db).get_signal(signal_id), as_json)
    if as_json:
        emit({"signal": rec.to_dict()})
        return
    import json

    sys.stdout.write(f"signal {rec.id}: {_kind(rec)} {rec.ticker} on {rec.bar_time:%Y-%m-%d} at "
                     f"{rec.price_at_signal:g} (strategy {rec.strategy_id} v{rec.strategy_version})\n"
                     f"{rec.reasoning}\nsnapshot: {json.dumps(rec.data_snapshot, default=str)}\n")


# ---------------------------------------------------------------------------------------------- tracking


def track_command(strategy_id: int | None = typer.Argument(None, help="one strategy (default: all with signals)"),
                  asof: str | None = typer.Option(None, "--asof", help="use the data up to this date"),
                  provider: str | None = typer.Option(None, "--provider", help=PROVIDER_HELP),
                  data: str | None = typer.Option(None, "--data", help=DATA_HELP),
                  db: str | None = typer.Option(None, "--db", help=DB_HELP),
                  as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Update hypothetical (all signals taken) and actual (acted) performance of stored signals."""

    def go() -> Any:
        from ruleengine import track_signals

        return track_signals(open_db(db), strategy_id, asof=asof, provider=provider, data=data)

    rows = or_exit(go, as_json)
    if as_json:
        emit({"performance": rows})
    elif not rows:
        sys.stdout.write("no stored signals to track\n")
    for r in rows if not as_json else ():
        if "error" in r:
            sys.stdout.write(f"strategy {r['strategy_id']} {r['name']}: error: {r['error']}\n")
            continue
        sys.stdout.write(
            f"strategy {r['strategy_id']} {r['name']}: {r['signals_generated']} signals, "
            f"hypothetical {r['hypothetical_trades']} closed ({r['hypothetical_wins']} won) + "
            f"{r['hypothetical_open']} open = {r['hypothetical_return_pct']:+.2f} %; "
            f"actual {r['actual_trades']} closed ({r['actual_wins']} won) + {r['actual_open']} open = "
            f"{r['actual_return_pct']:+.2f} %\n")
    if any("error" in r for r in rows):  # like scan: the others were tracked, the run still failed
        raise typer.Exit(1)


def compare_command(timeframe: str = typer.Option("all", "--timeframe", help="7d, 30d, 90d, 1y or all"),
                    asof: str | None = typer.Option(None, "--asof", help="the timeframe ends on this date "
                                                    "(default: now)"),
                    db: str | None = typer.Option(None, "--db", help=DB_HELP),
                    as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """The strategy leaderboard: signals, win rate, actual and hypothetical return, last signal, status."""

    def go() -> Any:
        from ruleengine import compare_strategies

        return compare_strategies(open_db(db), timeframe, now=asof)

    rows = or_exit(go, as_json)
    if as_json:
        emit({"timeframe": timeframe, "leaderboard": rows})
        return
    from rich.markup import escape

    from ruleengine import format_metric as fmt

    table = compact_table(f"strategy leaderboard ({timeframe})")
    for col in ("rank", "strategy", "signals", "acted", "win rate", "return", "hyp. win rate", "hyp. return",
                "last signal", "status"):
        table.add_column(col, justify="left" if col in ("strategy", "last signal", "status") else "right")
    for r in rows:
        table.add_row(str(r["rank"]), escape(f"{r['strategy_id']} {r['name']}"), str(r["signals"]), str(r["acted"]),
                      fmt(r["win_rate"], "%"), fmt(r["actual_return_pct"], "%"), fmt(r["hypothetical_win_rate"], "%"),
                      fmt(r["hypothetical_return_pct"], "%"), (r["last_signal"] or "-")[:10], r["status"])
    console().print(table)
    sys.stdout.write("returns: sum of trade returns (one equal stake per signal, open trades marked at the last "
                     "close); run `ruleengine track` to refresh\n")


def scan_command(webhook: str | None = typer.Option(None, "--webhook", help="POST each new signal as JSON here"),
                 asof: str | None = typer.Option(None, "--asof", help="evaluate the last bar at or before this date"),
                 min_confidence: float = typer.Option(0.0, "--min-confidence", help="store signals from this "
                                                      "confidence on (0-100)"),
                 retries: int = typer.Option(3, "--retries", min=1, help="attempts per notification"),
                 timeout: float = typer.Option(5.0, "--timeout", help="seconds per webhook request"),
                 provider: str | None = typer.Option(None, "--provider", help=PROVIDER_HELP),
                 data: str | None = typer.Option(None, "--data", help=DATA_HELP),
                 db: str | None = typer.Option(None, "--db", help=DB_HELP),
                 as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Run every active strategy over its universe, store the signals, notify (for a daily cron job)."""

    def go() -> Any:
        from ruleengine import scan_strategies

        if webhook is not None and not webhook.startswith(("http://", "https://")):
            raise _bad(f"the webhook must be an http(s) URL, got '{webhook}'", "e.g. https://example.org/hook",
                       "webhook")
        return scan_strategies(open_db(db), webhook=webhook, asof=asof, provider=provider, data=data,
                    min_confidence=min_confidence, retries=retries, timeout=timeout)

    summary = or_exit(go, as_json)
    if as_json:
        emit(summary)
    else:
        for r in summary["strategies"]:
            head = f"strategy {r['strategy_id']} {r['name']}: "
            if r["status"] == "ok":
                sys.stdout.write(head + f"bar {r['bar_time'][:10]}, {r['evaluated']} symbols, {r['signals']} "
                                 f"signal(s), {r['new']} new\n")
                if r.get("not_members"):
                    sys.stdout.write(f"  warning[D158]: {r['not_members']}\n")
            else:
                sys.stdout.write(head + f"{r['status']}: {r.get('reason') or r.get('error')}\n")
        n = summary["notifications"]
        sys.stdout.write(f"{summary['signals']} signal(s), {summary['new']} new; notifications: {n['sent']} sent, "
                         f"{n['failed']} failed, {n['pending']} waiting in the outbox\n")
        for e in n["errors"]:
            sys.stdout.write(f"warning: notification {e['notification_id']} to {e['url']}: {e['error']}\n")
    if any(r["status"] == "error" for r in summary["strategies"]):
        raise typer.Exit(1)


__all__ = ["register", "signals_app"]


def _signal_price(signal: Any) -> str:
    """The signal's price; a pair's: both legs' closes (``24.12 / 12.03``)."""
    legs = ((signal.data_snapshot or {}).get("pair") or {}).get("legs") or []
    return " / ".join(f"{leg['close']:,.4g}" for leg in legs) if legs else f"{signal.price_at_signal:,.4g}"


def _kind(signal: Any) -> str:
    """``entry`` / ``exit`` for a long signal (as before shorts existed); ``short entry (sell short)`` and
    ``short exit (buy to cover)`` for a short one."""
    if signal.direction == "long":
        return str(signal.signal_type)
    return f"short {signal.signal_type} ({signal.action})"
