"""Pre-warmed zygote processes (engine side), started lazily, one job at a time each.

A zygote (`ruleengine.sandbox.zygote`) is a Python process started with a scrubbed environment: no API keys,
no provider settings, nothing but a locale, single-threaded BLAS/numba settings and a fixed hash seed (so
that a strategy's output does not depend on which zygote ran it). It imports and warms up the numeric stack
once, then forks a fresh child per job. The pool keeps up to `Pool.size` zygotes per flavour (``base``:
numpy, pandas, ta; ``vectorbt``: also vectorbt, whose import takes seconds) and starts them on first use.

Example:
    >>> pool = get_pool()  # doctest: +SKIP
    >>> with pool.zygote("base") as z:  # doctest: +SKIP
    ...     z.info["usable"]
    True
"""

from __future__ import annotations

import atexit
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import Diagnostic, RuleEngineError
from .zygote import EXIT, MSG_EXIT, MSG_PID, MSG_READY, MSG_RUN, PID, RUN_LIMITS

#: zygotes per flavour (default: 2, or ``RULEENGINE_SANDBOX_WORKERS``)
WORKERS_ENV = "RULEENGINE_SANDBOX_WORKERS"
#: seconds a zygote may take to import and warm up (vectorbt's first import compiles with numba)
START_TIMEOUT = 180.0


def clean_env() -> dict[str, str]:
    """The zygote's whole environment: nothing from the engine's (where API keys live)."""
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "HOME": "/nonexistent", "TZ": "UTC",
            "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1",
            "MPLBACKEND": "Agg"}


def _package_root() -> str:
    """The folder this ruleengine package was imported from: the zygote must run the engine's own copy (a
    checkout next to an installed one would otherwise speak another version of the protocol)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class ZygoteError(RuntimeError):
    """The zygote did not answer as expected (it is replaced)."""


class Zygote:
    """One zygote process and the socket to it."""

    def __init__(self, flavour: str, start_timeout: float = START_TIMEOUT) -> None:
        self.flavour = flavour
        self.healthy = True
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock = ours
        # start-up messages go to a file: a pipe could fill up and stall the zygote's warm-up
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - open for the zygote's lifetime
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-s", "-P", "-m", "ruleengine.sandbox.zygote", str(theirs.fileno()), flavour],
                pass_fds=[theirs.fileno()], env={**clean_env(), "PYTHONPATH": _package_root()},
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr, start_new_session=True,
                cwd="/")
        finally:
            theirs.close()
        try:
            self.info = self._ready(start_timeout)
        except BaseException:
            self.close()
            raise

    def _ready(self, timeout: float) -> dict[str, Any]:
        self.sock.settimeout(timeout)
        try:
            msg = self.sock.recv(65536)
        except (TimeoutError, OSError):
            msg = b""
        if not msg.startswith(MSG_READY):
            self.proc.kill()
            self.proc.wait()
            self._stderr.seek(0)
            err = self._stderr.read()[-2000:]
            raise RuleEngineError([Diagnostic(
                "X130", f"the sandbox worker ({self.flavour}) did not start", path="code",
                hint=err.decode("utf-8", "replace").strip() or "see the Python installation")])
        self._stderr.close()  # the zygote writes nowhere from now on
        self.sock.settimeout(None)
        info: dict[str, Any] = json.loads(msg[len(MSG_READY):])
        return info

    # -------------------------------------------------------------------------------------------- a job
    def start_job(self, memfd: int, out_w: int, log_w: int, progress: int, limits: Any, timeout: float = 10.0
                  ) -> tuple[int, int]:
        """Hand a job to the zygote; returns (child pid, pidfd). The caller closes its fds afterwards."""
        msg = MSG_RUN + RUN_LIMITS.pack(limits.cpu_seconds, limits.call_cpu_seconds, limits.memory_bytes,
                                        limits.nofile, limits.nproc)
        try:
            socket.send_fds(self.sock, [msg], [memfd, out_w, log_w, progress])
            self.sock.settimeout(timeout)
            reply, fds, _flags, _addr = socket.recv_fds(self.sock, 64, 1)
        except (OSError, TimeoutError) as exc:
            self.healthy = False
            raise ZygoteError(f"the sandbox worker did not take the job ({exc})") from None
        finally:
            self.sock.settimeout(None)
        if not reply.startswith(MSG_PID) or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            self.healthy = False
            raise ZygoteError("the sandbox worker answered the job with an unexpected message")
        (pid,) = PID.unpack(reply[len(MSG_PID):])
        return int(pid), fds[0]

    def read_exit(self, timeout: float) -> tuple[int, int, float]:
        """(pid, wait status, CPU seconds used) of the child, once the zygote has reaped it."""
        self.sock.settimeout(max(0.001, timeout))
        try:
            reply = self.sock.recv(64)
        except (OSError, TimeoutError) as exc:
            self.healthy = False
            raise ZygoteError(f"the sandbox worker did not report the child's exit ({exc})") from None
        finally:
            self.sock.settimeout(None)
        if not reply.startswith(MSG_EXIT):
            self.healthy = False
            raise ZygoteError("the sandbox worker went away")
        pid, status, cpu = EXIT.unpack(reply[len(MSG_EXIT):])
        return int(pid), int(status), float(cpu)

    def alive(self) -> bool:
        return self.healthy and self.proc.poll() is None

    def close(self) -> None:
        """Stop the zygote: closing the socket ends it (and kills a running child)."""
        try:
            self.sock.close()
        finally:
            try:
                self.proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
            self._stderr.close()


class Pool:
    """Zygotes per flavour, at most `size` each; a job holds one zygote exclusively."""

    def __init__(self, size: int | None = None) -> None:
        env = os.environ.get(WORKERS_ENV, "")
        self.size = max(1, int(size or (int(env) if env.isdigit() else 2)))
        self.pid = os.getpid()
        self._idle: dict[str, list[Zygote]] = {}
        self._count: dict[str, int] = {}
        self._all: list[Zygote] = []
        self._cond = threading.Condition()
        self._closed = False
        #: zygotes started so far (tests and benchmarks read it)
        self.started = 0

    @contextmanager
    def zygote(self, flavour: str = "base") -> Iterator[Zygote]:
        """An idle zygote of `flavour` for one job (started when none is idle and the pool has room)."""
        z = self._acquire(flavour)
        try:
            yield z
        finally:
            self._release(z)

    def _acquire(self, flavour: str) -> Zygote:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("the sandbox pool is closed")
                idle = self._idle.setdefault(flavour, [])
                while idle:
                    z = idle.pop()
                    if z.alive():
                        return z
                    self._forget(z)
                if self._count.get(flavour, 0) < self.size:
                    self._count[flavour] = self._count.get(flavour, 0) + 1
                    break
                self._cond.wait()
        try:
            z = Zygote(flavour)  # outside the lock: a start takes seconds
        except BaseException:
            with self._cond:
                self._count[flavour] -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._all.append(z)
            self.started += 1
        return z

    def _forget(self, z: Zygote) -> None:
        self._count[z.flavour] = self._count.get(z.flavour, 1) - 1
        if z in self._all:
            self._all.remove(z)
        z.close()

    def _release(self, z: Zygote) -> None:
        with self._cond:
            if z.alive() and not self._closed:
                self._idle.setdefault(z.flavour, []).append(z)
            else:
                self._forget(z)
            self._cond.notify()

    def warm(self, flavour: str = "base", count: int | None = None) -> None:
        """Start zygotes now (instead of on the first job): `count` of them, default the pool size."""
        held = [self._acquire(flavour) for _ in range(min(count or self.size, self.size))]
        for z in held:
            self._release(z)

    def close(self) -> None:
        """Stop every zygote."""
        with self._cond:
            self._closed = True
            zs, self._all, self._idle = list(self._all), [], {}
            self._cond.notify_all()
        for z in zs:
            z.close()


_POOL: Pool | None = None
_POOL_LOCK = threading.Lock()


def get_pool() -> Pool:
    """The process-wide pool (a new one in a forked engine process: sockets are not shared)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL.pid != os.getpid() or _POOL._closed:
            _POOL = Pool()
        return _POOL


def shutdown() -> None:
    """Stop the process-wide pool's zygotes (also run at exit)."""
    global _POOL
    with _POOL_LOCK:
        pool, _POOL = _POOL, None
    if pool is not None and pool.pid == os.getpid():
        pool.close()


atexit.register(shutdown)


__all__ = ["WORKERS_ENV", "Pool", "Zygote", "ZygoteError", "clean_env", "get_pool", "shutdown"]
