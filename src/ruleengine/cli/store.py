"""`ruleengine strategies ...` and `ruleengine runs ...`: the store from the command line.

`register(app)` adds these groups. Only typer and the standard library are imported at module level:
`ruleengine validate` stays light.
Every command takes ``--db URL`` (default ``$RULEENGINE_DB``, else the SQLite file under the user's data
directory) and ``--json``.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from .common import (
    DB_HELP,
    JSON_HELP,
    STRATEGY_FILE_HELP,
    check_output_path,
    compact_table,
    console,
    emit,
    open_db,
    or_exit,
    user_error,
    write_text,
)

strategies_app = typer.Typer(no_args_is_help=True, help="Saved strategies: every change is a new version.")
runs_app = typer.Typer(no_args_is_help=True, help="Saved backtests (ruleengine backtest ... --save).")


def register(app: typer.Typer) -> None:
    """Add the ``strategies`` and ``runs`` groups to `app`."""
    app.add_typer(strategies_app, name="strategies")
    app.add_typer(runs_app, name="runs")


# ---------------------------------------------------------------------------------------------- strategies


@strategies_app.command("add")
def strategies_add(file: str = typer.Argument(..., help=STRATEGY_FILE_HELP),
                   strategy_id: int | None = typer.Option(None, "--id", help="add the file as a new version of ID"),
                   nl: str | None = typer.Option(None, "--nl", help="the natural-language request behind it"),
                   author: str = typer.Option("user", "--author", help="who made this version"),
                   universe: str | None = typer.Option(None, "--universe",
                                                       help="symbols `scan` runs it on: SPY,QQQ or @file"),
                   db: str | None = typer.Option(None, "--db", help=DB_HELP),
                   as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Save a strategy (it must compile), or a new version of a saved one with --id."""

    def go() -> Any:
        store = open_db(db)
        before = store.get_strategy(strategy_id) if strategy_id is not None else None
        rec = store.add_strategy(file, strategy_id=strategy_id, nl_input=nl, author=author, universe=universe)
        return rec, before is not None and before.version == rec.version

    rec, unchanged = or_exit(go, as_json)
    if as_json:
        emit({"strategy": rec.to_dict(), "unchanged": unchanged})
        return
    if unchanged:
        sys.stdout.write(f"unchanged: strategy {rec.id} '{rec.name}' is still version {rec.version} "
                         f"(same content {rec.content_hash[:12]})\n")
    else:
        sys.stdout.write(f"saved: strategy {rec.id} '{rec.name}' version {rec.version} "
                         f"(content {rec.content_hash[:12]})\n")


@strategies_app.command("list")
def strategies_list(include_all: bool = typer.Option(False, "--all", help="also inactive strategies"),
                    db: str | None = typer.Option(None, "--db", help=DB_HELP),
                    as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """List saved strategies (their current versions)."""
    recs = or_exit(lambda: open_db(db).list_strategies(include_inactive=include_all), as_json)
    if as_json:
        emit({"strategies": [r.to_dict() for r in recs]})
        return
    if not recs:
        sys.stdout.write("no strategies saved" + ("" if include_all else " (or none active: --all)")
                         + "; add one with: ruleengine strategies add FILE\n")
        return
    from rich.markup import escape

    table = compact_table("strategies")
    for col in ("id", "name", "version", "status", "timeframe", "universe", "updated"):
        table.add_column(col)
    for r in recs:
        table.add_row(str(r.id), escape(r.name), str(r.version), r.status, str(r.definition.get("timeframe", "")),
                      escape(r.universe or "-"), f"{r.updated_at:%Y-%m-%d %H:%M}")
    console().print(table)


@strategies_app.command("show")
def strategies_show(strategy_id: int = typer.Argument(..., help="strategy id"),
                    version: int | None = typer.Option(None, "--version", help="a past version"),
                    db: str | None = typer.Option(None, "--db", help=DB_HELP),
                    as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show a saved strategy: metadata and its document."""
    rec = or_exit(lambda: open_db(db).get_strategy(strategy_id, version), as_json)
    if as_json:
        emit({"strategy": rec.to_dict()})
        return
    from ruleengine import dump_strategy

    sys.stdout.write(f"strategy {rec.id}: {rec.name}  (version {rec.version} of {rec.current_version}, {rec.status})\n"
                     f"content {rec.content_hash}\nsaved {rec.created_at:%Y-%m-%d %H:%M} by {rec.author}\n")
    if rec.nl_input:
        sys.stdout.write(f"request: {rec.nl_input}\n")
    if rec.universe:
        sys.stdout.write(f"universe: {rec.universe}\n")
    sys.stdout.write("---\n" + or_exit(lambda: dump_strategy(rec.strategy, "yaml"), as_json))


@strategies_app.command("history")
def strategies_history(strategy_id: int = typer.Argument(..., help="strategy id"),
                       db: str | None = typer.Option(None, "--db", help=DB_HELP),
                       as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Every version of a strategy: when, by whom, why, and what changed."""
    recs = or_exit(lambda: open_db(db).history(strategy_id), as_json)
    if as_json:
        emit({"strategy_id": strategy_id, "versions": [r.to_dict() for r in recs]})
        return
    from rich.markup import escape

    table = compact_table(f"strategy {strategy_id}: {escape(recs[-1].name)}")
    for col in ("version", "saved", "author", "content", "changed", "request"):
        table.add_column(col)
    prev: dict[str, Any] | None = None
    for r in recs:
        changed = "-" if prev is None else ", ".join(_changed_keys(prev, r.definition)) or "(nothing)"
        table.add_row(str(r.version), f"{r.created_at:%Y-%m-%d %H:%M}", escape(r.author), r.content_hash[:12],
                      escape(changed), escape(r.nl_input or ""))
        prev = r.definition
    console().print(table)


def _changed_keys(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Top-level fields (and risk/params members) that differ between two documents."""
    out: list[str] = []
    for key in dict.fromkeys([*a, *b]):
        va, vb = a.get(key), b.get(key)
        if va == vb:
            continue
        if isinstance(va, dict) and isinstance(vb, dict) and key in ("risk", "params", "data"):
            out += [f"{key}.{k}" for k in dict.fromkeys([*va, *vb]) if va.get(k) != vb.get(k)]
        else:
            out.append(key)
    return out


@strategies_app.command("export")
def strategies_export(strategy_id: int = typer.Argument(..., help="strategy id"),
                      version: int | None = typer.Option(None, "--version", help="a past version"),
                      fmt: str = typer.Option("yaml", "--format", help="yaml or json"),
                      output: str | None = typer.Option(None, "--output", "-o", help="write to this file"),
                      db: str | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Print (or write) a saved strategy as a document that `strategies add` reads back unchanged."""
    from ruleengine import dump_strategy

    def go() -> str:
        check_output_path(output, "--output")
        if fmt not in ("yaml", "json"):
            raise user_error("T107", f"unknown format '{fmt}'", "yaml or json", "format")
        rec = open_db(db).get_strategy(strategy_id, version)
        text = dump_strategy(rec.strategy, fmt)  # type: ignore[arg-type]
        if output:
            write_text(output, text, "--output")
        return text

    text = or_exit(go, False)
    sys.stdout.write(f"written: {output}\n" if output else text)


@strategies_app.command("deactivate")
def strategies_deactivate(strategy_id: int = typer.Argument(..., help="strategy id"),
                          db: str | None = typer.Option(None, "--db", help=DB_HELP),
                          as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Stop scanning a strategy (it stays saved with its history; `activate` undoes it)."""
    rec = or_exit(lambda: open_db(db).deactivate(strategy_id), as_json)
    if as_json:
        emit({"strategy": rec.to_dict()})
        return
    sys.stdout.write(f"deactivated: strategy {rec.id} '{rec.name}'\n")


@strategies_app.command("activate")
def strategies_activate(strategy_id: int = typer.Argument(..., help="strategy id"),
                        db: str | None = typer.Option(None, "--db", help=DB_HELP),
                        as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Scan a deactivated strategy again."""
    rec = or_exit(lambda: open_db(db).activate(strategy_id), as_json)
    if as_json:
        emit({"strategy": rec.to_dict()})
        return
    sys.stdout.write(f"activated: strategy {rec.id} '{rec.name}'\n")


@strategies_app.command("universe")
def strategies_universe(strategy_id: int = typer.Argument(..., help="strategy id"),
                        spec: str | None = typer.Argument(None, help="SPY,QQQ or @file; omit with --clear"),
                        clear: bool = typer.Option(False, "--clear", help="remove the universe"),
                        db: str | None = typer.Option(None, "--db", help=DB_HELP),
                        as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Set the symbols `ruleengine scan` runs a strategy on."""

    def go() -> Any:
        if spec is None and not clear:
            raise user_error("T107", "give the symbols or --clear",
                             f"ruleengine strategies universe {strategy_id} SPY,QQQ", "universe")
        return open_db(db).set_universe(strategy_id, None if clear else spec)

    rec = or_exit(go, as_json)
    if as_json:
        emit({"strategy": rec.to_dict()})
        return
    sys.stdout.write(f"strategy {rec.id} universe: {rec.universe or '(none)'}\n")


# ---------------------------------------------------------------------------------------------- runs


@runs_app.command("list")
def runs_list(strategy_id: int | None = typer.Option(None, "--strategy", help="only this strategy's runs"),
              limit: int = typer.Option(50, "--limit", min=1, help="newest N runs"),
              db: str | None = typer.Option(None, "--db", help=DB_HELP),
              as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Saved backtests, newest first."""
    runs = or_exit(lambda: open_db(db).list_runs(strategy_id, limit=limit), as_json)
    if as_json:
        emit({"runs": [r.to_dict(full=False) for r in runs]})
        return
    if not runs:
        sys.stdout.write("no saved backtests; run one with: ruleengine backtest FILE --symbols SPY --save\n")
        return
    from rich.markup import escape

    from ruleengine import format_metric as fmt

    table = compact_table("saved backtests")
    for col in ("run", "strategy", "saved", "range", "symbols", "trades", "win rate", "return", "max DD",
                "Sharpe"):
        table.add_column(col, justify="right" if col in ("trades", "win rate", "return", "max DD", "Sharpe")
                         else "left")
    for r in runs:
        symbols = r.symbols if len(r.symbols) <= 30 else r.symbols[:27] + "..."
        symbols = symbols.replace(",", ", ")  # wraps between symbols on a narrow terminal
        # a run stored on synthetic data before the store refused them (migration 0003 marked it)
        flag = "" if r.synthetic is False else " SYNTHETIC" if r.synthetic else " (data unknown)"
        side = "" if r.direction == "long" else f" {r.direction}"  # a long strategy's row reads as before
        side += " rotation" if r.kind == "rotation" else ""  # no round-trip trades: its orders are in runs show
        table.add_row(str(r.id) + flag, f"{r.strategy_id} v{r.strategy_version}{side}",
                      f"{r.created_at:%Y-%m-%d %H:%M}",
                      f"{r.start} .. {r.end}", escape(symbols), str(r.total_trades), fmt(r.win_rate, "%"),
                      fmt(r.total_return_pct, "%"), fmt(r.max_drawdown_pct, "%"), fmt(r.sharpe_ratio))
    console().print(table)


@runs_app.command("show")
def runs_show(run_id: int = typer.Argument(..., help="run id (see runs list)"),
              db: str | None = typer.Option(None, "--db", help=DB_HELP),
              as_json: bool = typer.Option(False, "--json", help=JSON_HELP)) -> None:
    """Show a saved backtest like `ruleengine backtest` printed it (--json: the full stored result)."""
    rec = or_exit(lambda: open_db(db).get_run(run_id), as_json)
    if as_json:
        emit({"run": rec.to_dict(full=False), "result": rec.result})
        return
    from .results import print_backtest, print_rotation

    sys.stdout.write(f"run {rec.id}: strategy {rec.strategy_id} version {rec.strategy_version}, saved "
                     f"{rec.created_at:%Y-%m-%d %H:%M}\n")
    result = or_exit(rec.backtest_result, False)
    if rec.kind == "rotation":
        print_rotation(result)
    else:
        print_backtest(result, None)


__all__ = ["register", "runs_app", "strategies_app"]
