"""Alembic migrations of the store: an empty database and a database of the previous schema upgrade cleanly.

The previous-version case is real: the database is created at revision 0001 with Alembic, filled with rows
through plain SQL (the 0001 columns only), then opened with `open_store`, which upgrades it to head.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect

from ruleengine.errors import RuleEngineError
from ruleengine.store import open_store
from ruleengine.store.database import HEAD, alembic_config, make_engine, migration_connection
from ruleengine.store.models import Base

SEED_TABLES = {"trading_strategies", "strategy_versions", "strategy_backtests", "strategy_signals",
               "strategy_performance"}
DOC = {"name": "old one", "data": {"prices": {"kind": "ohlcv"}}, "entry": {"logic": "all",
                                                                          "conditions": ["close > sma(close, 3)"]}}


def _upgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    with migration_connection(engine) as conn:
        command.upgrade(alembic_config(conn), revision)
    engine.dispose()


def _old_strategy(path: Path, request: str = "") -> sqlite3.Connection:
    """A connection to an old database with strategy 1 (one version, content hash 'abc') in plain SQL."""
    con = sqlite3.connect(path)
    con.execute("INSERT INTO trading_strategies (id, user_id, name, natural_language_input, strategy_definition,"
                " current_version, is_active, created_at, updated_at) VALUES (1, 'local', 'old one', ?,"
                " ?, 1, 1, '2025-01-02 10:00:00', '2025-01-02 10:00:00')", (request, json.dumps(DOC)))
    con.execute("INSERT INTO strategy_versions (strategy_id, version, content_hash, natural_language_input, author,"
                " strategy_definition, created_at) VALUES (1, 1, 'abc', ?, 'user', ?,"
                " '2025-01-02 10:00:00')", (request, json.dumps(DOC)))
    return con


def test_empty_database_upgrades_to_head_with_the_seed_tables_and_indexes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    store = open_store(url)
    insp = inspect(store.engine)
    tables = set(insp.get_table_names())
    assert SEED_TABLES | {"notifications", "alembic_version"} <= tables
    indexes = {i["name"] for t in tables for i in insp.get_indexes(t)}
    assert {"idx_strategies_user_id", "idx_signals_strategy_id", "idx_signals_generated_at",
            "idx_signals_lookup", "idx_notifications_sent_at"} <= indexes
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == HEAD == "0005"
    fks = {(t, fk["referred_table"]) for t in tables for fk in insp.get_foreign_keys(t)}
    assert ("strategy_signals", "trading_strategies") in fks and ("notifications", "strategy_signals") in fks


def test_models_match_the_migrations(tmp_path: Path) -> None:
    """Autogenerate finds nothing to change: the ORM models and the migration scripts describe one schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = open_store(f"sqlite:///{tmp_path / 'cmp.db'}")
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    # indexes exist only in the migrations (the models do not declare them): only "remove_index" may differ
    assert [d for d in diff if not (isinstance(d, tuple) and d[0] == "remove_index")] == []


def test_database_of_the_previous_version_upgrades_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    _upgrade(url, "0001")
    con = _old_strategy(path, "buy dips")
    con.execute("INSERT INTO strategy_backtests (strategy_id, strategy_version, start_date, end_date, symbols,"
                " total_trades, winning_trades, win_rate, total_return_pct, backtest_results, created_at)"
                " VALUES (1, 1, '2020-01-02', '2020-12-31', 'SPY', 4, 3, 75.0, 12.5, '{\"results\": []}',"
                " '2025-01-03 10:00:00')")
    for i, acted in ((1, 1), (2, 0)):
        con.execute("INSERT INTO strategy_signals (signal_id, strategy_id, strategy_version, ticker, signal_type,"
                    " generated_at, bar_time, price_at_signal, confidence_score, reasoning, user_acted)"
                    f" VALUES ({i}, 1, 1, 'SPY', 'entry', '2025-01-0{i + 3} 22:00:00', '2025-01-0{i + 3} 00:00:00',"
                    f" {100 + i}.5, 60.0, 'why', {acted})")
    con.execute("INSERT INTO strategy_performance (strategy_id, user_id, signals_generated, created_at, updated_at)"
                " VALUES (1, 'local', 2, '2025-01-05 10:00:00', '2025-01-05 10:00:00')")
    con.commit()
    assert con.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "0001"
    con.close()

    store = open_store(url)  # upgrades 0001 -> head
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == HEAD
    rec = store.get_strategy(1)
    assert (rec.name, rec.version, rec.content_hash, rec.nl_input, rec.universe) == ("old one", 1, "abc",
                                                                                     "buy dips", None)
    assert rec.strategy.entry.conditions == ["close > sma(close, 3)"]
    run = store.get_run(1)
    assert (run.total_trades, run.winning_trades, run.win_rate, run.symbols) == (4, 3, 75.0, "SPY")
    acted, fresh = store.get_signal(1), store.get_signal(2)
    # 0002 fills acted_price of signals acted on under 0001 with their signal price
    assert acted.user_acted and acted.acted_price == 101.5 and str(acted.acted_at) == "2025-01-04 22:00:00"
    assert not fresh.user_acted and fresh.acted_price is None and fresh.hypothetical is None
    perf = store.performance(1)
    assert perf is not None and perf["signals_generated"] == 2 and perf["hypothetical_open"] == 0
    # the upgraded database takes new versions and signals like a new one
    rec2 = store.add_strategy({**DOC, "description": "changed"}, strategy_id=1, author="llm")
    assert rec2.version == 2 and [r.version for r in store.history(1)] == [1, 2]
    with pytest.raises(RuleEngineError) as exc:
        store.act(1)
    assert exc.value.diagnostics[0].code == "T104"


def test_downgrade_to_the_previous_version_and_back(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'down.db'}"
    store = open_store(url)
    store.add_strategy(DOC, universe="SPY")
    store.close()
    engine = make_engine(url)
    with migration_connection(engine) as conn:
        command.downgrade(alembic_config(conn), "0001")
    cols = {c["name"] for c in inspect(create_engine(url)).get_columns("trading_strategies")}
    assert "universe" not in cols and "notifications" not in inspect(create_engine(url)).get_table_names()
    store = open_store(url)
    assert store.get_strategy(1).name == "old one" and store.get_strategy(1).universe is None


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RuleEngineError) as exc:
        open_store(str(bad))
    d = exc.value.diagnostics[0]
    assert d.code == "T106" and "not a database" in d.message and "restore a backup" in (d.hint or "")
    assert bad.read_bytes() == b"this is not sqlite" * 100  # never recreated silently


def test_0003_reads_the_provenance_of_old_rows_and_old_synthetic_rows_stay_out(tmp_path: Path) -> None:
    """Issue 13 item 2: rows of 0002 keep their data; their provenance comes from their own JSON, and a run or
    signal that was computed on synthetic data before 0003 no longer feeds confidence or performance."""
    from ruleengine.live.tracking import aggregate

    path = tmp_path / "v2.db"
    url = f"sqlite:///{path}"
    _upgrade(url, "0002")
    con = _old_strategy(path)

    def run(i: int, wins: int, synthetic: bool | None, provider: str) -> None:
        data = {"providers": {"prices": provider}, "frequency": "1Day"}
        if synthetic is not None:
            data["synthetic"] = synthetic
        result = {"results": [{"label": "SPY", "metrics": {}, "data": data}]}
        con.execute("INSERT INTO strategy_backtests (backtest_id, strategy_id, strategy_version, start_date, end_date,"
                    " symbols, runs, total_trades, winning_trades, backtest_results, created_at) VALUES (?, 1, 1,"
                    " '2020-01-02', '2020-12-31', 'SPY', 1, 10, ?, ?, '2025-01-03 10:00:00')",
                    (i, wins, json.dumps(result)))

    run(1, 9, False, "local")  # the real run
    run(2, 0, True, "sample")  # newer and synthetic: it lowered real signals' confidence before 0003
    run(3, 1, None, "local")   # altered by hand: provenance unknown
    for i, synthetic in ((1, False), (2, True)):
        snap = {"providers": {"prices": "local" if not synthetic else "sample"}, "synthetic": synthetic}
        con.execute("INSERT INTO strategy_signals (signal_id, strategy_id, strategy_version, ticker, signal_type,"
                    " generated_at, bar_time, price_at_signal, confidence_score, reasoning, data_snapshot,"
                    " user_acted) VALUES (?, 1, 1, 'SPY', 'entry', '2025-01-04 22:00:00', ?, 100.0, 50.0, 'why',"
                    " ?, 0)", (i, f"2025-01-0{i + 3} 00:00:00", json.dumps(snap)))
    con.commit()
    con.close()

    store = open_store(url)
    runs = {r.id: (r.synthetic, r.data_providers) for r in store.list_runs()}
    assert runs == {1: (False, {"prices": "local"}), 2: (True, {"prices": "sample"}), 3: (None, None)}
    assert store.latest_hit_rate(1) == (9, 10)  # the newest run known to be on real data
    real, fake = store.get_signal(1), store.get_signal(2)
    assert (real.synthetic, real.data_providers, fake.synthetic) == (False, {"prices": "local"}, True)
    assert aggregate(store.list_signals(1))["signals_generated"] == 1
    assert store.get_run(1).result["results"][0]["data"]["providers"] == {"prices": "local"}  # data kept
    # the lists show which old rows were synthetic
    from typer.testing import CliRunner

    from ruleengine.cli import app

    assert CliRunner().invoke(app, ["runs", "list", "--db", str(path)]).output.count("SYNTHETIC") == 1
    listed = json.loads(CliRunner().invoke(app, ["runs", "list", "--db", str(path), "--json"]).output)
    assert [r["synthetic"] for r in listed["runs"]] == [None, True, False]
    assert CliRunner().invoke(app, ["signals", "list", "--db", str(path)]).output.count("SYNTHETIC") == 1
    for listing in ("runs", "signals"):  # an 80-column terminal wraps the tables; it never cuts the flag short
        out = CliRunner().invoke(app, [listing, "list", "--db", str(path)], env={"COLUMNS": "80"}).output
        assert out.count("SYNTHETIC") == 1 and "…" not in out, out
        assert max(len(line) for line in out.splitlines()) <= 80, out
