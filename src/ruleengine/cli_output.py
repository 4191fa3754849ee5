"""What the CLI writes: files (--report, --out, -o) checked before the work starts and written without a
traceback, and the console its tables are printed on (`console`).

`check_output_path` runs before a command does its (possibly long) work, so a report aimed at a missing
folder, at a folder or at a FIFO fails at once with D170 instead of after the run. A failure that only
writing reveals (a full disk, ``/dev/full``: ENOSPC) becomes D171 through `writing`. Only the standard
library is imported: `cli.py` imports this module at start-up.

Example:
    >>> check_output_path("report.html", "--report")  # a file in the current folder: fine
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _error(code: str, message: str, option: str, hint: str) -> Exception:
    from .errors import Diagnostic, RuleEngineError

    return RuleEngineError([Diagnostic(code, message, path=option.lstrip("-"), hint=hint)])


def check_output_path(path: str | None, option: str) -> None:
    """Raise D170 when `path` (the value of `option`) cannot be written; None (option not given) passes.

    Refused: an empty path, an existing folder, a FIFO or socket (opening it would block), a path whose
    folder does not exist (it is not created: a typo must not make folders), a file or folder without write
    permission. Character devices (``/dev/stdout``) are allowed; a write they refuse is D171.
    """
    if path is None:
        return
    if not path.strip():
        raise _error("D170", f"{option} is empty", option, f"give a file name, e.g. {option} out.html")
    target = Path(path).expanduser()
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise _error("D170", f"{option} {path}: {exc.strerror}", option, "choose another path") from None
    if mode is not None:
        if stat.S_ISDIR(mode):
            raise _error("D170", f"{option} {path} is a folder, not a file", option,
                         f"give a file name inside it, e.g. {option} {target / 'out.html'}")
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            raise _error("D170", f"{option} {path} is a FIFO or socket, not a file", option,
                         "give a regular file")
        if not os.access(target, os.W_OK):
            raise _error("D170", f"{option} {path} is not writable (permission denied)", option,
                         "choose a path you may write")
        return
    folder = target.parent
    if not folder.exists():
        raise _error("D170", f"{option} {path}: the folder {folder} does not exist", option,
                     f"create it first (mkdir -p {folder}) or choose an existing folder")
    if not folder.is_dir():
        raise _error("D170", f"{option} {path}: {folder} is not a folder", option, "choose an existing folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise _error("D170", f"{option} {path}: the folder {folder} is not writable (permission denied)",
                     option, "choose a folder you may write")


@contextmanager
def writing(path: str, option: str) -> Iterator[None]:
    """Turn an OSError raised while writing `path` (no space left, device refused) into D171."""
    try:
        yield
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise _error("D171", f"could not write {option} {path}: {reason}", option,
                     "check the free space and the path, then run again") from None


def console(piped_width: int = 120) -> Any:
    """A rich Console on stdout: a terminal's own width; piped, ``$COLUMNS`` when set, else `piped_width`."""
    from rich.console import Console

    out = Console(file=sys.stdout)
    if out.is_terminal:
        return out
    columns = os.environ.get("COLUMNS", "")
    return Console(file=sys.stdout, width=int(columns) if columns.isdigit() and int(columns) > 0 else piped_width)


def compact_table(title: str | None = None, **options: Any) -> Any:
    """A rich Table that fits an 80-column terminal: no vertical borders, one space between columns."""
    from rich import box
    from rich.table import Table

    return Table(title=title, box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False, collapse_padding=True,
                 **options)


def write_text(path: str, text: str, option: str) -> None:
    """Write `text` to `path` (UTF-8); an OSError becomes D171."""
    with writing(path, option):
        Path(path).expanduser().write_text(text, encoding="utf-8")


__all__ = ["check_output_path", "compact_table", "console", "write_text", "writing"]
