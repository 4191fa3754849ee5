"""The store on a real SQLite file: strategies and versions, backtest runs, signals, act/close, the outbox."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path

import pytest

import ruleengine
from ruleengine.errors import RuleEngineError
from ruleengine.live.models import Reasoning, StrategySignal
from ruleengine.store import Store, open_store
from ruleengine.store.database import default_url, normalize_url

DOC = "name: dip\ndata: {prices: {kind: ohlcv}}\nparams:\n  n: {type: int, default: 5, min: 2, max: 50}\n" \
      "entry: ['close < sma(close, n)']\nexit: ['close > sma(close, n)']\n"
GC = "rules/golden_cross.yaml"


def _codes(exc: pytest.ExceptionInfo[RuleEngineError]) -> list[str]:
    return [d.code for d in exc.value.diagnostics]


@pytest.fixture
def store(database_url: str) -> Store:
    """An empty store on a SQLite file and on a real PostgreSQL server (tests/support/postgres.py)."""
    return open_store(database_url)


def _signal(strategy_id: int, ticker: str = "SPY", kind: str = "entry", day: int = 3, price: float = 100.0,
            version: int = 1) -> StrategySignal:
    why = Reasoning(signal_type=kind, logic="all", margin_score=0.5, hit_rate=0.5, confidence=50.0,  # type: ignore[arg-type]
                    text=f"{ticker} {kind}")
    return StrategySignal(strategy_id=strategy_id, strategy_version=version, ticker=ticker, signal_type=kind,  # type: ignore[arg-type]
                          generated_at=datetime(2024, 1, day, 22), bar_time=datetime(2024, 1, day),
                          price_at_signal=price, confidence_score=50.0, reasoning=why,
                          data_snapshot={"close": price, "nan": float("nan"), "providers": {"prices": "local"},
                                         "synthetic": False})


# ---------------------------------------------------------------------------------------------- strategies


def test_add_versions_history_and_content_hash(store: Store) -> None:
    rec = store.add_strategy(DOC, nl_input="buy below the average", author="user", universe="SPY,QQQ")
    assert (rec.id, rec.version, rec.current_version, rec.active, rec.universe) == (1, 1, 1, True, "SPY,QQQ")
    canonical = json.dumps(rec.strategy.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert rec.content_hash == hashlib.sha256(canonical.encode()).hexdigest()
    assert rec.nl_input == "buy below the average" and rec.name == "dip"
    # same content as the current version: nothing new
    same = store.add_strategy(rec.strategy, strategy_id=1, nl_input="again")
    assert (same.version, same.nl_input) == (1, "buy below the average")
    # a change is a new version; the old one is still there, unchanged
    changed = store.add_strategy(DOC.replace("default: 5", "default: 8"), strategy_id=1, nl_input="slower",
                                 author="llm")
    assert (changed.version, changed.author, changed.strategy.params["n"].default) == (2, "llm", 8)
    hist = store.history(1)
    assert [(h.version, h.author, h.nl_input) for h in hist] == [(1, "user", "buy below the average"),
                                                                 (2, "llm", "slower")]
    assert hist[0].content_hash == rec.content_hash and hist[0].strategy.params["n"].default == 5
    assert store.get_strategy(1).version == 2 and store.get_strategy(1, version=1).version == 1
    assert store.get_strategy(1).universe == "SPY,QQQ"
    assert store.find_strategy(rec.content_hash).version == 1  # type: ignore[union-attr]
    assert store.find_strategy("0" * 64) is None
    # a separate strategy from a file
    gc = store.add_strategy(GC)
    assert gc.id == 2 and gc.name == "Golden cross with RSI filter"
    assert [r.id for r in store.list_strategies()] == [1, 2]


def test_deactivate_activate_and_list(store: Store) -> None:
    a = store.add_strategy(DOC)
    b = store.add_strategy(GC)
    assert store.deactivate(a.id).active is False
    assert [r.id for r in store.list_strategies()] == [b.id]
    assert [(r.id, r.status) for r in store.list_strategies(include_inactive=True)] == [(1, "inactive"),
                                                                                         (2, "active")]
    assert store.activate(a.id).active is True
    assert store.set_universe(a.id, "SPY,QQQ").universe == "SPY,QQQ"
    assert store.set_universe(a.id, None).universe is None
    d = store.get_strategy(b.id).to_dict()
    assert d["status"] == "active" and d["strategy"]["name"] == "Golden cross with RSI filter"
    json.dumps(d)  # JSON-ready


def test_unknown_ids_and_bad_documents_are_clear_errors(store: Store) -> None:
    store.add_strategy(DOC)
    for call in (lambda: store.get_strategy(7), lambda: store.history(7), lambda: store.deactivate(7),
                 lambda: store.add_strategy(DOC, strategy_id=7), lambda: store.list_runs(7)):
        with pytest.raises(RuleEngineError) as exc:
            call()
        assert _codes(exc) == ["T101"]
        assert "ids: 1" in (exc.value.diagnostics[0].hint or "")
    with pytest.raises(RuleEngineError) as exc:
        store.get_strategy(1, version=3)
    assert _codes(exc) == ["T101"] and "no version 3" in str(exc.value)
    with pytest.raises(RuleEngineError) as exc:
        store.get_run(5)
    assert _codes(exc) == ["T102"]
    with pytest.raises(RuleEngineError) as exc:
        store.get_signal(9)
    assert _codes(exc) == ["T103"]
    # a document that does not compile is refused with the compiler's diagnostics; nothing is stored
    with pytest.raises(RuleEngineError) as exc:
        store.add_strategy(DOC.replace("sma(close, n)']\nexit", "smaa(close, n)']\nexit"))
    assert _codes(exc) == ["C101"]
    assert len(store.list_strategies()) == 1


# ---------------------------------------------------------------------------------------------- runs


@pytest.mark.realdata
def test_save_backtest_summary_and_full_result_round_trip(store: Store, shared_data: Path) -> None:
    rec = store.add_strategy(GC)
    res = ruleengine.backtest(rec.strategy, "SPY,QQQ", "2015-01-01", "2016-12-30",
                              params={"fast": 10, "slow": 30}, data=str(shared_data))
    run_id = store.save_backtest(rec.id, res)
    run = store.get_run(run_id)
    assert (run.data_providers, run.synthetic) == ({"prices": "local"}, False)
    m = [r.metrics for r in res.results]
    trades = sum(x.total_trades for x in m)
    wins = sum(x.winning_trades for x in m)
    assert (run.strategy_id, run.strategy_version, run.runs, run.symbols) == (rec.id, 1, 2, "SPY,QQQ")
    assert (run.total_trades, run.winning_trades) == (trades, wins)
    assert run.win_rate == pytest.approx(100 * wins / trades)
    assert run.total_return_pct == pytest.approx((m[0].total_return_pct + m[1].total_return_pct) / 2)
    assert run.max_drawdown_pct == pytest.approx(max(x.max_drawdown_pct for x in m))
    assert (str(run.start), str(run.end)) == ("2015-01-02", "2016-12-30")
    assert run.result["synthetic"] is False
    again = run.backtest_result()
    assert again.results[0].metrics == res.results[0].metrics
    assert again.results[1].trades == res.results[1].trades
    second = store.save_backtest(rec.id, res)
    assert [r.id for r in store.list_runs()] == [second, run_id]
    assert [r.id for r in store.list_runs(rec.id, limit=1)] == [second]
    assert store.latest_hit_rate(rec.id) == (wins, trades)


def test_a_synthetic_backtest_is_never_stored(store: Store) -> None:
    """Issue 13 item 2: a run on synthetic data is refused (T110), so it can never feed real signals' confidence."""
    rec = store.add_strategy(GC)
    res = ruleengine.backtest(rec.strategy, "SPY", "2015-01-01", "2015-12-31", provider="sample")
    assert res.synthetic is True and json.loads(res.to_json())["synthetic"] is True
    with pytest.raises(RuleEngineError) as exc:
        store.save_backtest(rec.id, res)
    assert _codes(exc) == ["T110"] and "SYNTHETIC" in str(exc.value)
    assert store.list_runs() == [] and store.latest_hit_rate(rec.id) is None


def test_a_synthetic_signal_is_never_stored(store: Store) -> None:
    rec = store.add_strategy(DOC)
    fake = _signal(rec.id)
    fake.data_snapshot = {"providers": {"prices": "sample"}, "synthetic": True}
    unknown = _signal(rec.id, "QQQ")
    unknown.data_snapshot = {"close": 1.0}
    for sig in (fake, unknown):
        with pytest.raises(RuleEngineError) as exc:
            store.save_signals([_signal(rec.id, "IWM"), sig])
        assert _codes(exc) == ["T110"]
    assert store.count_signals() == 0  # nothing of the batch was written


def test_a_relative_universe_file_is_stored_as_an_absolute_path(store: Store, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13 item 7: `@universe.txt` typed in one folder still names that file when scan runs elsewhere."""
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "universe.txt").write_text("SPY\nQQQ\n")
    monkeypatch.chdir(tmp_path / "lists")
    rec = store.add_strategy(DOC, universe="@universe.txt")
    assert rec.universe == f"@{tmp_path / 'lists' / 'universe.txt'}"
    assert store.set_universe(rec.id, "@./universe.txt").universe == rec.universe
    with pytest.raises(RuleEngineError) as exc:
        store.set_universe(rec.id, "@missing.txt")
    assert _codes(exc) == ["T107"] and "missing.txt" in str(exc.value)
    assert store.get_strategy(rec.id).universe == rec.universe


# ---------------------------------------------------------------------------------------------- signals


def test_signals_saved_once_per_bar_and_json_safe(store: Store) -> None:
    rec = store.add_strategy(DOC)
    ids = store.save_signals([_signal(rec.id, "SPY"), _signal(rec.id, "QQQ")])
    assert ids == [1, 2]
    # the same bar again (a scan run twice a day) keeps the ids; a new bar is a new signal
    assert store.save_signals_detailed([_signal(rec.id, "SPY"), _signal(rec.id, "SPY", day=4)]) == [(1, False),
                                                                                                    (3, True)]
    s = store.get_signal(1)
    assert (s.ticker, s.signal_type, s.price_at_signal, s.reasoning) == ("SPY", "entry", 100.0, "SPY entry")
    assert s.data_snapshot == {"close": 100.0, "nan": None, "providers": {"prices": "local"},
                               "synthetic": False}  # NaN stored as null
    assert (s.data_providers, s.synthetic, s.real) == ({"prices": "local"}, False, True)
    assert s.reasoning_tree["confidence"] == 50.0  # type: ignore[index]
    assert [x.id for x in store.list_signals(rec.id)] == [3, 2, 1]  # newest bar first
    assert [x.id for x in store.list_signals(rec.id, since="2024-01-04")] == [3]
    with pytest.raises(RuleEngineError) as exc:
        store.save_signals([_signal(None)])  # type: ignore[arg-type]
    assert _codes(exc) == ["T107"]


def test_act_twice_close_and_exit_signal_closes_position(store: Store) -> None:
    rec = store.add_strategy(DOC)
    e1, e2, x = store.save_signals([_signal(rec.id, "SPY", price=100.0), _signal(rec.id, "QQQ", price=50.0),
                                    _signal(rec.id, "SPY", kind="exit", day=10, price=108.0)])
    acted = store.act(e1, when="2024-01-04T15:00:00")
    assert (acted.user_acted, acted.acted_price, str(acted.acted_at)) == (True, 100.0, "2024-01-04 15:00:00")
    with pytest.raises(RuleEngineError) as exc:
        store.act(e1, 101.0)
    d = exc.value.diagnostics[0]
    assert d.code == "T104" and "already acted on at 100" in d.message
    assert d.hint == f"record its outcome with: ruleengine signals close {e1} --price P"
    with pytest.raises(RuleEngineError) as exc:
        store.close_signal(e2, 55.0)  # never acted on
    assert _codes(exc) == ["T107"]
    with pytest.raises(RuleEngineError) as exc:
        store.act(e2, -3)
    assert _codes(exc) == ["T107"] and "positive" in str(exc.value)
    store.act(e2, 52.0)
    closed = store.close_signal(e2, 57.2, when="2024-01-20")
    assert closed.outcome["return_pct"] == pytest.approx(10.0)  # type: ignore[index]
    assert closed.outcome["exit_price"] == 57.2 and closed.outcome["closed_by"] == "user"  # type: ignore[index]
    with pytest.raises(RuleEngineError) as exc:
        store.close_signal(e2, 60.0)
    assert _codes(exc) == ["T104"]
    # acting on the exit signal closes the open SPY position at the exit's price
    store.act(x)
    spy = store.get_signal(e1)
    assert spy.outcome["exit_price"] == 108.0 and spy.outcome["return_pct"] == pytest.approx(8.0)  # type: ignore[index]
    assert spy.outcome["closed_by"] == f"exit signal {x}"  # type: ignore[index]
    with pytest.raises(RuleEngineError) as exc:
        store.close_signal(x, 1.0)
    assert _codes(exc) == ["T107"]


def test_outbox_rows_are_written_with_the_signals(store: Store) -> None:
    rec = store.add_strategy(DOC)
    store.save_signals([_signal(rec.id, "SPY")], notify_url="http://127.0.0.1:9/hook")
    store.save_signals([_signal(rec.id, "SPY")], notify_url="http://127.0.0.1:9/hook")  # known: no new message
    [note] = store.pending_notifications()
    assert note.url == "http://127.0.0.1:9/hook" and note.payload["ticker"] == "SPY"
    assert note.payload["signal_id"] == 1 and note.payload["reasoning"] == "SPY entry"
    store.mark_notification(note.id, sent=False, error="HTTP 500", attempts=3)
    [again] = store.pending_notifications()
    assert (again.attempts, again.last_error) == (3, "HTTP 500")
    store.mark_notification(note.id, sent=True)
    assert store.pending_notifications() == []


def test_performance_row_upsert(store: Store) -> None:
    rec = store.add_strategy(DOC)
    assert store.performance(rec.id) is None
    store.save_performance(rec.id, {"signals_generated": 3, "hypothetical_open": 1})
    store.save_performance(rec.id, {"signals_generated": 4})
    perf = store.performance(rec.id)
    assert perf is not None and (perf["signals_generated"], perf["hypothetical_open"], perf["user_id"]) == (4, 1,
                                                                                                             "local")


# ---------------------------------------------------------------------------------------------- urls


def test_urls_env_and_default_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RULEENGINE_DB", str(tmp_path / "env.db"))
    assert default_url() == f"sqlite:///{tmp_path / 'env.db'}"
    store = open_store()
    store.add_strategy(DOC)
    assert (tmp_path / "env.db").exists()
    monkeypatch.delenv("RULEENGINE_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_url() == f"sqlite:///{tmp_path / 'xdg' / 'ruleengine' / 'ruleengine.db'}"
    assert normalize_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    # a plain path works like a sqlite URL
    assert open_store(str(tmp_path / "env.db")).get_strategy(1).name == "dip"


def test_public_api_exports() -> None:
    assert ruleengine.open_store is open_store and ruleengine.Store is Store
    assert ruleengine.StrategySignal is StrategySignal
    assert {"open_store", "Store", "StrategySignal", "live_signals", "compare_strategies"} <= set(ruleengine.__all__)
