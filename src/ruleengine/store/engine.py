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
  importlib.resources, so they work from a wheel) are applied on open; a database already at head costs one
  small query, not an Alembic start-up.
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

#: the newest Alembic revision of `ruleengine/store/migrations/versions`
HEAD = "0002"
#: SQLite waits this long for another writer's lock before "database is locked" (milliseconds)
BUSY_TIMEOUT_MS = 5000
#: attempts of one write unit that meets "database is locked" after the busy timeout
WRITE_ATTEMPTS = 5


def default_url() -> str:
    """``$RULEENGINE_DB`` or the SQLite file under the user's data directory."""
    env = os.environ.get("RULEENGINE_DB", "").strip()
    if env:
        return normalize_url(env)
    import platformdirs

    return normalize_url(str(Path(platformdirs.user_data_dir("ruleengine")) / "ruleengine.db"))


def normalize_url(url: str) -> str:
    """A SQLAlchemy URL as given, or ``sqlite:///ABSOLUTE_PATH`` for a plain file path."""
    if "://" in url:
        return url
    return "sqlite:///" + str(Path(url).expanduser().resolve())


def make_engine(url: str) -> Engine:
    """An engine for `url` with the SQLite settings and write transactions described in the module doc."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    is_sqlite = parsed.get_backend_name() == "sqlite"
    if is_sqlite and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _error("T107", f"cannot create the database folder {path.parent}: {exc.strerror}",
                         "pass --db with a writable path or set RULEENGINE_DB") from None
    engine = create_engine(url, future=True)
    if is_sqlite:
        _sqlite_events(engine)
    return engine


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
    """Bring the schema to `HEAD` (creates every table on an empty database)."""
    try:
        with engine.connect() as conn:
            current = _current_revision(conn)
            conn.rollback()
    except DatabaseError as exc:
        raise _db_error(engine, exc) from None
    if current == HEAD:
        return
    from alembic import command

    def upgrade() -> None:
        with migration_connection(engine) as conn:
            command.upgrade(alembic_config(conn), "head")

    try:
        retry_locked(upgrade)
    except DatabaseError as exc:
        raise _db_error(engine, exc) from None


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
