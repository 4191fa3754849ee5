"""Issue 13 item 2 (synthetic data never flows into live signals or the store) and item 8 (scan --asof takes
holdings as of the scanned bar), on the real daily data of ../shared/data and a real SQLite file.

- `signals`, `scan`, `track` and the library calls behind them need real data: without a data path, a provider
  or an FMP key they stop with D160 (and `--provider sample` is D160 too); backtest/sweep keep their
  synthetic fallback and say so at the top of their JSON.
- `track` re-prices a signal with the provider it was generated from (T111 otherwise).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import ruleengine
from ruleengine.cli import app
from ruleengine.errors import RuleEngineError
from ruleengine.live.scan import scan
from ruleengine.live.signals import live_scan, live_signals
from ruleengine.live.tracking import track
from ruleengine.store import Store, open_store

#: a state rule (not a crossing): on any day many symbols are above their 10-day mean and many below
ABOVE = "name: above its mean\ndata: {prices: {kind: ohlcv}}\nentry: ['close > sma(close, 10)']\n" \
        "exit: ['close < sma(close, 10)']\n"
GC = "rules/golden_cross.yaml"
EARLY, MID, LATE = "2017-03-01", "2017-04-03", "2017-06-30"


def _codes(exc: pytest.ExceptionInfo[RuleEngineError]) -> list[str]:
    return [d.code for d in exc.value.diagnostics]


@pytest.fixture(scope="module")
def universe(shared_data: Path) -> list[str]:
    """40 S&P 500 members with daily bars through 2017 (the cn_sp500_yahoo source)."""
    table = pq.read_table(shared_data / "daily.parquet", columns=["symbol", "source"]).to_pandas()
    return sorted(table.loc[table["source"] == "cn_sp500_yahoo", "symbol"].unique())[:40]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(f"sqlite:///{tmp_path / 'store.db'}")


# ---------------------------------------------------------------------------------------------- real data only


@pytest.mark.usefixtures("provider_env_cleared")
def test_live_signals_without_real_data_stop_with_d160() -> None:
    with pytest.raises(RuleEngineError) as exc:
        live_signals(GC, "SPY", asof="2017-06-30")
    assert _codes(exc) == ["D160"]
    d = exc.value.diagnostics[0]
    assert "none is configured" in d.message and "--data PATH" in (d.hint or "")
    assert "--provider NAME" in (d.hint or "") and "FMP_API_KEY" in (d.hint or "")
    with pytest.raises(RuleEngineError) as exc:
        live_scan(GC, "SPY", asof="2017-06-30", provider="sample")  # an explicit synthetic provider too
    assert _codes(exc) == ["D160"] and "SYNTHETIC" in exc.value.diagnostics[0].message


@pytest.mark.realdata
def test_a_real_only_registry_resolves_real_providers_and_never_the_sample(
        shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider_env_cleared: Path) -> None:
    """The registry decides; callers say "real data only" instead of special-casing provider names."""
    from ruleengine.data.registry import default_registry

    data = str(shared_data)
    assert default_registry(data, real_only=True).resolve(None, "ohlcv").name == "local"
    assert default_registry(data).resolve(None, "ohlcv", cli_provider="sample").name == "sample"
    assert default_registry(None).resolve(None, "ohlcv").name == "sample"  # backtests keep their fallback
    with pytest.raises(RuleEngineError) as exc:  # an explicit synthetic provider
        default_registry(data, real_only=True).resolve(None, "ohlcv", cli_provider="sample")
    assert _codes(exc) == ["D160"] and "'sample' (--provider)" in exc.value.diagnostics[0].message
    with pytest.raises(RuleEngineError) as exc:  # nothing configured
        default_registry(None, real_only=True).resolve(None, "ohlcv")
    assert _codes(exc) == ["D160"]
    # a data path without the kind: no silent synthetic fallback for that kind either (the error names what
    # the path holds, D109, before the real-only rule is reached)
    (tmp_path / "px").mkdir()
    (tmp_path / "px" / "SPY.csv").write_text("date,open,high,low,close,volume\n2020-01-02,1,2,0.5,1.5,10\n")
    with pytest.raises(RuleEngineError) as exc:
        default_registry(str(tmp_path / "px"), real_only=True).resolve(None, "earnings")
    assert _codes(exc) == ["D109"] and "holds ohlcv" in exc.value.diagnostics[0].message
    assert "earnings is needed" in exc.value.diagnostics[0].message
    monkeypatch.setenv("RULEENGINE_PROVIDER", "sample")  # a configured synthetic default
    with pytest.raises(RuleEngineError) as exc:
        default_registry(None, real_only=True).resolve(None, "ohlcv")
    assert _codes(exc) == ["D160"] and "RULEENGINE_PROVIDER=sample" in exc.value.diagnostics[0].message


@pytest.mark.realdata
def test_a_live_scan_on_real_data_says_where_its_data_came_from(shared_data: Path) -> None:
    res = live_scan(GC, "SPY,QQQ", asof="2017-06-30", data=str(shared_data))
    assert (res.synthetic, res.providers) == (False, {"prices": "local"})


@pytest.mark.usefixtures("provider_env_cleared")
def test_cli_signals_and_scan_without_data_are_structured_errors(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    res = CliRunner().invoke(app, ["signals", GC, "--symbols", "SPY", "--json"])
    out = json.loads(res.output)
    assert res.exit_code == 1 and out["success"] is False
    assert [d["code"] for d in out["error"]["details"]] == ["D160"]
    # a stored strategy with a universe: scan reports the strategy's error and stores nothing
    CliRunner().invoke(app, ["strategies", "add", GC, "--universe", "SPY,QQQ", "--db", db])
    res = CliRunner().invoke(app, ["scan", "--db", db, "--json"])
    summary = json.loads(res.output)
    assert res.exit_code == 1 and summary["signals"] == 0
    [row] = summary["strategies"]
    assert row["status"] == "error" and row["details"][0]["code"] == "D160"
    assert open_store(db).count_signals() == 0


def test_backtest_and_sweep_json_say_synthetic_at_the_top() -> None:
    bt = json.loads(ruleengine.backtest(GC, "SPY", "2016-01-04", "2016-12-30", provider="sample").to_json())
    assert bt["synthetic"] is True
    sw = ruleengine.sweep(GC, "SPY", "2016-01-04", "2016-12-30", provider="sample", grid={"fast": [5, 10]})
    assert sw.synthetic is True and sw.to_dict()["synthetic"] is True


@pytest.mark.realdata
def test_backtest_and_sweep_json_on_real_data_say_not_synthetic(shared_data: Path) -> None:
    data = str(shared_data)
    bt = json.loads(ruleengine.backtest(GC, "SPY", "2016-01-04", "2016-12-30", data=data).to_json())
    assert bt["synthetic"] is False
    sw = ruleengine.sweep(GC, "SPY", "2016-01-04", "2016-12-30", data=data, grid={"fast": [5, 10]})
    assert sw.to_dict()["synthetic"] is False


# ---------------------------------------------------------------------------------------------- tracking


@pytest.mark.realdata
def test_track_reprices_with_the_signals_own_provider(store: Store, shared_data: Path, universe: list[str],
                                                      provider_env_cleared: Path) -> None:
    rec = store.add_strategy(ABOVE)
    res = live_scan(store.get_strategy(rec.id), universe, asof=EARLY, data=str(shared_data))
    entries = [s for s in res.signals if s.signal_type == "entry"]
    assert entries
    store.save_signals(entries)
    [saved] = store.list_signals(rec.id, limit=1)
    assert (saved.data_providers, saved.synthetic) == ({"prices": "local"}, False)
    with pytest.raises(RuleEngineError) as exc:  # no data path: the signals' provider is not available
        track(store, rec.id, asof=LATE)
    assert _codes(exc) == ["T111"] and "'local'" in str(exc.value)
    assert "--data PATH" in (exc.value.diagnostics[0].hint or "")
    with pytest.raises(RuleEngineError) as exc:  # another provider than the signals'
        track(store, rec.id, asof=LATE, provider="sample", data=str(shared_data))
    assert _codes(exc) == ["T111"] and "not 'sample'" in str(exc.value)
    # the CLI: `track 1` and `track` (every strategy) without --data fail, structured, with exit code 1
    res = CliRunner().invoke(app, ["track", str(rec.id), "--db", store.url])
    assert res.exit_code == 1 and "error[T111]" in res.output
    res = CliRunner().invoke(app, ["track", "--db", store.url, "--json"])
    [row] = json.loads(res.output)["performance"]
    assert res.exit_code == 1 and row["details"][0]["code"] == "T111"
    assert all(s.hypothetical is None for s in store.list_signals(rec.id))  # nothing overwritten
    [row] = track(store, rec.id, asof=LATE, data=str(shared_data))
    assert row["signals_generated"] == len(entries)
    assert {s.hypothetical["status"] for s in store.list_signals(rec.id)} <= {"open", "closed"}


# ---------------------------------------------------------------------------------------------- scan --asof


def _stored(store: Store, sid: int, kind: str, day: str) -> set[str]:
    return {s.ticker for s in store.list_signals(sid, signal_type=kind) if str(s.bar_time.date()) == day}


@pytest.mark.realdata
def test_scan_asof_takes_holdings_as_of_the_scanned_bar(store: Store, shared_data: Path, universe: list[str],
                                                        tmp_path: Path) -> None:
    """Issue 13 item 8: a later scan's entries are not positions on an earlier bar."""
    data = str(shared_data)
    listing = tmp_path / "universe.txt"
    listing.write_text("\n".join(universe) + "\n")
    rec = store.add_strategy(ABOVE, universe=f"@{listing}")

    def fired(day: str) -> dict[str, set[str]]:
        got = live_scan(store.get_strategy(rec.id), universe, asof=day, data=data, near_misses=False).signals
        return {k: {s.ticker for s in got if s.signal_type == k} for k in ("entry", "exit")}

    scan(store, asof=LATE, data=data)
    late = _stored(store, rec.id, "entry", LATE)
    assert late == fired(LATE)["entry"] and _stored(store, rec.id, "exit", LATE) == set()
    early = fired(EARLY)
    assert early["exit"] & late  # the old code stored these exits: positions "opened" months later
    scan(store, asof=EARLY, data=data)
    assert _stored(store, rec.id, "exit", EARLY) == set()
    assert _stored(store, rec.id, "entry", EARLY) == early["entry"]
    # on a bar after the early entries, their exits are stored, and only theirs
    mid = fired(MID)
    assert mid["exit"] & early["entry"] and mid["exit"] - early["entry"]
    scan(store, asof=MID, data=data)
    assert _stored(store, rec.id, "exit", MID) == mid["exit"] & early["entry"]




@pytest.mark.usefixtures("provider_env_cleared")
def test_cli_save_without_real_data_stores_nothing(tmp_path: Path) -> None:
    """`backtest --save` on synthetic data is T110; `signals FILE --save` without data is D160 and leaves no
    strategy behind."""
    db = str(tmp_path / "cli.db")
    res = CliRunner().invoke(app, ["backtest", GC, "--symbols", "SPY", "--start", "2016-01-04", "--end",
                                   "2016-12-30", "--save", "--db", db])
    assert res.exit_code == 1 and "error[T110]" in res.output and "SYNTHETIC" in res.output
    res = CliRunner().invoke(app, ["signals", GC, "--symbols", "SPY", "--save", "--db", db])
    assert res.exit_code == 1 and "error[D160]" in res.output
    store = open_store(db)
    assert (store.list_runs(), store.list_strategies(), store.count_signals()) == ([], [], 0)
