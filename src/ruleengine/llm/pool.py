"""Limits of the agent tools: a bounded worker pool with a queue, and a size limit on arguments.

At most `workers` heavy tool calls (backtests, sweeps, signals, model calls, ...) run at once; up to `queue`
more wait for a worker, each at most `max_wait` seconds; any call beyond that is answered at once with L114
("busy", an execution_error object) instead of piling up threads and memory (40 concurrent backtests once
took 3.8 GB in one MCP server). Arguments larger than `max_argument_bytes` (as JSON) are L115.

The operator sets the limits in the server's environment:

====================================  =======  =========================================
``RULEENGINE_TOOLS_WORKERS``          2        heavy calls running at once
``RULEENGINE_TOOLS_QUEUE``            8        calls waiting for a worker
``RULEENGINE_TOOLS_MAX_WAIT``         300      seconds a call waits in the queue
``RULEENGINE_TOOLS_MAX_ARGUMENT_BYTES``  262144  size of one call's arguments as JSON
====================================  =======  =========================================

Example:
    >>> pool = WorkerPool(ToolLimits(workers=1, queue=0))
    >>> pool.run(lambda: "done")
    'done'
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TypeVar

from .. import Diagnostic, RuleEngineError

T = TypeVar("T")
_SETTINGS = {"workers": "RULEENGINE_TOOLS_WORKERS", "queue": "RULEENGINE_TOOLS_QUEUE",
             "max_wait": "RULEENGINE_TOOLS_MAX_WAIT", "max_argument_bytes": "RULEENGINE_TOOLS_MAX_ARGUMENT_BYTES"}


@dataclass(frozen=True)
class ToolLimits:
    workers: int = 2
    queue: int = 8
    max_wait: float = 300.0
    max_argument_bytes: int = 262_144  # a strategy document is a few KB

    @classmethod
    def from_env(cls) -> ToolLimits:
        """The limits set in the environment (defaults for unset ones); L118 for a value that is not a number
        in its range."""
        values: dict[str, float] = {}
        for f in fields(cls):
            raw = os.environ.get(_SETTINGS[f.name], "").strip()
            if not raw:
                continue
            least = 1 if f.name in ("workers", "max_argument_bytes") else 0
            try:
                value = int(raw) if f.type == "int" else float(raw)
                ok = least <= value < 10**12
            except ValueError:
                ok = False
            if not ok:
                raise RuleEngineError([Diagnostic("L118", f"{_SETTINGS[f.name]}={raw!r} is not a valid setting",
                                                  hint=f"a {'whole ' if f.type == 'int' else ''}number >= {least}")])
            values[f.name] = value
        return cls(**values)  # type: ignore[arg-type]


class WorkerPool:
    """Admission and a fixed number of worker slots; the calling thread runs the job once it has a slot."""

    def __init__(self, limits: ToolLimits) -> None:
        self.limits = limits
        self._workers = threading.BoundedSemaphore(limits.workers)
        self._lock = threading.Lock()
        self._admitted = 0  # running + waiting

    @property
    def admitted(self) -> int:
        return self._admitted

    def run(self, job: Callable[[], T]) -> T:
        """`job()` on a worker slot; L114 at once when workers and queue are full, or after `max_wait`."""
        with self._lock:
            if self._admitted >= self.limits.workers + self.limits.queue:
                raise _busy(f"{self.limits.workers} calls are running and {self.limits.queue} are waiting")
            self._admitted += 1
        try:
            if not self._workers.acquire(timeout=self.limits.max_wait):
                raise _busy(f"no worker became free within {self.limits.max_wait:g} s")
            try:
                return job()
            finally:
                self._workers.release()
        finally:
            with self._lock:
                self._admitted -= 1


def _busy(why: str) -> RuleEngineError:
    return RuleEngineError([Diagnostic("L114", f"the tools are busy: {why}",
                                       hint="retry later; the operator sets RULEENGINE_TOOLS_WORKERS and "
                                            "RULEENGINE_TOOLS_QUEUE")])


_POOL: WorkerPool | None = None
_POOL_LOCK = threading.Lock()


def shared_pool() -> WorkerPool:
    """The process's pool for the limits in the environment (a new one when they changed)."""
    global _POOL
    limits = ToolLimits.from_env()
    with _POOL_LOCK:
        if _POOL is None or _POOL.limits != limits:
            _POOL = WorkerPool(limits)
        return _POOL
