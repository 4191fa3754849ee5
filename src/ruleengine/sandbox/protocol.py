"""The fixed raw format between the engine and a sandboxed child. Never pickle, never Arrow.

**Job (engine -> child)**: one sealed memfd the child maps read-only (copy-on-write)::

    b"RESBXJ01" | u64 header length | header (JSON, written by the engine) | padding to 64 | arrays

The header holds the code, the parameter sets, the index (as int64 nanoseconds plus a time zone), the column
labels and, for every (slot, column), the byte offset of its (rows x columns) float64 matrix, column-major
(each run's values are contiguous). JSON is only ever parsed by the child, which trusts the engine.

**Result (child -> engine)**, through a pipe, parsed by the engine, which trusts nothing in it::

    b"RESBXR01" | u32 status | u32 sets | u64 rows | u64 columns | u64 payload length | payload

**Progress (child -> engine)**: a small memfd both map: a little-endian int64, the number of the call of
``generate_signals`` the child is in (1-based, run-major: call ``j * sets + p + 1`` is run ``j`` with
parameter set ``p``), 0 before the first call, -1 after the last. The engine reads it for its per-call wall
clock and to name the run and parameter set a limit stopped; it trusts it no further (forging it can only
stretch a call up to the run's own limit).

``status`` 0: the payload is exactly ``k * sets * columns * ceil(rows / 8)`` bytes: per set and column, the
bits of each of the job's k signals in order (`Job.signals`: entries, exits, and short entries, short exits
for a long_short strategy; `numpy.packbits`, big-endian bit order), then, for a strategy with limit or stop
entry orders, ``m * sets * columns * rows * 8`` bytes: per set and column, each of its m order levels
(`checks.PRICE_NAMES`) as little-endian float64. Any other status: the payload is
at most `MAX_ERROR_BYTES` of UTF-8 text ``kind\\nline\\nmessage``. `read_result` checks every field against
what the engine asked for before it allocates anything, so a hostile child cannot make the engine allocate
or parse more than the expected result.

Example:
    >>> h = result_header(0, 1, 10, 1, 4)
    >>> parse_result_header(h, sets=1, rows=10, cols=1).payload
    4
"""

from __future__ import annotations

import json
import math
import mmap
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

JOB_MAGIC = b"RESBXJ01"
RESULT_MAGIC = b"RESBXR01"
_RESULT = struct.Struct("<8sIIQQQ")
RESULT_HEADER_BYTES = _RESULT.size
MAX_ERROR_BYTES = 64 << 10
#: the header JSON is small; a bigger one is a bug (or a 20 KB code limit not enforced)
MAX_JOB_HEADER_BYTES = 64 << 20

STATUS_OK = 0
STATUS_ERROR = 1  # the code raised, or its output broke the contract (kind says which)
STATUS_LOCKDOWN = 2  # a lockdown step failed: nothing ran


class ProtocolError(ValueError):
    """The child's result does not follow the format (or does not match the job)."""


# ----------------------------------------------------------------------------------------------- the job


@dataclass
class Job:
    """Everything one sandboxed run needs (the engine builds it; the child reads it back)."""

    code: str
    param_sets: list[dict[str, Any]]
    index: np.ndarray  # int64 nanoseconds since the epoch
    tz: str | None
    labels: list[str]
    slots: dict[str, list[str]]  # slot -> columns, in the order the code sees them
    price_slots: list[str]  # slots whose all-NaN rows mean "no bar" for a run
    arrays: dict[tuple[str, str], np.ndarray]  # (slot, column) -> (rows, cols) float64
    index_name: str | None = None
    #: per column, how many rows of the data its calls see (None: all): the lookahead check's cut copies
    row_limits: list[int] | None = None
    #: the signals generate_signals returns, in order (`SIGNAL_NAMES` or its first two); `WEIGHTS`: the code's
    #: generate_weights returns a universe's target weights instead
    signals: tuple[str, ...] = ("entries", "exits")
    #: a `WEIGHTS` job: the columns of one universe (each call sees that many; cut copies follow each other)
    universe: int | None = None

    @property
    def n_rows(self) -> int:
        return len(self.index)

    @property
    def n_cols(self) -> int:
        return len(self.labels)


def _aligned(n: int) -> int:
    return (n + 63) // 64 * 64


def encode_job(job: Job) -> int:
    """A sealed memfd holding `job` (the caller closes it). Copies each matrix once."""
    keys = list(job.arrays)
    header: dict[str, Any] = {"code": job.code, "param_sets": job.param_sets, "tz": job.tz,
                              "labels": [str(x) for x in job.labels], "slots": job.slots,
                              "price_slots": job.price_slots, "rows": job.n_rows, "cols": job.n_cols,
                              "index_name": job.index_name, "row_limits": job.row_limits,
                              "signals": list(job.signals), "universe": job.universe, "arrays": []}
    nbytes = job.n_rows * job.n_cols * 8
    # offsets are relative to the data start, so the header's own length does not depend on them
    offset = _aligned(job.n_rows * 8)  # the index comes first
    for slot, col in keys:
        header["arrays"].append([slot, col, offset])
        offset += _aligned(nbytes)
    head = json.dumps(header, separators=(",", ":")).encode()  # NaN parameters stay NaN (JSON superset)
    data_start = _aligned(len(JOB_MAGIC) + 8 + len(head))
    total = data_start + offset
    fd = os.memfd_create("ruleengine-sandbox-job", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, max(total, 1))
        with mmap.mmap(fd, max(total, 1), mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as m:
            m[:len(JOB_MAGIC)] = JOB_MAGIC
            m[8:16] = struct.pack("<Q", len(head))
            m[16:16 + len(head)] = head
            idx = np.ndarray((job.n_rows,), dtype=np.int64, buffer=m, offset=data_start)
            idx[:] = job.index
            for (slot, col), (_, _, off) in zip(keys, header["arrays"], strict=True):
                dst = np.ndarray((job.n_rows, job.n_cols), dtype=np.float64, buffer=m, offset=data_start + off,
                                 order="F")
                dst[...] = job.arrays[(slot, col)]
                del dst
            del idx
        import fcntl

        # sealed: the child (or anyone holding the fd) can no longer change what the engine sent
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
                    | fcntl.F_SEAL_SEAL)
    except BaseException:
        os.close(fd)
        raise
    return fd


def decode_job(fd: int) -> tuple[dict[str, Any], np.ndarray, dict[tuple[str, str], np.ndarray], mmap.mmap]:
    """(header, index ns, arrays) from a job memfd (child side). Arrays are private copy-on-write views."""
    size = os.fstat(fd).st_size
    m = mmap.mmap(fd, size, mmap.MAP_PRIVATE, mmap.PROT_READ | mmap.PROT_WRITE)
    if m[:8] != JOB_MAGIC:
        raise ProtocolError("not a sandbox job")
    (hlen,) = struct.unpack("<Q", m[8:16])
    if hlen > MAX_JOB_HEADER_BYTES:
        raise ProtocolError("job header too large")
    header = json.loads(bytes(m[16:16 + hlen]))
    data_start = _aligned(16 + hlen)
    rows, cols = int(header["rows"]), int(header["cols"])
    index = np.ndarray((rows,), dtype=np.int64, buffer=m, offset=data_start)
    arrays = {(s, c): np.ndarray((rows, cols), dtype=np.float64, buffer=m, offset=data_start + off, order="F")
              for s, c, off in header["arrays"]}
    return header, index, arrays, m


# ----------------------------------------------------------------------------------------------- progress

PROGRESS_BYTES = 4096  # one page (the child maps it; writes through a mapping are not file writes for FSIZE)
CALL_SETUP, CALL_DONE = 0, -1
_PROGRESS = struct.Struct("<q")
#: after the call number: whether the call's own CPU limit is the run's (1) or below it (0), for the message
_CALL_LIMIT_IS_RUNS = struct.Struct("<q")


def progress_fd() -> int:
    """A fresh progress memfd holding `CALL_SETUP` (the caller closes it)."""
    fd = os.memfd_create("ruleengine-sandbox-progress", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, PROGRESS_BYTES)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_progress(fd: int) -> int:
    """The call the child reported last (engine side)."""
    raw = os.pread(fd, _PROGRESS.size, 0)
    return int(_PROGRESS.unpack(raw)[0]) if len(raw) == _PROGRESS.size else CALL_SETUP


def call_limit_is_runs(fd: int) -> bool:
    """Whether the CPU limit of the call the child reported last was the run's own (its per-call limit reached
    past what the run had left): a kill at that limit is then the run's, not the call's. Only the wording of
    the error depends on it (code that writes the page itself changes that wording, never the limits)."""
    raw = os.pread(fd, _CALL_LIMIT_IS_RUNS.size, _PROGRESS.size)
    return len(raw) == _CALL_LIMIT_IS_RUNS.size and _CALL_LIMIT_IS_RUNS.unpack(raw)[0] == 1


class ProgressWriter:
    """The child's side: ``writer.set(call, limit_is_runs)`` before each call, ``writer.set(CALL_DONE)`` after
    the last."""

    def __init__(self, fd: int) -> None:
        self._map = mmap.mmap(fd, PROGRESS_BYTES, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)

    def set(self, call: int, limit_is_runs: bool = False) -> None:
        _CALL_LIMIT_IS_RUNS.pack_into(self._map, _PROGRESS.size, int(limit_is_runs))
        _PROGRESS.pack_into(self._map, 0, call)


def call_of(call: int, sets: int) -> tuple[int, int] | None:
    """(run, parameter set) of a 1-based call number, or None outside the calls."""
    if call < 1 or sets < 1:
        return None
    return divmod(call - 1, sets)


# ----------------------------------------------------------------------------------------------- the result


#: `Job.signals` of a generate_weights job: per parameter set one (rows, cols) float64 matrix of weights
WEIGHTS = ("weights",)


def signal_count(names: Sequence[str]) -> int:
    """The ``signals`` argument of the result functions for a job returning `names` (0: `WEIGHTS`)."""
    return 0 if tuple(names) == WEIGHTS else len(names)


def bits_per_column(rows: int) -> int:
    """Bytes of one packed boolean column."""
    return math.ceil(rows / 8)


def counts(names: Sequence[str]) -> tuple[int, int]:
    """(signals, order levels) of what generate_signals returns (`Job.signals`; (0, 0) for `WEIGHTS`)."""
    from .checks import is_price

    prices = sum(1 for n in names if is_price(n))
    return signal_count(names) - prices, prices


def result_size(sets: int, rows: int, cols: int, signals: int = 2, prices: int = 0) -> int:
    """Payload bytes of a successful result of `signals` signals and `prices` order levels per run (signals 0:
    float64 weights, `WEIGHTS`)."""
    if signals == 0:
        return 8 * sets * rows * cols
    return signals * sets * cols * bits_per_column(rows) + prices * sets * cols * rows * 8


def result_header(status: int, sets: int, rows: int, cols: int, payload: int) -> bytes:
    return _RESULT.pack(RESULT_MAGIC, status, sets, rows, cols, payload)


def encode_signals(signals: Sequence[Sequence[np.ndarray]], rows: int, cols: int,
                   prices: Sequence[Sequence[np.ndarray]] = ()) -> bytes:
    """Header + payload for per-set (rows, cols) bool matrices of each signal (child side): ``signals[i][p]``
    is signal i (`Job.signals`) of parameter set p; ``prices[i][p]`` the float64 matrix of order level i."""
    parts = []
    k = len(signals)
    for per_set in zip(*signals, strict=True):
        packed = np.empty((cols, k, rows), dtype=np.bool_)
        for i, matrix in enumerate(per_set):
            packed[:, i, :] = np.asarray(matrix, dtype=np.bool_).T
        parts.append(np.packbits(packed, axis=2).tobytes())
    for per_set in zip(*prices, strict=True):
        levels = np.empty((cols, len(prices), rows), dtype="<f8")
        for i, matrix in enumerate(per_set):
            levels[:, i, :] = np.asarray(matrix, dtype=np.float64).T
        parts.append(levels.tobytes())
    payload = b"".join(parts)
    return result_header(STATUS_OK, len(signals[0]), rows, cols, len(payload)) + payload


def encode_weights(weights: Sequence[np.ndarray], rows: int, cols: int) -> bytes:
    """Header + payload for per-set (rows, cols) float64 weights (child side of a `WEIGHTS` job)."""
    payload = b"".join(np.ascontiguousarray(w, dtype="<f8").tobytes() for w in weights)
    return result_header(STATUS_OK, len(weights), rows, cols, len(payload)) + payload


def decode_weights(payload: bytes | bytearray | memoryview, sets: int, rows: int, cols: int) -> np.ndarray:
    """(rows, sets*cols) float64 weights, set-major (the layout of `decode_signals`' arrays)."""
    raw = np.frombuffer(payload, dtype="<f8")
    if raw.size * 8 != result_size(sets, rows, cols, 0):
        raise ProtocolError("result payload has the wrong size")
    return np.hstack(list(raw.reshape(sets, rows, cols))) if sets else np.empty((rows, 0))


def encode_error(kind: str, message: str, line: int | None = None, status: int = STATUS_ERROR) -> bytes:
    """Header + a short error text (child side)."""
    text = f"{kind}\n{line if line is not None else ''}\n{message}".encode("utf-8", "replace")[:MAX_ERROR_BYTES]
    return result_header(status, 0, 0, 0, len(text)) + text


@dataclass(frozen=True)
class ResultHeader:
    status: int
    sets: int
    rows: int
    cols: int
    payload: int


def parse_result_header(raw: bytes, *, sets: int, rows: int, cols: int, signals: int = 2,
                        prices: int = 0) -> ResultHeader:
    """Check a result header against the job; raises `ProtocolError` for anything unexpected."""
    if len(raw) != RESULT_HEADER_BYTES:
        raise ProtocolError(f"result header has {len(raw)} bytes, expected {RESULT_HEADER_BYTES}")
    magic, status, n_sets, n_rows, n_cols, payload = _RESULT.unpack(raw)
    if magic != RESULT_MAGIC:
        raise ProtocolError("result does not start with the expected marker")
    if status == STATUS_OK:
        if (n_sets, n_rows, n_cols) != (sets, rows, cols):
            raise ProtocolError(f"result shape ({n_sets} sets, {n_rows} rows, {n_cols} columns) differs from the "
                                f"job ({sets}, {rows}, {cols})")
        if payload != result_size(sets, rows, cols, signals, prices):
            raise ProtocolError(f"result payload of {payload} bytes, expected "
                                f"{result_size(sets, rows, cols, signals, prices)}")
    elif status in (STATUS_ERROR, STATUS_LOCKDOWN):
        if payload > MAX_ERROR_BYTES:
            raise ProtocolError(f"error text of {payload} bytes exceeds {MAX_ERROR_BYTES}")
    else:
        raise ProtocolError(f"unknown result status {status}")
    return ResultHeader(status, n_sets, n_rows, n_cols, payload)


def decode_signals(payload: bytes | bytearray | memoryview, sets: int, rows: int, cols: int, signals: int = 2,
                   prices: int = 0) -> tuple[np.ndarray, ...]:
    """(rows, sets*cols) bool arrays, one per signal (entries, exits[, short entries, short exits]), then float64
    arrays, one per order level, set-major (as a `SignalSet`'s)."""
    raw = np.frombuffer(payload, dtype=np.uint8)
    if raw.size != result_size(sets, rows, cols, signals, prices):
        raise ProtocolError("result payload has the wrong size")
    n_bits = signals * sets * cols * bits_per_column(rows)
    bits = np.unpackbits(raw[:n_bits].reshape(sets * cols, signals, bits_per_column(rows)), axis=2, count=rows)
    bits = bits.view(np.bool_)
    levels = raw[n_bits:].view("<f8").reshape(sets * cols, prices, rows)
    return (tuple(np.asfortranarray(bits[:, i, :].T) for i in range(signals))
            + tuple(np.asfortranarray(levels[:, i, :].T.astype(np.float64)) for i in range(prices)))


def decode_error(payload: bytes) -> tuple[str, int | None, str]:
    """(kind, code line or None, message) of an error payload (text is only ever shown, never evaluated)."""
    text = bytes(payload).decode("utf-8", "replace")
    kind, _, rest = text.partition("\n")
    line, _, message = rest.partition("\n")
    kind = "".join(ch for ch in kind if ch.isalnum() or ch in "_.")[:80] or "Error"
    return kind, int(line) if line.isdigit() else None, message


def job_from_inputs(code: str, inputs: Mapping[tuple[str, str], np.ndarray], index: Any, labels: Sequence[Any],
                    slots: Mapping[str, Sequence[str]], price_slots: Sequence[str],
                    param_sets: Sequence[Mapping[str, Any]], columns: Sequence[int] | None = None,
                    cuts: Sequence[int] = (), signals: Sequence[str] = ("entries", "exits")) -> Job:
    """A `Job` from engine arrays: optionally only some `columns`; with `cuts`, those columns again once per cut,
    each copy seeing only the first `cut` rows (the lookahead check: one run computes every cut). `signals`:
    what generate_signals returns (`SIGNAL_NAMES` for a long_short strategy)."""
    import pandas as pd

    idx = pd.DatetimeIndex(index)
    tz = str(idx.tz) if idx.tz is not None else None
    ns = idx.as_unit("ns").asi8
    pick = list(range(len(labels))) if columns is None else list(columns)
    copies = 1 + len(cuts)
    arrays: dict[tuple[str, str], np.ndarray] = {}
    for slot, cols in slots.items():
        for c in cols:
            a = np.asarray(inputs[(slot, c)], dtype=np.float64)
            a = a if columns is None else a[:, pick]
            arrays[(slot, c)] = np.tile(a, (1, copies)) if cuts else a
    limits = [len(idx)] * len(pick) + [int(cut) for cut in cuts for _ in pick] if cuts else None
    return Job(code=code, param_sets=[_plain(p) for p in param_sets], index=np.asarray(ns, dtype=np.int64), tz=tz,
               labels=[str(labels[j]) for j in pick] * copies, slots={s: list(c) for s, c in slots.items()},
               price_slots=list(price_slots), arrays=arrays, index_name=idx.name if isinstance(idx.name, str) else None,
               row_limits=limits, signals=tuple(signals),
               universe=len(pick) if tuple(signals) == WEIGHTS else None)


def params_key(params: Mapping[str, Any]) -> str:
    """A stable text key of a parameter set (which sets a check has seen)."""
    return json.dumps(_plain(params), sort_keys=True, default=str)


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """JSON-safe parameter values (numpy scalars become Python numbers)."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        if isinstance(v, np.generic):
            v = v.item()
        out[str(k)] = v
    return out


__all__ = [
    "CALL_DONE",
    "CALL_SETUP",
    "RESULT_HEADER_BYTES",
    "STATUS_ERROR",
    "STATUS_LOCKDOWN",
    "STATUS_OK",
    "Job",
    "ProgressWriter",
    "ProtocolError",
    "call_of",
    "counts",
    "decode_error",
    "decode_job",
    "decode_signals",
    "encode_error",
    "encode_job",
    "encode_signals",
    "job_from_inputs",
    "params_key",
    "parse_result_header",
    "progress_fd",
    "read_progress",
    "result_size",
]
