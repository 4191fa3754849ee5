"""Data provenance of stored backtests and signals: which providers served each slot, and whether any was
synthetic (issue 13: synthetic data never sits next to real data in the store).

- ``strategy_backtests`` and ``strategy_signals`` get ``data_providers`` (JSON, slot -> provider name) and
  ``synthetic`` (boolean).
- Existing rows are not guessed at: their provenance is read from what they already recorded. A backtest's
  result JSON holds ``results[*].data.providers`` and ``.synthetic`` (a required field since the store
  existed); a signal's ``data_snapshot`` holds ``providers`` and ``synthetic`` (written since live signals
  existed). So old rows that were computed on synthetic data are marked synthetic (and from then on left out
  of confidence, tracking and the leaderboard), real ones real. A row whose JSON lacks the fields (altered by
  hand) keeps NULL: unknown, treated as not known to be real.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _from_backtest(result: Any) -> tuple[dict[str, str] | None, bool | None]:
    runs = (result or {}).get("results") if isinstance(result, dict) else None
    datas: list[dict[str, Any]] = [r["data"] for r in runs or []
                                   if isinstance(r, dict) and isinstance(r.get("data"), dict)]
    if not datas or any("synthetic" not in d for d in datas):
        return None, None
    providers: dict[str, str] = {}
    for d in datas:
        providers.update({str(k): str(v) for k, v in (d.get("providers") or {}).items()})
    return providers or None, any(bool(d["synthetic"]) for d in datas)


def _from_snapshot(snapshot: Any) -> tuple[dict[str, str] | None, bool | None]:
    if not isinstance(snapshot, dict) or "synthetic" not in snapshot:
        return None, None
    providers = {str(k): str(v) for k, v in (snapshot.get("providers") or {}).items()}
    return providers or None, bool(snapshot["synthetic"])


def upgrade() -> None:
    for name in ("strategy_backtests", "strategy_signals"):
        with op.batch_alter_table(name) as batch:
            batch.add_column(sa.Column("data_providers", sa.JSON))
            batch.add_column(sa.Column("synthetic", sa.Boolean))
    bind = op.get_bind()
    meta = sa.MetaData()
    backtests = sa.Table("strategy_backtests", meta, sa.Column("backtest_id", sa.Integer, primary_key=True),
                         sa.Column("backtest_results", sa.JSON), sa.Column("data_providers", sa.JSON),
                         sa.Column("synthetic", sa.Boolean))
    signals = sa.Table("strategy_signals", meta, sa.Column("signal_id", sa.Integer, primary_key=True),
                       sa.Column("data_snapshot", sa.JSON), sa.Column("data_providers", sa.JSON),
                       sa.Column("synthetic", sa.Boolean))
    for table, key, source, derive in ((backtests, "backtest_id", "backtest_results", _from_backtest),
                                       (signals, "signal_id", "data_snapshot", _from_snapshot)):
        rows = bind.execute(sa.select(table.c[key], table.c[source])).all()
        for row_id, value in rows:
            providers, synthetic = derive(value)
            if synthetic is not None:
                bind.execute(table.update().where(table.c[key] == row_id)
                             .values(data_providers=providers, synthetic=synthetic))


def downgrade() -> None:
    for table in ("strategy_signals", "strategy_backtests"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("synthetic")
            batch.drop_column("data_providers")
