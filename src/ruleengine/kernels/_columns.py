"""The one way a 2-D driver ``<op>_nb`` is made from its 1-D kernel ``<op>_1d_nb`` (numpy + numba only).

A driver takes (T, C) series plus one value per column for each parameter, checks them, and runs the 1-D
kernel on every column (numbagg's broadcasting decorator plays this part there)::

    sma_nb = drive(sma_1d_nb, "sma_nb", ("x",), ("n",), doc="2-D SMA (TA-Lib ``SMA``) ...")

The kernel is called as ``kernel(*series, *params, *options, out, *scratch)`` on column views, where
``options`` are constants of this driver (e.g. which output of the shared variance kernel) and ``scratch``
the number of length-T work columns the kernel needs.

Two column rules:

* ``missing`` (default): a NaN in any input is a missing observation. A gap-free column runs in place on
  the views of the F-ordered input and output; otherwise the rows where every input is present are
  compressed, the kernel runs on them and its output is scattered back with NaN (False for a bool output)
  on the absent rows (``_util``: ``begin*`` / ``cols*`` / ``put_back``). ``pair``: a kernel running two
  gap-free columns side by side (EMA, RSI), called as ``pair(x0, x1, n0, n1, o0, o1, *scratch0, *scratch1)``.
* ``positional``: the kernel sees every row, NaN included (comparisons with NaN are False).

Why the driver's source is generated and compiled, not a closure: numba keys its on-disk cache of a closure
on the pickled closure variables, and a captured dispatcher pickles with a per-process random id, so a
closure over its kernel recompiles in every new process (measured: a cache miss on every run). A generated
function reaches its kernel as a global instead (numba freezes globals as constants, they are not part of
the key), is named like the driver, and is compiled with the kernel's module as its file name, so its cache
entry sits next to the kernel's (``__pycache__/rolling.sma_nb-...``) and is invalidated when the kernel's
module changes, as for a hand-written driver. (As before, an edit of ``_util`` or of this module alone does
not invalidate cached drivers: numba's cache checks only the function's own file; clear ``__pycache__``.)
Like dataclasses' generated ``__init__``, the source is built from fixed templates, never from input.

Every generated driver calls ONE kernel (plus its pair variant): numba compiles every branch of a function
and every jitted function it calls, so a driver switching between kernels at run time would compile all of
them on its first call.
"""
from typing import Any

import numpy as np

from ._numba import numba  # numba with the kernel cache stamp installed
from ._util import (
    begin1,
    begin1_bool,
    begin2,
    begin3,
    begin4,
    check_float_arg,
    check_int_arg,
    check_same_shape,
    col_has_nan,
    cols1,
    cols2,
    cols3,
    cols4,
    put_back,
    put_back_bool,
)

# the first column of the scratch block of begin{k} that cols{k} leaves to the kernel
_FREE_SCRATCH = {1: 2, 2: 3, 3: 4, 4: 5}
_SCRATCH_COLUMNS = {1: 4, 2: 5, 3: 7, 4: 7}
_RESERVED = {"T", "C", "c", "p", "o", "out", "idx", "work", "xb", "ob", "kernel", "pair", "np"}
_HELPERS = {
    "np": np, "begin1": begin1, "begin2": begin2, "begin3": begin3, "begin4": begin4, "begin1_bool": begin1_bool,
    "cols1": cols1, "cols2": cols2, "cols3": cols3, "cols4": cols4, "col_has_nan": col_has_nan,
    "check_int_arg": check_int_arg, "check_float_arg": check_float_arg, "check_same_shape": check_same_shape,
    "put_back": put_back, "put_back_bool": put_back_bool,
}


def drive(kernel: Any, name: str, series: tuple[str, ...], params: tuple[str, ...] = (), *, doc: str,
          options: tuple[bool | int | float, ...] = (), scratch: int = 0, skip: tuple[str, ...] = (),
          out: str = "f", positional: bool = False, minimum: int = 1, pair: Any = None) -> Any:
    """The jitted 2-D driver ``name(*series, *params)`` of the 1-D ``kernel`` (see the module docstring).

    Args:
        kernel: the 1-D kernel (a numba dispatcher).
        name: the driver's name (``<op>_nb``).
        series: names of the (T, C) float64 inputs (bool for a positional driver of conditions).
        params: names of the per-column parameters, each optionally suffixed ``:f`` for float64 (default
            int64 with every value >= ``minimum``).
        doc: the driver's docstring (name the pandas / TA-Lib equivalent).
        options: constant arguments passed after the parameters (int -> int64, bool, float).
        scratch: length-T work columns passed after the output (missing rule only).
        skip: parameters checked but not passed to the kernel.
        out: ``"f"`` float64 or ``"b"`` bool output.
        positional: the positional column rule instead of NaN-as-missing.
        minimum: the minimum of the int parameters (below 1 only for a positional driver, e.g. a lag).
        pair: the two-column variant of a one-series, one-parameter kernel.
    """
    names = [p.split(":")[0] for p in params]
    if _RESERVED & {*series, *names}:
        raise ValueError(f"argument names {sorted(_RESERVED & {*series, *names})} are used by the templates")
    literals = tuple(_literal(v) for v in options)
    floats = {p.split(":")[0] for p in params if p.endswith(":f")}
    body = (_positional if positional else _missing)(series, names, floats, literals, scratch, skip, out,
                                                     minimum, pair is not None)
    src = f"def {name}({', '.join([*series, *names])}):\n" + "\n".join("    " + line for line in body) + "\n"
    module = kernel.py_func.__module__
    namespace = {**_HELPERS, "kernel": kernel, "pair": pair, "__name__": module}
    exec(compile(src, kernel.py_func.__code__.co_filename, "exec"), namespace)  # noqa: S102 -- fixed templates
    fn = namespace[name]
    fn.__doc__ = doc
    fn.__qualname__ = name
    fn.generated_source = src  # for reading and debugging: inspect.getsource cannot find it
    return numba.njit(cache=True, nogil=True)(fn)


def _literal(value: bool | int | float) -> str:
    # the source text of a constant argument, typed as a kernel expects it
    if isinstance(value, bool):
        return f"np.bool_({value})"
    if isinstance(value, int):
        return f"np.int64({value})"
    if isinstance(value, float):
        return repr(value)
    raise TypeError(f"unsupported option {value!r}")


def _checks(names: list[str], floats: set[str], first: str | None, minimum: int) -> list[str]:
    # the parameters not checked by begin*: int ones as check_int_arg, float ones for their length only
    lines = []
    for p in names:
        if p == first:
            continue
        if p in floats:
            lines.append(f"check_float_arg({p}, out.shape[1])")
        else:
            lines.append(f"check_int_arg({p}, out.shape[1], {minimum})")
    return lines


def _call(series_views: list[str], names: list[str], skip: tuple[str, ...], options: tuple[str, ...],
          out_view: str, scratch_views: list[str], column: str = "c") -> str:
    args = [*series_views, *(f"{p}[{column}]" for p in names if p not in skip), *options, out_view,
            *scratch_views]
    return f"kernel({', '.join(args)})"


def _missing(series: tuple[str, ...], names: list[str], floats: set[str], options: tuple[str, ...], scratch: int,
             skip: tuple[str, ...], out: str, minimum: int, paired: bool) -> list[str]:
    k = len(series)
    if minimum != 1 or not 1 <= k <= 4:
        raise ValueError("the missing rule takes 1 to 4 series (an int window first, if any)")
    if names and names[0] in floats and k != 2:
        raise ValueError("the missing rule takes an int window as the first parameter (two series: any)")
    # begin1/3/4 check the first window; begin2 takes none (its windows are checked like the others), and a
    # driver without a window hands begin* a window of 1 per column (fixed template text, nothing from input)
    first = names[0] if names and k != 2 else None
    window = first if first is not None else f"np.ones({series[0]}.shape[1], dtype=np.int64)"
    free = _FREE_SCRATCH[k]
    if free + scratch + (1 if paired else 0) > _SCRATCH_COLUMNS[k]:
        raise ValueError("not enough scratch columns")
    views = [f"{s}_" for s in series]
    if out == "b":
        if k != 1 or scratch:
            raise ValueError("a bool output takes one series and no scratch")
        lines = [f"{views[0]}, out, idx, xb, ob = begin1_bool({series[0]}, {window})"]
    else:
        begin_args = ", ".join([*series, *([window] if k != 2 else [])])
        lines = [f"{', '.join(views)}, out, idx, work = begin{k}({begin_args})"]
    lines += _checks(names, floats, first, minimum)
    scratch_views = [f"work[:, {free + j}]" for j in range(scratch)]
    first_cols = "xb, ob" if out == "b" else "work[:, 0], work[:, 1]"
    cols = (f"cols1({views[0]}, out, c, idx, {first_cols})" if k == 1
            else f"cols{k}({', '.join(views)}, out, c, idx, work)")
    cols_out = [f"{s}c" for s in series]
    put = "put_back_bool" if out == "b" else "put_back"
    loop = [f"{', '.join(cols_out)}, o = {cols}",
            _call(cols_out, names, skip, options, "o", scratch_views),
            f"{put}(out, c, idx, o)"]
    if not paired:
        return [*lines, "for c in range(out.shape[1]):", *("    " + line for line in loop), "return out"]
    if k != 1 or len(names) != 1 or options or skip or scratch > 1:
        raise ValueError("a pair kernel takes one series, one window and at most one scratch column")
    x, n = views[0], names[0]
    pair_scratch = [f"work[:, {free}]", f"work[:, {free + 1}]"][: 2 * scratch]
    pair_call = (f"pair({x}[:, p], {x}[:, c], {n}[p], {n}[c], out[:, p], out[:, c]"
                 + "".join(f", {s}" for s in pair_scratch) + ")")
    return [
        *lines,
        "p = -1  # a gap-free column waiting for its partner",
        "for c in range(out.shape[1]):",
        f"    if not col_has_nan({x}, c):",
        "        if p < 0:",
        "            p = c",
        "        else:",
        f"            {pair_call}",
        "            p = -1",
        "        continue",
        *("    " + line for line in loop),
        "if p >= 0:",
        "    " + _call([f"{x}[:, p]"], names, skip, options, "out[:, p]", scratch_views, column="p"),
        "return out",
    ]


def _positional(series: tuple[str, ...], names: list[str], floats: set[str], options: tuple[str, ...],
                scratch: int, skip: tuple[str, ...], out: str, minimum: int, paired: bool) -> list[str]:
    if paired or scratch or skip or floats:
        raise ValueError("a positional driver takes series and int parameters only")
    dtype = ", dtype=np.bool_" if out == "b" else ""
    lines = [*(f"check_same_shape({series[0]}, {s})" for s in series[1:]), f"T, C = {series[0]}.shape",
             f"out = np.empty((C, T){dtype}).T  # every row is written by the kernel"]
    lines += [f"check_int_arg({p}, C, {minimum})" for p in names]
    views = [f"{s}[:, c]" for s in series]
    return [*lines, "for c in range(C):", "    " + _call(views, names, skip, options, "out[:, c]", []),
            "return out"]
