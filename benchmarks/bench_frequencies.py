#!/usr/bin/env python
"""Weekly and monthly execution against daily: one backtest() of rules/golden_cross.yaml per frequency.

    python benchmarks/bench_frequencies.py [--reps 7] [--limit 1.2]

Workload: SPY from ../shared/data, 2006-01-01 .. 2017-12-29, fast=5, slow=20 (short windows so that weekly and
monthly bars have signals), fills at the close; the whole `backtest()` call (fetch, resample, signals,
simulation, results). After a timed first call of each frequency, `--reps` rounds run round-robin in a
rotating order in one process; the ratio to daily is the median of the per-round ratios. Also reports how
often the exchange calendar was loaded (issue 13: weekly runs re-read it, with the package metadata, once
per period: 7,381 times in one backtest; now once per process).

Writes benchmarks/results/frequencies.{json,md} and prints the Markdown. Exit status 1 when a ratio is above
`--limit`, 2 without the data.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(HERE))

from _data import require_daily
from _measure import environment, loadavg, measure, median

FREQUENCIES = ("1Day", "1Week", "1Month")
GOLDEN = str(PROJECT / "rules" / "golden_cross.yaml")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--limit", type=float, default=1.2, help="largest accepted weekly/monthly : daily ratio")
    args = ap.parse_args()
    data = str(require_daily().parent)

    import ruleengine
    from ruleengine.data import calendar

    def run(freq: str) -> object:
        return ruleengine.backtest(GOLDEN, "SPY", "2006-01-01", "2017-12-29", data=data,
                                   params={"execution_frequency": freq, "fast": 5, "slow": 20})

    load_start = loadavg()
    first = {f: measure(lambda f=f: run(f))[0] for f in FREQUENCIES}
    times: dict[str, list[float]] = {f: [] for f in FREQUENCIES}
    trades = {}
    for r in range(args.reps):
        order = FREQUENCIES[r % 3:] + FREQUENCIES[:r % 3]
        for f in order:
            t, _, out = measure(lambda f=f: run(f))
            times[f].append(t)
            trades[f] = out.results[0].metrics.total_trades
    ratios = {f: median([a / b for a, b in zip(times[f], times["1Day"], strict=True)]) for f in FREQUENCIES}
    report = {
        "workload": "backtest() of rules/golden_cross.yaml, SPY 2006-01-01..2017-12-29, fast=5 slow=20",
        "first_call_s": first, "median_s": {f: median(v) for f, v in times.items()}, "ratio_to_daily": ratios,
        "trades": trades, "calendar_loads": dict(calendar.LOADS), "reps": args.reps,
        "loadavg": {"start": load_start, "end": loadavg()}, "environment": environment(PROJECT),
    }
    lines = ["# Execution frequency: weekly and monthly against daily", "", report["workload"], "",
             "| frequency | first call | median | ratio to daily | trades |", "|---|---:|---:|---:|---:|"]
    for f in FREQUENCIES:
        lines.append(f"| {f} | {first[f]:.3f} s | {report['median_s'][f]:.3f} s | {ratios[f]:.2f} | {trades[f]} |")
    lines += ["", f"Calendar loads in this process: {report['calendar_loads']} "
              f"(load average {load_start} -> {report['loadavg']['end']})."]
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "frequencies.json").write_text(json.dumps(report, indent=2, default=str))
    (RESULTS / "frequencies.md").write_text(text)
    print(text)
    return 0 if max(ratios["1Week"], ratios["1Month"]) <= args.limit else 1


if __name__ == "__main__":
    sys.exit(main())
