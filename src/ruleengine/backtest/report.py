"""The HTML report of a backtest: one self-contained file (plotly.js inline, so it works offline).

Per run: equity against the benchmark (and a universe's equal-weight buy and hold), drawdown, the traded
price with entry/exit markers (a short's entry marked apart from a long's), the metrics, the long/short split
of the trade statistics (a strategy that trades short), the resolved risk (defaults marked) and the trade
table (with each trade's side when one is short); once: the SYNTHETIC banner when any data were synthetic,
the warnings, a table of all runs for a universe, the fill contract and the provenance. A universe shows
charts for its first `max_runs` runs (the table lists every run).

A small script marks ``<body data-report-status="ok N">`` once every chart has drawn its traces (or
``error ...`` on a JavaScript error or an empty chart), so that a headless browser can check the file.

Example:
    >>> res = ruleengine.backtest("rules/golden_cross.yaml", "SPY")  # doctest: +SKIP
    >>> write_report(res, "report.html")  # doctest: +SKIP
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from .result import BacktestResult, RunResult

REPORT_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0} td,th{border:1px solid #ddd;padding:3px 8px}
th{background:#f4f4f4;text-align:left} td.num{text-align:right;font-variant-numeric:tabular-nums}
.banner{background:#b00020;color:#fff;padding:12px 16px;font-weight:bold;font-size:16px;margin:12px 0}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:6px 10px;margin:4px 0;font-size:13px}
pre{background:#f7f7f7;padding:10px;font-size:12px;white-space:pre-wrap} .muted{color:#777;font-size:12px}
.grid{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
"""

# Marks the body 'ok N' once all N charts (body data-charts) drew a trace, else 'error ...'. Every trace type
# the reports use (scatter, bar, heatmap) draws into one of these layers; a chart without one is empty.
REPORT_CHECK_JS = """
<script>
(function(){
  function mark(s){document.body.setAttribute('data-report-status', s);}
  window.addEventListener('error', function(e){mark('error ' + (e.message || 'script error'));});
  window.addEventListener('load', function(){
    if ((document.body.getAttribute('data-report-status') || '').indexOf('error') === 0) return;
    var plots = document.querySelectorAll('.js-plotly-plot');
    var expected = parseInt(document.body.getAttribute('data-charts') || '0', 10);
    var empty = 0;
    plots.forEach(function(p){
      var traces = (p.data || []).length;
      var svg = p.querySelector('svg.main-svg');
      var drawn = p.querySelectorAll('.scatterlayer .trace, .barlayer .trace, .heatmaplayer .hm').length;
      if (!traces || !svg || !drawn) empty += 1;
    });
    mark(empty || plots.length !== expected ? 'error ' + empty + ' empty of ' + plots.length + ' charts'
                                            : 'ok ' + plots.length);
  });
})();
</script>
"""

_METRIC_LABELS = [
    ("total_return_pct", "Total return", "%"), ("benchmark_return_pct", "Benchmark return", "%"),
    ("universe_benchmark_return_pct", "Universe equal weight (no fees)", "%"),
    ("total_return_dollars", "Total return ($)", "$"), ("final_equity", "Final equity", "$"),
    ("cagr_pct", "CAGR", "%"), ("max_drawdown_pct", "Max drawdown", "%"), ("sharpe_ratio", "Sharpe", ""),
    ("sortino_ratio", "Sortino", ""), ("calmar_ratio", "Calmar", ""), ("exposure_pct", "Exposure", "%"),
    ("total_trades", "Trades", "n"), ("winning_trades", "Winning", "n"), ("losing_trades", "Losing", "n"),
    ("win_rate", "Win rate", "%"), ("avg_win_pct", "Avg win", "%"), ("avg_loss_pct", "Avg loss", "%"),
    ("profit_factor", "Profit factor", ""), ("best_trade_pct", "Best trade", "%"),
    ("worst_trade_pct", "Worst trade", "%"), ("avg_holding_bars", "Avg holding (bars)", ""),
    ("avg_holding_days", "Avg holding (days)", ""),
]


def fmt(value: Any, unit: str = "") -> str:
    """A metric as text: None as an em dash, percentages with 2 decimals, money with thousands separators."""
    if value is None:
        return "\u2014"
    if unit == "n" or (isinstance(value, int) and not isinstance(value, bool)):
        return f"{int(value):,}"
    if unit == "%":
        return f"{value:,.2f} %"
    if unit == "$":
        return f"{value:,.2f}"
    return f"{value:,.3f}"


def _figure(run: RunResult) -> Any:
    import numpy as np
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from .metrics import drawdown_pct

    x = list(run.equity.time)  # plotly takes lists and arrays, not any sequence
    equity = np.asarray(run.equity.value, dtype=float)
    init = run.metrics.final_equity - run.metrics.total_return_dollars
    chart = run._chart
    has_price = chart is not None and chart.close is not None
    rows = 3 if has_price else 2
    titles = ["Equity vs benchmark", "Drawdown (%)"] + ([f"Price: {run.label}"] if has_price else [])
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.06, subplot_titles=titles,
                        row_heights=[0.45, 0.2, 0.35][:rows])
    fig.add_trace(go.Scatter(x=x, y=equity, name="strategy", line={"color": "#1f77b4"}), row=1, col=1)
    bench = None if chart is None else chart.benchmark_equity
    if bench is not None:
        fig.add_trace(go.Scatter(x=x, y=np.asarray(bench, dtype=float), name=f"benchmark {run.benchmark.symbol}",
                                 line={"color": "#888", "dash": "dot"}), row=1, col=1)
    universe = None if chart is None else chart.universe_equity
    if universe is not None:
        fig.add_trace(go.Scatter(x=x, y=np.asarray(universe, dtype=float), name="universe equal weight",
                                 line={"color": "#9467bd", "dash": "dash"}), row=1, col=1)
    fig.add_trace(go.Scatter(x=x, y=-drawdown_pct(equity, init), name="drawdown", fill="tozeroy",
                             line={"color": "#d62728"}), row=2, col=1)
    if has_price:
        fig.add_trace(go.Scatter(x=x, y=np.asarray(chart.close, dtype=float), name="close",
                                 line={"color": "#333", "width": 1}), row=3, col=1)
        for side, entries in _entries_by_side(run):
            short = side == "short"
            fig.add_trace(go.Scatter(
                x=[t.entry_time for t in entries], y=[t.entry_price for t in entries], mode="markers",
                name="short entry" if short else "entry",
                marker={"symbol": "diamond" if short else "triangle-up", "size": 9,
                        "color": "#ff7f0e" if short else "#2ca02c"},
                text=[f"{'sell short' if short else 'entry'} {t.entry_price:.4g}" for t in entries],
                hoverinfo="x+text"), row=3, col=1)
        if run.trades:
            fig.add_trace(go.Scatter(
                x=[t.exit_time for t in run.trades], y=[t.exit_price for t in run.trades], mode="markers",
                name="exit", marker={"symbol": "triangle-down", "size": 9, "color": "#d62728"},
                text=[f"exit {t.exit_price:.4g} ({t.exit_reason}, {t.pnl_pct:+.2f} %)" for t in run.trades],
                hoverinfo="x+text"), row=3, col=1)
    fig.update_layout(height=300 * rows, margin={"l": 60, "r": 20, "t": 40, "b": 30}, hovermode="x unified",
                      legend={"orientation": "h", "y": 1.06})
    return fig


def _entries_by_side(run: RunResult) -> list[tuple[str, list[Any]]]:
    """The run's trades by side, for the entry markers: one group ("long", all trades) for a long run."""
    if not run.trades:
        return []
    if run.sides is None:
        return [("long", list(run.trades))]
    return [(side, trades) for side in ("long", "short")
            if (trades := [t for t in run.trades if t.direction == side])]


def html_table(headers: list[str], rows: list[list[str]], numeric: set[int] | None = None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td class='num'>{c}</td>" if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _metrics_table(run: RunResult) -> str:
    m = run.metrics.model_dump()  # leaves out the universe benchmark of a single-symbol run: no row for it
    return html_table(["metric", "value"], [[html.escape(label), fmt(m[k], unit)] for k, label, unit in _METRIC_LABELS
                                            if k in m], {1})


#: the columns of the long/short table: (SideMetrics field, header, unit)
SIDE_COLUMNS = [("total_trades", "trades", "n"), ("winning_trades", "winning", "n"), ("win_rate", "win rate", "%"),
                ("pnl", "pnl", "$"), ("profit_factor", "profit factor", ""), ("avg_win_pct", "avg win", "%"),
                ("avg_loss_pct", "avg loss", "%"), ("best_trade_pct", "best", "%"), ("worst_trade_pct", "worst", "%"),
                ("avg_holding_bars", "avg bars", "")]


def _sides_table(run: RunResult) -> str:
    """The long/short split of the trade statistics (empty for a long strategy's run)."""
    if run.sides is None:
        return ""
    rows = [[side] + [fmt(getattr(m, k), unit) for k, _, unit in SIDE_COLUMNS] for side, m in run.sides.items()]
    return "<h3>Long / short</h3>" + html_table(["side"] + [h for _, h, _ in SIDE_COLUMNS], rows,
                                                set(range(1, len(SIDE_COLUMNS) + 1)))


def _risk_table(run: RunResult) -> str:
    from .risk import risk_label, shown_risk_fields

    rows = [[html.escape(k), html.escape(risk_label(run.risk, k))] for k in shown_risk_fields(run.risk)]
    rows.append(["execution_price", html.escape(str(run.risk.get("execution_price")))])
    if run.pair is not None:
        rows.append(["pair", html.escape(run.pair.describe(run.symbols))])
    return html_table(["risk", "value"], rows)


def _trades_table(run: RunResult, limit: int = 300) -> str:
    if not run.trades:
        return "<p class='muted'>No trades.</p>"
    cols = ["symbol", "entry_time", "exit_time", "entry_price", "exit_price", "size", "pnl", "pnl_pct",
            "exit_reason"]
    rows = [[html.escape(t.symbol), t.entry_time, t.exit_time, f"{t.entry_price:,.4f}", f"{t.exit_price:,.4f}",
             f"{t.size:,.4f}", f"{t.pnl:,.2f}", f"{t.pnl_pct:+.2f} %", html.escape(t.exit_reason)]
            for t in run.trades[:limit]]
    if any(t.direction == "short" for t in run.trades):  # a long-only report's table stays as it was
        cols.append("direction")
        for row, t in zip(rows, run.trades, strict=False):
            row.append(t.direction)
    if any(t.legs for t in run.trades):  # a pair: each leg's side, fills, size and P&L
        cols.append("legs")
        for row, t in zip(rows, run.trades, strict=False):
            row.append("<br>".join(f"{html.escape(leg.symbol)} {leg.side}: {leg.entry_price:,.4f} -> "
                                   f"{leg.exit_price:,.4f} x {leg.size:,.4f}, pnl {leg.pnl:,.2f}"
                                   for leg in t.legs or []))
    more = (f"<p class='muted'>{len(run.trades) - limit} more trades in the JSON output.</p>"
            if len(run.trades) > limit else "")
    return html_table(cols, rows, {3, 4, 5, 6, 7}) + more


def _runs_table(result: BacktestResult) -> str:
    rows = []
    for r in result.results:
        m = r.metrics
        rows.append([html.escape(r.label), fmt(m.total_trades, "n"), fmt(m.win_rate, "%"),
                     fmt(m.total_return_pct, "%"), fmt(m.benchmark_return_pct, "%"),
                     fmt(m.universe_benchmark_return_pct, "%"), fmt(m.max_drawdown_pct, "%"), fmt(m.sharpe_ratio)])
    return html_table(["run", "trades", "win rate", "return", "benchmark", "universe equal weight", "max drawdown",
                       "sharpe"], rows, {1, 2, 3, 4, 5, 6, 7})


def render_report(result: BacktestResult, *, max_runs: int = 10, title: str | None = None) -> str:
    """The report as one HTML document (plotly.js inline)."""
    p = result.provenance
    name = title or f"Backtest: {p.strategy_name}"
    shown = result.results[:max_runs]
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(name)}</title>",
             f"<style>{REPORT_CSS}</style></head><body data-report-status='loading' data-charts='{len(shown)}'>",
             REPORT_CHECK_JS,
             f"<h1>{html.escape(name)}</h1>",
             (f"<p class='muted'>{html.escape(str(p.start))} .. {html.escape(str(p.end))} "
              f"({html.escape(str(p.frequency))} bars), initial cash {p.init_cash:,.2f}, engine "
              f"{html.escape(p.engine)}{', one portfolio' if p.portfolio else ''}; strategy sha256 "
              f"{p.strategy_hash[:16]}</p>")]
    if result.synthetic:
        parts.append("<div class='banner'>SYNTHETIC DATA: these are not the symbols' real prices "
                     "(sample provider). Do not read anything into the numbers.</div>")
    for w in result.warnings:
        parts.append(f"<div class='warn'><b>{html.escape(str(w.get('code')))}</b> "
                     f"{html.escape(str(w.get('message')))}</div>")
    if len(result.results) > 1:
        parts += ["<h2>Runs</h2>", _runs_table(result)]
    if len(result.results) > max_runs:
        parts.append(f"<p class='muted'>Charts for the first {max_runs} of {len(result.results)} runs.</p>")
    for i, run in enumerate(shown):
        fig = _figure(run)
        chart = fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"run-{i}",
                            config={"displaylogo": False, "responsive": True})
        parts += [f"<h2>{html.escape(run.label)}</h2>",
                  (f"<p class='muted'>benchmark: {html.escape(str(run.benchmark.symbol))}; data: "
                   f"{html.escape(run.data.sources())}"
                   f"{' (SYNTHETIC)' if run.data.synthetic else ''}; {run.data.bars} bars</p>"),
                  chart, "<div class='grid'>", _metrics_table(run), _risk_table(run), "</div>", _sides_table(run),
                  "<h3>Trades</h3>", _trades_table(run)]
    parts += ["<h2>Fill contract</h2>", f"<pre>{html.escape(result.fill_contract)}</pre>", "<h2>Provenance</h2>",
              html_table(["field", "value"], [[html.escape(k), html.escape(str(v))]
                                          for k, v in p.model_dump(mode="json").items()]),
              "</body></html>"]
    return "\n".join(parts)


def write_report(result: BacktestResult, path: str | Path, **kwargs: Any) -> str:
    """Write `render_report(result)` to `path`; returns the path written."""
    out = Path(path)
    out.write_text(render_report(result, **kwargs), encoding="utf-8")
    return str(out)


__all__ = ["SIDE_COLUMNS", "fmt", "render_report", "write_report"]
