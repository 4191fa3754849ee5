"""The HTML report of a sweep: one self-contained file (plotly.js inline, so it works offline).

Shows: the SYNTHETIC banner when the data were synthetic, the run summary (grid size, trials, time,
combinations per second), a heatmap of the metric over two parameters (the best value over the other
parameters in each cell; by default the two swept parameters with the most values), parameter-stability
plots (the best and the median metric for each value of each parameter), the top combinations (and their
long/short split when the strategy trades short), the warnings (L123 of each walk-forward test run too), the
walk-forward folds (in-sample vs out-of-sample metric per fold) and the stitched out-of-sample equity, the
hold-out, and the overfitting statistics (DSR, PBO with the histogram of its logits).

Like `ruleengine.backtest.report`, a small script marks ``<body data-report-status="ok N">`` once all N
charts have drawn their traces (``error ...`` on a JavaScript error or an empty chart), so that a headless
browser can check the file.

Example:
    >>> wf = walk_forward("rules/golden_cross.yaml", "SPY", provider="sample")  # doctest: +SKIP
    >>> write_sweep_report(wf, "sweep.html")  # doctest: +SKIP
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..backtest.report import REPORT_CHECK_JS, REPORT_CSS, fmt, html_table
from .stats import LOWER_IS_BETTER, SIDE_COLUMNS, SIDE_METRICS

_TOP_METRICS = [("total_return_pct", "return", "%"), ("sharpe_ratio", "Sharpe", ""),
                ("max_drawdown_pct", "max DD", "%"), ("cagr_pct", "CAGR", "%"), ("total_trades", "trades", "n"),
                ("win_rate", "win rate", "%"), ("profit_factor", "profit factor", "")]
#: a rotation portfolio's instead (it has orders to target weights, not trades)
_ROTATION_METRICS = [*_TOP_METRICS[:4], ("turnover_pct_per_year", "turnover / year", "%"),
                     ("exposure_pct", "exposure", "%")]


def _top_metrics(sweep: Any) -> list[tuple[str, str, str]]:
    return _ROTATION_METRICS if getattr(sweep, "rotation", False) else _TOP_METRICS


def _label(value: Any) -> str:
    """A parameter value as an axis label ('off' for a switched-off risk value)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else str(value)
    return str(value)


def _num(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def heatmap_axes(sweep: Any, axes: Sequence[str] | None = None) -> tuple[str, str] | None:
    """The two parameters of the heatmap: `axes`, or the two swept ones with the most values (grid order on
    ties); None when fewer than two parameters take several values."""
    if axes is not None:
        x, y = axes
        for name in (x, y):
            if name not in sweep.grid:
                from ..errors import Diagnostic, RuleEngineError, did_you_mean

                raise RuleEngineError([Diagnostic("D122", f"'{name}' is not swept: no heatmap over it",
                                                  path="heatmap", hint=did_you_mean(name, sweep.grid)
                                                  or "swept: " + ", ".join(sweep.grid))])
        return str(x), str(y)
    varied = sorted((n for n, v in sweep.grid.items() if len(v) > 1), key=lambda n: -len(sweep.grid[n]))
    return (varied[0], varied[1]) if len(varied) >= 2 else None


def _best(values: Any, metric: str) -> float | None:
    vals = [v for v in (_num(x) for x in values) if v is not None]
    if not vals:
        return None
    return min(vals) if metric in LOWER_IS_BETTER else max(vals)


def _heatmap(sweep: Any, x: str, y: str) -> Any:
    import plotly.graph_objects as go

    frame = sweep.by_combination
    xs, ys = [_label(v) for v in sweep.grid[x]], [_label(v) for v in sweep.grid[y]]
    cells: dict[tuple[str, str], list[Any]] = {}
    for xv, yv, m in zip(frame[x].tolist(), frame[y].tolist(), frame[sweep.metric].tolist(), strict=True):
        cells.setdefault((_label(xv), _label(yv)), []).append(m)
    z = [[_best(cells.get((a, b), []), sweep.metric) for a in xs] for b in ys]
    reverse = sweep.metric in LOWER_IS_BETTER
    fig = go.Figure(go.Heatmap(x=xs, y=ys, z=z, colorscale="RdYlGn", reversescale=reverse, hoverongaps=False,
                               colorbar={"title": sweep.metric},
                               hovertemplate=f"{x}=%{{x}}<br>{y}=%{{y}}<br>{sweep.metric}=%{{z:.4g}}<extra></extra>"))
    others = [n for n in sweep.grid if n not in (x, y) and len(sweep.grid[n]) > 1]
    note = f" (best over {', '.join(others)})" if others else ""
    fig.update_layout(title=f"{sweep.metric} by {x} and {y}{note}", height=520,
                      xaxis={"title": x, "type": "category"}, yaxis={"title": y, "type": "category"},
                      margin={"l": 70, "r": 20, "t": 50, "b": 50})
    return fig


def _stability(sweep: Any) -> Any:
    import numpy as np
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = [n for n, v in sweep.grid.items() if len(v) > 1]
    frame = sweep.by_combination
    cols = 2 if len(names) > 1 else 1
    rows = math.ceil(len(names) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names, vertical_spacing=min(0.12, 0.6 / rows))
    for i, name in enumerate(names):
        groups: dict[str, list[float]] = {_label(v): [] for v in sweep.grid[name]}
        for v, m in zip(frame[name].tolist(), frame[sweep.metric].tolist(), strict=True):
            if _num(m) is not None:
                groups.setdefault(_label(v), []).append(float(m))
        xs = list(groups)
        best = [_best(groups[k], sweep.metric) for k in xs]
        median = [float(np.median(groups[k])) if groups[k] else None for k in xs]
        r, c = i // cols + 1, i % cols + 1
        fig.add_trace(go.Scatter(x=xs, y=best, mode="lines+markers", name="best", legendgroup="best",
                                 showlegend=i == 0, line={"color": "#1f77b4"}), row=r, col=c)
        fig.add_trace(go.Scatter(x=xs, y=median, mode="lines+markers", name="median", legendgroup="median",
                                 showlegend=i == 0, line={"color": "#ff7f0e", "dash": "dot"}), row=r, col=c)
        fig.update_xaxes(type="category", row=r, col=c)
    fig.update_layout(height=max(320, 280 * rows), title=f"Parameter stability: {sweep.metric} per value "
                      "(best and median over the other parameters)", margin={"l": 60, "r": 20, "t": 70, "b": 40})
    return fig


def _folds_chart(wf: Any) -> Any:
    import plotly.graph_objects as go

    xs = [f"{i + 1}: {f.test_dates[0]}" for i, f in enumerate(wf.folds)]
    fig = go.Figure([go.Bar(x=xs, y=[f.is_metrics.get(wf.metric) for f in wf.folds], name="in-sample (train)",
                            marker={"color": "#1f77b4"}),
                     go.Bar(x=xs, y=[f.oos_metrics.get(wf.metric) for f in wf.folds],
                            name="out-of-sample (test)", marker={"color": "#ff7f0e"})])
    fig.update_layout(barmode="group", height=380, title=f"Walk-forward: {wf.metric} of the chosen parameters",
                      xaxis={"title": "fold: first test bar", "type": "category"},
                      margin={"l": 60, "r": 20, "t": 50, "b": 60})
    return fig


def _stitched_chart(wf: Any, max_lines: int) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    frame = wf.stitched
    times = [t.isoformat() for t in frame.index]
    for label in list(frame.columns)[:max_lines]:
        fig.add_trace(go.Scatter(x=times, y=frame[label].tolist(), name=str(label), mode="lines"))
    import pandas as pd

    for f in wf.folds[1:]:  # fold boundaries: each test window starts flat with the initial cash
        at = frame.index.searchsorted(pd.Timestamp(f.test_dates[0], tz="UTC"))
        if at < len(frame.index):
            fig.add_vline(x=times[at], line={"color": "#bbb", "dash": "dot"})
    fig.update_layout(height=380, title="Stitched out-of-sample equity (test windows chained)",
                      margin={"l": 60, "r": 20, "t": 50, "b": 40}, hovermode="x unified")
    return fig


def _pbo_chart(pbo: Any) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure(go.Histogram(x=[float(v) for v in pbo.lambdas], nbinsx=40, marker={"color": "#7f7f7f"},
                                 name="logit"))
    fig.add_vline(x=0, line={"color": "#d62728"})
    fig.update_layout(height=320, title=f"CSCV: logit of the in-sample winner's OOS rank (PBO = share <= 0: "
                      f"{pbo.pbo:.3f})", xaxis={"title": "lambda"}, yaxis={"title": "combinations"},
                      margin={"l": 60, "r": 20, "t": 50, "b": 40}, showlegend=False)
    return fig


def _top_table(sweep: Any, n: int) -> str:
    frame = sweep.table.head(n)
    multi = sweep.n_symbols > 1
    names = list(sweep.grid)
    headers = ["rank", *(["symbol"] if multi else []), *names, sweep.metric,
               *[label for key, label, _ in _top_metrics(sweep) if key != sweep.metric]]
    rows = []
    for rec in frame.to_dict("records"):
        row = [str(rec["rank"]), *([html.escape(str(rec["symbol"]))] if multi else []),
               *[html.escape(_label(rec[k])) for k in names], fmt(_num(rec[sweep.metric]))]
        for key, _, unit in _top_metrics(sweep):
            if key != sweep.metric:
                v = _num(rec[key])
                row.append(fmt(int(v) if unit == "n" and v is not None else v, unit))
        rows.append(row)
    first = 1 + multi + len(names)
    return html_table(headers, rows, set(range(first, len(headers))))


def _sides_table(sweep: Any, n: int) -> str:
    """The long/short split (trades, win rate, pnl per side) of the rows of `_top_table`, in its order."""
    multi = sweep.n_symbols > 1
    headers = ["rank", *(["symbol"] if multi else []),
               *[f"{side} {label}" for side in ("long", "short") for _, label, _ in SIDE_COLUMNS]]
    rows = []
    for rec in sweep.table.head(n).to_dict("records"):
        row = [str(rec["rank"]), *([html.escape(str(rec["symbol"]))] if multi else [])]
        for side in ("long", "short"):
            for key, _, unit in SIDE_COLUMNS:
                v = _num(rec[f"{side}_{key}"])
                row.append(fmt(int(v) if unit == "n" and v is not None else v, unit))
        rows.append(row)
    first = 1 + multi
    return html_table(headers, rows, set(range(first, len(headers))))


def _folds_table(wf: Any) -> str:
    rows = []
    for i, f in enumerate(wf.folds):
        params = ", ".join(f"{k}={_label(v)}" for k, v in f.params.items())
        rows.append([str(i + 1), f"{f.train_dates[0]} .. {f.train_dates[1]} ({f.fold.train_len})",
                     f"{f.test_dates[0]} .. {f.test_dates[1]} ({f.fold.test_len})", html.escape(params),
                     fmt(f.is_metrics.get(wf.metric)), fmt(f.oos_metrics.get(wf.metric)), fmt(f.decay)])
    rows.append(["mean", "", "", "", fmt(wf.mean_metric("is")), fmt(wf.mean_metric("oos")), fmt(wf.mean_decay)])
    return html_table(["fold", "train (bars)", "test (bars)", "chosen", f"IS {wf.metric}", f"OOS {wf.metric}",
                   "decay (OOS/IS)"], rows, {4, 5, 6})


def _stitched_table(wf: Any) -> str:
    rows = [[html.escape(label), m["start"], m["end"], str(m["bars"]), fmt(m["total_return_pct"], "%"),
             fmt(m["cagr_pct"], "%"), fmt(m["sharpe_ratio"]), fmt(m["max_drawdown_pct"], "%")]
            for label, m in wf.stitched_metrics.items()]
    return html_table(["run", "from", "to", "bars", "return", "CAGR", "Sharpe", "max DD"], rows, {3, 4, 5, 6, 7})


def _holdout_table(wf: Any) -> str:
    h = wf.holdout
    rows = [[html.escape(label), fmt(h["is"].get(key), unit), fmt(h["oos"].get(key), unit)]
            for key, label, unit in _top_metrics(wf.sweep)]
    params = ", ".join(f"{k}={_label(v)}" for k, v in h["params"].items())
    return (f"<p>Unseen bars {h['start']} .. {h['end']} ({h['bars']}); parameters chosen on everything before: "
            f"<b>{html.escape(params)}</b>; decay {fmt(h['decay'])}.</p>"
            + html_table(["metric", "in-sample", "hold-out"], rows, {1, 2}))


def _overfit_table(stats: Any) -> str:
    rows = [["trials N (combinations evaluated)", f"{stats.n_trials:,}"], ["grid size", f"{stats.grid_size:,}"]]
    d = stats.dsr
    if d is not None:
        ann = math.sqrt(stats.periods_per_year)
        rows += [["best Sharpe ratio (per bar / annual)", f"{d.sr:.4f} / {d.sr * ann:.3f}"],
                 ["SR0: expected max Sharpe of N null trials (per bar / annual)", f"{d.sr0:.4f} / {d.sr0 * ann:.3f}"],
                 ["variance of the trials' per-bar Sharpe", f"{d.var_trials_sr:.3g}"],
                 ["bars T, skewness, kurtosis", f"{d.n_obs:,}, {d.skew:.3f}, {d.kurtosis:.3f}"],
                 ["<b>deflated Sharpe ratio</b> P(true SR > SR0)", f"<b>{d.dsr:.4f}</b>"]]
    p = stats.pbo
    if p is not None:
        rows += [["PBO configurations (top by the metric), blocks S", f"{p.n_configs:,}, {p.n_splits}"],
                 ["CSCV combinations C(S, S/2), rows per block", f"{p.n_combinations:,}, {p.block_rows:,}"],
                 ["<b>probability of backtest overfitting</b>", f"<b>{p.pbo:.4f}</b>"],
                 ["OOS vs IS slope, probability of OOS loss", f"{fmt(_num(p.slope))}, {p.prob_oos_loss:.4f}"]]
    rows += [["note", html.escape(n)] for n in stats.notes]
    return html_table(["statistic", "value"], rows, {1})


def render_sweep_report(result: Any, *, heatmap: Sequence[str] | None = None, top: int | None = None,
                        title: str | None = None, max_lines: int = 10) -> str:
    """The report as one HTML document (plotly.js inline).

    Args:
        result: a `WalkForwardResult` (sweep, overfitting, folds, hold-out) or a bare `SweepResult`.
        heatmap: the two parameters of the heatmap (default: the two with the most values).
        top: rows of the top table (default the sweep's `top`).
        title: the page title; max_lines: symbols drawn in the stitched equity chart.
    """
    sweep = getattr(result, "sweep", result)
    wf = result if sweep is not result else None
    ctx = sweep.context
    strat = ctx.get("strategy")
    name = getattr(getattr(strat, "strategy", strat), "name", None) or "strategy"
    head = title or f"Sweep: {name}"
    figs: list[tuple[str, Any]] = []
    sections: list[str] = []
    synthetic = (wf.synthetic if wf is not None else False) or any(w.get("code") == "D120" for w in sweep.warnings)
    rows = ctx.get("rows")
    summary = (f"<p class='muted'>{html.escape(str(ctx.get('start')))} .. {html.escape(str(ctx.get('end')))} "
               f"({'' if rows is None else f'{rows[1] - rows[0]:,} '}{html.escape(sweep.frequency)} bars), "
               f"{sweep.n_symbols} symbol(s): {html.escape(', '.join(list(ctx.get('runs', {}))[:20]))}; "
               f"initial cash {sweep.init_cash:,.2f}</p>"
               f"<p>Ranked by <b>{html.escape(sweep.metric)}</b> "
               f"({'lowest' if sweep.metric in LOWER_IS_BETTER else 'highest'} first). Grid: "
               f"{html.escape('; '.join(f'{k}: {len(v)} values' for k, v in sweep.grid.items()) or 'none')}"
               f"{' with ' + html.escape(' and '.join(sweep.constraints)) if sweep.constraints else ''}; "
               f"{sweep.n_trials:,} combinations evaluated in {sweep.elapsed:.2f} s "
               f"({sweep.rate_text()} combinations/s). Best: <b>"
               f"{html.escape(', '.join(f'{k}={_label(v)}' for k, v in sweep.best.items() if k in sweep.grid))}"
               "</b></p>")
    sections.append(summary)
    axes = heatmap_axes(sweep, heatmap)
    if axes is not None:
        figs.append(("Heatmap", _heatmap(sweep, *axes)))
    if any(len(v) > 1 for v in sweep.grid.values()):
        figs.append(("Parameter stability", _stability(sweep)))
    charts = dict(figs)
    n_top = top or sweep.top
    parts_after: list[str] = [f"<h2>Top {min(n_top, len(sweep.table))} of {len(sweep.table):,}</h2>",
                              _top_table(sweep, n_top)]
    if set(SIDE_METRICS) <= set(sweep.table.columns):  # a strategy that trades short: the long/short split
        parts_after += [f"<h3>Long / short of the top {min(n_top, len(sweep.table))}</h3>",
                        _sides_table(sweep, n_top)]
    if wf is not None and wf.folds:
        charts["Walk-forward folds"] = _folds_chart(wf)
        charts["Stitched out-of-sample equity"] = _stitched_chart(wf, max_lines)
    overfit = getattr(wf, "overfit", None)
    if overfit is not None and overfit.pbo is not None:
        charts["Overfitting"] = _pbo_chart(overfit.pbo)
    html_charts = {t: fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{i}",
                                  config={"displaylogo": False, "responsive": True})
                   for i, (t, fig) in enumerate(charts.items())}
    body = [f"<h1>{html.escape(head)}</h1>"]
    if synthetic:
        body.append("<div class='banner'>SYNTHETIC DATA: these are not the symbols' real prices (sample "
                    "provider). Do not read anything into the numbers.</div>")
    body += sections
    for w in (wf.warnings if wf is not None else sweep.warnings):
        body.append(f"<div class='warn'><b>{html.escape(str(w.get('code')))}</b> "
                    f"{html.escape(str(w.get('message')))}</div>")
    for t in ("Heatmap", "Parameter stability"):
        if t in html_charts:
            body += [f"<h2>{t}</h2>", html_charts[t]]
    body += parts_after
    if wf is not None and wf.folds:
        spec = wf.spec or {}
        body += ["<h2>Walk-forward</h2>",
                 (f"<p class='muted'>train {spec.get('train')} bars, test {spec.get('test')} bars, step "
                  f"{spec.get('step') or spec.get('test')}, {'anchored' if spec.get('anchored') else 'rolling'}; "
                  "re-optimised on each training window, the chosen parameters run on the next test window "
                  "(flat at its start, with the history before it).</p>"),
                 html_charts["Walk-forward folds"], _folds_table(wf),
                 "<h3>Stitched out-of-sample equity</h3>", html_charts["Stitched out-of-sample equity"],
                 _stitched_table(wf)]
    if wf is not None and wf.holdout is not None:
        body += ["<h2>Hold-out</h2>", _holdout_table(wf)]
    if overfit is not None:
        body += ["<h2>Overfitting statistics</h2>", _overfit_table(overfit)]
        if "Overfitting" in html_charts:
            body.append(html_charts["Overfitting"])
    script = ""
    if html_charts:  # plotly.js once, inline: the file works offline
        from plotly.offline import get_plotlyjs

        script = f"<script type='text/javascript'>{get_plotlyjs()}</script>"
    doc = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(head)}</title>",
           f"<style>{REPORT_CSS}</style>{script}</head>"
           f"<body data-report-status='loading' data-charts='{len(html_charts)}'>",
           REPORT_CHECK_JS, *body, "</body></html>"]
    return "\n".join(doc)


def write_sweep_report(result: Any, path: str | Path, **kwargs: Any) -> str:
    """Write `render_sweep_report(result)` to `path`; returns the path written."""
    out = Path(path)
    out.write_text(render_sweep_report(result, **kwargs), encoding="utf-8")
    return str(out)


__all__ = ["heatmap_axes", "render_sweep_report", "write_sweep_report"]
