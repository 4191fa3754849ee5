"""A backtest result on the console: what `ruleengine backtest` and `ruleengine runs show` print."""

from __future__ import annotations

from typing import Any

from .common import compact_table
from .common import console as output_console

_SUMMARY = [("total_return_pct", "total return", "%"), ("benchmark_return_pct", "benchmark (buy & hold)", "%"),
            ("total_return_dollars", "total return $", "$"), ("cagr_pct", "CAGR", "%"),
            ("max_drawdown_pct", "max drawdown", "%"), ("sharpe_ratio", "Sharpe", ""),
            ("sortino_ratio", "Sortino", ""), ("calmar_ratio", "Calmar", ""), ("exposure_pct", "exposure", "%"),
            ("total_trades", "trades", "n"), ("win_rate", "win rate", "%"), ("avg_win_pct", "avg win", "%"),
            ("avg_loss_pct", "avg loss", "%"), ("profit_factor", "profit factor", ""),
            ("best_trade_pct", "best trade", "%"), ("worst_trade_pct", "worst trade", "%"),
            ("avg_holding_days", "avg holding (days)", "")]


#: metrics a rotation portfolio prints (it has orders, not trades)
_ROTATION_SUMMARY = [("total_return_pct", "total return", "%"), ("benchmark_return_pct", "benchmark", "%"),
                     ("universe_benchmark_return_pct", "universe, equal weight (buy & hold)", "%"),
                     ("total_return_dollars", "total return $", "$"), ("cagr_pct", "CAGR", "%"),
                     ("max_drawdown_pct", "max drawdown", "%"), ("sharpe_ratio", "Sharpe", ""),
                     ("sortino_ratio", "Sortino", ""), ("calmar_ratio", "Calmar", ""),
                     ("exposure_pct", "exposure", "%")]
#: contributions printed (largest and smallest)
_CONTRIBUTIONS = 5
#: warnings of one code a rotation prints
_WARNINGS_PER_CODE = 3


def print_rotation(result: Any, report: str | None = None) -> None:
    """Print a `RotationResult`: the range, metrics with turnover, the latest holdings and the contributions
    (and where the HTML `report` went)."""
    from rich.markup import escape
    from rich.panel import Panel

    from ruleengine import format_metric as fmt

    console = output_console()
    if result.synthetic:
        console.print(Panel("[bold]SYNTHETIC data (sample provider): not the symbols' real prices.[/]",
                            title="SYNTHETIC DATA", style="bold red"))
    console.print(f"[bold]{escape(result.strategy)}[/] (rotation over {len(result.symbols)} symbols)")
    console.print(f"{result.start} .. {result.end}, initial cash {result.init_cash:,.0f}, {len(result.orders)} orders")
    table = compact_table("portfolio")
    table.add_column("metric")
    table.add_column("value", justify="right")
    m = result.metrics.model_dump()
    for key, label, unit in _ROTATION_SUMMARY:
        if key == "benchmark_return_pct":
            if result.benchmark.symbol is None:  # none asked for, or D121 says why there is none
                continue
            label = escape(f"benchmark {result.benchmark.symbol} (buy & hold)")
        table.add_row(label, fmt(m[key], unit))
    table.add_row("turnover per year", fmt(result.turnover_pct_per_year, "%"))
    console.print(table)
    held = [h for h in result.holdings if h.weights]
    if held:
        last = held[-1]
        console.print(f"latest holdings, after the orders of {last.time[:10]} (turnover {last.turnover_pct:.1f} %):")
        table = compact_table()
        table.add_column("symbol")
        table.add_column("weight", justify="right")
        for sym, w in sorted(last.weights.items(), key=lambda kv: -kv[1]):
            table.add_row(escape(sym), f"{w * 100:.1f} %")
        console.print(table)
        if last is not result.holdings[-1]:
            console.print(f"nothing held after {result.holdings[-1].time[:10]} (the symbols left the universe or "
                          "their data ended)")
    if result.contribution:
        rows = result.contribution
        shown = rows if len(rows) <= 2 * _CONTRIBUTIONS else [*rows[:_CONTRIBUTIONS], *rows[-_CONTRIBUTIONS:]]
        contrib = compact_table("contribution by symbol" + ("" if shown is rows else " (largest and smallest)"))
        contrib.add_column("symbol")
        contrib.add_column("pnl", justify="right")
        contrib.add_column("of initial cash", justify="right")
        for c in shown:
            contrib.add_row(escape(c.symbol), f"{c.pnl:,.2f}", f"{c.pnl_pct:.2f} %")
        console.print(contrib)
    console.print(f"[dim]{escape(result.fill_contract)}[/]")
    shown_of: dict[str, int] = {}
    for w in result.warnings:  # a universe of 500 may skip hundreds of symbols: a few lines per code
        n = shown_of[w["code"]] = shown_of.get(w["code"], 0) + 1
        if n <= _WARNINGS_PER_CODE:
            console.print(f"[yellow]warning\\[{w['code']}][/]: " + escape(w["message"]), highlight=False)
    for code, n in shown_of.items():
        if n > _WARNINGS_PER_CODE:
            console.print(f"  ... {n - _WARNINGS_PER_CODE} more {code} warnings (--json: all of them)")
    if report:
        console.print(f"report: {escape(report)}")


def print_backtest(result: Any, report: str | None) -> None:
    """Print a `BacktestResult`: provenance, metrics (or a table of runs), trades, risk and warnings."""
    from rich.markup import escape
    from rich.panel import Panel

    from ruleengine import format_metric as fmt

    console = output_console()
    p = result.provenance
    if result.synthetic:
        console.print(Panel("[bold]SYNTHETIC data (sample provider): not the symbols' real prices. Use --data PATH "
                            "or a market-data provider for a real backtest.[/]", title="SYNTHETIC DATA",
                            style="bold red"))
    first = result.results[0]
    console.print(f"[bold]{escape(p.strategy_name)}[/]")
    console.print(f"{p.start} .. {p.end} ({first.data.bars} {p.frequency} bars), data: "
                  + first.data.sources()
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
            if key == "benchmark_return_pct" and m.get("universe_benchmark_return_pct") is not None:
                table.add_row(_UNIVERSE_LABEL, fmt(m["universe_benchmark_return_pct"], "%"))
        console.print(table)
        if run.sides is not None:
            console.print(_sides_table(run))
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(run.exit_reasons().items()))
        console.print(f"exits: {reasons or 'no trades'}")
    else:
        console.print(_runs_table(result.results))
    _print_trades(console, [t for r in result.results for t in r.trades])
    from ruleengine import risk_label, shown_risk_fields

    console.print("risk: " + escape(", ".join(f"{k}={risk_label(first.risk, k)}"
                                              for k in shown_risk_fields(first.risk))
                                    + f", execution_price={first.risk.get('execution_price')}"))
    if first.pair is not None:
        console.print("pair: " + escape(first.pair.describe(first.symbols)))
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

    from ruleengine import format_metric as fmt

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
    summary = (f"median return {returns[len(returns) // 2]:.2f} %, mean {sum(returns) / len(returns):.2f} %; "
               f"{beat} of {len(runs)} beat their benchmark")
    universe = _universe_line(runs)
    if universe:
        summary += "\n" + universe
    from rich.console import Group
    from rich.text import Text

    return Group(table, Text(summary))  # a line of its own: a caption would wrap to the table's width


_UNIVERSE_LABEL = "universe equal weight (no fees)"


def _universe_line(runs: list[Any]) -> str | None:
    """The universe benchmark under a universe's runs table: its return over the longest run's bars, and how
    many runs beat it over their own bars (None outside a universe). Shorter than 80 columns."""
    from ruleengine import format_metric as fmt

    have = [r for r in runs if r.metrics.universe_benchmark_return_pct is not None]
    if not have:
        return None
    longest = max(have, key=lambda r: r.data.bars)
    beat = sum(1 for r in have if r.metrics.total_return_pct > r.metrics.universe_benchmark_return_pct)
    return (f"{_UNIVERSE_LABEL}: {fmt(longest.metrics.universe_benchmark_return_pct, '%')} "
            f"({longest.data.bars} bars); {beat} of {len(runs)} beat it")


#: the long/short table's columns (SideMetrics fields); 80 columns wide: the rest is in --json and the report
_SIDES = [("total_trades", "trades", "n"), ("win_rate", "win rate", "%"), ("pnl", "pnl $", "$"),
          ("profit_factor", "profit factor", ""), ("avg_win_pct", "avg win", "%"), ("avg_loss_pct", "avg loss", "%")]


def _sides_table(run: Any) -> Any:
    """The long/short split of a run's trade statistics (a strategy that trades short)."""
    from ruleengine import format_metric as fmt

    table = compact_table("long / short")
    table.add_column("side")
    for _, label, _ in _SIDES:
        table.add_column(label, justify="right")
    for side, m in run.sides.items():
        table.add_row(side, *[fmt(getattr(m, key), unit) for key, _, unit in _SIDES])
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
        if t.legs:  # a pair: the combined P&L on the first leg's row, the second leg's fills below it
            first, second = t.legs
            table.add_row(f"{escape(first.symbol)} {first.side}", _when(t.entry_time), _price(first.entry_price),
                          _when(t.exit_time), _price(first.exit_price), f"{t.pnl_pct:+.2f}%", t.exit_reason)
            table.add_row(f"+ {escape(second.symbol)} {second.side}", "", _price(second.entry_price), "",
                          _price(second.exit_price), "", "")
            continue
        side = " short" if t.direction == "short" else ""  # long trades read as before
        table.add_row(escape(t.symbol) + side, _when(t.entry_time), _price(t.entry_price), _when(t.exit_time),
                      _price(t.exit_price), f"{t.pnl_pct:+.2f}%", t.exit_reason)
    console.print(table)


def _when(time: str) -> str:
    """A trade time for the console: the date, or 'YYYY-MM-DD HH:MMZ' (UTC) for intraday bars."""
    return time if len(time) <= 10 else time[:16].replace("T", " ") + ("Z" if time.endswith("Z") else "")


def _price(value: float) -> str:
    return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4g}"



__all__ = ["print_backtest"]
