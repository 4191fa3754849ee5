"""Hostile inputs for the store (issue 14 item 8, issue 13 item 7): every damaged, foreign, future or
misnamed database and every out-of-range id ends in a structured error, never in a traceback or a silently
re-initialised store. Each case runs the real CLI on a real SQLite file (`hostile.run_cli`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from support.hostile import assert_structured, run_cli

from ruleengine.store import open_store

HUGE = "99999999999999999999999"  # beyond SQLite's 64-bit integers


def _store(tmp: Path) -> Path:
    path = tmp / "store.db"
    open_store(str(path)).close()
    return path


def _with_strategy(tmp: Path) -> Path:
    path = tmp / "store.db"
    with open_store(str(path)) as store:
        store.add_strategy("name: x\ndata: {prices: {kind: ohlcv}}\nentry: ['close > 1']\n")
    return path


def _sql(path: Path, *statements: str) -> Path:
    con = sqlite3.connect(path)
    for s in statements:
        con.execute(s)
    con.commit()
    con.close()
    return path


def _newer(tmp: Path) -> Path:
    return _sql(_store(tmp), "UPDATE alembic_version SET version_num = '0099'")


def _empty(tmp: Path) -> Path:
    (tmp / "empty.db").touch()
    return tmp / "empty.db"


def _no_table(tmp: Path) -> Path:
    return _sql(_store(tmp), "DROP TABLE notifications")


def _no_column(tmp: Path) -> Path:
    return _sql(_store(tmp), "ALTER TABLE strategy_signals DROP COLUMN synthetic")


def _foreign(tmp: Path) -> Path:
    return _sql(tmp / "other.db", "CREATE TABLE customers (id INTEGER, name TEXT)")


def _garbage(tmp: Path) -> Path:
    (tmp / "junk.db").write_bytes(b"this is not sqlite\n" * 100)
    return tmp / "junk.db"


def _missing_folder(tmp: Path) -> Path:
    return tmp / "no" / "such" / "folder" / "store.db"


CASES: list[tuple[str, Callable[[Path], Path] | str, list[str], str, str]] = [
    # (case, database (a setup function or a URL), command, expected code, words of the message)
    ("newer schema revision", _newer, ["strategies", "list"], "T112", "newer than this ruleengine"),
    ("0-byte file", _empty, ["strategies", "list"], "T115", "empty (0 bytes)"),
    ("missing table", _no_table, ["strategies", "list"], "T113", "notifications is missing"),
    ("missing column", _no_column, ["signals", "list"], "T113", "strategy_signals.synthetic is missing"),
    ("foreign SQLite database", _foreign, ["strategies", "list"], "T113", "not a ruleengine database"),
    ("not a database at all", _garbage, ["strategies", "list"], "T106", "not a database"),
    ("folder does not exist", _missing_folder, ["strategies", "list"], "T114", "does not exist"),
    ("unknown URL dialect", "nosuchdialect://x", ["strategies", "list"], "T106", "unknown database dialect"),
    ("strategy id beyond 64 bits", _store, ["strategies", "show", HUGE], "T101", f"no strategy with id {HUGE}"),
    ("run id beyond 64 bits", _store, ["runs", "show", HUGE], "T102", f"no backtest run {HUGE}"),
    ("signal id beyond 64 bits", _store, ["signals", "act", HUGE], "T103", f"no signal with id {HUGE}"),
    ("version beyond 64 bits", _with_strategy, ["strategies", "show", "1", "--version", HUGE], "T101",
     f"strategy 1 has no version {HUGE}"),
]


@pytest.mark.parametrize(("case", "db", "command", "code", "words"), CASES, ids=[c[0] for c in CASES])
def test_hostile_database_is_a_structured_error(case: str, db: Callable[[Path], Path] | str, command: list[str],
                                                code: str, words: str, tmp_path: Path) -> None:
    target = db if isinstance(db, str) else str(db(tmp_path))
    before = Path(target).stat().st_size if not isinstance(db, str) and Path(target).exists() else None
    proc = run_cli([*command, "--db", target], seconds=60, megabytes=2048)
    assert_structured(proc)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and f"error[{code}]" in out and words in out, out
    if before is not None:
        assert Path(target).stat().st_size == before  # nothing was initialised or migrated over it
    if case == "folder does not exist":
        assert not Path(target).parent.exists()  # the folder is not created behind the user's back
