#!/usr/bin/env python
"""Live-signal benchmark: one strategy evaluated on the latest completed bar of a 500-symbol universe.

    python benchmarks/bench_live.py [--reps 5] [--asof 2017-06-30]

The universe is every symbol of ../shared/data/daily.parquet (~480 stocks and ETFs) plus unknown tickers up to
500 requested symbols (skipped with a warning each), read by the local provider. Symbols without a bar on the
evaluated day (data that ended earlier) are counted and skipped, as in a real scan. For each strategy:
"first" is the first call in this process (reads the Parquet file, loads the numba kernels from their cache);
"warm" is the median of `--reps` further calls (the provider keeps the file; everything else is redone: data
binding, warm-up history, signals, the reasoning tree of every signal and the near misses). "scan" runs
`ruleengine.live.scan` with a SQLite store in a temporary folder: every active strategy over its universe,
signals stored (a second scan of the same day stores nothing new). Prints Markdown; writes results/live.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(HERE))

from _data import require_daily
from _measure import environment, fmt_mb, fmt_time, measure, median

RULES = ["rsi_mean_reversion", "golden_cross", "bollinger_reversion", "stochastic_oversold"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--asof", default="2017-06-30")
    args = ap.parse_args(argv)
    daily = require_daily()
    import pandas as pd

    from ruleengine.live import live_scan, scan
    from ruleengine.store import open_store

    symbols = sorted(pd.read_parquet(daily, columns=["symbol"])["symbol"].unique())
    symbols = symbols + [f"ZZNONE{i}" for i in range(500 - len(symbols))]
    data = str(daily.parent)
    rows: dict[str, dict] = {}
    for name in RULES:
        def call(rule: str = str(PROJECT / "rules" / f"{name}.yaml")) -> object:
            return live_scan(rule, symbols, asof=args.asof, data=data)

        first, _, res = measure(call)
        warm: list[float] = []
        peak: list[float] = []
        for _ in range(args.reps):
            dt, mb, res = measure(call)
            warm.append(dt)
            if mb is not None:
                peak.append(mb)
        rows[name] = {"requested": len(symbols), "evaluated": res.evaluated, "signals": len(res.signals),
                      "near_misses": len(res.near_misses), "first_s": first, "warm_s": median(warm),
                      "warm_all_s": warm, "peak_mb": max(peak) if peak else None}
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(str(Path(tmp) / "bench.db"))
        for name in RULES:
            store.add_strategy(str(PROJECT / "rules" / f"{name}.yaml"), universe=",".join(symbols))
        scan_first, _, s1 = measure(lambda: scan(store, asof=args.asof, data=data))
        scan_again, _, s2 = measure(lambda: scan(store, asof=args.asof, data=data))
        store.close()
    scan_row = {"strategies": len(RULES), "stored": s1["signals"], "new_first": s1["new"], "new_again": s2["new"],
                "first_s": scan_first, "again_s": scan_again}
    report = {"environment": environment(PROJECT), "asof": args.asof, "reps": args.reps, "live": rows, "scan": scan_row}
    out = HERE / "results" / "live.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"## Live signals: 500 requested symbols, bar {args.asof} (median of {args.reps} warm calls)\n")
    print("| strategy | evaluated | signals | near misses | first call | warm | peak memory |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(f"| {name} | {r['evaluated']} | {r['signals']} | {r['near_misses']} | {fmt_time(r['first_s'])} | "
              f"**{fmt_time(r['warm_s'])}** | {fmt_mb(r['peak_mb'])} MB |")
    print(f"\nscan of {len(RULES)} strategies x 500 symbols into SQLite: {fmt_time(scan_first)} "
          f"({scan_row['stored']} signals stored); same day again: {fmt_time(scan_again)} "
          f"({scan_row['new_again']} new)")
    print(f"\nwritten: {out.relative_to(PROJECT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
