"""Seed 003's strategy tables (migration 012_create_strategies_tables), with versions and integer ids.

Differences from the seed, and why: integer ids (the CLI takes ``signals act 3``); no ``snaptrade_users``
table (one local user: ``user_id`` defaults to "local", no foreign key); every change of a strategy is a row
of ``strategy_versions`` (content hash, natural-language input, author), the strategy row keeps the current
version's values; backtests keep summary columns beside the full result JSON; signals record the bar they
were computed on and the structured reasoning; prices are Float, not Numeric(10, 2).

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trading_strategies",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(255), nullable=False, server_default="local"),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("natural_language_input", sa.Text, nullable=False, server_default=""),
        sa.Column("strategy_definition", sa.JSON, nullable=False),
        sa.Column("current_version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "strategy_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("strategy_id", sa.Integer, sa.ForeignKey("trading_strategies.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("natural_language_input", sa.Text, nullable=False, server_default=""),
        sa.Column("author", sa.String(255), nullable=False, server_default="user"),
        sa.Column("strategy_definition", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("strategy_id", "version", name="uq_strategy_versions_version"),
    )
    op.create_table(
        "strategy_backtests",
        sa.Column("backtest_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("strategy_id", sa.Integer, sa.ForeignKey("trading_strategies.id"), nullable=False),
        sa.Column("strategy_version", sa.Integer, nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("end_date", sa.Date, nullable=False),
        sa.Column("symbols", sa.Text, nullable=False, server_default=""),
        sa.Column("runs", sa.Integer, nullable=False, server_default="1"),
        sa.Column("total_trades", sa.Integer, nullable=False, server_default="0"),
        sa.Column("winning_trades", sa.Integer, nullable=False, server_default="0"),
        sa.Column("win_rate", sa.Float),
        sa.Column("total_return_pct", sa.Float),
        sa.Column("max_drawdown_pct", sa.Float),
        sa.Column("sharpe_ratio", sa.Float),
        sa.Column("backtest_results", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "strategy_signals",
        sa.Column("signal_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("strategy_id", sa.Integer, sa.ForeignKey("trading_strategies.id"), nullable=False),
        sa.Column("strategy_version", sa.Integer, nullable=False),
        sa.Column("ticker", sa.String(64), nullable=False),
        sa.Column("signal_type", sa.String(10), nullable=False),
        sa.Column("generated_at", sa.DateTime, nullable=False),
        sa.Column("bar_time", sa.DateTime, nullable=False),
        sa.Column("price_at_signal", sa.Float),
        sa.Column("confidence_score", sa.Float),
        sa.Column("reasoning", sa.Text),
        sa.Column("reasoning_tree", sa.JSON),
        sa.Column("data_snapshot", sa.JSON),
        sa.Column("user_acted", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("outcome", sa.JSON),
    )
    op.create_table(
        "strategy_performance",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("strategy_id", sa.Integer, sa.ForeignKey("trading_strategies.id"), nullable=False,
                  unique=True),
        sa.Column("user_id", sa.String(255), nullable=False, server_default="local"),
        sa.Column("signals_generated", sa.Integer, nullable=False, server_default="0"),
        sa.Column("signals_acted_on", sa.Integer, nullable=False, server_default="0"),
        sa.Column("actual_trades", sa.Integer, nullable=False, server_default="0"),
        sa.Column("actual_wins", sa.Integer, nullable=False, server_default="0"),
        sa.Column("actual_losses", sa.Integer, nullable=False, server_default="0"),
        sa.Column("actual_return_pct", sa.Float, nullable=False, server_default="0"),
        sa.Column("hypothetical_trades", sa.Integer, nullable=False, server_default="0"),
        sa.Column("hypothetical_return_pct", sa.Float, nullable=False, server_default="0"),
        sa.Column("last_signal_date", sa.DateTime),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    # the seed's indexes, plus the foreign keys every listing filters on
    op.create_index("idx_strategies_user_id", "trading_strategies", ["user_id"])
    op.create_index("idx_signals_strategy_id", "strategy_signals", ["strategy_id"])
    op.create_index("idx_signals_generated_at", "strategy_signals", ["generated_at"])
    op.create_index("idx_versions_strategy_id", "strategy_versions", ["strategy_id"])
    op.create_index("idx_versions_content_hash", "strategy_versions", ["content_hash"])
    op.create_index("idx_backtests_strategy_id", "strategy_backtests", ["strategy_id"])


def downgrade() -> None:
    for name, table in (("idx_backtests_strategy_id", "strategy_backtests"),
                        ("idx_versions_content_hash", "strategy_versions"),
                        ("idx_versions_strategy_id", "strategy_versions"),
                        ("idx_signals_generated_at", "strategy_signals"),
                        ("idx_signals_strategy_id", "strategy_signals"),
                        ("idx_strategies_user_id", "trading_strategies")):
        op.drop_index(name, table_name=table)
    for table in ("strategy_performance", "strategy_signals", "strategy_backtests", "strategy_versions",
                  "trading_strategies"):
        op.drop_table(table)
