"""The `ruleengine` command: a thin layer over the public API.

User errors print structured diagnostics (or JSON with --json) and exit 1; they never show a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Trading-strategy documents compiled into fast, causal signals.")


def _expand(files: list[str]) -> list[str]:
    out: list[str] = []
    for f in files:
        p = Path(f)
        if p.is_dir():
            out += sorted(str(x) for x in p.iterdir() if x.suffix in (".yaml", ".yml", ".json"))
        else:
            out.append(f)
    return out


@app.command()
def validate(files: list[str] = typer.Argument(..., help="strategy files (YAML or JSON) or folders"),
             as_json: bool = typer.Option(False, "--json", help="print diagnostics as a JSON list")) -> None:
    """Check strategy documents: exit 0 when all are valid, 1 with the diagnostics otherwise."""
    from .api import validate as validate_doc
    from .errors import render
    from .source import SourceText

    all_diags: list[dict[str, Any]] = []
    failed = False
    paths = _expand(files)
    if not paths:
        sys.stdout.write("error: no strategy files (.yaml, .yml, .json) in " + ", ".join(files) + "\n")
        raise typer.Exit(1)
    for f in paths:
        diags = validate_doc(Path(f) if not f.endswith((".yaml", ".yml", ".json")) else f)
        errors = [d for d in diags if d.severity == "error"]
        failed |= bool(errors)
        if as_json:
            all_diags += [d.to_dict() | {"file": d.span.file if d.span and d.span.file else f} for d in diags]
            continue
        if diags:
            try:
                text = Path(f).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):  # already reported as R101
                text = ""
            sys.stdout.write(render(diags, SourceText(text, f)))
        else:
            sys.stdout.write(f"ok: {f}\n")
    if as_json:
        sys.stdout.write(json.dumps(all_diags, indent=2) + "\n")
    raise typer.Exit(1 if failed else 0)


@app.command()
def explain(file: str = typer.Argument(..., help="strategy file"),
            as_json: bool = typer.Option(False, "--json", help="print the explanation as JSON")) -> None:
    """Show the typed, canonical form of each condition, the parameters and the derived warm-up."""
    from .compile.compiled import compile_strategy
    from .compile.explain import explain_dict, explain_text

    compiled = _or_exit(lambda: compile_strategy(file), as_json)
    if as_json:
        sys.stdout.write(json.dumps(explain_dict(compiled), indent=2, default=str) + "\n")
    else:
        sys.stdout.write(explain_text(compiled))


@app.command()
def functions(markdown: bool = typer.Option(False, "--markdown", help="print the README table")) -> None:
    """List the functions of the expression language."""
    from .lang.functions import FUNCTIONS, markdown_table

    if markdown:
        sys.stdout.write(markdown_table())
        return
    for f in FUNCTIONS.values():
        sys.stdout.write(f"{f.signature:<45} {f.doc}\n{'':<45} e.g. {f.example}\n")


@app.command()
def schema() -> None:
    """Print the strict JSON Schema of a strategy document (for LLM structured outputs)."""
    from .schema.jsonschema import strict_json_schema

    sys.stdout.write(json.dumps(strict_json_schema(), indent=2) + "\n")


data_app = typer.Typer(no_args_is_help=True, help="Look at market data through the providers.")
app.add_typer(data_app, name="data")

_DATA_HELP = "a Parquet/CSV file or folder for the local provider (default: $RULEENGINE_DATA)"


@app.command()
def providers(as_json: bool = typer.Option(False, "--json", help="print the providers as JSON"),
              data: str | None = typer.Option(None, "--data", help=_DATA_HELP)) -> None:
    """List the data providers: kinds, frequencies, synthetic or not, and the current defaults."""
    if as_json:
        payload = _or_exit(lambda: _providers_json(data), as_json=True)
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
        return
    _or_exit(lambda: _providers_table(data))


@data_app.command("show")
def data_show(symbol: str = typer.Argument(..., help="ticker, e.g. SPY"),
              kind: str = typer.Option("ohlcv", "--kind", help="data kind (ohlcv, earnings, ...)"),
              provider: str | None = typer.Option(None, "--provider", help="provider name (see providers)"),
              data: str | None = typer.Option(None, "--data", help=_DATA_HELP),
              start: str | None = typer.Option(None, "--start", help="first date (default: a year before end)"),
              end: str | None = typer.Option(None, "--end", help="last date (default: the latest available)"),
              frequency: str = typer.Option("1Day", "--frequency", help="bar frequency for ohlcv"),
              rows: int = typer.Option(10, "--rows", min=1, help="rows shown at the head and at the tail"),
              no_cache: bool = typer.Option(False, "--no-cache", help="bypass the on-disk data cache"),
              as_json: bool = typer.Option(False, "--json", help="print the summary and the rows shown as JSON")
              ) -> None:
    """Fetch one symbol's data and show its head and tail with a summary."""
    _or_exit(lambda: _show_data(symbol, kind=kind, provider=provider, data=data, start=start, end=end,
                               frequency=frequency, rows=rows, no_cache=no_cache, as_json=as_json), as_json)


def _providers_json(data: str | None) -> dict[str, Any]:
    from .data.registry import default_registry

    registry = default_registry(data)
    return {"providers": registry.describe(),
            "defaults": {k: {"provider": n or None, "reason": why}
                         for k, (n, why) in registry.defaults_by_kind().items()}}


def _providers_table(data: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from .data.registry import default_registry

    registry = default_registry(data)
    defaults = registry.defaults_by_kind()
    table = Table(title="Data providers")
    for col in ("provider", "kind", "frequencies", "synthetic", "default"):
        table.add_column(col)
    for info in registry.describe():
        if not info["available"]:
            table.add_row(info["name"], "-", "-", "-", f"unavailable: {info.get('error', '')}", end_section=True)
            continue
        kinds = list(info["kinds"].items())
        for i, (kind, k) in enumerate(kinds):
            table.add_row(info["name"] if i == 0 else "", kind, ", ".join(k["frequencies"]),
                          ("[bold red]YES[/]" if info["synthetic"] else "no") if i == 0 else "",
                          "[bold]default[/]" if defaults.get(kind, ("",))[0] == info["name"] else "",
                          end_section=i == len(kinds) - 1)
    console = Console(file=sys.stdout)
    console.print(table)
    by_choice: dict[tuple[str, str], list[str]] = {}
    for kind, choice in defaults.items():
        by_choice.setdefault(choice, []).append(kind)
    console.print("Defaults without --provider or a slot's provider: (order: slot provider, --provider, "
                  "RULEENGINE_PROVIDER, --data / RULEENGINE_DATA, FMP_API_KEY, sample)")
    for (name, why), kinds_ in by_choice.items():
        what = "every kind" if len(kinds_) == len(defaults) else ", ".join(kinds_)
        console.print(f"  {what}: " + (f"[bold]{name}[/] ({why})" if name else f"[red]none[/] ({why})"))


def _show_data(symbol: str, *, kind: str, provider: str | None, data: str | None, start: str | None,
               end: str | None, frequency: str, rows: int, no_cache: bool, as_json: bool) -> None:
    import pandas as pd

    from .data.base import FetchRequest
    from .data.frames import to_timestamp
    from .data.registry import default_registry

    registry = default_registry(data, no_cache=no_cache)
    source = registry.resolve(None, kind, frequency, cli_provider=provider)
    lo, hi = _default_range(source, symbol, kind, frequency, start, end)
    frame = source.fetch(FetchRequest(symbol, kind, to_timestamp(lo, "start date"),
                                      to_timestamp(hi, "end date"), frequency))
    synthetic = bool(frame.attrs.get("synthetic", source.synthetic))
    warning = (frame.attrs.get("warning") or f"SYNTHETIC data: not {symbol}'s real prices") if synthetic else None
    shown = frame if len(frame) <= 2 * rows else pd.concat([frame.head(rows), frame.tail(rows)])
    tz = str(frame.attrs.get("timezone", "America/New_York"))
    delivered = str(frame.attrs.get("frequency", frequency))
    labels = [_time_label(t, kind, delivered, tz) for t in shown.index]
    summary = {"symbol": symbol, "kind": kind, "provider": source.name, "frequency": delivered,
               "requested_frequency": frequency, "timezone": tz, "synthetic": synthetic, "warning": warning,
               "start": str(pd.Timestamp(lo).date()), "end": str(pd.Timestamp(hi).date()), "rows": len(frame),
               "first": labels[0] if labels else None, "last": labels[-1] if labels else None,
               "attrs": {k: v for k, v in frame.attrs.items() if isinstance(v, (str, int, float, bool))}}
    if as_json:
        records = [{"time": label, **{c: _json_value(v) for c, v in row.items()}}
                   for label, (_, row) in zip(labels, shown.iterrows())]
        sys.stdout.write(json.dumps({"success": True, **summary, "data": records}, indent=2) + "\n")
        return
    _print_frame(shown, labels, summary, rows, len(frame))


def _default_range(source: Any, symbol: str, kind: str, frequency: str, start: str | None,
                   end: str | None) -> tuple[Any, Any]:
    """The requested range; missing ends default to the provider's latest data and a year (5 for events)."""
    import pandas as pd

    from .data.frames import INTRADAY, to_timestamp
    from .errors import RuleEngineError

    span = pd.Timedelta(days=5 if frequency in INTRADAY else 365) if kind == "ohlcv" else pd.Timedelta(days=5 * 365)
    if end is None:
        last = pd.Timestamp.now().normalize()
        available = getattr(source, "available_range", None)
        if callable(available) and start is None:
            try:
                last = available(symbol, kind, frequency)[1]
                # Daily labels are dates at 00:00 UTC; instants are read in exchange time.
                daily = kind == "ohlcv" and frequency not in INTRADAY
                last = last.tz_convert("UTC" if daily else "America/New_York").tz_localize(None)
            except RuleEngineError:
                pass  # the fetch reports the unknown symbol with its did-you-mean
        hi: Any = last.normalize()
    else:
        hi = to_timestamp(end, "end date")
    lo = to_timestamp(start, "start date") if start is not None else pd.Timestamp(hi) - span
    return lo, hi


def _time_label(t: Any, kind: str, frequency: str, tz: str) -> str:
    from .data.frames import INTRADAY

    if kind == "ohlcv" and frequency not in INTRADAY:
        return str(t.date())
    return t.tz_convert(tz).strftime("%Y-%m-%d %H:%M")


def _json_value(v: Any) -> Any:
    import math

    if isinstance(v, float):
        return None if math.isnan(v) else v
    if v is None or isinstance(v, (str, int, bool)):
        return v
    try:
        import pandas as pd

        return None if pd.isna(v) else str(v)
    except (TypeError, ValueError):
        return str(v)


def _print_frame(shown: Any, labels: list[str], summary: dict[str, Any], rows: int, total: int) -> None:
    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table

    from .schema.kinds import KIND_COLUMNS

    console = Console(file=sys.stdout)
    if summary["synthetic"]:
        console.print(Panel(f"[bold]{summary['warning']}[/]", title="SYNTHETIC DATA", style="bold red"))
    # The kind's own columns (and the fiscal period) fit a terminal; --json has every column.
    wanted = (("transaction_date", "transaction_code", "shares", "price", "insider_name")
              if summary["kind"] == "insider_trades" else (*KIND_COLUMNS.get(summary["kind"], ()), "period_end"))
    columns = [c for c in wanted if c in shown.columns] or list(shown.columns)
    table = Table(title=f"{summary['symbol']} {summary['kind']} ({summary['frequency']}, {summary['provider']})")
    local = summary["kind"] != "ohlcv" or summary["frequency"] in ("1Min", "5Min", "15Min", "30Min", "1Hour")
    table.add_column(str(shown.index.name or "time"))
    for col in columns:
        table.add_column(str(col), justify="right")
    for i, (label, (_, row)) in enumerate(zip(labels, shown[columns].iterrows())):
        if i == rows and total > 2 * rows:
            table.add_row("...", *["..."] * len(columns))
        table.add_row(label, *[_cell(v) for v in row])
    console.print(table)
    basis = summary["attrs"].get("price_basis")
    console.print(f"{total} rows, {summary['first']} .. {summary['last']} from provider "
                  f"'{summary['provider']}'" + (f" (times in {summary['timezone']})" if local else "")
                  + (f"; price basis: {basis}" if basis else "")
                  + (" [bold red](SYNTHETIC)[/]" if summary["synthetic"] else ""))
    if summary["kind"] == "ohlcv" and summary["frequency"] != summary["requested_frequency"]:
        console.print(f"delivered at {summary['frequency']}: resampled to {summary['requested_frequency']} "
                      "when bound to a strategy")


def _cell(v: Any) -> str:
    import math

    import pandas as pd

    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if v.is_integer() and abs(v) < 1e5:
            return str(int(v))
        return f"{v:,.0f}" if abs(v) >= 1e5 else (f"{v:.4g}" if abs(v) < 1 else f"{v:,.2f}")
    if isinstance(v, pd.Timestamp):
        return str(v.date()) if v == v.normalize() else str(v)
    return "" if v is None or str(v) in ("NaT", "nan", "<NA>", "None") else str(v)


def _or_exit(fn: Any, as_json: bool = False) -> Any:
    from .errors import RuleEngineError

    try:
        return fn()
    except RuleEngineError as exc:
        if as_json:
            sys.stdout.write(json.dumps(exc.to_error_schema(), indent=2) + "\n")
        else:
            sys.stdout.write(exc.render())
        raise typer.Exit(1)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    app(args=argv, prog_name="ruleengine")


if __name__ == "__main__":  # pragma: no cover
    main()
