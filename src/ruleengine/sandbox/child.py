"""Inside the locked-down child: read the job, run ``generate_signals`` per run and parameter set, write bits.

Each run (a symbol, or a ``{slot: symbol}`` pair) gets its own call with plain single-symbol DataFrames, as
seed 000 specifies: ``data = {slot: DataFrame}`` with the slot's declared columns and the bars of that run
(rows where the run has no bar at all are left out and get no signal). Every call receives fresh shallow
copies, so one call cannot change what the next one sees.

Failures become an error record (`protocol.encode_error`): the exception's type, the line of the strategy code
it came from, and a message naming the symbol and the parameters.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

from . import protocol
from .checks import ContractError, check_output, check_weights, is_price

CODE_FILENAME = "<strategy>"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _code_line(exc: BaseException) -> int | None:
    """The deepest line of the strategy code in the traceback (None when the code was not on the stack)."""
    line = None
    for frame, lineno in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_filename == CODE_FILENAME:
            line = lineno
    if line is None and isinstance(exc, SyntaxError) and exc.filename == CODE_FILENAME:
        line = exc.lineno
    return line


def _index(header: dict[str, Any], ns: Any) -> Any:
    import pandas as pd

    tz = header.get("tz")
    idx = pd.DatetimeIndex(pd.to_datetime(ns, unit="ns", utc=tz is not None))
    if tz is not None and tz != "UTC":
        idx = idx.tz_convert(tz)
    return idx.rename(header.get("index_name"))


def _frames(header: dict[str, Any], arrays: dict[tuple[str, str], Any], idx: Any, j: int) -> tuple[dict, Any, Any]:
    """Run `j`'s frames, their index and the rows they hold (None: all). Rows are those where a price slot has a
    bar, and only the first ``row_limits[j]`` of them when the job cuts this run (the lookahead check)."""
    import numpy as np
    import pandas as pd

    limits = header.get("row_limits")
    limit = len(idx) if limits is None else int(limits[j])
    present = np.zeros(len(idx), dtype=bool)
    price = [arrays[(s, c)][:, j] for s in header["price_slots"] for c in header["slots"].get(s, [])]
    if price:
        for v in price:
            present |= ~np.isnan(v)
    else:
        present[:] = True
    present[limit:] = False
    rows = None if present.all() else np.flatnonzero(present)
    sub = idx if rows is None else idx[rows]
    frames = {}
    for slot, cols in header["slots"].items():
        values = {c: (arrays[(slot, c)][:, j] if rows is None else arrays[(slot, c)][rows, j]) for c in cols}
        frames[slot] = pd.DataFrame(values, index=sub, columns=list(cols), dtype=np.float64)
    return frames, sub, rows


def run_job(memfd: int, out_w: int, progress_fd: int, call_cpu_seconds: int) -> int:
    """Run the job in `memfd`; write the result to `out_w`; report each call in `progress_fd` and give it
    `call_cpu_seconds` of CPU time (`CallBudget`). Returns the exit code."""
    import numpy as np

    _no_jit_cache()
    budget = CallBudget(protocol.ProgressWriter(progress_fd), call_cpu_seconds)
    label: str = ""
    params: dict[str, Any] = {}
    try:
        header, ns, arrays, _m = protocol.decode_job(memfd)
        idx = _index(header, ns)
        namespace: dict[str, Any] = {"__name__": "strategy"}
        exec(compile(header["code"], CODE_FILENAME, "exec"), namespace)  # noqa: S102 - this IS the sandbox
        if header.get("universe"):
            out = _run_weights(header, arrays, idx, namespace, budget)
            _flush()
            _write_all(out_w, out)
            return 0
        fn = namespace.get("generate_signals")
        if not callable(fn):
            raise ContractError("the code defines no function generate_signals(data, params)")
        rows_n, cols_n, sets = len(idx), len(header["labels"]), header["param_sets"]
        names = tuple(header["signals"])
        # the signals, then the order levels (NaN: no order) of a strategy with limit or stop entry orders
        signals = [[np.zeros((rows_n, cols_n), dtype=bool) if not is_price(name) else np.full((rows_n, cols_n), np.nan)
                    for _ in sets] for name in names]
        for j, label in enumerate(header["labels"]):  # noqa: B007 - the error record below names the symbol
            frames, sub, rows = _frames(header, arrays, idx, j)
            for p, params in enumerate(sets):
                data = {k: v.copy(deep=False) for k, v in frames.items()}
                budget.start(j * len(sets) + p + 1)
                returned = check_output(fn(data, dict(params)), sub, names)
                for per_set, values in zip(signals, returned, strict=True):
                    if rows is None:
                        per_set[p][:, j] = values
                    else:
                        per_set[p][rows, j] = values
        budget.done()
        n_signals = protocol.counts(names)[0]
        out = protocol.encode_signals(signals[:n_signals], rows_n, cols_n, signals[n_signals:])
    except BaseException as exc:  # noqa: BLE001 - every failure of the code becomes an error record
        kind = type(exc).__name__
        message = _message(exc)
        if label:
            message += f" (symbol {label}, parameters {short_params(params)})"
        _flush()
        try:
            _write_all(out_w, protocol.encode_error(kind, message, _code_line(exc)))
        except OSError:
            pass
        return 1
    _flush()
    _write_all(out_w, out)
    return 0


def _universe_frames(header: dict[str, Any], arrays: dict[tuple[str, str], Any], idx: Any, first: int, width: int,
                     limit: int) -> dict[str, Any]:
    """The frames one call of generate_weights sees: per slot a DataFrame of the first `limit` bars whose columns
    are (column, symbol), so that ``data["prices"]["close"]`` is a bars x symbols DataFrame."""
    import numpy as np
    import pandas as pd

    symbols = [str(x) for x in header["labels"][first:first + width]]
    frames = {}
    for slot, cols in header["slots"].items():
        block = np.hstack([arrays[(slot, c)][:limit, first:first + width] for c in cols]) if cols else \
            np.empty((limit, 0))
        columns = pd.MultiIndex.from_product([list(cols), symbols], names=["column", "symbol"])
        frames[slot] = pd.DataFrame(block, index=idx[:limit], columns=columns, dtype=np.float64)
    return frames


def _run_weights(header: dict[str, Any], arrays: dict[tuple[str, str], Any], idx: Any, namespace: dict[str, Any],
                 budget: CallBudget) -> bytes:
    """A `protocol.WEIGHTS` job: generate_weights once per universe copy (the lookahead check's cuts are copies
    seeing fewer bars) and parameter set; rows a copy does not see stay 0."""
    import numpy as np

    fn = namespace.get("generate_weights")
    if not callable(fn):
        raise ContractError("the code defines no function generate_weights(data, params) (a rotation's code "
                            "returns target weights)")
    rows_n, cols_n, sets = len(idx), len(header["labels"]), header["param_sets"]
    width = int(header["universe"])
    limits = header.get("row_limits")
    weights = [np.zeros((rows_n, cols_n)) for _ in sets]
    call = 0
    for first in range(0, cols_n, width):
        limit = rows_n if limits is None else int(limits[first])
        frames = _universe_frames(header, arrays, idx, first, width, limit)
        symbols = [str(x) for x in header["labels"][first:first + width]]
        for p, params in enumerate(sets):
            data = {k: v.copy(deep=False) for k, v in frames.items()}
            call += 1
            budget.start(call)
            weights[p][:limit, first:first + width] = check_weights(fn(data, dict(params)), idx[:limit], symbols)
    budget.done()
    return protocol.encode_weights(weights, rows_n, cols_n)


class CallBudget:
    """Each call's own CPU limit: before a call, the soft RLIMIT_CPU becomes the CPU used so far plus the call's
    budget (never above the run's hard limit, which stays); the call number goes to the engine, whose wall clock
    also limits each call. SIGXCPU at the soft limit kills the child; the engine names the call."""

    def __init__(self, progress: protocol.ProgressWriter, call_cpu_seconds: int) -> None:
        import resource

        self._progress = progress
        self._call = max(1, int(call_cpu_seconds))
        self._soft, self._hard = resource.getrlimit(resource.RLIMIT_CPU)

    def start(self, call: int) -> None:
        import math
        import resource

        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = math.ceil(used.ru_utime + used.ru_stime + self._call)
        runs = False
        if self._hard != resource.RLIM_INFINITY and soft >= self._hard - 1:
            soft, runs = self._hard - 1, True  # the hard limit is the run's budget + 1 s (SIGKILL)
        self._progress.set(call, runs)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, self._hard))

    def done(self) -> None:
        import resource

        self._progress.set(protocol.CALL_DONE)
        resource.setrlimit(resource.RLIMIT_CPU, (self._soft, self._hard))


def _message(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return "the code called exit() before returning its signals"
    if isinstance(exc, KeyboardInterrupt):
        return "the code was interrupted"
    text = str(exc)
    return (text[:2000] + "...") if len(text) > 2000 else (text or type(exc).__name__)


def short_params(params: dict[str, Any]) -> str:
    shown = {k: v for k, v in params.items() if k not in ("execution_frequency", "execution_price")}
    return repr(shown)[:300]


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001, S110 - the code may have closed or replaced them
            pass


def _no_jit_cache() -> None:
    """numba may compile a new specialisation for the code: keep it in memory (no file writes are allowed)."""
    caching = sys.modules.get("numba.core.caching")
    if caching is not None:
        caching.Cache.save_overload = lambda self, sig, data: None


__all__ = ["CODE_FILENAME", "CallBudget", "run_job", "short_params"]
