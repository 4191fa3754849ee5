"""A transient rich progress bar on stderr for long CLI runs (backtests of universes, sweeps)."""

from __future__ import annotations

import time
from typing import Any


class ProgressBar:
    """Context manager giving a ``progress(done, total, step)`` callback (None when disabled).

    The bar appears only once `total` exceeds `min_total` and the run has lasted `min_seconds`, so short
    runs stay quiet; it disappears when the run ends.
    """

    def __init__(self, enabled: bool, *, min_total: int = 0, min_seconds: float = 0.0) -> None:
        self.enabled, self.min_total, self.min_seconds = enabled, min_total, min_seconds
        self.t0 = time.perf_counter()
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> Any:
        return self.update if self.enabled else None

    def update(self, done: int, total: int, step: str) -> None:
        if self.bar is None:
            if total <= self.min_total or time.perf_counter() - self.t0 < self.min_seconds:
                return
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(step, total=total)
        self.bar.update(self.task, completed=done, total=total, description=step)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
