"""Child process of bench_backtest.py: a one-symbol backtest in a fresh interpreter, split into phases.

    python benchmarks/_fresh_backtest.py ruleengine   # ruleengine.backtest.run.backtest(...), SPY, ../shared/data
    python benchmarks/_fresh_backtest.py vectorbt     # the hand-written vectorbt backtest of the same strategy

Prints one JSON line. ruleengine: the same call as ``ruleengine backtest rules/golden_cross.yaml --symbols SPY
--data ../shared/data --json`` (default parameters and range) through the public ``ruleengine.backtest``, timed
with its progress callback:
import, compile (+ parameter and risk resolution), data, signals, simulation, benchmark, results, JSON.
vectorbt: import, data (SPY, last 2,500 bars), signals (first call), from_signals + total return (first call:
vectorbt 1.2's numba simulation is not cached, so it compiles in every new process).
"""

from __future__ import annotations

import json
import os
import sys
import time

T_START = time.perf_counter()
HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
SHARED_DATA = os.path.join(os.path.dirname(PROJECT), "shared", "data")
sys.path.insert(0, HERE)


def phases(marks: list[tuple[str, float]], t0: float, end: float) -> dict[str, float]:
    """Seconds per phase of one backtest() call from its progress marks (step name, perf_counter time).

    backtest() reports "loading data", "computing signals", "simulating", "benchmark", "results i/n" after each
    run and "done"; compilation and parameter checks come before the first mark, provenance after the last."""
    at = {name: t for name, t in marks if not name.startswith("results")}
    return {"compile + parameters": at["loading data"] - t0, "data": at["computing signals"] - at["loading data"],
            "signals": at["simulating"] - at["computing signals"], "simulation": at["benchmark"] - at["simulating"],
            "results": at["done"] - at["benchmark"], "provenance": end - at["done"], "total": end - t0}


def _ruleengine() -> dict[str, object]:
    out: dict[str, object] = {}
    a = time.perf_counter()
    from ruleengine import backtest
    out["import_s"] = time.perf_counter() - a
    marks: list[tuple[str, float]] = []
    a = time.perf_counter()
    res = backtest(os.path.join(PROJECT, "rules", "golden_cross.yaml"), "SPY", data=SHARED_DATA,
                   progress=lambda done, total, step: marks.append((step, time.perf_counter())))
    out.update({f"{k}_s": v for k, v in phases(marks, a, time.perf_counter()).items()})
    a = time.perf_counter()
    text = res.to_json()
    out["to_json_s"] = time.perf_counter() - a
    run = res.results[0]
    out["trades"] = run.metrics.total_trades
    out["bars"] = run.data.bars
    out["json_chars"] = len(text)
    return out


def _vectorbt() -> dict[str, object]:
    out: dict[str, object] = {}
    a = time.perf_counter()
    import numpy as np
    import pandas as pd
    import vectorbt as vbt
    out["import_s"] = time.perf_counter() - a
    import _backtest_peers as peers
    a = time.perf_counter()
    px = pd.read_parquet(os.path.join(SHARED_DATA, "daily.parquet"), filters=[("symbol", "==", "SPY")],
                         columns=["date", "open", "high", "low", "close"]).sort_values("date").iloc[-2500:]
    idx = pd.DatetimeIndex(pd.to_datetime(px["date"]))
    ohlc = {k: pd.DataFrame({"SPY": px[k].to_numpy(np.float64)}, index=idx) for k in ("open", "high", "low", "close")}
    out["data_s"] = time.perf_counter() - a
    a = time.perf_counter()
    entries, exits = peers.vectorbt_signals(ohlc["close"])
    out["signals_s"] = time.perf_counter() - a
    a = time.perf_counter()
    pf = vbt.Portfolio.from_signals(ohlc["close"], entries, exits, open=ohlc["open"], high=ohlc["high"],
                                    low=ohlc["low"], sl_stop=peers.SL, tp_stop=peers.TP, fees=peers.FEES,
                                    init_cash=10_000.0, direction="longonly", engine="numba")
    ret = float(np.asarray(pf.total_return()).ravel()[0])
    out["simulate_s"] = time.perf_counter() - a
    out["trades"] = len(pf.trades.records_arr)
    out["total_return"] = ret
    return out


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "ruleengine"
    out = _ruleengine() if mode == "ruleengine" else _vectorbt()
    out["mode"] = mode
    out["in_process_total_s"] = time.perf_counter() - T_START
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
