"""The only files the agent tools read: none, unless the operator names a folder for them.

Agent tools take strategy documents as text and symbols as symbols: a caller's string is never opened as a
path (issue 14: ``symbols: "@/proc/self/environ"`` used to come back in an error message). An operator may
allow one folder of each kind through the server's environment:

* ``RULEENGINE_TOOLS_UNIVERSES``: universe files, named in ``symbols`` as ``"@sp500.txt"``;
* ``RULEENGINE_TOOLS_STRATEGIES``: strategy documents, named in ``strategy`` as ``"golden_cross.yaml"``.

A name resolves inside its folder only: a name relative to the folder (or an absolute path, such as a universe
stored with a strategy) without ``..``, still inside the folder once symbolic links are resolved, a regular file
(no FIFO, device or directory) of at most `MAX_FILE_BYTES`.
Errors name the file as the caller gave it and never quote its content. Files in an allowed folder are served
to every caller: put nothing there that callers may not read.

Example:
    >>> AllowedFolder(None, UNIVERSES_ENV, "universe file").configured
    False
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .. import Diagnostic, RuleEngineError

UNIVERSES_ENV = "RULEENGINE_TOOLS_UNIVERSES"
STRATEGIES_ENV = "RULEENGINE_TOOLS_STRATEGIES"
MAX_FILE_BYTES = 1_000_000  # a universe of 10,000 tickers or a long strategy document is far smaller
_STRATEGY_SUFFIXES = (".yaml", ".yml", ".json")


def _refused(message: str, hint: str | None, path: str) -> RuleEngineError:
    return RuleEngineError([Diagnostic("L112", message, path=path, hint=hint)])


def _unusable(message: str, hint: str | None, path: str) -> RuleEngineError:
    return RuleEngineError([Diagnostic("L113", message, path=path, hint=hint)])


@dataclass(frozen=True)
class AllowedFolder:
    """One folder the tools may read files of one kind from (`root` None: no files at all)."""

    root: Path | None
    setting: str  # the environment variable that configures it (named in hints)
    what: str     # "universe file" / "strategy file"

    @classmethod
    def from_env(cls, setting: str, what: str) -> AllowedFolder:
        value = os.environ.get(setting, "").strip()
        return cls(Path(value) if value else None, setting, what)

    @property
    def configured(self) -> bool:
        return self.root is not None

    def read(self, name: str, path: str) -> tuple[Path, bytes]:
        """The resolved file and its bytes; L112 for a name that leaves the folder, L113 for an unusable file.

        `path` is the tool argument the name came from (for the diagnostic)."""
        if self.root is None:
            raise _refused(f"the agent tools do not read {self.what}s", "pass the content itself (symbols "
                           f"or the document's text); an operator can allow a folder with {self.setting}", path)
        parts = PurePosixPath(name).parts
        if not name.strip() or "\x00" in name or name.startswith("~") or ".." in parts:
            raise _refused(f"'{name}' is not a {self.what} name inside the allowed folder",
                           f"give a name relative to the folder of {self.setting}, without '..'", path)
        root = os.path.realpath(self.root)
        target = os.path.realpath(os.path.join(root, name))
        if not _inside(target, root):
            raise _refused(f"'{name}' leads outside the allowed folder", "symbolic links must stay inside "
                           f"the folder of {self.setting}", path)
        try:  # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below)
            fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise _unusable(f"{self.what} '{name}' not found in the allowed folder", None, path) from None
        except OSError as exc:
            raise _unusable(f"{self.what} '{name}' cannot be opened ({exc.strerror})", None, path) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise _unusable(f"{self.what} '{name}' is not a regular file", None, path)
            opened = _fd_path(fd)  # the file actually opened (a link swapped after the check is caught)
            if opened is not None and not _inside(opened, root):
                raise _refused(f"'{name}' leads outside the allowed folder", "symbolic links must stay inside "
                               f"the folder of {self.setting}", path)
            data = _read_at_most(fd, MAX_FILE_BYTES + 1)
        finally:
            os.close(fd)
        if len(data) > MAX_FILE_BYTES:
            raise _unusable(f"{self.what} '{name}' is larger than {MAX_FILE_BYTES:,} bytes", None, path)
        return Path(target), data


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _inside(target: str, root: str) -> bool:
    return target == root or target.startswith(root.rstrip(os.sep) + os.sep)


def _fd_path(fd: int) -> str | None:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no procfs (macOS): the realpath check above stands alone
        return None


def universes() -> AllowedFolder:
    return AllowedFolder.from_env(UNIVERSES_ENV, "universe file")


def strategies() -> AllowedFolder:
    return AllowedFolder.from_env(STRATEGIES_ENV, "strategy file")


def read_universe(name: str) -> list[str]:
    """The symbols of a universe file in the allowed folder (`ruleengine.data.symbols.read_universe`'s formats).

    A file that is not a valid universe is L113 without its content: a token of a file is never echoed."""
    from .. import universe_symbols

    target, data = universes().read(name, "symbols")
    try:  # the bytes read from the checked descriptor: the file is never opened a second time by path
        return universe_symbols(data, target)
    except (RuleEngineError, OSError, UnicodeDecodeError, ValueError):
        raise _unusable(f"universe file '{name}' is not a valid universe file",
                        "one ticker symbol per line ('#' comments), or a Parquet/CSV file with a 'symbol' column",
                        "symbols") from None


def looks_like_file_name(text: str) -> bool:
    """Whether a `strategy` argument is a file name rather than a document: one line, no mapping, and a
    document suffix or a path separator. A document always has a ``key: value`` or an object."""
    s = text.strip()
    if not s or "\n" in s or ":" in s or s.startswith(("{", "[")):
        return False
    return s.lower().endswith(_STRATEGY_SUFFIXES) or "/" in s or "\\" in s or s.startswith("~")


def read_strategy_text(name: str) -> str:
    """The text of a strategy file in the allowed folder (L112 without one)."""
    _, data = strategies().read(name.strip(), "strategy")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _unusable(f"strategy file '{name.strip()}' is not UTF-8 text", None, "strategy") from None
