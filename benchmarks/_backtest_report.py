"""Markdown report of bench_backtest.py (from the result dict it also writes as JSON)."""

from __future__ import annotations

from typing import Any

from _measure import fmt_mb, fmt_time

VBT = "vectorbt hand-written"
BTPY = "backtesting.py"
RE_ENGINE = "ruleengine engine path"
RE_CALL = "ruleengine backtest()"
RE_MD = "ruleengine backtest(data in memory)"
NAIVE = "naive per-day loop"
ORDER = [RE_ENGINE, RE_MD, RE_CALL, VBT, BTPY, NAIVE]
WHAT = {
    RE_ENGINE: "`compiled.signals_arrays` + `simulate` (or `simulate_portfolio`) on raw arrays; compiled once",
    RE_CALL: "`ruleengine.backtest(path, symbols, start, end, params=..., data=folder, benchmark=None)`: compile, "
             "local provider, signals, simulation, metrics and the pydantic result model",
    RE_MD: "`ruleengine.backtest(path, market_data, params=..., benchmark=None)` on data loaded once with "
           "`ruleengine.load_data` (the peers also start from data in memory): everything `backtest()` does but "
           "reading the files",
    VBT: "`vbt.MA` x2 + TA-Lib RSI via `IndicatorFactory.from_talib`, `ma_crossed_above/below`, "
         "`Portfolio.from_signals(sl_stop=0.05, tp_stop=0.10, fees=0.001, engine='numba')`, total return, "
         "trade records",
    BTPY: "backtesting.py 0.6: one `Backtest(commission=0.001, trade_on_close=True)` per symbol, in turn; "
          "TA-Lib SMA/RSI via `self.I`, SL/TP as bracket prices on `buy()`",
    NAIVE: "seed 003's `BacktestEngine` shape: day loop over the symbols, a market-data dict per (day, symbol), "
           "conditions as `{field, operator, value}` dicts, indicators updated incrementally in Python",
}


def ratio(r: float | None) -> str:
    if r is None:
        return "-"
    return f"{r:.1f}x faster" if r >= 1 else f"{1 / r:.1f}x slower"


def trade_cell(c: dict[str, Any] | None) -> str:
    if c is None:
        return "-"
    if c["identical"]:
        return f"identical ({c['ruleengine_trades']} trades, Δ {c['max_rel_equity_diff']:.0e})"
    return (f"{c['matching']} of {c['ruleengine_trades']} match ({c['other_trades']} trades), "
            f"Δ up to {c['max_rel_equity_diff']:.1e}")


def table(r: dict[str, Any], wl: str, checks: dict[str, Any], n_cols: int) -> list[str]:
    rows = r[wl]["rows"]
    lines = [("| engine | first call | warm median | warm min | vs hand-written vectorbt | vs backtesting.py | "
              "peak Δ MB (median / max) | measured on | trades vs ruleengine engine path |"),
             "|---|---|---|---|---|---|---|---|---|"]
    for name in ORDER:
        if name not in rows:
            continue
        row = rows[name]
        vs_v = "1 (reference)" if name == VBT else ratio(row["ratios"].get(VBT, {}).get("median"))
        vs_b = "1 (reference)" if name == BTPY and BTPY in rows else ratio(row["ratios"].get(BTPY, {}).get("median"))
        if BTPY not in rows:
            vs_b = "n/a"
        f = row["factor"]
        on = "full" if f == 1 else f"{round(n_cols / f)} of {n_cols} symbols (x{f:g})"
        key = {RE_CALL: "backtest()", RE_MD: "backtest(data in memory)"}.get(name, name)
        check = "reference" if name == RE_ENGINE else trade_cell(checks.get(key))
        lines.append(f"| {name} | {fmt_time(row['first_call_s'])} | **{fmt_time(row['median_s'])}** | "
                     f"{fmt_time(row['min_s'])} | **{vs_v}** | {vs_b} | {fmt_mb(row['peak_delta_mb_median'])} / "
                     f"{fmt_mb(row['peak_delta_mb_max'])} | {on} | {check} |")
    return lines


def render(r: dict[str, Any]) -> str:
    env, s, ch = r["environment"], r["setup"], r["checks"]
    git = env.get("git", {})
    la0, la1 = r.get("loadavg_start") or ["?"], r.get("loadavg_end") or ["?"]
    L: list[str] = []
    L.append(f"## Backtest results (run of {r['generated'].replace('T', ' ')[:16]}, `bench_backtest.py"
             f"{' --quick' if r['quick'] else ''}`, {r['run_s']:.0f} s, git {git.get('commit')}"
             f"{' + ' + str(git.get('dirty_files')) + ' changed files' if git.get('dirty_files') else ''})")
    L.append("")
    L.append(f"1-minute load average {la0[0]} at the start and {la1[0]} at the end on {env['cpus']} CPUs (the "
             "benchmark itself keeps one core busy; anything above ~1 is other load). Absolute times move with the "
             "load; ratios are medians of per-repetition ratios measured round-robin in one process. "
             f"Source fingerprint {env.get('src/ruleengine fingerprint')}.")
    L.append("")
    L.append(f"Versions: Python {env['python']}, vectorbt {env['vectorbt']} (numba engine; vectorbt-rust "
             f"{'installed' if env.get('vectorbt-rust installed') else 'not installed'}), backtesting "
             f"{env.get('backtesting')}, numba {env['numba']}, numpy {env['numpy']}, pandas {env['pandas']}, "
             f"TA-Lib {env.get('TA-Lib (python)')}; {env['cpu']}, {env['mem_total_gib']} GiB.")
    L.append("")
    u = s["U"]["shape"]
    sub_b, sub_n = s["backtesting_subset"], s["naive_subset"]
    titles = {"A": f"A: one symbol (SPY {s['A']['first']} .. {s['A']['last']}), {s['A']['bars']:,} bars",
              "U": f"U: universe, {u[1]} columns x {u[0]:,} bars, independent runs",
              "P": f"P: the same {u[1]} columns as one portfolio (shared cash, {s['portfolio_position_size_pct']} % "
                   "of equity per entry)"}
    for wl in ("A", "U", "P"):
        L.append(f"### {titles[wl]} ({r[wl]['reps']} warm repetitions)")
        L.append("")
        L += table(r, wl, ch[wl], u[1])
        L.append("")
    L.append(f"backtesting.py ran {sub_b['n']} and the naive loop {sub_n['n']} of the {u[1]} universe columns "
             "(evenly spaced) per repetition; their U times are extrapolated linearly (both handle the symbols "
             "one after another). The naive P row runs all 500 columns. backtesting.py has no shared-cash "
             "portfolio (one `Backtest` per symbol): no P row.")
    L.append("")
    L.append("### Targets")
    L.append("")
    for t in r["targets"]:
        val = f"{t['value']:.2f} s" if t["workload"] == "cold" else ratio(t["value"])
        L.append(f"- {t['target']}, {t['workload']}, {t['engine']}: {val}: **{'met' if t['met'] else 'NOT met'}**")
    L.append("")
    ph = r["backtest_phases"]
    keys = list(ph["A"])
    L.append("### Where a warm `ruleengine.backtest()` call spends its time")
    L.append("")
    L.append("From its progress callback (median of 5 / 3 / 3 calls after the timed part); *results* = metrics, "
             "trade list and equity curve of every run (pydantic models).")
    L.append("")
    L.append("| phase | A (1 x 2,500) | U (500 x 1,260) | P (portfolio) |")
    L.append("|---|---|---|---|")
    for k in keys:
        L.append(f"| {k} | {fmt_time(ph['A'][k])} | {fmt_time(ph['U'][k])} | {fmt_time(ph['P'][k])} |")
    L.append("")
    L += cold_section(r.get("cold"))
    L += correctness(r, ch)
    return "\n".join(L) + "\n"


def cold_section(cold: dict[str, Any] | None) -> list[str]:
    if not cold:
        return ["### Cold start: skipped (`--skip-cold`)", ""]
    L = [f"### Cold start: fresh processes, warm caches ({cold['runs']} runs each after one warm-up run)", ""]
    ok = "" if cold["cli_success"] else " (**the command failed**)"
    L.append(f"`{cold['cli_cmd']}`: **{fmt_time(cold['cli_median_s'])}** median, {fmt_time(cold['cli_max_s'])} "
             f"max process wall time{ok} (interpreter start alone {fmt_time(cold['interpreter_start_s'])}). "
             "The split comes from a child process making the same call through the public "
             "`ruleengine.backtest` (default parameters fast=50, slow=200, the last 10 years of SPY); the vectorbt "
             "child runs the hand-written vectorbt backtest of the benchmark strategy on SPY x 2,500 bars.")
    L.append("")
    empty = cold.get("empty_cache")
    if empty:
        L.append(f"On an empty numba cache (a new user's first run, NUMBA_CACHE_DIR a new folder): "
                 f"**{fmt_time(empty['wall_s'])}** (exit {empty['returncode']}), {empty['kernels_written']} compiled "
                 f"kernels written, column loops among them: {', '.join(empty['column_loops']) or 'none'}.")
        L.append("")
    re = [c for c in cold["ruleengine_children"] if "error" not in c]
    vb = [c for c in cold["vectorbt_children"] if "error" not in c]

    def med(rows: list[dict[str, Any]], key: str) -> str:
        vals = sorted(c[key] for c in rows if key in c)
        return fmt_time(vals[len(vals) // 2]) if vals else "-"

    L.append("| phase | ruleengine (median) | vectorbt hand-written (median) |")
    L.append("|---|---|---|")
    rows = [("import", "import_s", "import_s"), ("compile + parameters", "compile + parameters_s", None),
            ("data", "data_s", "data_s"), ("signals (first call)", "signals_s", "signals_s"),
            ("simulation (first call)", "simulation_s", "simulate_s"), ("results", "results_s", None),
            ("provenance", "provenance_s", None), ("to_json", "to_json_s", None),
            ("in-process total", "in_process_total_s", "in_process_total_s"),
            ("process wall", "process_wall_s", "process_wall_s")]
    for label, k_re, k_vb in rows:
        L.append(f"| {label} | {med(re, k_re)} | {med(vb, k_vb) if k_vb else '-'} |")
    L.append("")
    errs = [c["error"][-300:] for c in cold["ruleengine_children"] + cold["vectorbt_children"] if "error" in c]
    if errs:
        L.append("Child errors: " + " / ".join(e.replace("\n", " ") for e in errs))
        L.append("")
    return L


def correctness(r: dict[str, Any], ch: dict[str, Any]) -> list[str]:
    u, p, a = ch["U"], ch["P"], ch["A"]
    bt_u, bt_a = u[BTPY], a[BTPY]
    L = ["### Correctness (trades matched on column, entry bar and exit bar; returns as final equity, relative)", ""]
    L.append(f"- **Required checks: {'all passed' if ch['required_ok'] else 'FAILED'}** (exit status "
             f"{0 if ch['required_ok'] else 1}).")
    L.append(f"- `backtest()` = engine path on A, U and P: {trade_cell(a['backtest()'])}; "
             f"{trade_cell(u['backtest()'])}; {trade_cell(p['backtest()'])}.")
    L.append(f"- vectorbt hand-written, A: {trade_cell(a[VBT])}. U: {trade_cell(u[VBT])}: "
             f"{u['vectorbt columns whose signals differ (SMA ties)']} of {u[VBT]['columns']} columns get different "
             "signals, because `vbt.MA` (differences of cumulative sums) and ruleengine / TA-Lib (running window "
             "sum) round exact SMA ties differently (see the signal benchmark above). On the other columns: "
             f"{trade_cell(u['vectorbt, columns with identical signals'])}; the same vectorbt code with TA-Lib's "
             f"SMA (untimed): {trade_cell(u['vectorbt with TA-Lib SMA (untimed oracle)'])}.")
    L.append(f"- naive loop (own implementation of the fill contract): A {trade_cell(a[NAIVE])}; U subset "
             f"{trade_cell(u[NAIVE])}; P {trade_cell(p[NAIVE])}.")
    ex_u = sum(bt_u["explained"].values())
    L.append(f"- backtesting.py: A {trade_cell(bt_a)}; U subset {trade_cell(bt_u)} ({ex_u} explained: entry "
             f"signal on the last bar, which ruleengine fills at that close and backtesting.py cannot; "
             f"{bt_u['unexplained_only_ruleengine'] + bt_u['unexplained_only_backtesting']} unexplained). "
             "It trades whole units (1e10 of cash here), hence returns agree to ~1e-9, not 1e-15. Configuration "
             "that makes it follow the contract: `trade_on_close=True` (entry and signal exit at the signal "
             "bar's close; its bracket SL/TP are then live from the next bar), SL checked before TP (its "
             "default), an entry refused on the bar of a stop exit (vectorbt's one order per bar), open "
             "positions listed at the last bar and marked at the last close without a fee (its "
             "`finalize_trades=True` would close them at the second-to-last close with `trade_on_close`).")
    orc = p["vectorbt with ruleengine's entry sizes (untimed oracle)"]
    L.append(f"- Portfolio, vectorbt: `from_signals(..., cash_sharing=True, group_by=True, call_seq='auto', "
             f"size={r['setup']['portfolio_position_size_pct'] / 100:g}, size_type='percent')`. from_signals "
             "sizes entries only as an amount, a value or a **percent of the cash left** (TargetPercent is "
             "refused), so the timed vectorbt portfolio sizes each entry on the remaining cash, not on equity "
             f"as ruleengine does: same trade bars where every signal is funded, other sizes and returns "
             f"({trade_cell(p[VBT])}; the differing bars are the SMA-tie columns). With ruleengine's own units "
             f"per entry as `size_type='amount'` (untimed), vectorbt reproduces the portfolio: {trade_cell(orc)}. "
             f"Entry signals ruleengine did not take: {p['entry signals not taken (in a position, or cash short)']}"
             f" ({r['setup']['portfolio_position_size_pct']} % per position: every signal is funded).")
    L.append("")
    return L
