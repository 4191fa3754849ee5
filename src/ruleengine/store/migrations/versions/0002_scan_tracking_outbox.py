"""Scheduled scan and tracking: strategy universes, signal tracking columns, performance counts, the outbox.

- ``trading_strategies.universe``: the symbols ``ruleengine scan`` runs a strategy on.
- ``strategy_signals``: ``acted_at`` / ``acted_price`` (``signals act``), ``hypothetical`` (the signal's
  trade under the strategy's exits and stops, written by ``track``), and an index for "is this bar's signal
  stored already" (a scan run twice on one day stores each signal once).
- ``strategy_performance``: open positions and hypothetical wins/losses.
- ``notifications``: webhook messages; unsent ones (``sent_at`` NULL) are retried by the next scan.

Existing rows keep their values; acted signals of 0001 get their signal price as ``acted_price``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trading_strategies") as batch:
        batch.add_column(sa.Column("universe", sa.Text))
    with op.batch_alter_table("strategy_signals") as batch:
        batch.add_column(sa.Column("acted_at", sa.DateTime))
        batch.add_column(sa.Column("acted_price", sa.Float))
        batch.add_column(sa.Column("hypothetical", sa.JSON))
    op.create_index("idx_signals_lookup", "strategy_signals", ["strategy_id", "ticker", "bar_time"])
    # 0001 recorded only that a signal was acted on: its price is the best known entry price
    op.execute("UPDATE strategy_signals SET acted_price = price_at_signal, acted_at = generated_at "
               "WHERE user_acted")
    with op.batch_alter_table("strategy_performance") as batch:
        for name in ("actual_open", "hypothetical_wins", "hypothetical_losses", "hypothetical_open"):
            batch.add_column(sa.Column(name, sa.Integer, nullable=False, server_default="0"))
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("signal_id", sa.Integer, sa.ForeignKey("strategy_signals.signal_id")),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_attempt_at", sa.DateTime),
        sa.Column("sent_at", sa.DateTime),
    )
    op.create_index("idx_notifications_sent_at", "notifications", ["sent_at"])


def downgrade() -> None:
    op.drop_index("idx_notifications_sent_at", table_name="notifications")
    op.drop_table("notifications")
    with op.batch_alter_table("strategy_performance") as batch:
        for name in ("hypothetical_open", "hypothetical_losses", "hypothetical_wins", "actual_open"):
            batch.drop_column(name)
    op.drop_index("idx_signals_lookup", table_name="strategy_signals")
    with op.batch_alter_table("strategy_signals") as batch:
        for name in ("hypothetical", "acted_price", "acted_at"):
            batch.drop_column(name)
    with op.batch_alter_table("trading_strategies") as batch:
        batch.drop_column("universe")
