"""A sweep's combinations as arrays: which signal set and which risk spec each one uses, split into chunks.

A grid has thousands of combinations but far fewer distinct signal sets (the strategy's parameters) and risk
specs (stop, take profit, ... values). `plan_chunks` finds them once for the whole grid (keys built at C
speed with `operator.itemgetter`), and each chunk is a `PreparedChunk`: its distinct signal sets, its risk
specs and two index arrays. `evaluate_chunk` uses them as they are instead of deduplicating full parameter
dicts again; runners ship them to worker processes as they ship any chunk (it pickles, and slicing it, as
the Dask runner does, gives a smaller `PreparedChunk`).
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


class PreparedChunk(Sequence[dict[str, Any]]):
    """Combinations of one chunk: combination i uses ``sig_sets[u[i]]`` and ``risks[r[i]]``.

    `sig_sets` are the strategy-parameter dicts given to the compiler; `risk_values` the risk-field dicts
    behind `risks` (the resolved `RiskSpec` of each). Indexing gives combination i as one full parameter dict
    (as the list of dicts a chunk otherwise is); a slice gives the chunk of those combinations.

    A plain class on purpose, not a dataclass: Dask walks the fields of dataclass arguments looking for
    tasks, which left stray tasks on the scheduler when a sweep was cancelled.
    """

    __slots__ = ("r", "risk_values", "risks", "sig_sets", "u")

    def __init__(self, sig_sets: list[dict[str, Any]], risk_values: list[dict[str, Any]], risks: list[Any],
                 u: np.ndarray, r: np.ndarray) -> None:
        self.sig_sets, self.risk_values, self.risks, self.u, self.r = sig_sets, risk_values, risks, u, r

    def __len__(self) -> int:
        return int(self.u.size)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            u, r = self.u[i], self.r[i]
            su, u_local = np.unique(u, return_inverse=True)
            sr, r_local = np.unique(r, return_inverse=True)
            return PreparedChunk([self.sig_sets[j] for j in su.tolist()],
                                 [self.risk_values[j] for j in sr.tolist()], [self.risks[j] for j in sr.tolist()],
                                 u_local.reshape(-1).astype(np.int64), r_local.reshape(-1).astype(np.int64))
        return {**self.risk_values[int(self.r[i])], **self.sig_sets[int(self.u[i])]}


def _ids(combos: Sequence[Mapping[str, Any]], names: Sequence[str]) -> tuple[np.ndarray, list[Any]]:
    """Per combination, the number of its values of `names` (first-seen order), and those values."""
    if not names:
        return np.zeros(len(combos), dtype=np.int64), [()]
    get = operator.itemgetter(*names)
    index: dict[Any, int] = {}
    ids = np.fromiter((index.setdefault(k, len(index)) for k in map(get, combos)), dtype=np.int64,
                      count=len(combos))
    keys = [k if len(names) > 1 else (k,) for k in index]
    return ids, keys


@dataclass
class ChunkPlan:
    """The chunks of a sweep: `order[c]` are the combination indices of chunk c (grouped by signal set)."""

    order: list[np.ndarray]
    sig_ids: np.ndarray
    sig_sets: list[dict[str, Any]]
    risk_ids: np.ndarray
    risk_values: list[dict[str, Any]]
    risks: list[Any]

    @property
    def n_sets(self) -> int:
        return len(self.sig_sets)


def plan_chunks(strategy: Any, combos: list[dict[str, Any]], axes: Sequence[str], fixed: Mapping[str, Any],
                signal_names: Sequence[str], risk_names: Sequence[str], size: Any) -> ChunkPlan:
    """Distinct signal sets and risk specs of `combos` (each has every axis), chunks of `size(n_sets)` sets.

    Args:
        strategy: the `TradingStrategy` (risk fields are resolved against its document and timeframe).
        combos: the combinations, one value per axis each.
        axes: the swept names; `fixed`: the values of names that are not swept.
        signal_names / risk_names: the strategy parameters / risk fields.
        size: called with the number of distinct signal sets, returns the signal sets per chunk.
    """
    from ..backtest.risk import resolve_risk

    sig_axes = [n for n in signal_names if n in axes]
    risk_axes = [n for n in risk_names if n in axes]
    fixed_sig = {n: fixed[n] for n in signal_names if n in fixed}
    fixed_risk = {n: fixed[n] for n in risk_names if n in fixed}
    sig_ids, sig_keys = _ids(combos, sig_axes)
    risk_ids, risk_keys = _ids(combos, risk_axes)
    sig_sets = [{**fixed_sig, **dict(zip(sig_axes, k, strict=True))} for k in sig_keys]
    risk_values = [{**fixed_risk, **dict(zip(risk_axes, k, strict=True))} for k in risk_keys]
    risks = [resolve_risk(strategy, v) for v in risk_values]
    per = max(1, int(size(len(sig_sets))))
    by_set = np.argsort(sig_ids, kind="stable")  # combinations grouped by signal set, first-seen order
    bounds = np.searchsorted(sig_ids[by_set], np.arange(0, len(sig_sets) + per, per))
    order = [by_set[a:b] for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True) if b > a]
    return ChunkPlan(order, sig_ids, sig_sets, risk_ids, risk_values, risks)


class PreparedChunks(Sequence[PreparedChunk]):
    """The chunks of a `ChunkPlan`, each built when a runner asks for it."""

    def __init__(self, plan: ChunkPlan) -> None:
        self.plan = plan

    def __len__(self) -> int:
        return len(self.plan.order)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        rows = self.plan.order[i]
        su, u = np.unique(self.plan.sig_ids[rows], return_inverse=True)
        sr, r = np.unique(self.plan.risk_ids[rows], return_inverse=True)
        p = self.plan
        return PreparedChunk([p.sig_sets[j] for j in su.tolist()], [p.risk_values[j] for j in sr.tolist()],
                             [p.risks[j] for j in sr.tolist()], u.reshape(-1).astype(np.int64),
                             r.reshape(-1).astype(np.int64))
