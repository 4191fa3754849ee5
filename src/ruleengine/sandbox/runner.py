"""The engine side of a sandboxed run: wall-clock and CPU budgets, output caps, result parsing, error mapping.

`run_job` hands a `protocol.Job` to a zygote of the pool, which forks a locked-down child. The engine then
waits on three things at once, never longer than the run's wall clock (CPU limits do not catch ``sleep``): the
result pipe, the log pipe (the child's stdout and stderr) and the zygote's report of the child's exit.

**Budgets.** Each call of ``generate_signals`` has its own limit (`call_timeout` seconds of CPU, enforced in
the child by RLIMIT_CPU, and of wall clock, enforced here from the call number the child reports), and the
whole run has one (`timeout` seconds of CPU as the hard limit, and of wall clock): one spinning call costs its
own budget, never the run's, and no run outlasts its own. A limit that strikes during a call names the run
(symbol) and the parameter set; the run stops there (every call of a run shares one child).

The result is read as a fixed-size header and exactly the payload the job implies; more output, a malformed
header or a log flood kill the child. Every failure becomes one `RuleEngineError` with an X12x code
(execution_error) that the repair loop can show the model:

X120 sandbox unavailable (kernel features missing: refused, never run unprotected) or lockdown failed;
X121 the code raised; X122 wall-clock limit (a call's or the run's); X123 memory or CPU limit (a call's or the
run's); X124 crashed / killed by a signal (SIGSYS: a forbidden system call) / exited without a result; X125
output flood; X126 output contract; X127 malformed result.

Example:
    >>> from ruleengine.sandbox.protocol import job_from_inputs  # doctest: +SKIP
    >>> entries, exits = run_job(job_from_inputs(code, inputs, index, labels, slots, ["prices"], [{}]))
    ... # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import selectors
import signal
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import Diagnostic, RuleEngineError, Span
from . import protocol
from .lockdown import Features, Limits, probe
from .pool import Pool, ZygoteError, get_pool

DEFAULT_TIMEOUT = 30.0
#: how often the engine looks at the call the child reports (the per-call wall clock's resolution)
_POLL = 0.05
DEFAULT_MEMORY = 3 << 30  # on top of the zygote's own address space
#: the child's stdout + stderr: more than this kills it
LOG_CAP = 1 << 20
_LOG_KEEP = 2000  # characters of the child's output quoted in an error
_GRACE = 5.0  # seconds the zygote gets to report a killed child
#: wall-clock seconds on top of the timeout (fork, lockdown, decoding)
WALL_MARGIN = 1.0


@lru_cache(maxsize=1)
def _probe_cached(disabled: str) -> Features:
    return probe()


def features() -> Features:
    """The kernel features (probed once per setting of RULEENGINE_SANDBOX_DISABLE)."""
    from .lockdown import DISABLE_ENV

    return _probe_cached(os.environ.get(DISABLE_ENV, ""))


def require_sandbox() -> Features:
    """The features, or X120 when code strategies must be refused on this machine."""
    f = features()
    if not f.usable:
        raise RuleEngineError([Diagnostic(
            "X120", "code strategies cannot run here: " + "; ".join(f.problems), path="code",
            hint="generated code runs only under seccomp and Landlock (Linux 6.7+); rule strategies are unaffected")])
    return f


@dataclass
class _Outcome:
    header: protocol.ResultHeader | None = None
    payload: bytearray | None = None
    status: int | None = None
    killed: str | None = None  # why the engine killed the child: timeout | call_timeout | flood | protocol
    problem: str = ""
    log_total: int = 0
    call: int = protocol.CALL_SETUP  # the call the child reported last
    call_limit_is_runs: bool = False  # that call's CPU limit was what the run had left (`protocol.call_limit_is_runs`)
    cpu: float = 0.0  # CPU seconds the child used


@dataclass(frozen=True)
class Budget:
    """The limits of one run: seconds of CPU and of wall clock for the whole run and for each call."""

    run: float
    call: float

    @property
    def limits_cpu(self) -> tuple[int, int]:
        """(run, call) CPU seconds as the child's rlimits take them (whole seconds, at least 1)."""
        return max(1, math.ceil(self.run)), max(1, math.ceil(min(self.call, self.run)))


def run_job(job: protocol.Job, *, timeout: float = DEFAULT_TIMEOUT, memory_bytes: int = DEFAULT_MEMORY,
            static_check: bool = True, pool: Pool | None = None, call_timeout: float | None = None
            ) -> tuple[np.ndarray, ...]:
    """Run `job` in the sandbox: (rows, sets*cols) bool arrays of the job's signals (`Job.signals`: entries,
    exits[, short entries, short exits]), set-major.

    Args:
        job: the code, parameter sets and data (`protocol.job_from_inputs`).
        timeout: seconds of wall clock, and of CPU, for the whole run.
        call_timeout: seconds of wall clock, and of CPU, for each call of generate_signals (default: `timeout`).
        memory_bytes: address space the child may add to what it inherits from the zygote.
        static_check: False skips `static.check_code` (only for tests that prove the kernel layers contain
            code the static check would have refused).
        pool: the zygote pool (default the process-wide one).

    Raises:
        RuleEngineError: X1xx diagnostics (static rejections, or the run-time failures listed above).
    """
    require_sandbox()
    from .static import check_code, imported_modules

    if static_check:
        entry = "generate_weights" if job.signals == protocol.WEIGHTS else "generate_signals"
        errors = [d for d in check_code(job.code, entry) if d.severity == "error"]
        if errors:
            raise RuleEngineError(errors)
    flavour = "vectorbt" if "vectorbt" in imported_modules(job.code) else "base"
    budget = Budget(float(timeout), float(timeout if call_timeout is None else min(call_timeout, timeout)))
    run_cpu, call_cpu = budget.limits_cpu
    limits = Limits(cpu_seconds=run_cpu, call_cpu_seconds=call_cpu, memory_bytes=int(memory_bytes))
    sets, rows, cols = len(job.param_sets), job.n_rows, job.n_cols
    pool = pool or get_pool()
    memfd = protocol.encode_job(job)
    progress = protocol.progress_fd()
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    log_r, log_w = os.pipe2(os.O_CLOEXEC)
    log = bytearray()
    try:
        with pool.zygote(flavour) as z:
            if not z.info.get("usable", False):
                raise RuleEngineError([Diagnostic("X120", "the sandbox worker cannot lock down: "
                                                  + "; ".join(z.info.get("problems", [])), path="code")])
            # the CPU limits stop busy loops as a resource error; the wall clocks, a little later, stop
            # everything else (sleeping, blocking)
            deadline = time.monotonic() + timeout + WALL_MARGIN
            try:
                _pid, pidfd = z.start_job(memfd, out_w, log_w, progress, limits)
            finally:
                for fd in (memfd, out_w, log_w):
                    os.close(fd)
                memfd = out_w = log_w = -1
            try:
                outcome = _collect(z, pidfd, out_r, log_r, progress, log, deadline, budget, sets, rows, cols,
                                   protocol.counts(job.signals))
            finally:
                os.close(pidfd)
    except ZygoteError as exc:
        raise RuleEngineError([Diagnostic("X130", f"the sandbox worker failed: {exc}", path="code",
                                          hint="retry; the worker is replaced")]) from None
    finally:
        for fd in (memfd, out_w, log_w, out_r, log_r, progress):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
    return _result(outcome, log, budget, memory_bytes, job)


def _collect(z: Any, pidfd: int, out_r: int, log_r: int, progress: int, log: bytearray, deadline: float,
             budget: Budget, sets: int, rows: int, cols: int, signals: tuple[int, int]) -> _Outcome:
    """Read the pipes and the exit report until all three are done, a deadline passes or a cap is hit
    (`signals`: how many signals and order levels each run returns, `protocol.counts`)."""
    o = _Outcome()
    call_since = time.monotonic()
    head = bytearray()
    got = 0
    sel = selectors.DefaultSelector()
    sel.register(out_r, selectors.EVENT_READ, "out")
    sel.register(log_r, selectors.EVENT_READ, "log")
    sel.register(z.sock, selectors.EVENT_READ, "ctrl")
    open_pipes = 2

    def kill(reason: str, problem: str = "") -> None:
        if o.killed is None:
            o.killed, o.problem = reason, problem
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass

    try:
        while open_pipes or o.status is None:
            now = time.monotonic()
            if o.killed is None and o.status is None:
                call = protocol.read_progress(progress)
                if call != o.call:
                    o.call, call_since = call, now
                elif call > 0 and now - call_since >= budget.call + WALL_MARGIN:
                    kill("call_timeout")
                    deadline = now + _GRACE
            if now >= deadline and o.killed is None:
                kill("timeout")
                deadline = now + _GRACE
            elif now >= deadline:
                z.healthy = False  # the zygote did not report a killed child: replace it
                raise ZygoteError("no exit report after the child was killed")
            wait = deadline - now if o.killed or o.status is not None else min(deadline - now, _POLL)
            for key, _ in sel.select(timeout=max(0.0, wait)):
                what = key.data
                if what == "ctrl":
                    _pid, o.status, o.cpu = z.read_exit(timeout=_GRACE)
                    if o.killed is None:
                        o.call = protocol.read_progress(progress)  # where a CPU limit or a crash struck
                        o.call_limit_is_runs = protocol.call_limit_is_runs(progress)
                    sel.unregister(z.sock)
                    continue
                fd = key.fileobj
                if what == "log":
                    chunk = os.read(fd, 65536)  # type: ignore[arg-type]
                    if not chunk:
                        sel.unregister(fd)
                        open_pipes -= 1
                        continue
                    o.log_total += len(chunk)
                    if len(log) < _LOG_KEEP * 4:
                        log += chunk[:_LOG_KEEP * 4 - len(log)]
                    if o.log_total > LOG_CAP:
                        kill("flood", f"the code printed more than {LOG_CAP >> 20} MB")
                    continue
                # the result pipe: the fixed header, then exactly the payload it announces (already checked)
                want = protocol.RESULT_HEADER_BYTES - len(head) if o.header is None else \
                    o.header.payload - got + 1  # one more byte: anything past the payload is a violation
                chunk = os.read(fd, min(max(want, 1), 1 << 20))  # type: ignore[arg-type]
                if not chunk:
                    sel.unregister(fd)
                    open_pipes -= 1
                    continue
                if o.killed:
                    continue
                if o.header is None:
                    head += chunk
                    if len(head) == protocol.RESULT_HEADER_BYTES:
                        try:
                            o.header = protocol.parse_result_header(bytes(head), sets=sets, rows=rows, cols=cols,
                                                                   signals=signals[0], prices=signals[1])
                        except protocol.ProtocolError as exc:
                            kill("protocol", str(exc))
                            continue
                        o.payload = bytearray(o.header.payload)
                    continue
                if got + len(chunk) > o.header.payload:
                    kill("protocol", "the child wrote more than the result it announced")
                    continue
                assert o.payload is not None
                o.payload[got:got + len(chunk)] = chunk
                got += len(chunk)
    finally:
        sel.close()
    if o.header is not None and got != o.header.payload and o.killed is None:
        o.problem = f"the result ended after {got} of {o.header.payload} bytes"
        o.header = None
    return o


def _clean(text: str) -> str:
    """Text from the child as it may be shown: no terminal control sequences."""
    return "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in text)


def _where(o: _Outcome, job: protocol.Job) -> str:
    """The run and parameter set of the call the child was in (empty outside the calls)."""
    at = protocol.call_of(o.call, len(job.param_sets))
    if at is None or at[0] >= job.n_cols:
        return ""
    j, p = at
    from .child import short_params

    if job.signals == protocol.WEIGHTS:  # a call sees the whole universe (call j of a set: its j-th cut copy)
        return f" with parameters {short_params(job.param_sets[p])}"
    return f" on {job.labels[j]} with parameters {short_params(job.param_sets[p])}"


def _progress(o: _Outcome, job: protocol.Job) -> str:
    total = len(job.param_sets) * job.n_cols
    done = total if o.call == protocol.CALL_DONE else max(0, o.call - 1)
    return f"{done} of {total} calls of generate_signals done"


def _result(o: _Outcome, log: bytearray, budget: Budget, memory_bytes: int, job: protocol.Job
            ) -> tuple[np.ndarray, ...]:
    sets, rows, cols = len(job.param_sets), job.n_rows, job.n_cols
    run_cpu, call_cpu = budget.limits_cpu
    where = _where(o, job)
    printed = _clean(log.decode("utf-8", "replace"))[:_LOG_KEEP].strip()
    hint_out = f"output of the code:\n{printed}" if printed else None

    def fail(code: str, message: str, hint: str | None = None, line: int | None = None) -> RuleEngineError:
        span = Span(line, 1, line, 2) if line else None  # a line of the code (`static.locate` maps it)
        return RuleEngineError([Diagnostic(code, _clean(message), span, path="code", hint=hint or hint_out)])

    status = o.status if o.status is not None else 0
    faster = "make it faster (vectorised pandas instead of Python loops)"
    if o.killed == "call_timeout":
        raise fail("X122", f"a call of generate_signals{where} ran longer than its limit of {budget.call:g} s per "
                   f"call (wall clock) and was stopped; {_progress(o, job)}",
                   f"{faster}; no sleeping or waiting in generate_signals")
    if o.killed == "timeout":
        raise fail("X122", f"the sandboxed run ran longer than its limit of {budget.run + WALL_MARGIN:g} s (wall "
                   f"clock) and was stopped{(' during a call' + where) if where else ''}; {_progress(o, job)}",
                   f"{faster}, or run fewer symbols or parameter sets at once")
    if o.killed == "flood":
        raise fail("X125", f"{o.problem}; the run was stopped", "do not print inside generate_signals")
    if o.killed == "protocol":
        raise fail("X127", f"the sandboxed run returned a malformed result: {o.problem}")
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            if where and not o.call_limit_is_runs and o.cpu < run_cpu:
                raise fail("X123", f"a call of generate_signals{where} used more than its CPU limit of {call_cpu} s "
                           f"per call and was killed ({name}); {_progress(o, job)}", faster)
            raise fail("X123", f"the sandboxed run used more than its CPU limit of {run_cpu} s and was killed "
                       f"({name}){(' during a call' + where) if where else ''}; {_progress(o, job)}",
                       f"{faster}, or run fewer symbols or parameter sets at once")
        if sig == signal.SIGSYS:
            raise fail("X124", "the code made a forbidden system call and was killed (SIGSYS)",
                       "strategy code computes with pandas/numpy only")
        raise fail("X124", f"the code crashed ({name})", "ctypes and low-level memory access are not available")
    if o.header is not None and o.header.status == protocol.STATUS_OK and o.payload is not None \
            and os.WEXITSTATUS(status) == 0:
        if job.signals == protocol.WEIGHTS:  # generate_weights: one float matrix
            return (protocol.decode_weights(o.payload, sets, rows, cols),)
        return protocol.decode_signals(o.payload, sets, rows, cols, *protocol.counts(job.signals))
    if o.header is not None and o.payload is not None and o.header.status in (protocol.STATUS_ERROR,
                                                                                 protocol.STATUS_LOCKDOWN):
        kind, line, message = protocol.decode_error(bytes(o.payload))
        where = f" at code line {line}" if line else ""
        if o.header.status == protocol.STATUS_LOCKDOWN:
            raise fail("X120", f"the sandbox could not lock down, the code was not run: {message}")
        if kind == "MemoryError":
            raise fail("X123", f"the code ran out of memory{where} (limit {memory_bytes >> 20} MB)",
                       "work on the given columns only; avoid huge intermediate arrays", line)
        if kind == "ContractError" and job.signals == protocol.WEIGHTS:
            raise fail("X126", message, "return a DataFrame of weights >= 0 (bars x symbols of the universe, the "
                       "data index) summing to at most 1 per bar", line)
        if kind == "ContractError":
            n_signals, n_prices = protocol.counts(job.signals)
            raise fail("X126", message, f"return ({', '.join(job.signals)}): {n_signals} boolean Series "
                       + (f"and {n_prices} float Series of order prices " if n_prices else "")
                       + "aligned with the data index", line)
        function = "generate_weights" if job.signals == protocol.WEIGHTS else "generate_signals"
        raise fail("X121", f"{function} raised {kind}{where}: {message}", None, line)
    why = o.problem or (f"exited with code {os.WEXITSTATUS(status)}" if os.WIFEXITED(status) else "ended")
    raise fail("X124", f"the sandboxed run stopped without a result ({why})",
               "return (entries, exits) from generate_signals; do not exit the process")


__all__ = ["DEFAULT_MEMORY", "DEFAULT_TIMEOUT", "LOG_CAP", "features", "require_sandbox", "run_job"]
