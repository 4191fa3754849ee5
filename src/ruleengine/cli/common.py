"""What every command shares: the error exit (`or_exit`), JSON output (`emit`), the console its tables are
printed on, output files (--report, --out, -o) checked before the work starts and written without a
traceback, and the help texts of the options several commands take.

`check_output_path` runs before a command does its (possibly long) work, so a report aimed at a missing
folder, at a folder or at a FIFO fails at once with D170 instead of after the run. A failure that only
writing reveals (a full disk, ``/dev/full``: ENOSPC) becomes D171 through `writing`. Only the standard
library and typer are imported: every command module imports this one at start-up.

Example:
    >>> check_output_path("report.html", "--report")  # a file in the current folder: fine
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from typer.core import TyperCommand

T = TypeVar("T")

DATA_HELP = "a Parquet/CSV file or folder for the local provider (default: $RULEENGINE_DATA)"
DB_HELP = "database: a SQLAlchemy URL or a SQLite file (default: $RULEENGINE_DB, else the user data directory)"
JSON_HELP = "print one JSON object (the result or the error)"
PROVIDER_HELP = "provider name (see providers)"
SYMBOLS_HELP = ("SPY | SPY,QQQ | asset_a=GLD,asset_b=SLV | several pairs, ';' between runs: "
                "\"asset_a=XLE,asset_b=XLF; asset_a=GLD,asset_b=GDX\" | @file")
START_HELP = "first date (default: 10 years before end)"
END_HELP = "last date (default: the latest available)"
INIT_CASH_HELP = "starting cash of each run"
REPORT_HELP = "write a self-contained HTML report here"
STRATEGY_FILE_HELP = "strategy file (YAML or JSON)"


class _ConsoleScript:
    """Whether the process runs as the console script (`main`), not inside a test's CliRunner: an interrupted
    command may then end the process at once instead of waiting for worker processes to wind down."""

    running = False


def mark_console_script() -> None:
    """Record that the process runs as the ``ruleengine`` console script (called by `ruleengine.cli.main`)."""
    _ConsoleScript.running = True


def is_console_script() -> bool:
    """True when the process runs as the ``ruleengine`` console script."""
    return _ConsoleScript.running


def or_exit(fn: Callable[[], T], as_json: bool = False) -> T:
    """`fn()`, or on a RuleEngineError its diagnostics (rendered, or the ERROR_SCHEMA with --json) and exit 1."""
    from ruleengine import RuleEngineError

    try:
        return fn()
    except RuleEngineError as exc:
        fail(exc, as_json)


def fail(exc: Any, as_json: bool) -> NoReturn:
    """Print a RuleEngineError (rendered, or the ERROR_SCHEMA with --json) and exit 1."""
    if as_json:
        sys.stdout.write(json.dumps(exc.to_error_schema(), indent=2) + "\n")
    else:
        sys.stdout.write(exc.render())
    raise typer.Exit(1)


def emit(payload: Any) -> None:
    """Print `payload` as the JSON object of a successful command."""
    body = payload if isinstance(payload, dict) else {"result": payload}
    sys.stdout.write(json.dumps({"success": True, **body}, indent=2, default=str) + "\n")


def user_error(code: str, message: str, hint: str, path: str) -> Exception:
    """A RuleEngineError of one diagnostic, for a bad combination of options."""
    from ruleengine import Diagnostic, RuleEngineError

    return RuleEngineError([Diagnostic(code, message, path=path, hint=hint)])


def open_db(db: str | None) -> Any:
    """The store at `db` (--db; default $RULEENGINE_DB, else the user data directory)."""
    from ruleengine import open_store

    return open_store(db)


class ParamOptionCommand(TyperCommand):
    """A command with ``--param``: an unknown option named like a risk field (``--stop-loss``) is answered with
    ``--param stop_loss_pct=VALUE`` instead of click's nearest option name (which was ``--symbols``)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except Exception as exc:  # typer's vendored click NoSuchOption: recognised by its fields
            name = getattr(exc, "option_name", None)
            if isinstance(name, str) and hasattr(exc, "possibilities"):
                field = _risk_field_like(name)
                if field is not None:
                    exc.possibilities = [f"--param {field}=VALUE"]
            raise


def _risk_field_like(option: str) -> str | None:
    """The risk field or run parameter an option name looks like (--stop-loss -> stop_loss_pct), or None."""
    import difflib

    from ruleengine import RISK_PARAM_NAMES

    names = (*RISK_PARAM_NAMES, "execution_frequency")
    word = option.lstrip("-").replace("-", "_").lower()
    match = difflib.get_close_matches(word, names, n=1, cutoff=0.6)
    return match[0] if match else next((n for n in names if n.startswith(word + "_")), None)


def _error(code: str, message: str, option: str, hint: str) -> Exception:
    return user_error(code, message, hint, option.lstrip("-"))


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
    """A rich Table that fits an 80-column terminal: no borders, one space between columns, and a
    cell too wide for its column folds onto the next line (rich's default cuts it to "…": a narrow terminal
    must not hide a run's id, its SYNTHETIC flag or a number)."""
    from rich import box
    from rich.table import Table

    class FoldingTable(Table):
        def add_column(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("overflow", "fold")
            super().add_column(*args, **kwargs)

        def _calculate_column_widths(self, console: Any, options: Any) -> list[int]:
            """Keep words whole when they can be: every column gets its longest word (rich's own collapse
            narrows the widest columns first and splits '2020-01-02' or 'SYNTHETIC' though the words fit),
            and the rest of the width goes to the columns in proportion to what their longest cell wants."""
            ranges = [self._measure_column(console, options, column) for column in self.columns]
            low = [r.minimum for r in ranges]
            high = [r.maximum for r in ranges]
            budget = options.max_width
            if sum(high) <= budget or sum(low) > budget:
                return list(super()._calculate_column_widths(console, options))
            widths = list(low)
            spare = budget - sum(low)
            wants = [h - w for h, w in zip(high, low, strict=True)]
            total = sum(wants)
            for i, want in enumerate(wants):
                widths[i] += min(want, spare * want // total)
            left = budget - sum(widths)
            for i in sorted(range(len(widths)), key=lambda j: widths[j] - high[j]):  # the most wanting first
                give = min(left, high[i] - widths[i])
                widths[i] += give
                left -= give
            return widths

    return FoldingTable(title=title, box=box.SIMPLE_HEAD, show_edge=False, padding=0, **options)


def write_text(path: str, text: str, option: str) -> None:
    """Write `text` to `path` (UTF-8); an OSError becomes D171."""
    with writing(path, option):
        Path(path).expanduser().write_text(text, encoding="utf-8")


__all__ = ["DATA_HELP", "DB_HELP", "END_HELP", "INIT_CASH_HELP", "JSON_HELP", "PROVIDER_HELP", "REPORT_HELP",
           "START_HELP", "STRATEGY_FILE_HELP", "SYMBOLS_HELP", "ParamOptionCommand", "check_output_path",
           "compact_table", "console", "emit", "fail", "is_console_script", "mark_console_script", "open_db",
           "or_exit", "user_error", "write_text", "writing"]
