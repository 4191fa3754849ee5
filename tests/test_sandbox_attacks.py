"""The adversarial suite: hostile strategy code against the production sandbox, checked by outside oracles.

Every case of docs/security-notes.md (the 27 attempts of its matrix and the extra cases of its test plan)
runs as the body of ``generate_signals`` through `ruleengine.sandbox.runner.run_job`, with the static check
bypassed (``static_check=False``): what contains it here is the kernel (seccomp, Landlock, rlimits, the uid
drop, the network namespace) and the engine's wall clock, output caps and result parsing. Each case also
states what the static check says about it (the fast feedback the LLM would get first).

Oracles outside the child, checked after every case: marker files in a world-writable directory (so that
file permissions alone would not stop a write), a 0600 secret file and a world-readable "database" next to
them, a TCP and a UDP listener on 127.0.0.1 that must receive nothing, an ``OPENAI_API_KEY`` in the engine's
environment that must not be visible, the engine process itself (pid passed to the attacks) and the zygotes,
which must stay alive and keep serving jobs.
"""

from __future__ import annotations

import os
import platform
import re
import resource
import shutil
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from string import Template

import numpy as np
import pandas as pd
import pytest

from ruleengine.errors import RuleEngineError
from ruleengine.sandbox.lockdown import JOB_ID_BASE
from ruleengine.sandbox.pool import Pool
from ruleengine.sandbox.protocol import job_from_inputs
from ruleengine.sandbox.runner import DEFAULT_MEMORY, features, run_job
from ruleengine.sandbox.static import check_code

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the sandbox needs Linux")

SECRET_KEY = "sk-test-" + uuid.uuid4().hex
ENGINE_SECRET = "engine-secret-" + uuid.uuid4().hex  # a global of the engine: frame walks must not find it
INDEX = pd.date_range("2020-01-01", periods=60, freq="B", tz="UTC")
INPUTS = {("prices", "close"): np.asfortranarray(np.linspace(10.0, 20.0, 60)[:, None])}
X86_64 = platform.machine() in ("x86_64", "AMD64")


@dataclass
class Host:
    """The oracles: what the attacks aim at, observed from outside the sandbox."""

    dir: str
    pool: Pool
    tcp_port: int = 0
    udp_port: int = 0
    tcp_hits: list[int] = field(default_factory=list)
    udp_hits: list[int] = field(default_factory=list)
    files: set[str] = field(default_factory=set)
    zygote_pids: set[int] = field(default_factory=set)

    def values(self) -> dict[str, object]:
        return {"dir": self.dir, "marker": os.path.join(self.dir, "marker"), "secret": os.path.join(self.dir, ".env"),
                "db": os.path.join(self.dir, "engine.sqlite"), "victim": os.path.join(self.dir, "victim.txt"),
                "pid": os.getpid(), "port": self.tcp_port, "uport": self.udp_port,
                "project": os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyproject.toml")}

    def assert_untouched(self) -> None:
        assert set(os.listdir(self.dir)) == self.files, "a file appeared or vanished in the host directory"
        with open(os.path.join(self.dir, "victim.txt"), encoding="utf-8") as f:
            assert f.read() == "precious"
        assert self.tcp_hits == [] and self.udp_hits == [], "the loopback listeners were reached"
        for pid in self.zygote_pids:
            os.kill(pid, 0)  # ProcessLookupError if a zygote died


def _listen(host: Host) -> None:
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    tcp.settimeout(0.2)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.2)
    host.tcp_port, host.udp_port = tcp.getsockname()[1], udp.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = tcp.accept()
                host.tcp_hits.append(1)
                conn.close()
            except OSError:
                pass
            try:
                udp.recvfrom(64)
                host.udp_hits.append(1)
            except OSError:
                pass
        tcp.close()
        udp.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    host.__dict__["_stop"] = (stop, t)


@pytest.fixture(scope="module")
def host():
    assert features().usable, f"the sandbox cannot run on this machine: {features().problems}"
    old_key = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = SECRET_KEY  # set before any zygote starts
    # the system temp folder, not pytest's tmp_path (under a 0700 folder the dropped-privilege child could
    # not even reach: the attacks must fail because of the sandbox, not because of a permission bit)
    d = tempfile.mkdtemp(prefix="ruleengine-attacks-", dir=tempfile.gettempdir())
    os.chmod(d, 0o777)  # world-writable: only the sandbox stops writes here
    with open(os.path.join(d, ".env"), "w", encoding="utf-8") as f:
        f.write(f"OPENAI_API_KEY={SECRET_KEY}\n")
    os.chmod(os.path.join(d, ".env"), 0o600)
    con = sqlite3.connect(os.path.join(d, "engine.sqlite"))
    con.execute("create table secrets (value text)")
    con.execute("insert into secrets values (?)", (SECRET_KEY,))
    con.commit()
    con.close()
    os.chmod(os.path.join(d, "engine.sqlite"), 0o644)  # world-readable: only Landlock stops reading it
    with open(os.path.join(d, "victim.txt"), "w", encoding="utf-8") as f:
        f.write("precious")
    os.chmod(os.path.join(d, "victim.txt"), 0o666)
    pool = Pool(size=2)
    h = Host(dir=d, pool=pool, files=set(os.listdir(d)))
    _listen(h)
    pool.warm("base", 2)
    h.zygote_pids = {z.info["pid"] for z in pool._all}
    yield h
    stop, t = h.__dict__["_stop"]
    stop.set()
    t.join(5)
    pool.close()
    shutil.rmtree(d, ignore_errors=True)
    if old_key is None:
        os.environ.pop("OPENAI_API_KEY", None)
    else:
        os.environ["OPENAI_API_KEY"] = old_key


def strategy_code(body: str) -> str:
    lines = "".join(f"    {line}\n" for line in body.strip("\n").splitlines())
    return ("import numpy as np\nimport pandas as pd\n\ndef generate_signals(data, params):\n"
            f"    c = data['prices']['close']\n{lines}    return c > 15, c < 12\n")


def sandboxed(host: Host, body: str, timeout: float = 5.0, memory: int | None = None):
    """Run the attack; returns its first diagnostic, or the signals when it ran through."""
    code = strategy_code(Template(body).substitute(host.values()))
    job = job_from_inputs(code, INPUTS, INDEX, ["SYM"], {"prices": ["close"]}, ["prices"], [{}])
    try:
        return run_job(job, timeout=timeout, memory_bytes=memory or DEFAULT_MEMORY, static_check=False,
                       pool=host.pool)
    except RuleEngineError as exc:
        assert len(exc.diagnostics) == 1
        return exc.diagnostics[0]


SYSCALL = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
           "def sc(*a):\n    r = libc.syscall(*a)\n    return (r, ctypes.get_errno())\n")
PICKLE = "b\"cos\\nsystem\\n(S'touch $marker'\\ntR.\""  # protocol-0 pickle: os.system('touch ...')


@dataclass
class Case:
    id: str
    body: str
    static: set[str] | None  # codes the static check reports (None: it passes the static check)
    code: str  # expected diagnostic code ("ok": the signals come back); "A|B": either
    text: str = ""  # expected in the message
    timeout: float = 5.0
    memory: int | None = None
    x86_only: bool = False


CASES = [
    # ---- files: reads (Landlock; DAC too for the 0600 file) ------------------------------------------------
    Case("read_passwd", "open('/etc/passwd').read()", {"X105", "X106"}, "X121", "PermissionError"),
    Case("pandas_read_csv", "pd.read_csv('/etc/passwd')", {"X106"}, "X121", "PermissionError"),
    Case("read_secret_env_file", "open('$secret').read()", {"X105", "X106"}, "X121", "PermissionError"),
    Case("read_engine_database", "open('$db', 'rb').read()", {"X105", "X106"}, "X121", "PermissionError"),
    # world-readable, but of the editable install's source folder only the loaded package is in the allowlist
    Case("read_project_file", "open('$project').read()", {"X105", "X106"}, "X121", "PermissionError"),
    Case("sqlite_engine_database", "import sqlite3\nsqlite3.connect('$db').execute('select * from secrets').fetchall()",
         {"X103"}, "X121", "OperationalError"),
    Case("procfs_environ", "open('/proc/$pid/environ', 'rb').read()", {"X105", "X106"}, "X121", "PermissionError"),
    Case("procfs_mem", "open('/proc/$pid/mem', 'rb').read(1)", {"X105", "X106"}, "X121", "PermissionError"),
    Case("procfs_cmdline", "open('/proc/$pid/cmdline', 'rb').read()", {"X105", "X106"}, "X121", "PermissionError"),
    # ---- files: writes (seccomp; Landlock) -------------------------------------------------------------------
    Case("open_for_writing", "open('$marker', 'w').write('x')", {"X105", "X106"}, "X121", "PermissionError"),
    Case("pandas_to_csv", "data['prices'].to_csv('$marker')", {"X106"}, "X121", "PermissionError"),
    Case("numpy_save", "np.save('$marker', np.zeros(3))", {"X106"}, "X121", "PermissionError"),
    Case("unlink", "import os\nos.unlink('$victim')", {"X103"}, "X121", "PermissionError"),
    Case("rename", "import os\nos.rename('$victim', '$marker')", {"X103"}, "X121", "PermissionError"),
    Case("mkdir", "import os\nos.mkdir('$marker')", {"X103"}, "X121", "PermissionError"),
    # ---- secrets in the environment --------------------------------------------------------------------------
    Case("environ_api_key", "import os\nraise RuntimeError('leak=' + repr(os.environ.get('OPENAI_API_KEY')))",
         {"X103"}, "X121", "leak=None"),
    Case("environ_any_key", "import os\nraise RuntimeError('keys=' + repr([k for k in os.environ if 'KEY' in k]))",
         {"X103"}, "X121", "keys=[]"),
    # ---- new programs (seccomp execve; Landlock: nothing is executable) --------------------------------------
    Case("os_system", "import os\nraise RuntimeError(f'status={os.system(\"touch $marker\")}')", {"X103", "X106"},
         "X121", "status="),
    Case("subprocess_run", "import subprocess\nsubprocess.run(['touch', '$marker'])", {"X103"}, "X121",
         "PermissionError"),
    Case("posix_spawn", "import os\nos.posix_spawn('/usr/bin/touch', ['touch', '$marker'], {})", {"X103"}, "X121",
         "PermissionError"),
    Case("execv", "import os\nos.execv('/usr/bin/touch', ['touch', '$marker'])", {"X103"}, "X121", "PermissionError"),
    Case("pty_fork", "import pty\npty.fork()", {"X103"}, "X121", "Error"),
    Case("subclasses_walk", "w = [k for k in ().__class__.__base__.__subclasses__() "
         "if k.__name__ == '_wrap_close'][0]\n"
         "raise RuntimeError(f\"status={w.__init__.__globals__['system']('touch $marker')}\")", {"X104"}, "X121",
         "status="),
    Case("pandas_io_common_os", "raise RuntimeError(f'status={pd.io.common.os.system(\"touch $marker\")}')",
         {"X106"}, "X121", "status="),
    Case("numpy_ctypeslib_system", "lib = np.ctypeslib.ctypes.CDLL(None)\n"
         "raise RuntimeError(f'status={lib.system(b\"touch $marker\")}')", {"X106"}, "X121", "status="),
    Case("pickle_via_pandas_compat",
         f"p = {PICKLE}\nraise RuntimeError(f'status={{pd.compat.pickle_compat.loads(p)}}')",
         {"X106"}, "X121", "status="),
    Case("numpy_load_allow_pickle", f"import io\np = {PICKLE}\n"
         "raise RuntimeError(f'status={np.load(io.BytesIO(p), allow_pickle=True)}')", {"X103", "X106"}, "X121",
         "status="),
    # ---- processes (seccomp: clone without CLONE_THREAD) -----------------------------------------------------
    Case("os_fork", "import os\nos.fork()", {"X103"}, "X121", "PermissionError"),
    Case("vfork_syscall", SYSCALL + "raise RuntimeError(f'r={sc(58)}')", {"X103"}, "X121", "r=(-1, 1)"),
    Case("multiprocessing", "import multiprocessing\nmultiprocessing.Process(target=print).start()", {"X103"},
         "X121", "PermissionError"),
    Case("threads_still_work", "import threading\nout = []\nt = threading.Thread(target=lambda: out.append("
         "float(c.rolling(5).mean().sum())))\nt.start()\nt.join()\nassert out", {"X103"}, "ok"),
    Case("ten_thousand_threads", "import threading, time\nfor i in range(10000):\n"
         "    threading.Thread(target=time.sleep, args=(1,), daemon=True).start()", {"X103", "X107"}, "X121",
         "can't start new thread"),
    # ---- network (seccomp socket; netns; Landlock TCP) -------------------------------------------------------
    Case("tcp_connect_listener", "import socket\nsocket.create_connection(('127.0.0.1', $port), timeout=2)",
         {"X103"}, "X121", "PermissionError"),
    Case("udp_to_listener", "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
         "s.sendto(b'x', ('127.0.0.1', $uport))", {"X103"}, "X121", "PermissionError"),
    Case("raw_socket_syscall", SYSCALL + "raise RuntimeError(f'r={sc(41, 2, 1, 0)}')", {"X103"}, "X121",
         "r=(-1, 1)"),
    # ---- other processes and the kernel (seccomp) ------------------------------------------------------------
    Case("kill_engine", "import os\nos.kill($pid, 9)", {"X103"}, "X121", "PermissionError"),
    Case("kill_zygote", "import os\nos.kill(os.getppid(), 9)", {"X103"}, "X121", "PermissionError"),
    Case("kill_process_group", "import os\nos.kill(0, 9)", {"X103"}, "X121", "PermissionError"),
    Case("pidfd_and_ptrace_engine", SYSCALL + "raise RuntimeError(f'r={[sc(434, $pid, 0), sc(101, 16, $pid, 0, 0)]}')",
         {"X103"}, "X121", "r=[(-1, 1), (-1, 1)]"),
    Case("io_uring_setup", SYSCALL + "raise RuntimeError(f'r={sc(425, 8, None)}')", {"X103"}, "X121", "r=(-1, 1)"),
    Case("kernel_interfaces", SYSCALL + "r = [sc(321, 0, 0, 0), sc(298, 0, 0, -1, -1, 0), sc(250, 0, 0),\n"
         "     sc(272, 0x10000000), sc(165, b'none', b'/tmp', b'tmpfs', 0, 0), sc(308, 0, 0), sc(319, b'x', 0)]\n"
         "raise RuntimeError(f'errnos={[e for _, e in r]}')", {"X103", "X104"}, "X121",
         "errnos=[1, 1, 1, 1, 1, 1, 1]"),
    Case("openat2_clone3_enosys", SYSCALL + "import threading\n"
         "r = [sc(437, -100, b'/etc/hostname', 0, 0), sc(435, 0, 0)]"
         "\nt = threading.Thread(target=print)\nt.start()\nt.join()\nx = len(open(np.__file__).read(10))\n"
         "raise RuntimeError(f'r={r} fallbacks ok {x}')", {"X103", "X104", "X105", "X106"}, "X121",
         "r=[(-1, 38), (-1, 38)] "
         "fallbacks ok 10"),
    Case("int80_32bit_syscall", SYSCALL + "libc.mmap.restype = ctypes.c_void_p\n"
         "libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, "
         "ctypes.c_long]\naddr = libc.mmap(None, 4096, 7, 0x22, -1, 0)\n"
         "ctypes.memmove(addr, bytes([0xb8, 0x14, 0, 0, 0, 0xcd, 0x80, 0xc3]), 8)\n"
         "ctypes.CFUNCTYPE(ctypes.c_int)(addr)()", {"X103"}, "X124", "SIGSYS", x86_only=True),
    Case("x32_syscall", SYSCALL + "sc(0x40000000 + 39)", {"X103"}, "X124", "SIGSYS", x86_only=True),
    # ---- resources (rlimits; the engine's wall clock and caps) -----------------------------------------------
    Case("busy_loop", "while True:\n    pass", None, "X122|X123", timeout=1.5),
    Case("sleep_an_hour", "import time\ntime.sleep(3600)", {"X103", "X107"}, "X122", timeout=1.0),
    Case("blocking_read", "import os\nr, w = os.pipe()\nos.read(r, 1)", {"X103", "X106"}, "X122", timeout=1.0),
    Case("numpy_6_gib", "x = np.ones(6 << 30, dtype=np.uint8)", None, "X123", "memory"),
    Case("list_growth", "x = []\nwhile True:\n    x.append(bytearray(1 << 20))", None, "X123", "memory",
         memory=256 << 20),
    Case("print_300_mb", "import sys\nfor i in range(300):\n    sys.stdout.write('x' * (1 << 20))", {"X103", "X106"},
         "X125",
         "printed more than"),
    Case("garbage_on_result_pipe", "import os\nfor fd in range(3, 32):\n    try:\n"
         "        os.write(fd, b'RESBXR01' + bytes([255]) * 40)\n    except OSError:\n        pass", {"X103", "X106"},
         "X127"),
    Case("oversized_result_frame", "import os, struct\n"
         "head = struct.pack('<8sIIQQQ', b'RESBXR01', 0, 1, 60, 1, 1 << 40)"
         "\nfor fd in range(3, 32):\n    try:\n        os.write(fd, head)\n    except OSError:\n        pass",
         {"X103", "X106"}, "X127", "payload"),
    Case("segfault", "import ctypes\nctypes.string_at(0)", {"X103"}, "X124", "SIGSEGV"),
    Case("abort", "import os\nos.abort()", {"X103"}, "X124", "SIGABRT"),
    Case("sys_exit", "import sys\nsys.exit(0)", {"X103"}, "X121", "exit()"),
    Case("os_exit_without_result", "import os\nos._exit(0)", {"X103", "X104"}, "X124", "without a result"),
    # ---- the engine's memory: frames, generators, tracebacks (process boundary) ------------------------------
    Case("getframe_globals", "import sys\nf, found = sys._getframe(), False\nwhile f is not None:\n"
         "    found = found or 'ENGINE_SECRET' in f.f_globals\n    f = f.f_back\n"
         "raise RuntimeError(f'found={found}')", {"X103", "X104", "X105"}, "X121", "found=False"),
    Case("generator_frame_walk", "def g():\n    yield 1\ngen = g()\nf, found = gen.gi_frame, False\n"
         "while f is not None:\n    found = found or 'ENGINE_SECRET' in f.f_globals\n    f = f.f_back\n"
         "raise RuntimeError(f'found={found}')", {"X105", "X111"}, "X121", "found=False"),
    Case("traceback_frame_walk", "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    tb = e.__traceback__\n"
         "found = False\nf = tb.tb_frame\nwhile f is not None:\n    found = found or 'ENGINE_SECRET' in f.f_globals\n"
         "    f = f.f_back\nraise RuntimeError(f'found={found}')", {"X104", "X105"}, "X121", "found=False"),
    Case("inherited_descriptors", "import os, stat\nkinds = []\nfor fd in range(1024):\n    try:\n"
         "        m = os.fstat(fd).st_mode\n    except OSError:\n        continue\n"
         "    kinds.append('sock' if stat.S_ISSOCK(m) else 'fifo' if stat.S_ISFIFO(m) else 'file' if stat.S_ISREG(m) "
         "else 'other')\nraise RuntimeError(f'fds={kinds}')", {"X103"}, "X121",
         # /dev/null; stdout and stderr (the log pipe); the job memfd and mmap's duplicate; the result pipe; the
         # progress memfd and mmap's duplicate
         "fds=['other', 'fifo', 'fifo', 'file', 'file', 'fifo', 'file', 'file']"),
    Case("format_string_traversal", "leak = '{0.__class__.__mro__[1].__subclasses__}'.format(1)", {"X104", "X105"},
         "ok"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_attack_is_contained(host: Host, case: Case) -> None:
    if case.x86_only and not X86_64:
        pytest.skip("x86-64 specific system call ABI")
    code = strategy_code(Template(case.body).substitute(host.values()))
    static = {d.code for d in check_code(code)}
    if case.static is None:
        assert static == set(), "the static check should let this through (the kernel stops it)"
    else:
        assert static == case.static
    t0 = time.monotonic()
    got = sandboxed(host, case.body, timeout=case.timeout, memory=case.memory)
    elapsed = time.monotonic() - t0
    if case.code == "ok":
        entries, _exits = got
        assert entries[:, 0].tolist() == (INPUTS[("prices", "close")][:, 0] > 15).tolist()
    else:
        assert not isinstance(got, tuple), f"the attack ran through: {case.id}"
        assert got.code in case.code.split("|"), got.message
        assert case.text in got.message, got.message
        assert SECRET_KEY not in got.message + (got.hint or "")
    assert elapsed < case.timeout + 8, f"took {elapsed:.1f} s"
    host.assert_untouched()


def test_monkeypatching_does_not_survive_into_the_next_job(host: Host) -> None:
    first = sandboxed(host, "pd.Series.mean = lambda self, *a, **k: 42.0\nnp.mean = lambda *a, **k: 42.0")
    assert isinstance(first, tuple)
    second = sandboxed(host, "raise RuntimeError(f'mean={c.mean()} {np.mean(c.to_numpy())}')")
    assert second.code == "X121" and "mean=15.0 15.0" in second.message


def test_memory_bomb_leaves_the_engine_memory_alone(host: Host) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    got = sandboxed(host, "x = []\nwhile True:\n    x.append(bytearray(1 << 20))", memory=512 << 20)
    assert got.code == "X123"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: the engine did not grow


def test_child_runs_as_its_own_uid_in_its_own_network_namespace(host: Host) -> None:
    got = sandboxed(host, "import os, socket\nraise RuntimeError(f'ids={os.getuid()},{os.getgid()},"
                          "{os.getgroups()} net={os.readlink(\"/proc/self/ns/net\")}')")
    assert got.code == "X121"
    if os.geteuid() == 0:  # a uid and gid of the job's own, from the reserved range, no groups
        uid, gid, groups = re.search(r"ids=(\d+),(\d+),(\[\])", got.message).groups()
        assert uid == gid and JOB_ID_BASE < int(uid) < 2**31 and groups == "[]"
    # /proc is outside the Landlock allowlist: even the namespace link is unreadable from inside
    assert "PermissionError" in got.message or "net=" in got.message


def test_the_pool_still_serves_good_jobs_after_the_suite(host: Host) -> None:
    host.assert_untouched()
    for _ in range(3):
        entries, exits = sandboxed(host, "x = c.rolling(3).mean()")
        assert entries[:, 0].tolist() == (INPUTS[("prices", "close")][:, 0] > 15).tolist()
        assert exits[:, 0].tolist() == (INPUTS[("prices", "close")][:, 0] < 12).tolist()
    assert {z.info["pid"] for z in host.pool._all} == host.zygote_pids  # the same zygotes: none was lost
    assert host.pool.started == 2
