"""The fresh-IR inlining of `ruleengine.kernels._inline_compile`: in place for the numba this project pins, and
inlined code computes what the Python functions compute (the same callee inlined at several sites, nested,
with loops and tuples: each site gets its own IR). The simulation oracles (test_backtest_engine, test_orders,
test_exits, ...) run on kernels compiled with it."""
from __future__ import annotations

import copy

import numba
import numpy as np
import pytest

from ruleengine.kernels import _inline_compile, simulate  # noqa: F401  (simulate installs it)


def test_installed_for_the_pinned_numba() -> None:
    from numba.core import inline_closurecall as icc

    assert _inline_compile.install() is True
    assert icc.InlineWorker.inline_function.__module__ == _inline_compile.__name__
    assert isinstance(icc.copy, _inline_compile._CopyModule)


def test_the_copy_stand_in_copies_outside_a_fresh_inlining() -> None:
    shim = _inline_compile._CopyModule()
    data = {"a": [1, 2]}
    out = shim.deepcopy(data)
    assert out == data and out is not data and out["a"] is not data["a"]
    assert shim.copy is copy.copy  # the rest of the module passes through
    shim.fresh.on = True
    assert shim.deepcopy(data) is data


@numba.njit(inline="always")
def _step(state, x):
    total, peak = state
    total += x
    if total > peak:
        peak = total
    return total, peak


@numba.njit(inline="always")
def _two_steps(state, x, y):
    return _step(_step(state, x), y)


@numba.njit
def _run(xs):
    state = (0.0, -np.inf)
    other = (0.0, -np.inf)
    for i in range(0, len(xs) - 1, 2):
        state = _two_steps(state, xs[i], xs[i + 1])
        other = _step(other, -xs[i])
    return state[0], state[1], other[0], other[1]


def _run_py(xs):
    state, other = (0.0, -np.inf), (0.0, -np.inf)

    def step(s, x):
        total, peak = s[0] + x, s[1]
        return total, max(peak, total)

    for i in range(0, len(xs) - 1, 2):
        state = step(step(state, xs[i]), xs[i + 1])
        other = step(other, -xs[i])
    return state[0], state[1], other[0], other[1]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inlined_calls_compute_what_python_computes(seed: int) -> None:
    xs = np.random.default_rng(seed).normal(size=41)
    assert _run(xs) == pytest.approx(_run_py(xs), rel=1e-15)
