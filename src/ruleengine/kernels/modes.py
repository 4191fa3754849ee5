"""Fill modes: the flags a column loop is compiled for, chosen in Python, one compiled entry per mode.

A column loop (`simulate._column_nb`, `sweep_sim._column_nb`, the pair loops, `simulate._portfolio_nb`) takes
its mode as literal flags so that numba prunes the other modes' branches from the bar loop: ``exec_open``
(next-bar-open fills), ``long_short`` (both sides in one column) and ``orders`` (limit / stop entries; with
``long_short`` an order of the side not held reverses the position at its fill). When
one compiled kernel dispatched every column to the loop of its mode, numba compiled every mode's loop the first
time that kernel ran (six loops of about a CPU-minute each on a cold cache), though a run uses one or two. So
the choice is made here, in Python: `columns_by_mode` groups a run's columns by the mode of their risk records,
and each kernel keeps one small entry per mode (a closure over the literal flags, built on first use by the
kernel's ``entry`` function and cached on disk by numba, keyed by the flags), which runs that group's columns.
A run pays the compilation of the modes it uses, once.
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import numpy as np

from .enums import ORDER_MARKET


class FillMode(NamedTuple):
    exec_open: bool
    long_short: bool
    orders: bool


F = TypeVar("F", bound=Callable[..., Any])
_BUILDING = threading.Lock()


def per_mode(factory: F) -> F:
    """Cache a kernel's ``entry(mode)`` factory: one compiled entry per mode and process, built under a lock
    (a sweep's threads may ask for the same mode at once; two closures would compile twice)."""
    cached = functools.cache(factory)

    @functools.wraps(factory)
    def entry(*mode: Any) -> Any:
        with _BUILDING:
            return cached(*mode)

    return entry  # type: ignore[return-value]


def columns_by_mode(risk: np.ndarray, columns: np.ndarray | None = None) -> list[tuple[FillMode, np.ndarray]]:
    """(mode, the int64 column indices of that mode in ascending order) for the risk records' columns (all of
    them, or `columns`); modes in the order of their first column."""
    idx = np.arange(len(risk), dtype=np.int64) if columns is None else np.asarray(columns, dtype=np.int64)
    if len(idx) == 0:
        return []
    orders = risk["order_kind"][idx] != ORDER_MARKET
    code = (risk["exec_open"][idx].astype(np.int64) * 4 + risk["long_short"][idx].astype(np.int64) * 2
            + orders.astype(np.int64))
    groups: list[tuple[FillMode, np.ndarray]] = []
    for value in dict.fromkeys(code.tolist()):  # first-seen order
        cols = idx[code == value]
        groups.append((FillMode(bool(value & 4), bool(value & 2), bool(value & 1)), np.ascontiguousarray(cols)))
    return groups


def in_column_order(rows: np.ndarray, n: int, several_groups: bool) -> None:
    """Put the first n record rows (each group's in column order, groups one after the other) back in column
    order, in place; a stable sort keeps each column's rows in time order."""
    if several_groups and n > 1:
        rows[:n] = rows[:n][np.argsort(rows[:n]["column"], kind="stable")]


__all__ = ["FillMode", "columns_by_mode", "in_column_order", "per_mode"]
