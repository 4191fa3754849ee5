"""Migration 0004 (the direction of stored backtests and signals) on a real SQLite file and a real PostgreSQL
server: a database of 0003 with rows upgrades keeping them (old rows are long; a backtest of a short strategy
version is short), new short signals are stored with their side, and a short's outcome gains when the price
falls. PostgreSQL runs in a throwaway server (tests/support/postgres.py; skipped, saying why, without it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import pytest
from alembic import command
from sqlalchemy import inspect, text

from ruleengine.live.models import Reasoning, StrategySignal
from ruleengine.store import open_store
from ruleengine.store.database import HEAD, alembic_config, make_engine, migration_connection

LONG = {"name": "dips", "data": {"prices": {"kind": "ohlcv"}},
        "entry": {"logic": "all", "conditions": ["close < sma(close, 3)"]}}
SHORT = {**LONG, "direction": "short"}


@pytest.fixture
def database(database_url: str) -> str:
    return database_url


def _migrate(url: str, revision: str, how: Callable[..., None] = command.upgrade) -> None:
    engine = make_engine(url)
    with migration_connection(engine) as conn:
        how(alembic_config(conn), revision)
    engine.dispose()


def _sql(url: str, statements: list[tuple[str, dict[str, object]]]) -> None:
    """Rows written the way the older version wrote them: plain SQL with that version's columns only (ids from
    the database, so that PostgreSQL's sequences know them)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        for sql, values in statements:
            conn.execute(text(sql), values)
    engine.dispose()


def _rows_of_0003(url: str) -> None:
    now = "2025-01-02 10:00:00"
    stmts: list[tuple[str, dict[str, object]]] = [(
        "INSERT INTO trading_strategies (user_id, name, natural_language_input, strategy_definition,"
        " current_version, is_active, created_at, updated_at) VALUES ('local', 'dips', '', :doc, 2, :t,"
        " :now, :now)", {"doc": json.dumps(SHORT), "t": True, "now": now})]
    for version, doc in ((1, LONG), (2, SHORT)):
        stmts.append(("INSERT INTO strategy_versions (strategy_id, version, content_hash, natural_language_input,"
                      " author, strategy_definition, created_at) VALUES (1, :v, :h, '', 'user', :doc, :now)",
                      {"v": version, "h": f"hash{version}", "doc": json.dumps(doc), "now": now}))
        stmts.append(("INSERT INTO strategy_backtests (strategy_id, strategy_version, start_date,"
                      " end_date, symbols, runs, total_trades, winning_trades, backtest_results, created_at,"
                      " synthetic) VALUES (1, :v, '2020-01-02', '2020-12-31', 'SPY', 1, 4, 3, :res, :now, :f)",
                      {"v": version, "res": json.dumps({"results": []}), "now": now, "f": False}))
    stmts.append(("INSERT INTO strategy_signals (strategy_id, strategy_version, ticker, signal_type,"
                  " generated_at, bar_time, price_at_signal, confidence_score, reasoning, user_acted, acted_price,"
                  " synthetic) VALUES (1, 1, 'SPY', 'entry', :now, '2025-01-03 00:00:00', 100.0, 60.0, 'why',"
                  " :t, 100.0, :f)", {"now": now, "t": True, "f": False}))
    _sql(url, stmts)


def _signal(kind: str, side: str, day: str, price: float) -> StrategySignal:
    return StrategySignal(
        strategy_id=1, strategy_version=2, strategy_name="dips", ticker="SPY", signal_type=kind, direction=side,
        generated_at=datetime(2025, 2, 1, 22), bar_time=datetime.fromisoformat(day), price_at_signal=price,
        confidence_score=50.0, data_snapshot={"providers": {"prices": "local"}, "synthetic": False},
        reasoning=Reasoning(signal_type=kind, direction=side, logic="all", margin_score=0.5, hit_rate=0.5,
                            confidence=50.0, text="why"))


def test_0004_upgrades_old_rows_as_long_and_stores_short_signals(database: str) -> None:
    _migrate(database, "0003")
    _rows_of_0003(database)
    store = open_store(database)  # 0003 -> head
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    # old rows kept; a backtest's direction is its strategy version's
    assert {r.id: (r.direction, r.total_trades) for r in store.list_runs()} == {1: ("long", 4), 2: ("short", 4)}
    if database.startswith("sqlite"):  # the list marks the short strategy's run
        from typer.testing import CliRunner

        from ruleengine.cli import app

        rows = CliRunner().invoke(app, ["runs", "list", "--db", database.removeprefix("sqlite:///")]).output
        assert "1 v2 short" in rows and "1 v1 short" not in rows and "1 v1" in rows
    old = store.get_signal(1)
    assert (old.direction, old.action, old.acted_price) == ("long", "buy", 100.0)
    assert store.close_signal(1, 90.0).outcome["return_pct"] == pytest.approx(-10.0)  # a long loses on a fall

    # new signals of the short version: stored with their side; a short's outcome gains on a fall
    ids = store.save_signals([_signal("entry", "short", "2025-02-03", 50.0),
                              _signal("entry", "long", "2025-02-03", 50.0)])
    assert len(set(ids)) == 2  # same ticker, type and bar, other side: two signals
    assert store.save_signals([_signal("entry", "short", "2025-02-03", 50.0)]) == ids[:1]  # stored once
    short = store.get_signal(ids[0])
    assert (short.direction, short.action, short.to_dict()["action"]) == ("short", "sell short", "sell short")
    store.act(ids[0], 50.0)
    store.act(ids[1], 50.0)
    [cover] = store.save_signals([_signal("exit", "short", "2025-02-10", 40.0)], notify_url="http://127.0.0.1:9/x")
    [note] = store.pending_notifications()  # the webhook message says the side and the order
    assert (note.payload["direction"], note.payload["action"]) == ("short", "buy to cover")
    assert store.get_signal(cover).action == "buy to cover"
    store.act(cover, 40.0)  # closes the acted short entry only: the long stays open
    assert store.get_signal(ids[0]).outcome["return_pct"] == pytest.approx(20.0)
    assert store.get_signal(ids[1]).outcome is None
    store.close()


def test_0004_downgrades_and_upgrades_again(database: str) -> None:
    store = open_store(database)
    store.add_strategy(SHORT)
    store.close()
    _migrate(database, "0003", command.downgrade)
    engine = make_engine(database)
    for table in ("strategy_signals", "strategy_backtests"):
        assert "direction" not in {c["name"] for c in inspect(engine).get_columns(table)}
    engine.dispose()
    store = open_store(database)
    assert store.get_strategy(1).strategy.direction == "short"
    store.close()
