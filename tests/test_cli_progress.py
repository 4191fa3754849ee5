"""The CLI's transient progress bar: quiet for short runs, shown for long ones, gone at the end."""

from __future__ import annotations

import time

from ruleengine.cli.progress import ProgressBar


def test_disabled_bar_gives_no_callback() -> None:
    with ProgressBar(enabled=False) as progress:
        assert progress is None


def test_bar_appears_only_past_min_total_and_stops_at_exit() -> None:
    bar = ProgressBar(enabled=True, min_total=5)
    with bar as progress:
        progress(0, 0, "loading data")  # total unknown yet
        progress(1, 5, "one run")  # 4 steps + 1 run: no bar for a single backtest
        assert bar.bar is None
        progress(2, 12, "results 1/8")
        assert bar.bar is not None
        task = bar.bar.tasks[0]
        assert (task.completed, task.total, task.description) == (2, 12, "results 1/8")
        progress(7, 12, "results 6/8")
        assert bar.bar.tasks[0].completed == 7
    assert not bar.bar.live.is_started  # stopped (and, being transient, erased) at the end


def test_bar_waits_for_min_seconds() -> None:
    bar = ProgressBar(enabled=True, min_seconds=60.0)
    with bar as progress:
        progress(1, 100, "chunk 1")
        assert bar.bar is None  # a short run stays quiet
        bar.t0 = time.perf_counter() - 61.0
        progress(2, 100, "chunk 2")
        assert bar.bar is not None and bar.bar.tasks[0].completed == 2
