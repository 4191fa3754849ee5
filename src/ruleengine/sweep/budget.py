"""The memory a sweep needs, estimated before it runs, and the limit it must fit in.

A sweep's memory has three parts:

- the market data, known once loaded (bars x runs x input columns x 8 bytes);
- each chunk's signals and intermediate values, bounded by ``engine.CHUNK_BUDGET_BYTES`` per chunk in flight;
- what grows with the grid: the combinations (one small dict each) and the ranked metrics table (one row per
  combination x run, with the kernel's accumulators and the metric arrays it is built from).

Only the last part is unbounded by construction, so it is what the limit checks: a sweep whose table would
not fit is refused before anything is built, with the estimate and the largest random sample that fits.
The per-item costs were measured on this project's sweeps: peak RSS over a one-combination baseline
(980,100 combinations x 1 symbol: ~935 bytes per combination with its row; 2,000 and 4,000 combinations x
346 symbols: ~730-750 bytes per row) and the tracemalloc peak (58,806 combinations x 1 symbol in chunks of 16:
~1,400 bytes per combination with its row). The constants cover both, and tests/test_sweep_budget.py checks
that the estimate is not below the traced peak of real sweeps.

The limit is ``memory_mb`` (``--max-memory`` on the CLI), else ``RULEENGINE_SWEEP_MEMORY_MB``, else
`DEFAULT_MEMORY_MB`.

Example:
    >>> estimate_bytes(1_000, 10) // 2**20
    7
"""
from __future__ import annotations

import math
import os

from ..errors import Diagnostic, RuleEngineError

#: bytes per combination (its parameter dict and its share of the per-combination arrays)
BYTES_PER_COMBINATION = 768
#: bytes per table row (combination x run): accumulators, metric arrays, the table and its ranked copy
BYTES_PER_ROW = 800
#: the default limit of the grid-dependent part of a sweep
DEFAULT_MEMORY_MB = 2048.0
MEMORY_ENV = "RULEENGINE_SWEEP_MEMORY_MB"


def estimate_bytes(n_combinations: int, n_runs: int) -> int:
    """Bytes of the grid-dependent part of a sweep: combinations and the (combination x run) table."""
    return int(n_combinations) * (BYTES_PER_COMBINATION + BYTES_PER_ROW * max(1, int(n_runs)))


def memory_limit_bytes(memory_mb: float | None = None) -> int:
    """The limit in bytes: the argument, else the environment variable, else the default."""
    source, value = "memory_mb", memory_mb
    if value is None:
        text = os.environ.get(MEMORY_ENV)
        if text is None or not text.strip():
            return int(DEFAULT_MEMORY_MB * 2**20)
        source = MEMORY_ENV
        try:
            value = float(text)
        except ValueError:
            value = math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise RuleEngineError([Diagnostic("D122", f"{source} must be a positive number of megabytes, got {value!r}",
                                          path=source, hint=f"e.g. {source}={int(DEFAULT_MEMORY_MB)}")])
    return int(float(value) * 2**20)


def check_fits(n_combinations: int, n_runs: int, limit: int, runs_known: bool = True) -> int:
    """The estimate in bytes; raises D122 when it exceeds `limit` (with the largest sample that fits).

    `runs_known` False means `n_runs` is a lower bound (the symbols are not loaded yet): the message says
    "at least".
    """
    need = estimate_bytes(n_combinations, n_runs)
    if need <= limit:
        return need
    per = estimate_bytes(1, n_runs)
    fits = max(0, limit // per)
    runs = f"{n_runs:,} run{'s' if n_runs != 1 else ''}" if runs_known else "at least one run"
    hint = (f"sample it: --samples {fits:,} (samples={fits:,}) fits in the limit; or use fewer values per axis or "
            f"fewer symbols; or raise the limit with --max-memory MB / {MEMORY_ENV}") if fits else (
        f"use fewer symbols, or raise the limit with --max-memory MB / {MEMORY_ENV}")
    raise RuleEngineError([Diagnostic(
        "D122", f"the sweep's results need about {format_mb(need)} ({n_combinations:,} combinations x {runs}), "
                f"over the memory limit of {format_mb(limit)}", path="grid", hint=hint)])


def format_mb(n: float) -> str:
    """Bytes as whole megabytes for messages."""
    return f"{n / 2**20:,.0f} MB"


__all__ = ["BYTES_PER_COMBINATION", "BYTES_PER_ROW", "DEFAULT_MEMORY_MB", "MEMORY_ENV", "check_fits",
           "estimate_bytes", "format_mb", "memory_limit_bytes"]
