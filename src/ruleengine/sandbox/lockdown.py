"""Kernel features of the sandbox: the probe (may code strategies run here?) and the child's lockdown.

`lockdown` runs in the freshly forked child, before any generated code, in this order (each step narrows
what the next one may do; the order is the one measured in ``docs/security-notes.md``):

1. ``prctl(PR_SET_NO_NEW_PRIVS)``: no privilege gain through exec (and the precondition of Landlock and
   seccomp without ``CAP_SYS_ADMIN``).
2. ``unshare(CLONE_NEWNET)`` when running as root: a network namespace with only a downed loopback.
3. rlimits: address space and data (what the child inherits + the budget), CPU (seconds used so far + the
   budget), NOFILE, FSIZE=0, NPROC, CORE=0, MEMLOCK=0.
4. Landlock (raw syscalls through ctypes): read-only access beneath the Python installation, the import path
   and the system libraries; no writes anywhere; no TCP bind/connect (ABI >= 4); no signals or abstract unix
   sockets outside the domain (ABI >= 6).
5. Privilege drop when root: ``setgroups([])``, ``setresgid``/``setresuid`` to a uid and gid of the job's own
   (`job_id`: `JOB_ID_BASE` + the child's pid, a reserved range that no account uses), so that per-user limits
   (RLIMIT_NPROC counts every thread of a uid) and signal permissions are per job, not shared by every job;
   then ``PR_SET_PDEATHSIG`` (a credential change clears it) and not dumpable. This comes before seccomp so
   that the filter can deny every set*id call.
6. seccomp (pyseccomp over libseccomp): a deny-list filter, see `SECCOMP_DENY` (file-system watches
   included: inotify, fanotify and ``fcntl(F_NOTIFY)``/``F_SETLEASE`` would tell the code the names of files
   other processes open or create, and Landlock does not mediate them). Foreign architectures (``int 0x80``,
   x32) kill the process.

The probe never changes the calling process. ``RULEENGINE_SANDBOX_DISABLE=landlock,seccomp`` makes it report
those features as missing (how the refusal path is tested on a kernel that has them).

Example:
    >>> features = probe()
    >>> isinstance(features.usable, bool)
    True
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import signal
import sys
from dataclasses import dataclass, field

#: Landlock ABI needed: 4 is the first with TCP bind/connect rules ("no TCP" is part of the contract)
MIN_LANDLOCK_ABI = 4
#: the environment variable that forces probed features off (comma-separated: landlock, seccomp)
DISABLE_ENV = "RULEENGINE_SANDBOX_DISABLE"
#: the first uid/gid of the range the children run as (root only): the child with pid p is JOB_ID_BASE + p,
#: unique among live processes (pids are, and pid_max <= 2**22 keeps the range below 2**31)
JOB_ID_BASE = 2**31 - 2**22
_PID_LIMIT = 2**22  # the kernel's PID_MAX_LIMIT on 64-bit

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_GET_SECCOMP = 21
_PR_SET_NO_NEW_PRIVS = 38
_CLONE_NEWNET = 0x40000000
_CLONE_THREAD = 0x00010000
_SYS_LANDLOCK_CREATE_RULESET = 444  # the same numbers on x86_64 and aarch64 (generic syscall table)
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1

# filesystem access rights by ABI version (kernel include/uapi/linux/landlock.h)
_FS_V1 = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
_FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FS_READ_FILE, _FS_READ_DIR = 1 << 2, 1 << 3
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int


class LockdownError(RuntimeError):
    """A lockdown step failed: the child must not run the code (fail closed)."""


# ----------------------------------------------------------------------------------------------- probe


@dataclass(frozen=True)
class Features:
    """What the kernel offers the sandbox (`probe`)."""

    seccomp: bool
    landlock_abi: int  # 0: no Landlock
    root: bool
    disabled: tuple[str, ...] = ()  # forced off by RULEENGINE_SANDBOX_DISABLE
    problems: tuple[str, ...] = field(default=())

    @property
    def usable(self) -> bool:
        """True when code strategies may run: seccomp and Landlock (ABI >= `MIN_LANDLOCK_ABI`) are present."""
        return not self.problems


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0 when Landlock is absent or disabled at boot)."""
    abi = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0),
                        ctypes.c_uint32(_LANDLOCK_CREATE_RULESET_VERSION))
    return int(abi) if abi > 0 else 0


def _seccomp_available() -> tuple[bool, str]:
    if _libc.prctl(_PR_GET_SECCOMP, 0, 0, 0, 0) < 0:  # EINVAL: a kernel built without CONFIG_SECCOMP
        return False, "the kernel has no seccomp filter support"
    try:
        import pyseccomp  # noqa: F401 - also resolves libseccomp (find_library needs exec: do it now)
    except (ImportError, OSError) as exc:
        return False, f"pyseccomp/libseccomp is not usable ({exc})"
    return True, ""


def probe() -> Features:
    """Which kernel features the sandbox can use here; `Features.problems` says why code cannot run."""
    disabled = tuple(sorted({p.strip().lower() for p in os.environ.get(DISABLE_ENV, "").split(",") if p.strip()}))
    problems: list[str] = []
    if not sys.platform.startswith("linux"):
        return Features(False, 0, False, disabled, ("the sandbox needs Linux (seccomp and Landlock)",))
    sec_ok, why = _seccomp_available()
    if "seccomp" in disabled:
        sec_ok, why = False, f"seccomp is switched off by {DISABLE_ENV}"
    if not sec_ok:
        problems.append(why)
    abi = landlock_abi()
    if "landlock" in disabled:
        abi = 0
        problems.append(f"Landlock is switched off by {DISABLE_ENV}")
    elif abi < MIN_LANDLOCK_ABI:
        problems.append(f"Landlock ABI {abi} is below {MIN_LANDLOCK_ABI} (Linux 6.7+ with Landlock enabled)"
                        if abi else "the kernel has no Landlock (Linux 6.7+ with lsm=landlock)")
    root = os.geteuid() == 0
    if root:
        problems += job_ids_problems()
    return Features(sec_ok, abi, root, disabled, tuple(problems))


def job_ids_problems(accounts: tuple[str, ...] = ("/etc/passwd", "/etc/group")) -> list[str]:
    """Why the reserved uid/gid range cannot be used: an account or group in it, or a pid_max beyond it."""
    try:
        with open("/proc/sys/kernel/pid_max", encoding="ascii") as f:
            pid_max = int(f.read())
    except (OSError, ValueError):
        pid_max = _PID_LIMIT
    if pid_max > _PID_LIMIT:
        return [f"pid_max {pid_max} exceeds {_PID_LIMIT}: the per-job uids would leave their reserved range"]
    taken = []
    for path in accounts:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    fields = line.split(":")
                    if (len(fields) > 2 and fields[2].isdigit()
                            and JOB_ID_BASE <= int(fields[2]) < JOB_ID_BASE + pid_max):
                        taken.append(f"{path}: {fields[0]} ({fields[2]})")
        except OSError:
            continue
    if taken:
        return [f"ids reserved for sandbox jobs ({JOB_ID_BASE}..{JOB_ID_BASE + pid_max - 1}) are in use: "
                + ", ".join(taken[:5])]
    return []


def job_id(pid: int | None = None) -> int:
    """The uid and gid a job child runs as (root only): its own, from the reserved range."""
    return JOB_ID_BASE + (os.getpid() if pid is None else pid)


# ----------------------------------------------------------------------------------------------- lockdown


@dataclass(frozen=True)
class Limits:
    """Per-job resource limits applied in the child (seconds, bytes, counts)."""

    cpu_seconds: int = 30  # the whole run (every call of generate_signals): the hard limit
    call_cpu_seconds: int = 30  # each call (the child lowers its soft limit before every call)
    memory_bytes: int = 3 << 30  # address space on top of what the child inherits from the zygote
    nofile: int = 64
    nproc: int = 128  # threads count against it once the child runs as its own uid (root only)


def _check(ret: int, what: str) -> None:
    if ret < 0:
        err = ctypes.get_errno()
        raise LockdownError(f"{what} failed: {os.strerror(err)} (errno {err})")


def no_new_privs() -> None:
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def new_network_namespace() -> bool:
    """An empty network namespace (root only); False where it is not allowed (seccomp still denies sockets)."""
    if os.geteuid() != 0:
        return False
    return _libc.unshare(_CLONE_NEWNET) == 0  # (os.unshare is Python 3.12+)


def set_rlimits(limits: Limits) -> None:
    """Memory, CPU, files and processes. The CPU limit counts from the process start (imports included)."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(used.ru_utime + used.ru_stime) + max(1, int(limits.cpu_seconds))
    mapped, data = _mapped()
    memory, heap = mapped + limits.memory_bytes, data + limits.memory_bytes
    for res, value in ((resource.RLIMIT_CPU, (cpu, cpu + 1)),  # soft: SIGXCPU; hard: SIGKILL a second later
                       (resource.RLIMIT_AS, (memory, memory)),
                       (resource.RLIMIT_DATA, (heap, heap)),
                       (resource.RLIMIT_FSIZE, (0, 0)),
                       (resource.RLIMIT_NOFILE, (limits.nofile, limits.nofile)),
                       (resource.RLIMIT_NPROC, (limits.nproc, limits.nproc)),
                       (resource.RLIMIT_CORE, (0, 0)),
                       (resource.RLIMIT_MEMLOCK, (0, 0))):
        resource.setrlimit(res, value)
    if hasattr(resource, "RLIMIT_MSGQUEUE"):
        resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))


def _mapped() -> tuple[int, int]:
    """Bytes of address space and of data (heap, private writable maps) mapped now: the imported libraries
    reserve much more than they use, so the limits are set on top of these."""
    with open("/proc/self/statm", "rb") as f:
        fields = f.read().split()
    page = os.sysconf("SC_PAGE_SIZE")
    return int(fields[0]) * page, int(fields[5]) * page


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _fs_rights(abi: int) -> int:
    rights = _FS_V1
    if abi >= 2:
        rights |= _FS_REFER
    if abi >= 3:
        rights |= _FS_TRUNCATE
    if abi >= 5:
        rights |= _FS_IOCTL_DEV
    return rights


def landlock(read_only: list[str], abi: int | None = None) -> int:
    """Restrict this process to reading beneath `read_only`; nothing else on the filesystem, no TCP.

    Returns the ABI used. Paths that do not exist are skipped; a file gets only READ_FILE.
    """
    abi = landlock_abi() if abi is None else abi
    if abi < 1:
        raise LockdownError("Landlock is not available")
    attr = _RulesetAttr(_fs_rights(abi), (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0,
                        (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0)
    fd = _libc.syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)),
                       ctypes.c_uint32(0))
    _check(fd, "landlock_create_ruleset")
    try:
        for path in read_only:
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                is_dir = os.path.isdir(path)
                rule = _PathBeneath(_FS_READ_FILE | (_FS_READ_DIR if is_dir else 0), pfd)
                _check(_libc.syscall(_SYS_LANDLOCK_ADD_RULE, ctypes.c_int(fd),
                                     ctypes.c_int(_LANDLOCK_RULE_PATH_BENEATH), ctypes.byref(rule),
                                     ctypes.c_uint32(0)), f"landlock_add_rule({path})")
            finally:
                os.close(pfd)
        _check(_libc.syscall(_SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(fd), ctypes.c_uint32(0)),
               "landlock_restrict_self")
    finally:
        os.close(fd)
    return abi


def drop_privileges() -> bool:
    """Become this job's own uid and gid (`job_id`) when running as root (supplementary groups cleared first).
    False when not root."""
    if os.geteuid() != 0:
        return False
    ident = job_id()
    os.setgroups([])
    os.setresgid(ident, ident, ident)
    os.setresuid(ident, ident, ident)
    if os.geteuid() != ident or os.getegid() != ident:  # pragma: no cover - the kernel said yes above
        raise LockdownError(f"could not drop privileges to uid {ident}")
    return True


def die_with_parent() -> None:
    """SIGKILL when the zygote dies; not dumpable (no ptrace or /proc access by same-uid processes)."""
    _check(_libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0), "prctl(PR_SET_PDEATHSIG)")
    _check(_libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0), "prctl(PR_SET_DUMPABLE)")
    if os.getppid() == 1:  # the zygote died between fork and here
        os._exit(1)


#: system calls the filter denies with EPERM (those a strategy never needs; unknown names are skipped)
SECCOMP_DENY: tuple[str, ...] = (
    # new programs and processes (threads are allowed through `clone` with CLONE_THREAD, below)
    "execve", "execveat", "fork", "vfork",
    # networking (the netns and Landlock cover this too)
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    # changing the filesystem (write-mode opens are filtered by flags, below)
    "creat", "unlink", "unlinkat", "rename", "renameat", "renameat2", "mkdir", "mkdirat", "rmdir",
    "link", "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown",
    "lchown", "fchownat", "truncate", "ftruncate", "fallocate", "mknod", "mknodat", "utime", "utimes",
    "utimensat", "futimesat", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr",
    "fremovexattr", "name_to_handle_at", "open_by_handle_at",
    # other processes, the kernel, namespaces
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_open", "pidfd_getfd",
    "pidfd_send_signal", "tkill", "kcmp", "io_uring_setup", "io_uring_enter", "io_uring_register", "bpf",
    "perf_event_open", "keyctl", "add_key", "request_key", "unshare", "setns", "mount", "umount2",
    "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
    "mount_setattr", "memfd_create", "memfd_secret", "userfaultfd", "init_module",
    "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct",
    "quotactl", "quotactl_fd", "syslog", "sethostname", "setdomainname", "settimeofday", "clock_settime",
    "clock_adjtime", "adjtimex", "personality", "iopl", "ioperm", "modify_ldt", "vhangup", "uselib",
    "lookup_dcookie", "migrate_pages", "move_pages", "ioprio_set", "setpriority",
    # watching the file system: names of files other processes create, open or read (Landlock does not
    # mediate watches; dnotify and leases go through fcntl, below)
    "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "fanotify_init", "fanotify_mark",
    # the page cache of files (cachestat) and reclaiming other processes' memory
    "cachestat", "process_mrelease",
    # SysV and POSIX IPC (shared with the host: the netns does not isolate them)
    "shmget", "shmat", "shmctl", "shmdt", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop",
    "semtimedop", "semctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify",
    "mq_getsetattr",
    # identities (already the job's own uid; never back)
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
    "capset",
)
#: calls newer than libseccomp 2.5 knows by name, by number (the same on every architecture from 424 on):
#: the mount table (statmount, listmount), extended attributes and file attributes by path (setxattrat,
#: removexattrat, file_setattr), detached mount trees (open_tree_attr)
SECCOMP_DENY_NUMBERS: dict[str, int] = {"statmount": 457, "listmount": 458, "setxattrat": 463,
                                        "removexattrat": 466, "open_tree_attr": 467, "file_setattr": 469}
#: calls answered ENOSYS so that glibc falls back to the filterable older call (clone3 -> clone,
#: openat2 -> openat): their arguments sit in a struct that seccomp cannot read
SECCOMP_ENOSYS: tuple[str, ...] = ("clone3", "openat2")
_ESSENTIAL = {"execve", "execveat", "fork", "vfork", "socket", "connect", "bind", "ptrace", "unshare", "setns",
              "io_uring_setup", "memfd_create", "creat", "unlink", "rename", "mkdir", "kcmp", "bpf",
              "process_vm_writev", "pidfd_open", "clone3", "openat2", "inotify_init", "inotify_init1",
              "inotify_add_watch", "fanotify_init", "fanotify_mark"}
# write-mode flags of open/openat (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, __O_TMPFILE)
_WRITE_FLAGS = (0o1, 0o2, 0o100, 0o1000, 0o2000, 0o20000000)
_TIOCSTI, _TIOCLINUX = 0x5412, 0x541C
# fcntl commands that watch other processes' use of files: dnotify, leases (break notifications)
_F_SETLEASE, _F_NOTIFY = 1024, 1026


def seccomp_filter() -> None:
    """Load the deny-list filter into this (single-threaded) process. Never returns without a filter."""
    import pyseccomp as sc

    eperm, enosys = sc.ERRNO(errno.EPERM), sc.ERRNO(errno.ENOSYS)
    pid = os.getpid()
    f = sc.SyscallFilter(sc.ALLOW)
    f.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)  # int 0x80 / x32 system calls: SIGSYS, no errno to ignore
    for name in SECCOMP_DENY + SECCOMP_ENOSYS:
        try:
            f.add_rule(enosys if name in SECCOMP_ENOSYS else eperm, name)
        except OSError:
            if name in _ESSENTIAL:
                raise LockdownError(f"seccomp: cannot filter {name}") from None
    for number in SECCOMP_DENY_NUMBERS.values():
        f.add_rule(eperm, number)
    for cmd in (_F_NOTIFY, _F_SETLEASE):
        f.add_rule(eperm, "fcntl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, cmd))
    # threads yes, processes no: clone without CLONE_THREAD is fork/vfork/posix_spawn
    f.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, _CLONE_THREAD, 0))
    for name, arg in (("open", 1), ("openat", 2)):
        for flag in _WRITE_FLAGS:
            f.add_rule(eperm, name, sc.Arg(arg, sc.MASKED_EQ, flag, flag))
    # signals only to this process (numpy/Python raise signals at themselves: abort, SIGINT handling)
    for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        f.add_rule(eperm, name, sc.Arg(0, sc.NE, pid))
    f.add_rule(eperm, "prlimit64", sc.Arg(0, sc.NE, 0))  # own limits only (and only lower: hard limits)
    f.add_rule(eperm, "sched_setaffinity", sc.Arg(0, sc.NE, 0))
    for cmd in (_TIOCSTI, _TIOCLINUX):  # typing into a terminal (no tty is open, but keep it shut)
        f.add_rule(eperm, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, cmd))
    f.load()


def read_only_paths() -> list[str]:
    """What the child may read: the Python installation, site-packages, the packages loaded from elsewhere on the
    import path, system libraries and time zones.

    An import-path entry outside the installation (an editable install's source folder, which may be a project
    root holding ``.env`` files) contributes only the folders of the packages actually loaded from it; call
    this after the imports (the zygote does).
    """
    import sysconfig

    installed = {sys.base_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        p = sysconfig.get_paths().get(key)
        if p:
            installed.add(p)
    roots = [os.path.realpath(p) for p in installed]
    paths = set(installed)
    for entry in (p for p in sys.path if p and os.path.isabs(p)):
        real = os.path.realpath(entry)
        if any(real == r or real.startswith(r + os.sep) for r in roots):
            paths.add(entry)
            continue
        for module in list(sys.modules.values()):  # only what was loaded from this entry
            f = getattr(module, "__file__", None)
            if f and os.path.realpath(f).startswith(real + os.sep):
                top = os.path.relpath(os.path.realpath(f), real).split(os.sep)[0]
                paths.add(os.path.join(real, top))
    paths.update(("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib", "/usr/share/zoneinfo",
                  "/etc/ld.so.cache"))
    out: list[str] = []
    for p in sorted(paths):
        real = os.path.realpath(p)
        if os.path.exists(real) and real not in out and real != "/":
            out.append(real)
    return out


@dataclass
class LockReport:
    """What `lockdown` applied (the child sends nothing back; tests read it in-process)."""

    netns: bool = False
    landlock_abi: int = 0
    dropped: bool = False
    steps: list[str] = field(default_factory=list)


def lockdown(limits: Limits, read_only: list[str], features: Features) -> LockReport:
    """Every layer, in order; raises `LockdownError` (the caller exits without running code) on failure."""
    if not features.usable:
        raise LockdownError("; ".join(features.problems))
    report = LockReport()
    no_new_privs()
    report.steps.append("no_new_privs")
    report.netns = new_network_namespace()
    report.steps.append("netns" if report.netns else "netns (skipped: not root)")
    set_rlimits(limits)
    report.steps.append("rlimits")
    report.landlock_abi = landlock(read_only, features.landlock_abi)
    report.steps.append(f"landlock abi {report.landlock_abi}")
    report.dropped = drop_privileges()
    die_with_parent()
    report.steps.append(f"uid {job_id()}" if report.dropped else "uid kept (not root)")
    seccomp_filter()
    report.steps.append("seccomp")
    return report


__all__ = [
    "DISABLE_ENV",
    "JOB_ID_BASE",
    "MIN_LANDLOCK_ABI",
    "SECCOMP_DENY",
    "SECCOMP_DENY_NUMBERS",
    "Features",
    "Limits",
    "LockReport",
    "LockdownError",
    "job_id",
    "job_ids_problems",
    "landlock_abi",
    "lockdown",
    "probe",
    "read_only_paths",
]
