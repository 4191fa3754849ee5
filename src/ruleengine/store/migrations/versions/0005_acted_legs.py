"""Both legs of a pair signal the user acted on (issue 16): ``strategy_signals.acted_legs``.

A pair's signal (ticker ``XLE/XLF``) is two orders, one per leg; acting on it records each leg's fill: symbol
-> ``{"price", "time"}``. ``acted_price`` keeps the first leg's price (lists that show one price). NULL for every
other signal, and for a pair acted on before 0005 (its outcome then has no return: one price was recorded).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("strategy_signals") as batch:
        batch.add_column(sa.Column("acted_legs", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("strategy_signals") as batch:
        batch.drop_column("acted_legs")
