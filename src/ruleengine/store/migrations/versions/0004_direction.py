"""Positions of both sides (issue 16): which way a stored backtest and a stored signal trade.

- ``strategy_backtests.direction``: the strategy's direction when it ran (``long``, ``short`` or
  ``long_short``), so that lists and confidence can tell a short strategy's record from a long one's.
- ``strategy_signals.direction``: the side of the position the signal opens or closes (``long`` or
  ``short``): a short entry sells short, an exit of a short buys to cover, and its outcome's return has the
  sign of a short (the price falling is a gain).

Existing rows keep their values and are not guessed at: a backtest's direction is that of the strategy
version it ran (its stored document's ``direction``; a long document leaves the key out), as for new rows, so
an old backtest of a short strategy is marked ``short`` and every other one ``long``; signals stored before
0004 are long (live signals refused short strategies with D132 until then).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for name in ("strategy_backtests", "strategy_signals"):
        with op.batch_alter_table(name) as batch:
            batch.add_column(sa.Column("direction", sa.String(10), nullable=False, server_default="long"))
    bind = op.get_bind()
    meta = sa.MetaData()
    backtests = sa.Table("strategy_backtests", meta, sa.Column("backtest_id", sa.Integer, primary_key=True),
                         sa.Column("strategy_id", sa.Integer), sa.Column("strategy_version", sa.Integer),
                         sa.Column("direction", sa.String(10)))
    versions = sa.Table("strategy_versions", meta, sa.Column("strategy_id", sa.Integer),
                        sa.Column("version", sa.Integer), sa.Column("strategy_definition", sa.JSON))
    rows = bind.execute(sa.select(backtests.c.backtest_id, versions.c.strategy_definition).join(
        versions, (versions.c.strategy_id == backtests.c.strategy_id)
        & (versions.c.version == backtests.c.strategy_version))).all()
    for row_id, document in rows:
        direction = document.get("direction", "long") if isinstance(document, dict) else "long"
        if direction != "long":
            bind.execute(backtests.update().where(backtests.c.backtest_id == row_id).values(direction=direction))


def downgrade() -> None:
    for name in ("strategy_signals", "strategy_backtests"):
        with op.batch_alter_table(name) as batch:
            batch.drop_column("direction")
