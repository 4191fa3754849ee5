"""`ruleengine backtest`: one run per symbol (or one portfolio), printed, as JSON, as a report, or stored."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from .common import (
    DATA_HELP,
    END_HELP,
    INIT_CASH_HELP,
    PROVIDER_HELP,
    REPORT_HELP,
    START_HELP,
    STRATEGY_FILE_HELP,
    SYMBOLS_HELP,
    ParamOptionCommand,
    check_output_path,
    or_exit,
    writing,
)


def register(app: typer.Typer) -> None:
    """Add ``backtest`` to `app`."""
    app.command("backtest", cls=ParamOptionCommand)(backtest)


def backtest(file: str = typer.Argument(..., help=STRATEGY_FILE_HELP),
             symbols: str = typer.Option(..., "--symbols", help=SYMBOLS_HELP),
             start: str | None = typer.Option(None, "--start", help=START_HELP),
             end: str | None = typer.Option(None, "--end", help=END_HELP),
             param: Annotated[list[str] | None, typer.Option(
                 "--param", help="name=value: a strategy parameter or a risk override (stop_loss_pct=4, "
                 "execution_price=open); repeatable")] = None,
             provider: str | None = typer.Option(None, "--provider", help=PROVIDER_HELP),
             data: str | None = typer.Option(None, "--data", help=DATA_HELP),
             init_cash: float = typer.Option(10_000.0, "--init-cash", help=INIT_CASH_HELP),
             portfolio: bool = typer.Option(False, "--portfolio", help="one portfolio with shared cash; each "
                                            "entry takes position_size_pct of the equity (default 5)"),
             as_json: bool = typer.Option(False, "--json", help="print one JSON object (the result or the error)"),
             report: str | None = typer.Option(None, "--report", help=REPORT_HELP),
             no_cache: bool = typer.Option(False, "--no-cache", help="bypass the on-disk data cache"),
             save: bool = typer.Option(False, "--save", help="store the result (and the strategy) in the database"),
             db: str | None = typer.Option(None, "--db", help="database URL or SQLite file for --save (default: "
                                           "$RULEENGINE_DB, else the user data directory)")) -> None:
    """Backtest a strategy: metrics, trades and the fill contract (one run per symbol of a universe; a rotation
    strategy: one portfolio, its metrics, turnover and holdings)."""
    import ruleengine

    from .progress import ProgressBar

    def go() -> Any:
        check_output_path(report, "--report")  # before the run, not after it
        compiled = ruleengine.compile_strategy(file)
        params = ruleengine.parse_param_args(compiled.strategy, param or [])
        with ProgressBar(enabled=not as_json, min_total=5) as progress:
            result = ruleengine.backtest(compiled, symbols, start, end, params=params, provider=provider, data=data,
                                         init_cash=init_cash, portfolio=portfolio, progress=progress,
                                         no_cache=no_cache)
        if report:
            with writing(report, "--report"):
                result.write_report(report)
        if save:
            saved.update(ruleengine.store_backtest(compiled.strategy, result, db))
        return result

    saved: dict[str, Any] = {}
    result = or_exit(go, as_json)
    if as_json:
        sys.stdout.write((result.to_json() if not saved else json.dumps({**json.loads(result.to_json()),
                                                                         "saved": saved})) + "\n")
        return
    from .results import print_backtest, print_rotation

    if isinstance(result, ruleengine.RotationResult):
        print_rotation(result, report)
    else:
        print_backtest(result, report)
    if saved:
        sys.stdout.write(f"saved: run {saved['run_id']} (strategy {saved['strategy_id']} version "
                         f"{saved['strategy_version']}); see: ruleengine runs show {saved['run_id']}\n")


__all__ = ["register"]
