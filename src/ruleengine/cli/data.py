"""`ruleengine providers` and `ruleengine data show`: the data layer without a strategy."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from .common import DATA_HELP, PROVIDER_HELP, compact_table, console, emit, or_exit

data_app = typer.Typer(no_args_is_help=True, help="Look at market data through the providers.")


def register(app: typer.Typer) -> None:
    """Add the ``data`` group and ``providers`` to `app`."""
    app.add_typer(data_app, name="data")
    app.command("providers")(providers)


def providers(as_json: bool = typer.Option(False, "--json", help="print the providers as JSON"),
              data: str | None = typer.Option(None, "--data", help=DATA_HELP)) -> None:
    """List the data providers: kinds, frequencies, synthetic or not, and the current defaults."""
    from ruleengine import describe_providers

    described = or_exit(lambda: describe_providers(data), as_json)
    if as_json:
        emit(described)
        return
    _print_providers(described)


def _print_providers(described: dict[str, Any]) -> None:
    from rich.markup import escape

    defaults = {kind: (d["provider"] or "", d["reason"]) for kind, d in described["defaults"].items()}
    table = compact_table("Data providers")
    longest_kind = max((len(k) for info in described["providers"] for k in info.get("kinds") or {}), default=4)
    for col in ("provider", "kind", "frequencies", "synthetic", "key", "default"):
        table.add_column(col, min_width=longest_kind if col == "kind" else None)  # a kind is typed: never cut
    for info in described["providers"]:
        if not info.get("configured", True):  # local without a path: a row, and how to configure it below
            table.add_row(info["name"], "your files", "-", "no", "-", "needs --data PATH", end_section=True)
            continue
        if not info["available"]:
            table.add_row(info["name"], "-", "-", "-", "-", escape(f"unavailable: {info.get('error', '')}"),
                          end_section=True)
            continue
        kinds = list(info["kinds"].items())
        for i, (kind, k) in enumerate(kinds):
            table.add_row(info["name"] if i == 0 else "", kind, ", ".join(k["frequencies"]),
                          ("[bold red]YES[/]" if info["synthetic"] else "no") if i == 0 else "",
                          # the variables are listed below the table: four long names do not fit 80 columns
                          ("yes" if info.get("credentials") else "none") if i == 0 else "",
                          "[bold]default[/]" if defaults.get(kind, ("",))[0] == info["name"] else "",
                          end_section=i == len(kinds) - 1)
    out = console()
    out.print(table)
    for info in described["providers"]:
        if not info.get("configured", True):
            out.print(f"{info['name']}: not configured: {info['error']}", highlight=False)
        elif info.get("point_in_time"):
            basis = f" Prices: {info['price_basis']}." if info.get("price_basis") else ""
            needs = f"needs {', '.join(info['credentials'])}; " if info.get("credentials") else ""
            out.print(escape(f"{info['name']}: {needs}point in time: {info['point_in_time']}.{basis}"),
                      highlight=False)
    by_choice: dict[tuple[str, str], list[str]] = {}
    for kind, choice in defaults.items():
        by_choice.setdefault(choice, []).append(kind)
    out.print("Defaults without --provider or a slot's provider: (order: slot provider, --provider, "
              "RULEENGINE_PROVIDER, --data / RULEENGINE_DATA, ALPACA_API_KEY + ALPACA_SECRET_KEY, FMP_API_KEY, "
              "REDDIT_CLIENT_ID, RULEENGINE_PORTFOLIO, SNAPTRADE_CLIENT_ID, sample)")
    for (name, why), kinds_ in by_choice.items():
        what = "every kind" if len(kinds_) == len(defaults) else ", ".join(kinds_)
        out.print(f"  {what}: " + (f"[bold]{name}[/] ({why})" if name else f"[red]none[/] ({why})"))


@data_app.command("show")
def data_show(symbol: str = typer.Argument(..., help="ticker, e.g. SPY"),
              kind: str = typer.Option("ohlcv", "--kind", help="data kind (ohlcv, earnings, ...)"),
              provider: str | None = typer.Option(None, "--provider", help=PROVIDER_HELP),
              data: str | None = typer.Option(None, "--data", help=DATA_HELP),
              start: str | None = typer.Option(None, "--start", help="first date (default: a year before end)"),
              end: str | None = typer.Option(None, "--end", help="last date (default: the latest available)"),
              frequency: str = typer.Option("1Day", "--frequency", help="bar frequency for ohlcv"),
              rows: int = typer.Option(10, "--rows", min=1, help="rows shown at the head and at the tail"),
              no_cache: bool = typer.Option(False, "--no-cache", help="bypass the on-disk data cache"),
              as_json: bool = typer.Option(False, "--json", help="print the summary and the rows shown as JSON")
              ) -> None:
    """Fetch one symbol's data and show its head and tail with a summary."""
    from ruleengine import preview_data

    preview = or_exit(lambda: preview_data(symbol, kind=kind, provider=provider, data=data, start=start, end=end,
                                           frequency=frequency, rows=rows, no_cache=no_cache), as_json)
    if as_json:
        sys.stdout.write(json.dumps({"success": True, **preview.to_dict()}, indent=2) + "\n")
        return
    _print_preview(preview)


def _print_preview(preview: Any) -> None:
    from rich.panel import Panel

    summary, rows, total = preview.summary, preview.rows, preview.total_rows
    out = console()
    if summary["synthetic"]:
        out.print(Panel(f"[bold]{summary['warning']}[/]", title="SYNTHETIC DATA", style="bold red"))
    # The kind's own columns (and the fiscal period) fit a terminal; --json has every column.
    columns = preview.columns()
    table = compact_table(f"{summary['symbol']} {summary['kind']} ({summary['frequency']}, {summary['provider']})")
    table.add_column(preview.index_name)
    for col in columns:
        table.add_column(str(col), justify="right")
    for i, (label, cells) in enumerate(preview.cells()):
        if i == rows and total > 2 * rows:
            table.add_row("...", *["..."] * len(columns))
        table.add_row(label, *cells)
    out.print(table)
    basis = summary["attrs"].get("price_basis")
    out.print(f"{total} rows, {summary['first']} .. {summary['last']} from provider "
              f"'{summary['provider']}'" + (f" (times in {summary['timezone']})" if preview.local_times else "")
              + (f"; price basis: {basis}" if basis else "")
              + (" [bold red](SYNTHETIC)[/]" if summary["synthetic"] else ""))
    skipped = summary["incomplete_sessions"]
    if skipped:
        out.print(f"incomplete sessions (no daily bar): {skipped}")


__all__ = ["data_app", "register"]
