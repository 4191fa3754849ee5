"""The `ruleengine` command: a thin layer over the public API.

User errors print structured diagnostics (or JSON with --json) and exit 1; they never show a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand

from .cli_output import check_output_path, compact_table, writing
from .cli_output import console as output_console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Trading-strategy documents compiled into fast, causal signals.")


def _show_version(value: bool) -> None:
    if value:
        from . import __version__

        sys.stdout.write(f"ruleengine {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Trading-strategy documents compiled into fast, causal signals."""


class ParamOptionCommand(TyperCommand):
    """A command with ``--param``: an unknown option named like a risk field (``--stop-loss``) is answered with
    ``--param stop_loss_pct=VALUE`` instead of click's nearest option name (which was ``--symbols``)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except Exception as exc:  # typer's vendored click NoSuchOption: recognised by its fields
            name = getattr(exc, "option_name", None)
            if isinstance(name, str) and hasattr(exc, "possibilities"):
                field = _risk_field_like(name)
                if field is not None:
                    exc.possibilities = [f"--param {field}=VALUE"]
            raise


def _risk_field_like(option: str) -> str | None:
    """The risk field or run parameter an option name looks like (--stop-loss -> stop_loss_pct), or None."""
    import difflib

    from .backtest.risk import RISK_PARAM_NAMES

    names = (*RISK_PARAM_NAMES, "execution_frequency")
    word = option.lstrip("-").replace("-", "_").lower()
    match = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return match[0] if match else next((n for n in names if n.startswith(word + "_")), None)


@app.command()
def contract() -> None:
    """Print the fill contract every backtest and sweep follows (also in each report and --json result)."""
    from .backtest.risk import FILL_CONTRACT

    sys.stdout.write(FILL_CONTRACT.rstrip("\n") + "\n")


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
             as_json: bool = typer.Option(False, "--json", help="print one JSON object: {\"success\": true, "
                                          "\"files\", \"diagnostics\"} or the ERROR_SCHEMA")) -> None:
    """Check strategy documents: exit 0 when all are valid, 1 with the diagnostics otherwise."""
    from .api import validate as validate_doc
    from .errors import Diagnostic, RuleEngineError, render
    from .source import SourceText, read_source

    all_diags: list[dict[str, Any]] = []
    found: list[Diagnostic] = []
    failed = False
    paths = _expand(files)
    if not paths:
        _fail(RuleEngineError([Diagnostic(
            "R101", "no strategy files (.yaml, .yml, .json) in " + ", ".join(files), path="files",
            hint="give strategy files or a folder holding them, e.g. ruleengine validate rules/")]), as_json)
    for f in paths:
        diags = validate_doc(Path(f) if not f.endswith((".yaml", ".yml", ".json")) else f)
        errors = [d for d in diags if d.severity == "error"]
        failed |= bool(errors)
        found += diags
        if as_json:
            all_diags += [d.to_dict() | {"file": d.span.file if d.span and d.span.file else f} for d in diags]
            continue
        if diags:
            try:  # the same guarded read as validate's: never a FIFO, a device or an oversized file
                text = read_source(Path(f)).text
            except RuleEngineError:  # already reported (R101, R106, R114)
                text = ""
            sys.stdout.write(render(diags, SourceText(text, f)))
        else:
            sys.stdout.write(f"ok: {f}\n")
    if as_json:  # the envelope of every --json output: {"success": true, ...} or the ERROR_SCHEMA
        if failed:
            first = RuleEngineError(sorted(found, key=lambda d: d.severity != "error"))
            payload: dict[str, Any] = {"success": False, "error": {"type": first.error_type, "message": str(first),
                                                                   "details": all_diags}}
        else:
            payload = {"success": True, "files": paths, "diagnostics": all_diags}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    raise typer.Exit(1 if failed else 0)


@app.command()
def explain(file: str = typer.Argument(..., help="strategy file"),
            as_json: bool = typer.Option(False, "--json", help="print the explanation as JSON")) -> None:
    """Show the typed, canonical form of each condition, the parameters and the derived warm-up."""
    from .compile.compiled import compile_strategy
    from .compile.explain import explain_dict, explain_text

    compiled = _or_exit(lambda: compile_strategy(file), as_json)
    if getattr(compiled, "runs_code", False):  # a code strategy: no conditions, the sandbox runs its code
        explain_dict, explain_text = type(compiled).explain_dict, type(compiled).explain_text
    if as_json:
        from .cli_store import emit

        emit(explain_dict(compiled))
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
        from .cli_store import emit

        emit(_or_exit(lambda: _providers_json(data), as_json=True))
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


@app.command(cls=ParamOptionCommand)
def backtest(file: str = typer.Argument(..., help="strategy file (YAML or JSON)"),
             symbols: str = typer.Option(..., "--symbols", help="SPY | SPY,QQQ | asset_a=GLD,asset_b=SLV | @file"),
             start: str | None = typer.Option(None, "--start", help="first date (default: 10 years before end)"),
             end: str | None = typer.Option(None, "--end", help="last date (default: the latest available)"),
             param: Annotated[list[str] | None, typer.Option(
                 "--param", help="name=value: a strategy parameter or a risk override (stop_loss_pct=4, "
                 "execution_price=open); repeatable")] = None,
             provider: str | None = typer.Option(None, "--provider", help="provider name (see providers)"),
             data: str | None = typer.Option(None, "--data", help=_DATA_HELP),
             init_cash: float = typer.Option(10_000.0, "--init-cash", help="starting cash of each run"),
             portfolio: bool = typer.Option(False, "--portfolio", help="one portfolio with shared cash; each "
                                            "entry takes position_size_pct of the equity (default 5)"),
             as_json: bool = typer.Option(False, "--json", help="print one JSON object (the result or the error)"),
             report: str | None = typer.Option(None, "--report", help="write a self-contained HTML report here"),
             no_cache: bool = typer.Option(False, "--no-cache", help="bypass the on-disk data cache"),
             save: bool = typer.Option(False, "--save", help="store the result (and the strategy) in the database"),
             db: str | None = typer.Option(None, "--db", help="database URL or SQLite file for --save (default: "
                                           "$RULEENGINE_DB, else the user data directory)")) -> None:
    """Backtest a strategy: metrics, trades and the fill contract (one run per symbol of a universe)."""
    from .backtest.run import backtest as run_backtest
    from . import parse_param_args
    from .compile.compiled import compile_strategy

    def go() -> Any:
        check_output_path(report, "--report")  # before the run, not after it
        compiled = compile_strategy(file)
        params = parse_param_args(compiled.strategy, param or [])
        from .cli_progress import ProgressBar

        with ProgressBar(enabled=not as_json, min_total=5) as progress:
            result = run_backtest(compiled, symbols, start, end, params=params, provider=provider, data=data,
                                  init_cash=init_cash, portfolio=portfolio, progress=progress,
                                  no_cache=no_cache)
        if report:
            with writing(report, "--report"):
                result.write_report(report)
        if save:
            from .cli_store import save_run

            saved.update(save_run(db, compiled, result))
        return result

    saved: dict[str, Any] = {}
    result = _or_exit(go, as_json)
    if as_json:
        sys.stdout.write((result.to_json() if not saved else json.dumps({**json.loads(result.to_json()),
                                                                         "saved": saved})) + "\n")
        return
    _print_backtest(result, report)
    if saved:
        sys.stdout.write(f"saved: run {saved['run_id']} (strategy {saved['strategy_id']} version "
                         f"{saved['strategy_version']}); see: ruleengine runs show {saved['run_id']}\n")


from .cli_sweep import sweep_command  # only typer at import: `validate` stays light

app.command("sweep", cls=ParamOptionCommand)(sweep_command)

from .cli_llm import register as _register_llm  # create, refine, mcp (only typer at import)

_register_llm(app)

from .cli_store import register as _register_store  # strategies, runs, signals, track, compare, scan

_register_store(app)


_SUMMARY = [("total_return_pct", "total return", "%"), ("benchmark_return_pct", "benchmark (buy & hold)", "%"),
            ("total_return_dollars", "total return $", "$"), ("cagr_pct", "CAGR", "%"),
            ("max_drawdown_pct", "max drawdown", "%"), ("sharpe_ratio", "Sharpe", ""),
            ("sortino_ratio", "Sortino", ""), ("calmar_ratio", "Calmar", ""), ("exposure_pct", "exposure", "%"),
            ("total_trades", "trades", "n"), ("win_rate", "win rate", "%"), ("avg_win_pct", "avg win", "%"),
            ("avg_loss_pct", "avg loss", "%"), ("profit_factor", "profit factor", ""),
            ("best_trade_pct", "best trade", "%"), ("worst_trade_pct", "worst trade", "%"),
            ("avg_holding_days", "avg holding (days)", "")]


def _print_backtest(result: Any, report: str | None) -> None:
    from rich.markup import escape
    from rich.panel import Panel

    from .backtest.report import fmt

    console = output_console()
    p = result.provenance
    if result.synthetic:
        console.print(Panel("[bold]SYNTHETIC data (sample provider): not the symbols' real prices. Use --data PATH "
                            "or a market-data provider for a real backtest.[/]", title="SYNTHETIC DATA",
                            style="bold red"))
    first = result.results[0]
    console.print(f"[bold]{escape(p.strategy_name)}[/]")
    console.print(f"{p.start} .. {p.end} ({first.data.bars} {p.frequency} bars), data: "
                  + ", ".join(f"{k}={v}" for k, v in first.data.providers.items())
                  + f", initial cash {p.init_cash:,.0f}" + (", one portfolio" if p.portfolio else ""))
    if len(result.results) == 1:
        run = result.results[0]
        table = compact_table(escape(run.label))
        table.add_column("metric")
        table.add_column("value", justify="right")
        m = run.metrics.model_dump()
        for key, label, unit in _SUMMARY:
            if key == "benchmark_return_pct":
                label = escape(f"benchmark {run.benchmark.symbol} (buy & hold)")
            table.add_row(label, fmt(m[key], unit))
        console.print(table)
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(run.exit_reasons().items()))
        console.print(f"exits: {reasons or 'no trades'}")
    else:
        console.print(_runs_table(result.results))
    _print_trades(console, [t for r in result.results for t in r.trades])
    from .backtest.risk import RISK_FIELDS, risk_label

    console.print("risk: " + escape(", ".join(f"{k}={risk_label(first.risk, k)}" for k in RISK_FIELDS)
                                    + f", execution_price={first.risk.get('execution_price')}"))
    console.print("fills: the fill contract (ruleengine contract) applies", style="dim", highlight=False)
    for w in result.warnings:
        hint = f" ({w['hint']})" if w.get("hint") else ""
        console.print(f"[yellow]warning\\[{w['code']}][/]: " + escape(f"{w['message']}{hint}"), highlight=False)
    if len(result.results) > 1:  # why runs of a universe made no trades (a single run's is among the above)
        idle = [w for r in result.results for w in r.warnings if w["code"] == "D119"]
        for w in idle[:_IDLE_SHOWN]:
            console.print("  " + escape(w["message"]), highlight=False)
        if len(idle) > _IDLE_SHOWN:
            console.print(f"  ... {len(idle) - _IDLE_SHOWN} more (--json: each run's warnings)")
    if report:
        console.print(f"report: {report}")


_IDLE_SHOWN = 5  # runs whose no-trade reason the console shows


def _runs_table(runs: list[Any]) -> Any:
    from rich.markup import escape

    from .backtest.report import fmt

    table = compact_table(f"{len(runs)} runs")
    for col in ("run", "trades", "win rate", "return", "benchmark", "max DD", "Sharpe", "exposure"):
        table.add_column(col, justify="left" if col == "run" else "right")
    ordered = sorted(runs, key=lambda r: r.metrics.total_return_pct, reverse=True)
    shown = ordered if len(ordered) <= 40 else ordered[:20] + [None] + ordered[-20:]
    for r in shown:
        if r is None:
            table.add_row(f"... {len(ordered) - 40} more", *[""] * 7)
            continue
        m = r.metrics
        table.add_row(escape(r.label), fmt(m.total_trades, "n"), fmt(m.win_rate, "%"), fmt(m.total_return_pct, "%"),
                      fmt(m.benchmark_return_pct, "%"), fmt(m.max_drawdown_pct, "%"), fmt(m.sharpe_ratio),
                      fmt(m.exposure_pct, "%"))
    returns = sorted(r.metrics.total_return_pct for r in runs)
    beat = sum(1 for r in runs if r.metrics.benchmark_return_pct is not None
               and r.metrics.total_return_pct > r.metrics.benchmark_return_pct)
    table.caption = (f"median return {returns[len(returns) // 2]:.2f} %, mean {sum(returns) / len(returns):.2f} %; "
                     f"{beat} of {len(runs)} beat their benchmark")
    return table


def _print_trades(console: Any, trades: list[Any]) -> None:
    from rich.markup import escape

    if not trades:
        console.print("[yellow]no trades[/]")
        return
    ranked = sorted(trades, key=lambda t: t.pnl_pct, reverse=True)
    picks = ranked if len(ranked) <= 6 else ranked[:3] + ranked[-3:]
    table = compact_table("best and worst trades" if len(ranked) > 6 else "trades")
    # 80 columns: the pnl in money and full prices are in --json and the report
    for col in ("symbol", "entry", "price", "exit", "price", "pnl %", "exit reason"):
        table.add_column(col, justify="right" if col in ("price", "pnl %") else "left", no_wrap=col != "symbol")
    for t in picks:
        table.add_row(escape(t.symbol), _when(t.entry_time), _price(t.entry_price), _when(t.exit_time),
                      _price(t.exit_price), f"{t.pnl_pct:+.2f}%", t.exit_reason)
    console.print(table)


def _when(time: str) -> str:
    """A trade time for the console: the date, or 'YYYY-MM-DD HH:MMZ' (UTC) for intraday bars."""
    return time if len(time) <= 10 else time[:16].replace("T", " ") + ("Z" if time.endswith("Z") else "")


def _price(value: float) -> str:
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4g}"


def _providers_json(data: str | None) -> dict[str, Any]:
    from .data.registry import default_registry

    registry = default_registry(data)
    return {"providers": _described(registry),
            "defaults": {k: {"provider": n or None, "reason": why}
                         for k, (n, why) in registry.defaults_by_kind().items()}}


def _described(registry: Any) -> list[dict[str, Any]]:
    """Every provider, also `local` when no data path is set (it exists, but needs --data PATH to read)."""
    described = registry.describe()
    if "local" in registry:
        return described
    local = {"name": "local", "description": "Parquet/CSV files of your own", "synthetic": False, "kinds": {},
             "available": False, "configured": False, "error": "give --data PATH (or set RULEENGINE_DATA)",
             "default_for": {}}
    return [local, *described]


def _providers_table(data: str | None) -> None:

    from .data.registry import default_registry

    registry = default_registry(data)
    defaults = registry.defaults_by_kind()
    table = compact_table("Data providers")
    for col in ("provider", "kind", "frequencies", "synthetic", "default"):
        table.add_column(col)
    for info in _described(registry):
        if not info.get("configured", True):  # local without a path: a row, and how to configure it below
            table.add_row(info["name"], "your files", "-", "no", "needs --data PATH", end_section=True)
            continue
        if not info["available"]:
            table.add_row(info["name"], "-", "-", "-", escape(f"unavailable: {info.get('error', '')}"),
                          end_section=True)
            continue
        kinds = list(info["kinds"].items())
        for i, (kind, k) in enumerate(kinds):
            table.add_row(info["name"] if i == 0 else "", kind, ", ".join(k["frequencies"]),
                          ("[bold red]YES[/]" if info["synthetic"] else "no") if i == 0 else "",
                          "[bold]default[/]" if defaults.get(kind, ("",))[0] == info["name"] else "",
                          end_section=i == len(kinds) - 1)
    console = output_console()
    console.print(table)
    for info in _described(registry):
        if not info.get("configured", True):
            console.print(f"{info['name']}: not configured: {info['error']}", highlight=False)
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
    if kind == "ohlcv" and str(frame.attrs.get("frequency", frequency)) != frequency and not frame.empty:
        from .data.resample import resample_ohlcv  # show the bars a strategy would see: completed ones only

        frame = resample_ohlcv(frame, frequency, from_frequency=str(frame.attrs["frequency"]))
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
               "attrs": {k: v for k, v in frame.attrs.items() if isinstance(v, (str, int, float, bool))},
               "incomplete_sessions": list(frame.attrs.get("incomplete_sessions", []))}
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
        if start is None:
            try:
                held = source.available_range(symbol, kind, frequency)
            except RuleEngineError:
                held = None  # the fetch reports the unknown symbol with its did-you-mean
            if held is not None:  # None: the provider cannot say
                # Daily labels are dates at 00:00 UTC; instants are read in exchange time.
                daily = kind == "ohlcv" and frequency not in INTRADAY
                last = held[1].tz_convert("UTC" if daily else "America/New_York").tz_localize(None)
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
    from rich.panel import Panel
    from rich.table import Table

    from .schema.kinds import KIND_COLUMNS

    console = output_console()
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
    skipped = summary["incomplete_sessions"]
    if skipped:
        console.print(f"incomplete sessions (no daily bar): {skipped}")


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
        _fail(exc, as_json)


def _fail(exc: Any, as_json: bool) -> NoReturn:
    """Print a RuleEngineError (rendered, or the ERROR_SCHEMA with --json) and exit 1."""
    if as_json:
        sys.stdout.write(json.dumps(exc.to_error_schema(), indent=2) + "\n")
    else:
        sys.stdout.write(exc.render())
    raise typer.Exit(1)


#: True when running as the console script (not inside a test's CliRunner): an interrupted command may
#: then end the process at once instead of waiting for worker processes or a Dask cluster to wind down.
CONSOLE = False


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    global CONSOLE
    CONSOLE = True
    app(args=argv, prog_name="ruleengine")


if __name__ == "__main__":  # pragma: no cover - `python -m ruleengine.cli`
    from ruleengine.cli import main as console_main  # the package's module, not this __main__ copy

    console_main()
