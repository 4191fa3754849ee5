"""Halve the compile time of the simulation kernels: numba's ``inline="always"`` copies IR it just built.

The fill step is written as small ``inline="always"`` functions (`simulate.py`: positions in registers, no
call per bar; un-inlined, the single-run kernel is about 3x slower). numba inlines a call by building the
callee's IR afresh (`InlineWorker.run_untyped_passes`) and then `InlineWorker.inline_ir` deep-copies that IR
twice "because it gets mutated" (once to mutate, once to return an unmutated original that the inlining pass
discards). For a fresh IR both copies are wasted, and they dominate: a column loop inlines ~180 call sites,
and one fill mode's loop took 70-90 s to compile (measured: 130 s instead of 276 s for the same loop on this
machine under load). numba tracks this as issue #8989 (the second copy; merged in numba PR #8990 for a later
release) and numba-cuda PR #689 (both copies, ``preserve_ir=False`` for a fresh callee IR).

`install` makes `InlineWorker.inline_function`, the one caller whose callee IR is always fresh, run
`inline_ir` with the two copies skipped; every other caller of `inline_ir` (closures, overloads) copies as
before. The compiled code is the same (the same IR is inlined; the test suite's oracles run on it). It is
installed only when numba's code has the shape this was written for (checked from its source); otherwise it
does nothing and compilation is only slower.
"""
from __future__ import annotations

import copy
import inspect
import threading
from typing import Any

_installed = False


class _CopyModule:
    """Stands in for the ``copy`` module inside numba's ``inline_closurecall``: `deepcopy` returns its
    argument while a fresh callee IR is being inlined (this thread), and copies otherwise."""

    def __init__(self) -> None:
        self.fresh = threading.local()

    def deepcopy(self, x: Any, memo: dict[int, Any] | None = None) -> Any:
        if getattr(self.fresh, "on", False):
            return x
        return copy.deepcopy(x, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def _expected_shape(icc: Any) -> bool:
    """True when numba's inliner is the code this patch was written for (numba 0.60 .. 0.68)."""
    worker = getattr(icc, "InlineWorker", None)
    if worker is None or getattr(icc, "copy", None) is not copy:
        return False
    try:
        inline_ir = inspect.getsource(worker.inline_ir)
        inline_function = inspect.getsource(worker.inline_function)
    except (OSError, TypeError, AttributeError):
        return False
    return ("copy.deepcopy(the_ir.blocks[block_label])" in inline_ir
            and "callee_ir = self.run_untyped_passes(function)" in inline_function)


def install() -> bool:
    """Install the fresh-IR inlining (once per process); True when it is in place."""
    global _installed
    if _installed:
        return True
    from numba.core import inline_closurecall as icc

    if not _expected_shape(icc):
        return False
    shim = _CopyModule()

    def inline_function(self: Any, caller_ir: Any, block: Any, i: int, function: Any,
                        arg_typs: Any = None) -> Any:
        callee_ir = self.run_untyped_passes(function)  # a new IR, owned by this call only
        freevars = function.__code__.co_freevars
        shim.fresh.on = True
        try:
            return self.inline_ir(caller_ir, block, i, callee_ir, freevars, arg_typs=arg_typs)
        finally:
            shim.fresh.on = False

    setattr(icc, "copy", shim)  # noqa: B010  (the module global inline_ir reads; a module type on paper)
    setattr(icc.InlineWorker, "inline_function", inline_function)  # noqa: B010
    _installed = True
    return True


__all__ = ["install"]
