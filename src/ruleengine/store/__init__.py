"""Persistence: strategies with versions, backtests, live signals, performance and the notification outbox.

SQLAlchemy 2 with Alembic migrations (shipped in ``ruleengine/store/migrations``); SQLite by default (a file
under the user's data directory, WAL), any SQLAlchemy URL otherwise. See `ruleengine.store.database` for the
settings and `ruleengine.store.models` for the tables.

Example:
    >>> from ruleengine.store import open_store
    >>> store = open_store("sqlite:///:memory:")
    >>> store.list_strategies()
    []
"""

from __future__ import annotations

from .database import default_url, make_engine, migrate, normalize_url
from .records import NotificationRecord, RunRecord, SignalRecord, StrategyRecord
from .store import Store, storable_result, store_backtest


def open_store(url: str | None = None) -> Store:
    """Open (and migrate to the newest schema) the database at `url`.

    Args:
        url: a SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://...``) or a file path; default
            ``$RULEENGINE_DB``, else ``ruleengine.db`` under ``platformdirs.user_data_dir("ruleengine")``.

    Raises:
        RuleEngineError: T106 when the database cannot be opened (not a database, unreachable, locked).
    """
    engine = make_engine(normalize_url(url) if url else default_url())
    migrate(engine)
    return Store(engine)


__all__ = ["NotificationRecord", "RunRecord", "SignalRecord", "Store", "StrategyRecord", "default_url",
           "open_store", "storable_result", "store_backtest"]
