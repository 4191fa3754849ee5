"""Child process of bench_signals.py: workload A's first call in a fresh interpreter.

Prints one JSON line: import time of the compile stack, compile time, data build time, the first
`signals_arrays` call (kernel modules import + numba cache load or JIT compilation) and a second call.
The parent chooses NUMBA_CACHE_DIR (a new empty directory = cold; the same directory again = warm).
"""

from __future__ import annotations

import json
import os
import sys
import time

T_START = time.perf_counter()

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    out: dict[str, float | str | None] = {}
    a = time.perf_counter()
    import numpy as np  # noqa: F401

    from ruleengine.compile.compiled import compile_rules as compile_strategy
    out["import_s"] = time.perf_counter() - a

    from _data import build_universe, load_daily
    from _measure import rss_mb
    a = time.perf_counter()
    panel = build_universe(load_daily())
    out["data_s"] = time.perf_counter() - a

    a = time.perf_counter()
    compiled = compile_strategy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "three_conditions.yaml"))
    out["compile_s"] = time.perf_counter() - a

    T, S = panel.shape
    inputs = {("prices", c): panel.arrays[c] for c in ("close", "volume")}
    out["rss_before_first_mb"] = rss_mb()
    a = time.perf_counter()
    e1, x1, _ = compiled.signals_arrays(inputs, T, S)
    out["first_call_s"] = time.perf_counter() - a
    a = time.perf_counter()
    e2, x2, _ = compiled.signals_arrays(inputs, T, S)
    out["second_call_s"] = time.perf_counter() - a
    out["same_result"] = bool((e1 == e2).all() and (x1 == x2).all())
    out["entries_true"] = int(e1.sum())
    out["numba_cache_dir"] = os.environ.get("NUMBA_CACHE_DIR")
    out["in_process_total_s"] = time.perf_counter() - T_START
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
