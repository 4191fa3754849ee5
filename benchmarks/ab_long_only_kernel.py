"""Long-only kernel A/B between two checkouts: ``simulate()`` on 500 x 2,520 real-data columns.

Usage: ``.venv/bin/python benchmarks/ab_long_only_kernel.py /path/to/checkout`` (run it once per checkout, old
then new, on a quiet machine; the kernels of each checkout compile on its first run). Three long-only SMA-cross
runs with 0.1 % fees: no stops, stop loss + trailing stop + take profit, and a stop loss with open fills; prints
the warm median and minimum of 15 repetitions and the trade count (equal in both checkouts when the fills are).
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any


def main(root: str) -> None:
    sys.path.insert(0, root + "/src")
    sys.path.insert(0, root + "/benchmarks")
    from _data import build_universe, load_daily

    import ruleengine
    from ruleengine.backtest.risk import resolve_risk
    from ruleengine.backtest.simulation import simulate

    panel = build_universe(load_daily(), n_cols=500, n_bars=2520, stride=126)
    n_rows, n_cols = panel.shape
    prices = {k: panel.arrays[k] for k in ("open", "high", "low", "close")}
    inputs = {("prices", "close"): panel.arrays["close"]}
    cases: list[tuple[str, dict[str, Any]]] = [
        ("plain", {}), ("stops", {"stop_loss_pct": 5, "trailing_stop_pct": 8, "take_profit_pct": 20}),
        ("open fills", {"stop_loss_pct": 5})]
    for label, risk in cases:
        doc: dict[str, Any] = {"name": "ab", "data": {"prices": {"kind": "ohlcv"}},
                               "entry": ["sma(close, 10) > sma(close, 30)"],
                               "exit": ["sma(close, 10) < sma(close, 30)"], "risk": {**risk, "fees_pct": 0.1}}
        if label == "open fills":
            doc["params"] = {"execution_price": {"type": "enum", "values": ["close", "open"], "default": "open"}}
        strat = ruleengine.load_strategy(doc)
        groups, _ = ruleengine.compile_strategy(strat).group_arrays(inputs, n_rows, n_cols)
        spec = resolve_risk(strat)

        def run(g: Any = groups, r: Any = spec) -> Any:
            return simulate(prices, g[0], g[1], panel.index, r, init_cash=10_000.0)

        trades = len(run().trades)
        times = []
        for _ in range(15):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        print(f"{label:>10}: median {statistics.median(times) * 1e3:.1f} ms, min {min(times) * 1e3:.1f} ms, "
              f"trades {trades}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ".")
