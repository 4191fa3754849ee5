#!/usr/bin/env python
"""Data-layer benchmark: binding a 500-symbol universe from the local provider (../shared/data).

    python benchmarks/bench_data.py [--reps 5]

Measures `ruleengine.load_data` (symbols parsed, provider resolved, every symbol's daily bars sliced from
daily.parquet, union index, (T, S) arrays, warm-up history before the start) for the golden-cross
strategy on all ~480 stock/ETF symbols of daily.parquet plus 20 unknown tickers (skipped with a warning
each) = 500 requested symbols. "first" includes reading the Parquet file once in a fresh provider; "warm"
reuses the loaded file (the provider keeps it). Also times one sample-provider universe (synthetic data,
generated per symbol) and the signals on the bound data. Prints Markdown; writes results/data.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(HERE))

from _data import require_daily
from _measure import environment, fmt_mb, fmt_time, measure, median


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args(argv)
    daily = require_daily()
    import pandas as pd

    import ruleengine
    from ruleengine.data.local import LocalProvider
    from ruleengine.data.registry import ProviderRegistry
    from ruleengine.data.sample import SampleProvider

    symbols = sorted(pd.read_parquet(daily, columns=["symbol"])["symbol"].unique())
    symbols = symbols + [f"ZZNONE{i}" for i in range(500 - len(symbols))]
    compiled = ruleengine.compile_strategy(str(PROJECT / "rules" / "golden_cross.yaml"))

    def registry() -> ProviderRegistry:
        reg = ProviderRegistry(cache=False)
        reg.register(LocalProvider(daily.parent))
        return reg

    rows: dict[str, dict] = {}
    reg = registry()
    t, mem, md = measure(lambda: ruleengine.load_data(compiled, symbols, "2013-01-01", "2017-12-01",
                                                      registry=reg, provider="local"))
    rows["local, first call (reads daily.parquet)"] = {"s": t, "peak_delta_mb": mem}
    shape = (md.n_rows, md.n_cols, len(md.skipped), md.start)
    warm = []
    for _ in range(args.reps):
        t, mem, md = measure(lambda: ruleengine.load_data(compiled, symbols, "2013-01-01", "2017-12-01",
                                                          registry=reg, provider="local"))
        warm.append((t, mem))
    rows["local, warm (file already loaded)"] = {"s": median([w[0] for w in warm]),
                                                 "peak_delta_mb": max((w[1] or 0) for w in warm)}
    compiled.signals(md).to_pandas()  # first call: numba kernels load from the cache
    t, mem, _ = measure(lambda: compiled.signals(md).to_pandas())
    rows["signals on the bound universe (pandas out, warm)"] = {"s": t, "peak_delta_mb": mem}
    sample = ProviderRegistry(cache=False)
    sample.register(SampleProvider())
    t, mem, smd = measure(lambda: ruleengine.load_data(compiled, [f"S{i:03d}" for i in range(500)],
                                                       "2013-01-01", "2017-12-01", registry=sample))
    rows["sample provider, 500 synthetic symbols"] = {"s": t, "peak_delta_mb": mem}
    report = {"environment": environment(PROJECT), "requested_symbols": len(symbols),
              "bound": {"bars": shape[0], "columns": shape[1], "skipped": shape[2], "warmup_rows": shape[3]},
              "sample_bound": {"bars": smd.n_rows, "columns": smd.n_cols}, "rows": rows}
    lines = ["# Data-layer benchmark", "",
             (f"{len(symbols)} symbols requested (golden_cross.yaml, 2013-01-01 .. 2017-12-01, 1Day): "
              f"{shape[1]} bound, {shape[2]} skipped with a warning (unknown, or no bars in the range); "
              f"{shape[0]} bars of which {shape[3]} warm-up history before the start."), "",
             "| step | time | peak Δ MB |", "|---|---|---|"]
    lines += [f"| {k} | {fmt_time(v['s'])} | {fmt_mb(v['peak_delta_mb'])} |" for k, v in rows.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "data.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    (out / "data.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
