"""The HTML report of a rotation portfolio (`RotationResult`): one self-contained file, like `report.py`'s.

Charts: the equity against the index-like benchmark and the equal-weight universe (with the drawdown below),
the holdings over time (a heatmap: each held symbol's weight after each rebalance), the turnover of each
rebalance and each symbol's contribution. Tables: the metrics, the costs, the latest holdings, the
contributions and the orders. The SYNTHETIC banner, the warnings, the fill contract and the data provenance as
in a backtest's report; the body carries the same ``data-report-status`` check (`report.REPORT_CHECK_JS`).

Example:
    >>> res = ruleengine.backtest("rules/momentum_rotation.yaml", "@sp500")  # doctest: +SKIP
    >>> write_rotation_report(res, "rotation.html")  # doctest: +SKIP
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from .report import REPORT_CHECK_JS, REPORT_CSS, fmt, html_table
from .rotation import RotationResult

#: the metrics rows of a rotation (it has orders, not round-trip trades): (field, label, unit)
ROTATION_METRICS = [
    ("total_return_pct", "Total return", "%"), ("benchmark_return_pct", "Benchmark return", "%"),
    ("universe_benchmark_return_pct", "Universe equal weight (no fees)", "%"),
    ("total_return_dollars", "Total return ($)", "$"), ("final_equity", "Final equity", "$"),
    ("cagr_pct", "CAGR", "%"), ("max_drawdown_pct", "Max drawdown", "%"), ("sharpe_ratio", "Sharpe", ""),
    ("sortino_ratio", "Sortino", ""), ("calmar_ratio", "Calmar", ""), ("exposure_pct", "Exposure", "%"),
]
#: symbols drawn in the contribution chart (the largest and the smallest); the table lists all of them
CONTRIBUTION_BARS = 40


def _equity_figure(res: RotationResult) -> Any:
    import numpy as np
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from .metrics import drawdown_pct

    x = res.times
    equity = np.asarray(res.equity, dtype=float)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.7, 0.3],
                        subplot_titles=["Equity vs benchmarks", "Drawdown (%)"])
    fig.add_trace(go.Scatter(x=x, y=equity, name="rotation", line={"color": "#1f77b4"}), row=1, col=1)
    if res.benchmark_equity is not None:
        fig.add_trace(go.Scatter(x=x, y=res.benchmark_equity, name=f"benchmark {res.benchmark.symbol}",
                                 line={"color": "#888", "dash": "dot"}), row=1, col=1)
    if res.universe_equity:
        fig.add_trace(go.Scatter(x=x, y=res.universe_equity, name="universe equal weight",
                                 line={"color": "#9467bd", "dash": "dash"}), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=-drawdown_pct(equity, res.init_cash), name="drawdown", fill="tozeroy",
                             line={"color": "#d62728"}), row=2, col=1)
    fig.update_layout(height=560, margin={"l": 60, "r": 20, "t": 40, "b": 30}, hovermode="x unified",
                      legend={"orientation": "h", "y": 1.08})
    return fig


def _holdings_figure(res: RotationResult) -> Any:
    """Each held symbol's weight (in %) after each bar with orders; blank where it is not held."""
    import plotly.graph_objects as go

    held = res.holdings
    symbols = list(dict.fromkeys(s for h in held for s in sorted(h.weights, key=lambda k: -h.weights[k])))
    z = [[h.weights[s] * 100 if s in h.weights else None for h in held] for s in symbols]
    top = 100 * max((max(h.weights.values(), default=0.0) for h in held), default=1.0)
    fig = go.Figure(go.Heatmap(x=[h.time for h in held], y=symbols, z=z, colorscale="Blues", zmin=0, zmax=top,
                               colorbar={"title": "weight %"}, hoverongaps=False,
                               hovertemplate="%{y} %{x}: %{z:.1f} %<extra></extra>"))
    fig.update_layout(title="Holdings over time (weight after each rebalance's orders)",
                      height=max(300, min(1600, 60 + 14 * len(symbols))),
                      margin={"l": 80, "r": 20, "t": 40, "b": 30}, yaxis={"autorange": "reversed"})
    return fig


def _turnover_figure(res: RotationResult) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=[h.time for h in res.holdings], y=[h.turnover_pct for h in res.holdings],
                           name="turnover", marker={"color": "#ff7f0e"}))
    fig.update_layout(title="Turnover per rebalance (value traded / equity, %)", height=280,
                      margin={"l": 60, "r": 20, "t": 40, "b": 30})
    return fig


def _contribution_figure(res: RotationResult) -> Any:
    import plotly.graph_objects as go

    rows = res.contribution
    half = CONTRIBUTION_BARS // 2
    shown = rows if len(rows) <= CONTRIBUTION_BARS else [*rows[:half], *rows[-half:]]
    fig = go.Figure(go.Bar(x=[c.pnl for c in shown], y=[c.symbol for c in shown], orientation="h",
                           marker={"color": ["#2ca02c" if c.pnl >= 0 else "#d62728" for c in shown]},
                           hovertemplate="%{y}: %{x:,.2f}<extra></extra>"))
    title = "Contribution by symbol (pnl, fees included)" + ("" if shown is rows else
                                                             f": the {half} largest and {half} smallest")
    fig.update_layout(title=title, height=max(280, 60 + 16 * len(shown)), yaxis={"autorange": "reversed"},
                      margin={"l": 80, "r": 20, "t": 40, "b": 30})
    return fig


def _orders_table(res: RotationResult, limit: int = 300) -> str:
    if not res.orders:
        return "<p class='muted'>No orders.</p>"
    rows = [[o.time, html.escape(o.symbol), f"{o.units:,.4f}", f"{o.price:,.4f}", f"{o.value:,.2f}",
             f"{o.fees:,.2f}", html.escape(o.reason)] for o in res.orders[-limit:]]
    more = (f"<p class='muted'>The last {limit} of {len(res.orders)} orders; all of them in the JSON output.</p>"
            if len(res.orders) > limit else "")
    return more + html_table(["time", "symbol", "units", "price", "value", "fees", "reason"], rows, {2, 3, 4, 5})


def render_rotation_report(res: RotationResult, *, title: str | None = None) -> str:
    """The report as one HTML document (plotly.js inline, once)."""
    name = title or f"Rotation backtest: {res.strategy}"
    figures = [_equity_figure(res)]
    if res.holdings:
        figures += [_holdings_figure(res), _turnover_figure(res)]
    if res.contribution:
        figures.append(_contribution_figure(res))
    charts = [fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"rotation-{i}",
                          config={"displaylogo": False, "responsive": True}) for i, fig in enumerate(figures)]
    m = res.metrics.model_dump()
    metrics = [[html.escape(label if key != "benchmark_return_pct" else f"Benchmark {res.benchmark.symbol}"),
                fmt(m[key], unit)] for key, label, unit in ROTATION_METRICS
               if key != "benchmark_return_pct" or res.benchmark.symbol is not None]
    metrics.append(["Turnover per year", fmt(res.turnover_pct_per_year, "%")])
    metrics.append(["Orders", fmt(len(res.orders), "n")])
    costs = [[html.escape(k), html.escape(str(v))] for k, v in {**res.params, **res.costs}.items()]
    latest = next((h for h in reversed(res.holdings) if h.weights), None)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(name)}</title>",
             f"<style>{REPORT_CSS}</style></head><body data-report-status='loading' data-charts='{len(charts)}'>",
             REPORT_CHECK_JS, f"<h1>{html.escape(name)}</h1>",
             (f"<p class='muted'>{html.escape(res.start)} .. {html.escape(res.end)}, a universe of "
              f"{len(res.symbols)} symbols, initial cash {res.init_cash:,.2f}; benchmark: "
              f"{html.escape(str(res.benchmark.symbol))}; data: "
              f"{html.escape(res.data.sources() if res.data is not None else 'not recorded')}</p>")]
    if res.synthetic:
        parts.append("<div class='banner'>SYNTHETIC DATA: these are not the symbols' real prices "
                     "(sample provider). Do not read anything into the numbers.</div>")
    parts += [f"<div class='warn'><b>{html.escape(str(w.get('code')))}</b> {html.escape(str(w.get('message')))}"
              "</div>" for w in res.warnings]
    parts += [charts[0], "<div class='grid'>", html_table(["metric", "value"], metrics, {1}),
              html_table(["parameter / cost", "value"], costs), "</div>"]
    if latest is not None:
        parts += [f"<h2>Latest holdings (after the orders of {html.escape(latest.time)})</h2>",
                  html_table(["symbol", "weight"], [[html.escape(s), f"{w * 100:.2f} %"] for s, w in
                                                    sorted(latest.weights.items(), key=lambda kv: -kv[1])], {1})]
    parts += charts[1:]
    if res.contribution:
        parts += ["<h2>Contribution by symbol</h2>",
                  html_table(["symbol", "pnl", "of initial cash"], [[html.escape(c.symbol), f"{c.pnl:,.2f}",
                                                                     f"{c.pnl_pct:.2f} %"] for c in res.contribution],
                             {1, 2})]
    parts += ["<h2>Orders</h2>", _orders_table(res), "<h2>Fill contract</h2>",
              f"<pre>{html.escape(res.fill_contract)}</pre>"]
    if res.data is not None:
        parts += ["<h2>Provenance</h2>", html_table(["field", "value"], [
            [html.escape(k), html.escape(str(v))] for k, v in res.data.model_dump(mode="json").items()])]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_rotation_report(res: RotationResult, path: str | Path, **kwargs: Any) -> str:
    """Write `render_rotation_report(res)` to `path`; returns the path written."""
    out = Path(path)
    out.write_text(render_rotation_report(res, **kwargs), encoding="utf-8")
    return str(out)


__all__ = ["ROTATION_METRICS", "render_rotation_report", "write_rotation_report"]
