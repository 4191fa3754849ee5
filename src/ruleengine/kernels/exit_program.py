"""The exit program of a strategy, run by the fill step for a held position (numpy + numba only).

An exit condition that uses position variables is compiled (`ruleengine.compile.exit_program`) into per-bar
level rows and a postfix program of `ExitOp` codes (``ops``, int64) with their operands (``args``,
float64): the level's number (row ``first_row`` + number of the ``levels`` array), a position variable's
index, or a constant. `run_exit_program_nb` evaluates it on a stack of float64 (true/false as 1.0/0.0) with
the language's rules: a comparison involving NaN is false (``!=`` too), ``x / 0`` is inf or NaN, min / max
of NaN is NaN. One program per side serves every column of a run (a long_short strategy's ``short_exit``
program follows the ``exit`` block's in the same ``ops`` / ``args``).

Position variables (index order of `ruleengine.lang.position.POSITION_INDEX`): entry_price, bars_held,
unrealized_pct, highest_since_entry, lowest_since_entry; `exit_program_nb` takes them from a position.
"""
import numpy as np

from ._inline_compile import install as _fresh_ir_inlining
from ._numba import numba  # numba with the kernel cache stamp installed
from .enums import ExitOp

_fresh_ir_inlining()  # before any compile: this module's inline="always" functions (see _inline_compile)

#: stack size of a program (the compiler refuses deeper ones)
MAX_STACK = 64


@numba.njit(cache=True, inline="always")
def _truth(v):
    return v != 0.0 and not np.isnan(v)


@numba.njit(cache=True, inline="always")
def _compare(op, a, b):
    if np.isnan(a) or np.isnan(b):
        return 0.0
    if op == ExitOp.lt:
        r = a < b
    elif op == ExitOp.le:
        r = a <= b
    elif op == ExitOp.gt:
        r = a > b
    elif op == ExitOp.ge:
        r = a >= b
    elif op == ExitOp.eq:
        r = a == b
    else:
        r = a != b
    return 1.0 if r else 0.0


@numba.njit(cache=True, error_model="numpy")
def run_exit_program_nb(ops, args, begin, end, levels, first_row, q, t, variables, stack):
    """The value at bar t of signal column q of the program ``ops[begin:end]`` (a run's ops hold a long_short
    strategy's two programs one after the other: the ``exit`` block's, then the ``short_exit`` block's) whose
    levels start at row `first_row` (`variables`: the position variables as a tuple of float64; `stack`: a
    float64 scratch array of `MAX_STACK`). Same arithmetic as `ExitProgram.evaluate`."""
    top = 0
    for i in range(begin, end):
        op = ops[i]
        if op == ExitOp.level:
            stack[top] = levels[first_row + int(args[i]), q, t]
            top += 1
        elif op == ExitOp.var:
            k = int(args[i])
            v = np.nan
            for m in range(5):  # a tuple is indexed by constants only: pick the variable
                if m == k:
                    v = variables[m]
            stack[top] = v
            top += 1
        elif op == ExitOp.const:
            stack[top] = args[i]
            top += 1
        elif op == ExitOp.neg:
            stack[top - 1] = -stack[top - 1]
        elif op == ExitOp.not_:
            stack[top - 1] = 0.0 if _truth(stack[top - 1]) else 1.0
        elif op == ExitOp.abs:
            stack[top - 1] = abs(stack[top - 1])
        elif op == ExitOp.sqrt:
            stack[top - 1] = np.sqrt(stack[top - 1])
        elif op == ExitOp.exp:
            stack[top - 1] = np.exp(stack[top - 1])
        elif op == ExitOp.log:
            stack[top - 1] = np.log(stack[top - 1])
        elif op == ExitOp.clip or op == ExitOp.where:
            c = stack[top - 1]
            b = stack[top - 2]
            a = stack[top - 3]
            top -= 2
            if op == ExitOp.where:
                r = b if _truth(a) else c
            elif np.isnan(a) or np.isnan(b) or np.isnan(c):
                r = np.nan
            else:
                r = min(max(a, b), c)
            stack[top - 1] = r
        else:
            b = stack[top - 1]
            a = stack[top - 2]
            top -= 1
            if op == ExitOp.add:
                r = a + b
            elif op == ExitOp.sub:
                r = a - b
            elif op == ExitOp.mul:
                r = a * b
            elif op == ExitOp.div:
                r = a / b
            elif op == ExitOp.and_:
                r = 1.0 if _truth(a) and _truth(b) else 0.0
            elif op == ExitOp.or_:
                r = 1.0 if _truth(a) or _truth(b) else 0.0
            elif op == ExitOp.min:
                r = np.nan if np.isnan(a) or np.isnan(b) else min(a, b)
            elif op == ExitOp.max:
                r = np.nan if np.isnan(a) or np.isnan(b) else max(a, b)
            elif op == ExitOp.pow:  # numpy's np.power (the columns'): -inf to a positive fractional power is NaN
                r = np.nan if a == -np.inf and 0.0 < b < np.inf and np.floor(b) != b else a ** b  # (C's pow: inf)
            else:
                r = _compare(op, a, b)
            stack[top - 1] = r
    return _truth(stack[0]) if top > 0 else False
