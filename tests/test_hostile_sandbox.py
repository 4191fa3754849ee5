"""Hostile sandbox bodies of issue 14 (items 4 and 5), each under per-case limits (`hostile.within`).

Budgets: a call that spins or sleeps is stopped by its own per-call limit (not the run's), the error names the
symbol and the parameter set, and a run of many slow calls stops at the run's bound. Accounting: each job runs
as a uid of its own, so one job's threads do not count against another's RLIMIT_NPROC. Watches: inotify,
fanotify, dnotify and leases (which would tell the code the names of files other processes create or open)
and the other kernel interfaces of the issue's list are denied.

The bodies run through the production entry point (`run_job`) with the static check bypassed, as in
tests/test_sandbox_attacks.py, whose oracles (`host`: marker files, listeners, the engine's key, the zygotes)
are checked after every case here too.
"""
from __future__ import annotations

import platform
import sys
import threading
import time
from dataclasses import dataclass
from string import Template

import numpy as np
import pandas as pd
import pytest
from support.hostile import within
from test_sandbox_attacks import SYSCALL, Host, host, strategy_code  # noqa: F401 - `host` is the fixture

from ruleengine.errors import RuleEngineError
from ruleengine.sandbox.protocol import job_from_inputs
from ruleengine.sandbox.runner import run_job

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")

INDEX = pd.date_range("2020-01-01", periods=60, freq="B", tz="UTC")
LABELS = ["AAA", "BBB", "CCC"]
#: three runs whose first closes are 10, 20, 30 (a body can single one out by its data)
INPUTS = {("prices", "close"): np.asfortranarray(np.linspace(10.0, 20.0, 60)[:, None] + [0.0, 10.0, 20.0])}
SETS = [{"n": 4}, {"n": 5}, {"n": 6}, {"n": 7}]


def run(host: Host, body: str, *, timeout: float, call_timeout: float | None = None, sets=None):
    """The body on three runs x the parameter sets; its first diagnostic, or the signals."""
    code = strategy_code(Template(body).substitute(host.values()))
    job = job_from_inputs(code, INPUTS, INDEX, LABELS, {"prices": ["close"]}, ["prices"], sets or SETS)
    try:
        return run_job(job, timeout=timeout, call_timeout=call_timeout, static_check=False, pool=host.pool)
    except RuleEngineError as exc:
        assert len(exc.diagnostics) == 1
        return exc.diagnostics[0]


@dataclass
class Budget:
    id: str
    body: str
    codes: set[str]
    text: list[str]  # all of these are in the message
    timeout: float  # the run's budget
    call_timeout: float | None
    seconds: float  # the case's own time limit: the per-call limit, not the run's, must be what ends it


BUDGETS = [
    # one parameter set spins: its own CPU / wall-clock limit per call stops it long before the run's 60 s
    Budget("spin_for_one_parameter_set", "if params['n'] == 6:\n    while True:\n        pass",
           {"X122", "X123"}, ["per call", "on AAA", "'n': 6", "2 of 12 calls"], timeout=60, call_timeout=1.0,
           seconds=12),
    # one symbol sleeps (no CPU used: only the per-call wall clock sees it)
    Budget("sleep_for_one_symbol", "import time\nif c.iloc[0] > 25:\n    time.sleep(3600)", {"X122"},
           ["per call", "wall clock", "on CCC", "'n': 4", "8 of 12 calls"], timeout=60, call_timeout=1.0, seconds=12),
    # every call is slow but under its own limit: the run's bound stops the run, with how far it got
    Budget("every_call_slow_run_bounded", "import time\nt = time.monotonic()\nwhile time.monotonic() - t < 0.6:\n"
           "    pass", {"X122", "X123"}, ["sandboxed run", "limit of", "calls of generate_signals done"], timeout=2.0,
           call_timeout=1.5, seconds=10),
    # a spinning call whose own limit (5 s) reaches past the run's (2 s): the CPU kill is the run's and says so,
    # whatever CPU the kernel had counted when it struck (it was once worded "per call" under load)
    Budget("spin_past_the_runs_limit", "while True:\n    pass", {"X122", "X123"}, ["sandboxed run", "limit of"],
           timeout=2.0, call_timeout=5.0, seconds=10),
    # a spinning call that catches everything and keeps going: the kernel's limit does not ask it
    Budget("spin_catching_every_exception", "while True:\n    try:\n        while True:\n            pass\n"
           "    except BaseException:\n        pass", {"X122", "X123"}, ["per call", "on AAA", "'n': 4"], timeout=60,
           call_timeout=1.0, seconds=12),
    # SIGXCPU ignored: the kernel's soft limit no longer stops the call, the engine's per-call wall clock does
    Budget("spin_ignoring_sigxcpu", "import signal\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nwhile True:\n"
           "    pass", {"X122"}, ["per call", "wall clock", "on AAA", "'n': 4"], timeout=60, call_timeout=1.0,
           seconds=12),
    # the soft CPU limit raised back to the hard one: the same
    Budget("spin_raising_its_cpu_limit", "import resource\nresource.setrlimit(resource.RLIMIT_CPU, "
           "resource.getrlimit(resource.RLIMIT_CPU)[1:] * 2)\nwhile True:\n    pass", {"X122", "X123"},
           ["on AAA", "'n': 4"], timeout=60, call_timeout=1.0, seconds=12),
    # forged progress (the code writes call numbers into every page-sized file it holds, as if calls finished)
    # and SIGXCPU ignored: no per-call limit can tell; the run's own bound stops it
    Budget("forged_progress", "import mmap, os, signal, stat, struct, time\n"
           "signal.signal(signal.SIGXCPU, signal.SIG_IGN)\nmaps = []\nfor fd in range(3, 32):\n    try:\n"
           "        st = os.fstat(fd)\n    except OSError:\n"
           "        continue\n    if stat.S_ISREG(st.st_mode) and st.st_size == 4096:\n"
           "        maps.append(mmap.mmap(fd, 4096))"
           "\nk = 100\nwhile True:\n    k += 1\n    for m in maps:\n        struct.pack_into('<q', m, 0, k)\n"
           "    t = time.monotonic()\n    while time.monotonic() - t < 0.2:\n        pass", {"X122", "X123"},
           ["sandboxed run", "limit of"], timeout=3.0, call_timeout=1.0, seconds=12),
]


@pytest.mark.parametrize("case", BUDGETS, ids=[b.id for b in BUDGETS])
def test_a_slow_call_is_stopped_by_its_own_budget(host: Host, case: Budget) -> None:
    with within(case.seconds, 64):
        got = run(host, case.body, timeout=case.timeout, call_timeout=case.call_timeout)
    assert not isinstance(got, tuple), "the run came back although a call could not finish"
    assert got.code in case.codes, got.message
    for text in case.text:
        assert text in got.message, got.message
    host.assert_untouched()


def test_a_call_under_its_budget_runs_through(host: Host) -> None:
    """The per-call limit does not cut short what fits: 12 calls of ~0.3 s with 1 s per call and 30 s per run."""
    with within(30, 64):
        got = run(host, "import time\nt = time.monotonic()\nwhile time.monotonic() - t < 0.3:\n    pass", timeout=30,
                  call_timeout=1.0)
    assert isinstance(got, tuple), got.message
    assert got[0].shape == (60, 12)


THREADS_HELD = 120  # of RLIMIT_NPROC 128 per uid: with one uid for every job the next job could start 7


def test_a_job_holding_threads_does_not_starve_a_concurrent_job(host: Host) -> None:
    hog = ("import threading, time\n"
           f"ts = [threading.Thread(target=time.sleep, args=(4,)) for i in range({THREADS_HELD})]"
           "\nfor t in ts:\n    t.start()\nfor t in ts:\n    t.join()")
    # 60 threads alive at once (each sleeps): with one uid for every job only 7 could start
    worker = ("import threading, time\nts = [threading.Thread(target=time.sleep, args=(0.5,)) for i in range(60)]\n"
              "for t in ts:\n    t.start()\nfor t in ts:\n    t.join()")
    results: dict[str, object] = {}

    def hold() -> None:
        results["hog"] = run(host, hog, timeout=30, sets=[{}])

    with within(40, 64):
        t = threading.Thread(target=hold)
        t.start()
        time.sleep(1.5)  # the hog's child is up and holds its threads (it sleeps 4 s)
        results["worker"] = run(host, worker, timeout=30, sets=[{}])
        t.join()
    assert isinstance(results["worker"], tuple), results["worker"].message  # type: ignore[union-attr]
    assert isinstance(results["hog"], tuple), results["hog"].message  # type: ignore[union-attr]
    host.assert_untouched()


@dataclass
class Watch:
    id: str
    body: str
    text: str  # the RuntimeError the body raises: what each attempt returned


# ctypes and fcntl calls: inotify would list the names of files the engine creates in the host directory
WATCHES = [
    Watch("inotify", SYSCALL + "fd, err = sc(294, 0)\nw = libc.inotify_add_watch(3, b'$dir', 0xfff)\n"
          "raise RuntimeError(f'r={(fd, err)} {libc.inotify_init()} {w}')", "r=(-1, 1) -1 -1"),
    Watch("fanotify", SYSCALL + "r = [sc(300, 0, 0), sc(301, 3, 1, 0x20, -100, b'$dir')]\n"
          "raise RuntimeError(f'r={r}')", "r=[(-1, 1), (-1, 1)]"),
    Watch("dnotify_and_lease", "import fcntl, os\nfd = os.open(os.path.dirname(np.__file__), os.O_RDONLY)\n"
          "f = os.open(np.__file__, os.O_RDONLY)\nr = []\n"
          "for args in ((fd, 1026, 4), (f, 1024, 0)):\n    try:\n        fcntl.fcntl(*args)\n"
          "        r.append('allowed')\n    except OSError as e:\n        r.append(e.errno)\n"
          "raise RuntimeError(f'r={r}')", "r=[1, 1]"),
    # the rest of the list (io_uring, perf, bpf, ptrace, keyctl: test_sandbox_attacks.py), and the
    # mount table (statmount, listmount) and the page cache (cachestat) of newer kernels
    Watch("other_interfaces", SYSCALL + "r = [sc(323, 0), sc(310, $pid, 0, 0, 0, 0, 0), "
          "sc(248, b'user', b'k', 0, 0, -2),"
          "\n     sc(249, b'user', b'k', 0, 0), sc(457, 0, 0, 0, 0), sc(458, 0, 0, 0, 0), sc(451, 3, 0, 0, 0)]\n"
          "raise RuntimeError(f'errnos={[e for _, e in r]}')", "errnos=[1, 1, 1, 1, 1, 1, 1]"),
]


@pytest.mark.parametrize("case", WATCHES, ids=[w.id for w in WATCHES])
def test_file_system_watches_are_denied(host: Host, case: Watch) -> None:
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("x86-64 system call numbers")
    with within(15, 64):
        got = run(host, case.body, timeout=10, sets=[{}])
    assert not isinstance(got, tuple)
    assert got.code == "X121" and case.text in got.message, got.message
    host.assert_untouched()
