"""The zygote: a pre-warmed process that forks one fresh, locked-down child per job (``python -m``).

Started by `ruleengine.sandbox.pool` with a scrubbed environment (no secrets), it imports numpy, pandas, ta
(and vectorbt for the ``vectorbt`` flavour), runs a few representative strategies so that lazy imports and
JIT compilation happen here once, then serves jobs over a unix socket to the engine:

- engine -> zygote ``RUN `` + limits, with four file descriptors (SCM_RIGHTS): the job memfd, the write end
  of the result pipe, the write end of the log pipe (the child's stdout and stderr), the progress memfd (the
  child writes the number of the call it is in: the engine's per-call wall clock and error messages);
- zygote -> engine ``PID `` + pid, with a pidfd of the child (the engine kills it on timeout without a pid
  reuse race), then ``EXT `` + pid + wait status + CPU seconds used once the child is gone.

The zygote never reads the job and never runs generated code; the child does, after `lockdown.lockdown`. The
zygote exits when the engine's end of the socket closes (killing a running child first).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import struct
import sys
from typing import Any

MSG_RUN, MSG_PID, MSG_EXIT, MSG_READY = b"RUN ", b"PID ", b"EXT ", b"RDY "
RUN_LIMITS = struct.Struct("<qqqqq")  # cpu seconds (run), cpu seconds (call), memory bytes, nofile, nproc
PID = struct.Struct("<q")
EXIT = struct.Struct("<qqd")  # pid, wait status, CPU seconds the child used (user + system)
FLAVOURS = ("base", "vectorbt")

#: standard-library modules imported before forking: after the drop to the job's uid, an interpreter installed under
#: a private home (0700) cannot import anything new from the standard library. The process and network
#: modules are loaded too, so that the kernel layers (not a missing file) are what stops their use.
_STDLIB = ("subprocess", "multiprocessing", "multiprocessing.popen_fork", "pty", "socket", "select",
           "selectors", "threading", "signal", "pickle", "tempfile", "shutil", "sqlite3", "json", "decimal",
           "fractions", "statistics", "datetime", "zoneinfo", "calendar", "locale", "unicodedata", "string",
           "re", "collections", "collections.abc", "itertools", "functools", "operator", "copy", "typing",
           "dataclasses", "warnings", "numbers", "bisect", "heapq", "textwrap", "pprint", "traceback",
           "linecache", "tokenize", "inspect", "encodings.idna", "encodings.ascii", "encodings.latin_1",
           "encodings.utf_8", "math", "cmath", "random", "time", "enum", "abc", "io", "contextlib", "weakref",
           "array", "struct", "ctypes", "ctypes.util", "mmap", "resource", "sysconfig")


def _warm(flavour: str) -> None:
    """Imports and representative computations, so that children find everything loaded and compiled."""
    import importlib

    for name in _STDLIB:
        try:
            importlib.import_module(name)
        except ImportError:  # pragma: no cover - a minimal Python build
            pass
    import numpy as np
    import pandas as pd

    from . import checks, child, lockdown, protocol  # noqa: F401 - the child's code paths
    try:
        import ta
    except ImportError:  # the child reports a clear ImportError if a strategy needs it
        ta = None
    lockdown.probe()  # resolves libseccomp (find_library runs a subprocess: impossible later)
    idx = pd.date_range("2020-01-01", periods=300, freq="B", tz="UTC")
    rng = np.random.default_rng(0)
    close = pd.Series(100 + rng.normal(0, 1, len(idx)).cumsum(), idx, name="close")
    df = pd.DataFrame({"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1e6})
    fast, slow = df["close"].rolling(10).mean(), df["close"].rolling(30).mean()
    z = (close - close.rolling(20).mean()) / close.rolling(20).std(ddof=0)
    e = ((fast > slow) & (fast.shift(1) <= slow.shift(1))).fillna(False).astype(bool)
    x = (z.abs() < 0.5) | (close.ewm(span=12, adjust=False).mean() < close.expanding().max())
    _ = (close.diff().clip(lower=0).ewm(alpha=1 / 14, adjust=False).mean(), close.pct_change(), np.log(close),
         close.where(e, 0.0), df.max(axis=1), close.rank(), close.rolling(5).apply(np.mean, raw=True),
         np.where(e, 1, 0), pd.concat([close, fast], axis=1), close.between(1, 2), close.isna().any(),
         df.resample("W").last(), close.groupby(close.index.month).cumcount(), close.cummax())
    checks.check_output((e, x.fillna(False).astype(bool)), idx)
    if ta is not None:
        _ = (ta.momentum.RSIIndicator(close, 14).rsi(), ta.trend.SMAIndicator(close, 20).sma_indicator(),
             ta.trend.EMAIndicator(close, 20).ema_indicator(), ta.trend.MACD(close).macd_diff(),
             ta.volatility.BollingerBands(close).bollinger_hband(),
             ta.volatility.AverageTrueRange(df["high"], df["low"], close).average_true_range(),
             ta.trend.ADXIndicator(df["high"], df["low"], close).adx(),
             ta.momentum.StochasticOscillator(df["high"], df["low"], close).stoch())
    if flavour == "vectorbt":
        try:
            import tqdm

            tqdm.tqdm.monitor_interval = 0  # no monitor thread: the zygote forks, so it stays single-threaded
        except ImportError:  # pragma: no cover - vectorbt depends on tqdm
            pass
        import vectorbt as vbt

        _ = (vbt.RSI.run(close, window=14).rsi, vbt.MA.run(close, window=[10, 20]).ma,
             vbt.MA.run(close, 10).ma_crossed_above(vbt.MA.run(close, 30)), vbt.BBANDS.run(close).upper,
             vbt.MACD.run(close).macd, vbt.ATR.run(df["high"], df["low"], close).atr,
             vbt.STOCH.run(df["high"], df["low"], close).percent_k, close.vbt.crossed_above(fast),
             e.vbt.signals.fshift(1))


def _child(memfd: int, out_w: int, log_w: int, progress: int, limits: Any, features: Any, paths: list[str]) -> None:
    """The forked child: fds, lockdown, then the job (never returns)."""
    from . import lockdown, protocol

    os.dup2(log_w, 1)
    os.dup2(log_w, 2)
    keep = sorted({0, 1, 2, memfd, out_w, progress})
    prev = 3
    for fd in keep:  # everything else goes: the zygote's socket to the engine first of all
        if fd >= prev:
            os.closerange(prev, fd)
            prev = fd + 1
    os.closerange(prev, 1 << 16)
    try:
        lockdown.lockdown(limits, paths, features)
    except BaseException as exc:  # noqa: BLE001 - fail closed: report and never run the code
        _write_all(out_w, protocol.encode_error("LockdownError", str(exc)[:2000], status=protocol.STATUS_LOCKDOWN))
        os._exit(3)
    from .child import run_job

    code = run_job(memfd, out_w, progress, limits.call_cpu_seconds)
    os._exit(code)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _serve(ctrl: socket.socket, msg: bytes, fds: list[int], features: Any, paths: list[str]) -> bool:
    """One job: fork, report the child, wait for it (or for the engine to go away). False: engine gone."""
    from .lockdown import Limits

    if len(fds) != 4 or len(msg) != 4 + RUN_LIMITS.size:
        for fd in fds:
            os.close(fd)
        return True
    cpu, call_cpu, mem, nofile, nproc = RUN_LIMITS.unpack(msg[4:])
    limits = Limits(cpu_seconds=int(cpu), call_cpu_seconds=int(call_cpu), memory_bytes=int(mem), nofile=int(nofile),
                    nproc=int(nproc))
    memfd, out_w, log_w, progress = fds
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child (tested through the engine)
        try:
            _child(memfd, out_w, log_w, progress, limits, features, paths)
        finally:
            os._exit(70)
    for fd in fds:
        os.close(fd)
    pidfd = os.pidfd_open(pid)
    try:
        socket.send_fds(ctrl, [MSG_PID + PID.pack(pid)], [pidfd])
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        poller.register(ctrl.fileno(), select.POLLIN | select.POLLHUP)
        alive = True
        while True:
            events = dict(poller.poll())
            if pidfd in events:
                break
            if ctrl.fileno() in events:  # the engine sends nothing during a job: this is its end closing
                try:
                    peek = ctrl.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                except BlockingIOError:
                    continue
                if peek:  # an unexpected message: leave it for the main loop
                    poller.unregister(ctrl.fileno())
                    continue
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                alive = False
                break
        _, status, usage = os.wait4(pid, 0)
    finally:
        os.close(pidfd)
    if alive:
        ctrl.send(MSG_EXIT + EXIT.pack(pid, status, usage.ru_utime + usage.ru_stime))
    return alive


def main(argv: list[str]) -> int:
    """``python -m ruleengine.sandbox.zygote CTRL_FD FLAVOUR``."""
    import json

    ctrl_fd, flavour = int(argv[0]), argv[1]
    ctrl = socket.socket(fileno=ctrl_fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine's to handle
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    _warm(flavour)
    from . import lockdown

    features = lockdown.probe()
    paths = lockdown.read_only_paths()
    info = {"pid": os.getpid(), "flavour": flavour, "usable": features.usable, "problems": list(features.problems),
            "landlock_abi": features.landlock_abi, "root": features.root,
            "threads": len(os.listdir("/proc/self/task"))}
    ctrl.send(MSG_READY + json.dumps(info).encode())
    sys.stderr.flush()
    os.dup2(devnull, 1)  # the engine stops reading our start-up output now
    os.dup2(devnull, 2)
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ctrl, 256, 5)
        except (ConnectionError, OSError):
            return 0
        if not msg:
            return 0
        if msg.startswith(MSG_RUN):
            if not _serve(ctrl, msg, fds, features, paths):
                return 0
        else:
            for fd in fds:
                os.close(fd)


if __name__ == "__main__":  # pragma: no cover - started by the pool
    sys.exit(main(sys.argv[1:]))
