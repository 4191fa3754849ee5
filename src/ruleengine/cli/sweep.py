"""`ruleengine sweep`: a parameter sweep with optional walk-forward, hold-out and an HTML report.

Only typer and the standard library are imported at module level: the CLI registers this command at import,
and `ruleengine validate` must start without numpy, pandas or numba.
"""

from __future__ import annotations

import math
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
    compact_table,
    console,
    is_console_script,
    or_exit,
    user_error,
    writing,
)


def register(app: typer.Typer) -> None:
    """Add ``sweep`` to `app`."""
    app.command("sweep", cls=ParamOptionCommand)(sweep_command)


def sweep_command(
    file: str = typer.Argument(..., help=STRATEGY_FILE_HELP),
    symbols: str = typer.Option(..., "--symbols", help=SYMBOLS_HELP),
    grid: Annotated[list[str] | None, typer.Option(
        "--grid", help="name=start:stop:step or name=a,b,c (a parameter or a risk field); repeatable. "
        "Default: every bounded parameter from PARAM_SCHEMA")] = None,
    constraint: Annotated[list[str] | None, typer.Option(
        "--constraint", help="an expression every combination satisfies, e.g. 'fast < slow'; repeatable")] = None,
    metric: str = typer.Option("sharpe_ratio", "--metric", help="ranking metric (max_drawdown_pct: lowest first)"),
    top: int = typer.Option(20, "--top", help="combinations shown"),
    samples: int | None = typer.Option(None, "--samples", help="random search: evaluate N combinations"),
    seed: int = typer.Option(0, "--seed", help="seed of the random search"),
    walk_forward: str | None = typer.Option(
        None, "--walk-forward", help="train=BARS,test=BARS[,step=BARS][,anchored]: re-optimise per fold"),
    holdout: str | None = typer.Option(None, "--holdout", help="keep the last part unseen: 20% or BARS"),
    param: Annotated[list[str] | None, typer.Option(
        "--param", help="name=value: a fixed parameter or risk value (stop_loss_pct=4); repeatable")] = None,
    start: str | None = typer.Option(None, "--start", help=START_HELP),
    end: str | None = typer.Option(None, "--end", help=END_HELP),
    provider: str | None = typer.Option(None, "--provider", help=PROVIDER_HELP),
    data: str | None = typer.Option(None, "--data", help=DATA_HELP),
    init_cash: float = typer.Option(10_000.0, "--init-cash", help=INIT_CASH_HELP),
    max_memory: float | None = typer.Option(
        None, "--max-memory", help="MB the results may take (default RULEENGINE_SWEEP_MEMORY_MB or 2048)"),
    pbo_top: int = typer.Option(200, "--pbo-top", help="best combinations whose returns enter the PBO"),
    heatmap: str | None = typer.Option(None, "--heatmap", help="x,y: the report's heatmap parameters"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object (the result or the error)"),
    report: str | None = typer.Option(None, "--report", help=REPORT_HELP),
    executor: str | None = typer.Option(
        None, "--executor", help="local: worker processes on this machine (default; sweeps estimated under 2 s "
        "stay in this process), threads, or dask"),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="the Dask scheduler's address for --executor dask (tcp://HOST:8786); "
        "without it, a Dask cluster on this machine"),
) -> None:
    """Sweep a parameter grid: ranked combinations, walk-forward / hold-out validation, DSR and PBO."""

    def go() -> Any:
        check_output_path(report, "--report")  # before the sweep, not after it
        from ruleengine import compile_strategy, parse_param_args, sweep_runner
        from ruleengine import walk_forward as run

        from .progress import ProgressBar

        compiled = compile_strategy(file)
        params = parse_param_args(compiled.strategy, param or [])
        axes = _heatmap_axes(heatmap)

        with sweep_runner(executor, scheduler) as runner, \
                ProgressBar(enabled=not as_json, min_seconds=1.0) as progress:
            result = run(compiled, symbols, start, end, walk_forward=walk_forward, holdout=holdout,
                         grid=list(grid) if grid else None, constraints=list(constraint or []), metric=metric,
                         top=top, samples=samples, seed=seed, params=params, provider=provider, data=data,
                         init_cash=init_cash, pbo_top=pbo_top, progress=progress, runner=runner,
                         memory_mb=max_memory)
        if report:
            with writing(report, "--report"):
                result.write_report(report, heatmap=axes)
        return result

    stage = "sweep stopped, no result written"
    try:
        result = or_exit(go, as_json)
        stage = "while printing the result"  # Ctrl-C during the output is still a clean stop
        if as_json:
            sys.stdout.write(result.to_json() + "\n")
            return
        _print(result, report, samples, seed)
    except SystemError as exc:
        # Ctrl-C while a numba kernel ran in this thread: numba returns with the KeyboardInterrupt set and
        # Python raises "returned a result with an exception set" with it as the cause
        if not isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt):
            raise
        _interrupted(stage)
    except KeyboardInterrupt:
        _interrupted(stage)


def _interrupted(stage: str) -> None:
    """Ctrl-C: a message and exit 130 (the chunks already running finish; they hold no Python state)."""
    sys.stderr.write(f"\ninterrupted: {stage}\n")
    if is_console_script():  # the workers were told to stop: do not wait for them at interpreter exit
        import os

        sys.stderr.flush()
        os._exit(130)
    raise typer.Exit(130) from None


def _heatmap_axes(text: str | None) -> tuple[str, str] | None:
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise user_error("D122", f"--heatmap expects two parameters x,y, got '{text}'", "e.g. --heatmap fast,slow",
                         "heatmap")
    return parts[0], parts[1]


def _print(wf: Any, report: str | None, samples: int | None = None, seed: int = 0) -> None:
    from rich.markup import escape
    from rich.panel import Panel

    from ruleengine import format_metric as fmt

    out = console(piped_width=140)
    res = wf.sweep
    if wf.synthetic:
        out.print(Panel("[bold]SYNTHETIC data (sample provider): not the symbols' real prices. Use --data PATH "
                        "or a market-data provider for a real sweep.[/]", title="SYNTHETIC DATA",
                        style="bold red"))
    ctx = res.context
    name = getattr(ctx.get("strategy"), "strategy", None)
    out.print(f"[bold]{escape(getattr(name, 'name', 'strategy'))}[/]")
    r0, r1 = ctx.get("rows", (0, 0))
    names = list(ctx.get("universe", ctx.get("runs", {})))
    out.print(f"{ctx.get('start')} .. {ctx.get('end')} ({r1 - r0} {res.frequency} bars"
              + (", the hold-out excluded" if wf.holdout else "") + "), "
              + ("a rotation portfolio over " if res.rotation else "") + f"{len(names)} symbol(s): "
              + escape(", ".join(names[:10])) + (" ..." if len(names) > 10 else ""))
    axes = "; ".join(f"{k} {_axis_text(v)}" for k, v in res.grid.items()) or "no axes (one combination)"
    out.print(f"grid: {escape(axes)}" + (f", constraints: {escape(' and '.join(res.constraints))}"
                                          if res.constraints else ""))
    out.print(f"grid size {wf.overfit.grid_size:,}, trials {res.n_trials:,}"
              + (f" (random search: {samples:,} samples, seed {seed})" if samples is not None else "")
              + f"; search {res.elapsed:.2f} s ({res.rate_text()} combinations/s), "
              + f"total {wf.elapsed:.2f} s; "
              + f"results memory ~{res.memory_estimate_mb:,.0f} MB (limit {res.memory_limit_mb:,.0f} MB)")
    out.print(_top_table(res))
    if res.sides:
        out.print(_sides_table(res))
    _print_overfit(out, wf)
    if wf.folds:
        out.print(_folds_table(wf))
        for label, m in list(wf.stitched_metrics.items())[:10]:
            out.print(f"stitched out-of-sample {escape(label)}: {m['start']} .. {m['end']} ({m['bars']} bars), "
                      f"return {fmt(m['total_return_pct'], '%')}, Sharpe {fmt(m['sharpe_ratio'])}, "
                      f"max DD {fmt(m['max_drawdown_pct'], '%')}")
    if wf.holdout:
        h = wf.holdout
        params = ", ".join(f"{k}={v}" for k, v in h["params"].items())
        out.print(f"hold-out {h['start']} .. {h['end']} ({h['bars']} bars) with {escape(params)}: "
                  f"{res.metric} in-sample {fmt(h['is'].get(res.metric))}, hold-out "
                  f"{fmt(h['oos'].get(res.metric))}, return {fmt(h['oos'].get('total_return_pct'), '%')}, "
                  f"decay {fmt(h['decay'])}")
    best = ", ".join(f"{k}={'off' if v is None else v}" for k, v in res.best.items() if k in res.grid)
    fixed = ", ".join(f"{k}={'off' if v is None else v}" for k, v in res.fixed.items())
    out.print(f"best: {escape(best or 'the only combination')}" + (f" (fixed: {escape(fixed)})" if fixed else ""))
    for w in wf.warnings:
        hint = f" ({w['hint']})" if w.get("hint") else ""
        out.print(f"[yellow]warning\\[{w['code']}][/]: " + escape(f"{w['message']}{hint}"), highlight=False)
    if report:
        out.print(f"report: {report}")


def _axis_text(values: list[Any]) -> str:
    shown = ", ".join("off" if v is None else str(v) for v in values[:6])
    return f"[{shown}{', ...' if len(values) > 6 else ''}] ({len(values)})"


def _top_table(res: Any) -> Any:
    from rich.markup import escape

    from ruleengine import format_metric as fmt

    cols = [("total_return_pct", "return", "%"), ("sharpe_ratio", "Sharpe", ""), ("max_drawdown_pct", "max DD", "%"),
            ("total_trades", "trades", "n"), ("win_rate", "win rate", "%"), ("profit_factor", "PF", "")]
    if res.rotation:  # a portfolio rebalanced to weights: orders, not trades
        cols = [*cols[:3], ("turnover_pct_per_year", "turnover/yr", "%"), ("exposure_pct", "exposure", "%")]
    cols = [(res.metric, res.metric, "")] + [c for c in cols if c[0] != res.metric]
    table = compact_table(f"top {min(res.top, len(res.table))} of {len(res.table):,} by {res.metric}")
    multi = res.n_symbols > 1
    for h in ["#", *(["symbol"] if multi else []), *res.grid, *[c[1] for c in cols]]:
        table.add_column(escape(h), justify="right")
    for rec in res.table.head(res.top).to_dict("records"):
        cells = [str(rec["rank"]), *([escape(str(rec["symbol"]))] if multi else []),
                 *["off" if rec[k] is None or (isinstance(rec[k], float) and math.isnan(rec[k]))
                   else escape(str(rec[k])) for k in res.grid]]
        for key, _, unit in cols:
            v = rec[key]
            v = None if v is None or (isinstance(v, float) and math.isnan(v)) else v
            cells.append(fmt(int(v) if unit == "n" and v is not None else v, unit))
        table.add_row(*cells)
    return table


#: the long/short split of the top rows (a strategy that trades short): (column suffix, header, unit) per side;
#: a side's trade count is headed by the side (80 columns)
def _sides_table(res: Any) -> Any:
    """The long/short split (trades, win rate, pnl) of the rows of `_top_table`, in its order."""
    from rich.markup import escape

    from ruleengine import SWEEP_SIDE_COLUMNS as SIDE_COLUMNS
    from ruleengine import format_metric as fmt

    multi = res.n_symbols > 1
    table = compact_table(f"long / short of the top {min(res.top, len(res.table))}: trades, win rate, pnl")
    for h in ["#", *(["symbol"] if multi else []),
              *[side if key == "trades" else label for side in ("long", "short") for key, label, _ in SIDE_COLUMNS]]:
        table.add_column(escape(h), justify="right")
    for rec in res.table.head(res.top).to_dict("records"):
        cells = [str(rec["rank"]), *([escape(str(rec["symbol"]))] if multi else [])]
        for side in ("long", "short"):
            for key, _, unit in SIDE_COLUMNS:
                v = rec[f"{side}_{key}"]
                v = None if isinstance(v, float) and math.isnan(v) else v
                cells.append(fmt(int(v) if unit == "n" and v is not None else v, unit))
        table.add_row(*cells)
    return table


def _print_overfit(console: Any, wf: Any) -> None:
    s = wf.overfit
    if s.dsr is not None:
        d = s.dsr
        ann = s.periods_per_year ** 0.5
        console.print(f"deflated Sharpe ratio {d.dsr:.4f}: best Sharpe {d.sr * ann:.3f} (annual) vs {d.sr0 * ann:.3f} "
                      f"expected from the best of {s.n_trials:,} null trials; {d.n_obs:,} bars, skew {d.skew:.2f}, "
                      f"kurtosis {d.kurtosis:.2f}")
    if s.pbo is not None:
        p = s.pbo
        console.print(f"probability of backtest overfitting {p.pbo:.4f}: CSCV over the top {p.n_configs:,} "
                      f"combinations, {p.n_splits} blocks ({p.n_combinations:,} splits); OOS loss probability "
                      f"{p.prob_oos_loss:.4f}")
    for note in s.notes:
        console.print(f"[dim]{note}[/]")


def _folds_table(wf: Any) -> Any:
    from rich.markup import escape

    from ruleengine import format_metric as fmt

    spec = wf.spec
    # 80 columns: the metric is named once in the title, each range takes two lines (start, end)
    table = compact_table(f"walk-forward: train {spec['train']}, test {spec['test']}"
                          + (f", step {spec['step']}" if spec.get("step") else "")
                          + (", anchored" if spec["anchored"] else ", rolling")
                          + f"; {wf.metric} in-sample (IS) and out-of-sample (OOS)")
    for h in ("fold", "train", "test", "chosen", "IS", "OOS", "decay"):
        table.add_column(escape(h), justify="right" if h in ("IS", "OOS", "decay") else "left")
    for i, f in enumerate(wf.folds):
        table.add_row(str(i + 1), "\n".join(f.train_dates), "\n".join(f.test_dates),
                      escape(", ".join(f"{k}={v}" for k, v in f.params.items())), fmt(f.is_metrics.get(wf.metric)),
                      fmt(f.oos_metrics.get(wf.metric)), fmt(f.decay))
    table.add_row("mean", "", "", "", fmt(wf.mean_metric("is")), fmt(wf.mean_metric("oos")), fmt(wf.mean_decay))
    return table


__all__ = ["register", "sweep_command"]
