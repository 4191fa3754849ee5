"""Database URL, engine set-up, migrations and retries for the store.

- **URL**: an explicit SQLAlchemy URL or a file path, else ``$RULEENGINE_DB``, else the SQLite file
  ``ruleengine.db`` under ``platformdirs.user_data_dir("ruleengine")``. Any SQLAlchemy URL works (PostgreSQL
  for a shared deployment); the SQLite settings below only apply to SQLite.
- **SQLite settings** (measured in docs/security-notes.md 6.2): WAL journal, ``synchronous=FULL`` (strategies
  and backtests are not re-derivable), ``foreign_keys=ON``, ``busy_timeout=5000``. Writes open their
  transaction with ``BEGIN IMMEDIATE``: a deferred transaction that reads first and then writes cannot wait
  for a concurrent writer (SQLite returns SQLITE_BUSY at once, without the busy handler), so two processes
  writing at once would fail instead of queueing. A write that still meets ``database is locked`` (the busy
  timeout ran out) is retried with backoff.
- **Migrations**: Alembic revisions shipped in ``ruleengine/store/migrations`` (found with
  importlib.resources, so they work from a wheel) are applied on open; a database already at head costs a
  few small queries (the revision and the schema check below), not an Alembic start-up.
- **Checks on open** (a database is never silently re-initialised or half used): a SQLite path whose folder
  does not exist is T114 (the file is created, the folder is not: a typo in the folder would otherwise start
  an empty store); a 0-byte file is T115 (a truncated database looks exactly like it, and initialising it would
  hide the loss); a database at a revision this version does not know is T112 ("newer than this ruleengine");
  a database with tables but no ruleengine revision, or a revision whose tables or columns are missing, is T113;
  an unknown URL dialect or a missing driver is T106.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DatabaseError, OperationalError

from ..errors import Diagnostic, RuleEngineError

T = TypeVar("T")

#: the Alembic revisions of `ruleengine/store/migrations/versions`, oldest first; the last one is the head
REVISIONS = ("0001", "0002", "0003", "0004", "0005")
HEAD = REVISIONS[-1]
#: SQLite waits this long for another writer's lock before "database is locked" (milliseconds)
BUSY_TIMEOUT_MS = 5000
#: attempts of one write unit that meets "database is locked" after the busy timeout
WRITE_ATTEMPTS = 5


def default_url() -> str:
    """``$RULEENGINE_DB`` or the SQLite file under the user's data directory (whose folder is created here:
    only the default location is ours to create)."""
    env = os.environ.get("RULEENGINE_DB", "").strip()
    if env:
        return normalize_url(env)
    import platformdirs

    folder = Path(platformdirs.user_data_dir("ruleengine"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _error("T114", f"cannot create the database folder {folder}: {exc.strerror}",
                     "pass --db with a writable path or set RULEENGINE_DB") from None
    return normalize_url(str(folder / "ruleengine.db"))


def normalize_url(url: str) -> str:
    """A SQLAlchemy URL as given, or ``sqlite:///ABSOLUTE_PATH`` for a plain file path."""
    if "://" in url:
        return url
    return "sqlite:///" + str(Path(url).expanduser().resolve())


def make_engine(url: str) -> Engine:
    """An engine for `url` with the SQLite settings and write transactions described in the module doc."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    shown = url.split("://", 1)[0] + "://..." if "@" in url else url  # never echo a password
    try:
        parsed = make_url(url)
        is_sqlite = parsed.get_backend_name() == "sqlite"
        if is_sqlite and parsed.database and parsed.database != ":memory:":
            _check_sqlite_file(Path(parsed.database))
        engine = create_engine(url, future=True)
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        reason = str(exc).splitlines()[0]
        if isinstance(exc, NoSuchModuleError):
            reason = f"unknown database dialect '{url.split('://', 1)[0]}'"
        elif isinstance(exc, ImportError):
            reason = f"the database driver is not installed ({exc})"
        raise _error("T106", f"cannot use the database URL {shown}: {reason}",
                     "a SQLite file path, sqlite:///PATH, or a SQLAlchemy URL such as "
                     "postgresql+psycopg://user@host/db (its driver installed)", "db") from None
    if is_sqlite:
        _sqlite_events(engine)
    return engine


def _check_sqlite_file(path: Path) -> None:
    """T114 for a missing folder, T115 for an empty file (see the module doc for why neither is fixed silently)."""
    if not path.parent.is_dir():
        raise _error("T114", f"the database folder {path.parent} does not exist",
                     f"create it first (mkdir -p {path.parent}) or pass another --db; ruleengine creates the "
                     "database file, not its folder", "db")
    if path.is_file() and path.stat().st_size == 0:
        raise _error("T115", f"the database file {path} is empty (0 bytes): it is not a ruleengine database, "
                     "and a truncated database looks the same", "if it is meant to be a new store, delete the "
                     "empty file and run the command again (the file is then created); otherwise restore a backup",
                     "db")


def _sqlite_events(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit BEGIN is turned off: transactions are begun below, in the mode we choose.
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = FULL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("ruleengine_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_locked(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" / "database table is locked" (worth a retry)."""
    return isinstance(exc, OperationalError) and "locked" in str(getattr(exc, "orig", exc)).lower()


def retry_locked(fn: Callable[[], T], attempts: int = WRITE_ATTEMPTS) -> T:
    """Run one write unit, again with jittered backoff while the database stays locked by another writer."""
    for i in range(attempts):
        try:
            return fn()
        except OperationalError as exc:
            if not is_locked(exc) or i == attempts - 1:
                raise
            time.sleep(min(2.0, 0.05 * 2 ** i) * (0.5 + random.random()))
    raise AssertionError("unreachable")  # pragma: no cover


def migrate(engine: Engine) -> None:
    """Bring the schema to `HEAD` (creates every table on an empty database), after the checks on open."""
    try:
        with engine.connect() as conn:
            current = _current_revision(conn)
            tables = _table_names(conn)
            conn.rollback()
    except DatabaseError as exc:
        raise _db_error(engine, exc) from None
    where = engine.url.render_as_string(hide_password=True)
    if current is not None and current not in REVISIONS:
        raise _error("T112", f"the database {where} is newer than this ruleengine: its schema revision is "
                     f"{current}, this version knows up to {HEAD}",
                     "use the newer ruleengine that wrote it (pip install -U ruleengine), or pass another --db",
                     "db")
    if current is None and tables - {"alembic_version"}:
        raise _error("T113", f"{where} is not a ruleengine database: it has tables ("
                     + ", ".join(sorted(tables)[:5]) + ") but no ruleengine schema revision",
                     "pass another --db (a new file is initialised as an empty store)", "db")
    if current == HEAD:
        check_schema(engine)
        return
    from alembic import command

    def upgrade() -> None:
        with migration_connection(engine) as conn:
            command.upgrade(alembic_config(conn), "head")

    if current is not None:
        check_schema(engine, REVISIONS.index(current))  # a damaged old database is not migrated further
    try:
        retry_locked(upgrade)
    except DatabaseError as exc:
        raise _db_error(engine, exc) from None


#: tables each revision adds (checked on open: a missing table is found now, not by the command that needs it)
_TABLES_SINCE = {0: ("trading_strategies", "strategy_versions", "strategy_backtests", "strategy_signals",
                     "strategy_performance"), 1: ("notifications",)}


def check_schema(engine: Engine, revision_index: int = len(REVISIONS) - 1) -> None:
    """T113 when a table (or, at head, a column) of the schema at that revision is missing."""
    from sqlalchemy import inspect

    from .models import Base

    expected = [t for i, names in _TABLES_SINCE.items() if i <= revision_index for t in names]
    with engine.connect() as conn:
        insp = inspect(conn)
        present = set(insp.get_table_names())
        missing = [t for t in expected if t not in present]
        if not missing and revision_index == len(REVISIONS) - 1:
            for table in Base.metadata.sorted_tables:
                have = {c["name"] for c in insp.get_columns(table.name)}
                missing += [f"{table.name}.{c.name}" for c in table.columns if c.name not in have]
        conn.rollback()
    if missing:
        where = engine.url.render_as_string(hide_password=True)
        raise _error("T113", f"the database {where} is damaged: its schema revision is "
                     f"{REVISIONS[revision_index]} but " + ", ".join(missing[:5]) + " "
                     + ("is" if len(missing) == 1 else "are") + " missing",
                     "restore a backup, or pass another --db", "db")


def _table_names(conn: Any) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(conn).get_table_names())


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Any]:
    """A connection in one write transaction for Alembic; on SQLite with foreign keys off meanwhile.

    SQLite changes a table's columns by copying it (Alembic's batch mode) and dropping the original, which
    fails while other tables' foreign keys point at it; SQLite's documented procedure is to switch the checks
    off (only possible outside a transaction), migrate, and verify with ``PRAGMA foreign_key_check``.
    """
    sqlite = engine.dialect.name == "sqlite"
    with engine.execution_options(ruleengine_write=True).connect() as conn:
        raw: Any = conn.connection.dbapi_connection
        if sqlite:
            raw.execute("PRAGMA foreign_keys = OFF")  # before SQLAlchemy begins the transaction
        try:
            with conn.begin():
                yield conn
                if sqlite:
                    bad = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if bad:
                        raise RuntimeError(f"migration left broken foreign keys: {bad[:5]}")
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys = ON")


def _current_revision(conn: Any) -> str | None:
    from sqlalchemy import inspect

    if not inspect(conn).has_table("alembic_version"):
        return None
    row = conn.execute(text("SELECT version_num FROM alembic_version")).first()
    return row[0] if row else None


def alembic_config(connection: Any = None) -> Any:
    """Alembic's Config for the shipped migrations; with `connection`, env.py runs on it."""
    from importlib import resources

    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("ruleengine.store") / "migrations"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _db_error(engine: Engine, exc: DatabaseError) -> RuleEngineError:
    where = engine.url.render_as_string(hide_password=True)
    reason = str(getattr(exc, "orig", exc))
    hint = ("the file is not a ruleengine database (or is damaged): restore a backup or pass another --db"
            if "not a database" in reason or "malformed" in reason else
            "another process holds the database; try again" if "locked" in reason else
            "check the --db URL / RULEENGINE_DB and that the database is reachable")
    return _error("T106", f"cannot use the database {where}: {reason}", hint)


def _error(code: str, message: str, hint: str | None = None, path: str | None = None) -> RuleEngineError:
    return RuleEngineError([Diagnostic(code, message, path=path, hint=hint)])
