"""Per-case limits for the hostile-input suite (issue 14): every bad input ends in a structured error or a
correct result within its time and memory limits.

Two ways to bound a case:
- `within(seconds, megabytes)`: in this process (fast; for library calls). Time is enforced with SIGALRM
  (pytest runs tests on the main thread); memory is the peak traced by tracemalloc, which sees Python objects
  and numpy buffers (pandas included).
- `run_cli(args, seconds, megabytes)`: the `ruleengine` CLI in a child process under RLIMIT_AS and a wall-clock
  timeout; returns the CompletedProcess. A case that needs more memory or time fails the test.

Example:
    >>> with within(5, 64):
    ...     _ = sum(range(1000))
"""
from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from support.paths import ROOT

#: What a traceback looks like on stderr; no hostile case may print one.
TRACEBACK_MARK = "Traceback (most recent call last)"


class CaseTimeout(AssertionError):
    """A hostile case ran past its time limit."""


@contextmanager
def within(seconds: float = 10.0, megabytes: float = 512.0) -> Iterator[None]:
    """Fail the test if the body runs longer than `seconds` or its traced peak exceeds `megabytes`."""

    def _alarm(signum: int, frame: object) -> None:
        raise CaseTimeout(f"case ran longer than its limit of {seconds} s")

    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.perf_counter()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        peak = tracemalloc.get_traced_memory()[1] - base
        if not was_tracing:
            tracemalloc.stop()
    elapsed = time.perf_counter() - started
    assert elapsed <= seconds, f"case took {elapsed:.1f} s (limit {seconds} s)"
    assert peak <= megabytes * 2**20, f"case peaked at {peak / 2**20:.0f} MB (limit {megabytes} MB)"


def run_cli(args: Sequence[str], seconds: float = 60.0, megabytes: float = 4096.0,
            env: dict[str, str] | None = None, cwd: Path | str | None = None,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m ruleengine.cli ARGS` under an address-space limit and a timeout.

    The address-space limit covers everything the child maps (numba and its LLVM need ~1 GB of virtual
    space to start), so `megabytes` is a bound on virtual memory, not resident memory. Below ~3 GB the
    OpenBLAS that numba loads (through scipy) for its first array kernel stalls while it maps its per-thread
    buffers, instead of failing: a case then times out for a reason that is not ours, hence 4 GB.
    """
    limit = int(megabytes * 2**20)

    def _limit() -> None:  # runs in the child before exec
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    full_env = {**os.environ, **(env or {})}
    src = str(ROOT / "src")
    full_env["PYTHONPATH"] = os.pathsep.join(p for p in (src, full_env.get("PYTHONPATH", "")) if p)
    try:
        return subprocess.run([sys.executable, "-m", "ruleengine.cli", *args], capture_output=True, text=True,
                              timeout=seconds, preexec_fn=_limit, env=full_env, cwd=cwd,
                              input=stdin if stdin is not None else "")
    except subprocess.TimeoutExpired as exc:
        raise CaseTimeout(f"`ruleengine {' '.join(args)}` ran longer than {seconds} s") from exc


def assert_structured(proc: subprocess.CompletedProcess[str]) -> None:
    """A failing CLI run ended in a structured error: an exit code of 1 or 2 and no traceback."""
    assert TRACEBACK_MARK not in proc.stderr and TRACEBACK_MARK not in proc.stdout, proc.stderr[-3000:]
    assert proc.returncode in (0, 1, 2), (proc.returncode, proc.stderr[-3000:])
