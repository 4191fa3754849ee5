"""ORM models of the store (SQLAlchemy 2, typed), matching the head of the Alembic migrations.

Tables follow seed 003's ``012_create_strategies_tables`` with integer ids (the CLI takes ``signals act 3``) and
without the seed's users table (one local user, ``user_id = "local"``):

- ``trading_strategies``: one row per strategy; ``strategy_definition`` / ``natural_language_input`` hold the
  current version's values (the seed's columns), ``current_version`` points at it.
- ``strategy_versions``: every version, never updated: document, content hash, natural-language input, author.
- ``strategy_backtests``: summary columns plus the full result JSON (a rotation portfolio's `RotationResult`:
  one run without round-trip trades, its orders, holdings and turnover in the JSON; ``kind`` in the JSON tells).
- ``strategy_signals``: live signals; what the user did (``user_acted``, ``acted_price``, ``outcome``) and the
  hypothetical trade of the signal (``hypothetical``, filled by `track`).
- ``strategy_performance``: one row per strategy, refreshed by `track`.
- ``notifications``: the webhook outbox (a row per message; ``sent_at`` NULL until delivered).

Backtests and signals record their data provenance (0003): ``data_providers`` (slot -> provider name) and
``synthetic``. New rows are always real data (the store refuses synthetic results: T110); old rows computed
on synthetic data keep ``synthetic = true`` and are left out wherever real data are meant.

Backtests and signals record their direction (0004): a backtest the strategy's (``long``, ``short``,
``long_short``), a signal the side of the position it opens or closes (``long`` or ``short``). Rows older than
0004 are long (a backtest's recorded short runs excepted: see the migration).

A pair signal acted on records both legs' fills (0005, ``acted_legs``: symbol -> price and time); its outcome
holds both legs' exit prices and the pair's return.

Prices are Float, not the seed's Numeric(10, 2): rounding a signal's price to cents would make a stored
signal differ from the backtest's fill for low-priced symbols.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class StrategyRow(Base):
    __tablename__ = "trading_strategies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(255), default="local", index=False)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    natural_language_input: Mapped[str] = mapped_column(Text, default="")
    strategy_definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    universe: Mapped[str | None] = mapped_column(Text)  # 0002: the symbols `scan` runs this strategy on


class VersionRow(Base):
    __tablename__ = "strategy_versions"
    __table_args__ = (UniqueConstraint("strategy_id", "version", name="uq_strategy_versions_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("trading_strategies.id"))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    natural_language_input: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(255), default="user")
    strategy_definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class BacktestRow(Base):
    __tablename__ = "strategy_backtests"

    backtest_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("trading_strategies.id"))
    strategy_version: Mapped[int] = mapped_column(Integer)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    symbols: Mapped[str] = mapped_column(Text, default="")
    runs: Mapped[int] = mapped_column(Integer, default=1)
    total_trades: Mapped[int] = mapped_column(Integer, default=0)
    winning_trades: Mapped[int] = mapped_column(Integer, default=0)
    win_rate: Mapped[float | None] = mapped_column(Float)
    total_return_pct: Mapped[float | None] = mapped_column(Float)
    max_drawdown_pct: Mapped[float | None] = mapped_column(Float)
    sharpe_ratio: Mapped[float | None] = mapped_column(Float)
    backtest_results: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # 0003: data provenance (slot -> provider; synthetic: NULL when an old row did not record it)
    data_providers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    synthetic: Mapped[bool | None] = mapped_column(Boolean)
    # 0004: positions of both sides (backtest: the strategy's direction; signal: its position's side)
    direction: Mapped[str] = mapped_column(String(10), default="long", server_default="long")


class SignalRow(Base):
    __tablename__ = "strategy_signals"

    signal_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("trading_strategies.id"))
    strategy_version: Mapped[int] = mapped_column(Integer)
    ticker: Mapped[str] = mapped_column(String(64))
    signal_type: Mapped[str] = mapped_column(String(10))
    generated_at: Mapped[datetime] = mapped_column(DateTime)
    bar_time: Mapped[datetime] = mapped_column(DateTime)
    price_at_signal: Mapped[float | None] = mapped_column(Float)
    confidence_score: Mapped[float | None] = mapped_column(Float)
    reasoning: Mapped[str | None] = mapped_column(Text)
    reasoning_tree: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    data_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    user_acted: Mapped[bool] = mapped_column(Boolean, default=False)
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # 0002: tracking
    acted_at: Mapped[datetime | None] = mapped_column(DateTime)
    acted_price: Mapped[float | None] = mapped_column(Float)
    hypothetical: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # 0003: data provenance (slot -> provider; synthetic: NULL when an old row did not record it)
    data_providers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    synthetic: Mapped[bool | None] = mapped_column(Boolean)
    # 0004: positions of both sides (backtest: the strategy's direction; signal: its position's side)
    direction: Mapped[str] = mapped_column(String(10), default="long", server_default="long")
    # 0005: a pair's fills, one per leg (symbol -> {"price", "time"}); NULL for a single-symbol signal
    acted_legs: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class PerformanceRow(Base):
    __tablename__ = "strategy_performance"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("trading_strategies.id"), unique=True)
    user_id: Mapped[str] = mapped_column(String(255), default="local")
    signals_generated: Mapped[int] = mapped_column(Integer, default=0)
    signals_acted_on: Mapped[int] = mapped_column(Integer, default=0)
    actual_trades: Mapped[int] = mapped_column(Integer, default=0)
    actual_wins: Mapped[int] = mapped_column(Integer, default=0)
    actual_losses: Mapped[int] = mapped_column(Integer, default=0)
    actual_return_pct: Mapped[float] = mapped_column(Float, default=0.0)
    hypothetical_trades: Mapped[int] = mapped_column(Integer, default=0)
    hypothetical_return_pct: Mapped[float] = mapped_column(Float, default=0.0)
    last_signal_date: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    # 0002: performance columns
    actual_open: Mapped[int] = mapped_column(Integer, default=0)
    hypothetical_wins: Mapped[int] = mapped_column(Integer, default=0)
    hypothetical_losses: Mapped[int] = mapped_column(Integer, default=0)
    hypothetical_open: Mapped[int] = mapped_column(Integer, default=0)


class NotificationRow(Base):
    """0002: the webhook outbox."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    signal_id: Mapped[int | None] = mapped_column(ForeignKey("strategy_signals.signal_id"))
    url: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
