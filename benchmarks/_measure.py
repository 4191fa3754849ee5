"""Timing and memory helpers (Linux): wall time with perf_counter, peak RSS via a VmHWM reset per call."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def _status_kb(key: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mb() -> float | None:
    kb = _status_kb("VmRSS")
    return None if kb is None else kb / 1024


def hwm_mb() -> float | None:
    kb = _status_kb("VmHWM")
    return None if kb is None else kb / 1024


def reset_hwm() -> bool:
    """Reset the process peak RSS (VmHWM) to the current RSS (Linux >= 4.0, own process)."""
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


HWM_RESET_WORKS = reset_hwm()


def measure(fn: Callable[[], Any]) -> tuple[float, float | None, Any]:
    """Run fn once: (seconds, peak RSS during the call minus RSS before it in MB, result)."""
    gc.collect()
    before = rss_mb()
    reset_hwm()
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    peak = hwm_mb()
    delta = None if (before is None or peak is None or not HWM_RESET_WORKS) else max(0.0, peak - before)
    return dt, delta, out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def fmt_time(s: float | None) -> str:
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} µs"


def fmt_mb(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}"


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 ** 2, 1)
    except OSError:
        pass
    return None


def _git(project: Path) -> dict[str, Any]:
    """Read-only: HEAD and whether the work tree differs (GIT_OPTIONAL_LOCKS=0: no index refresh)."""
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")
    out: dict[str, Any] = {}
    try:
        out["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=project, env=env,
                                       capture_output=True, text=True, timeout=10, check=False).stdout.strip() or None
        st = subprocess.run(["git", "status", "--porcelain", "--untracked-files=normal"], cwd=project, env=env,
                            capture_output=True, text=True, timeout=10, check=False).stdout
        out["dirty_files"] = len([x for x in st.splitlines() if x.strip()])
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def source_fingerprint(project: Path) -> str:
    """sha256 (12 hex) over src/ruleengine/**/*.py and the newest mtime: which code was measured (the work
    tree may change between runs)."""
    import hashlib

    h = hashlib.sha256()
    newest = 0.0
    for f in sorted((project / "src" / "ruleengine").rglob("*.py")):
        h.update(str(f.relative_to(project)).encode())
        h.update(f.read_bytes())
        newest = max(newest, f.stat().st_mtime)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(newest)) if newest else "?"
    return f"{h.hexdigest()[:12]} (newest file {stamp})"


def environment(project: Path) -> dict[str, Any]:
    import numba

    try:
        import talib
        ta_c = getattr(talib, "__ta_version__", None)
        ta_c = ta_c.decode() if isinstance(ta_c, bytes) else ta_c
    except ImportError:  # pragma: no cover
        ta_c = None
    try:
        import vectorbt_rust  # noqa: F401
        vbt_rust = True
    except ImportError:
        vbt_rust = False
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_total_gib": _mem_total_gib(),
        "ruleengine": _version("ruleengine"),
        "vectorbt": _version("vectorbt"),
        "vectorbt-rust installed": vbt_rust,
        "numba": _version("numba"),
        "numba threads": numba.config.NUMBA_NUM_THREADS,
        "llvmlite": _version("llvmlite"),
        "numpy": _version("numpy"),
        "pandas": _version("pandas"),
        "pyarrow": _version("pyarrow"),
        "TA-Lib (python)": _version("TA-Lib") or _version("ta-lib"),
        "TA-Lib (C library)": ta_c,
        "executable": sys.executable,
        "git": _git(project),
        "src/ruleengine fingerprint": source_fingerprint(project),
        "peak RSS reset (clear_refs)": HWM_RESET_WORKS,
    }
