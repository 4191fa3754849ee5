"""End to end: a rule strategy backtested through the CLI on prices served by the yahoo and alpaca stand-ins
(the real yfinance / alpaca-py clients) makes the same trades as on the same prices read from a local file.

The bars are SPY's 2011-07 .. 2013-06 from tests/fixtures/daily_sample; the stand-ins answer in the services'
shapes (Yahoo's chart API; Alpaca's bars in two pages).
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from support.fmp_server import FmpServer, Reply
from support.paths import FIXTURES, RULES
from support.yahoo_chart import chart
from typer.testing import CliRunner

from ruleengine.cli import app

pytestmark = pytest.mark.network
STRATEGY = str(RULES / "golden_cross.yaml")
RANGE = ["--start", "2012-06-01", "--end", "2013-06-28", "--param", "fast=10", "--param", "slow=30"]


@pytest.fixture(scope="module")
def spy() -> pd.DataFrame:
    table = pd.read_parquet(FIXTURES / "daily_sample" / "daily.parquet")
    rows = table[table["symbol"] == "SPY"].set_index("date")[["open", "high", "low", "close", "volume"]]
    rows.index = pd.to_datetime(rows.index)
    return rows.astype({"volume": "int64"})


def backtest(*args: str) -> dict:
    res = CliRunner().invoke(app, ["backtest", STRATEGY, "--symbols", "SPY", *RANGE, "--no-cache", "--json",
                                   *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


@pytest.fixture
def from_file(spy: pd.DataFrame, tmp_path: Path, provider_env_cleared) -> dict:
    folder = tmp_path / "px"
    folder.mkdir()
    spy.rename_axis("date").to_csv(folder / "SPY.csv")
    return backtest("--data", str(folder))


def _trades(out: dict) -> list[dict]:
    return out["results"][0]["trades"]


def test_yahoo_gives_the_trades_of_the_same_prices_from_a_file(spy, from_file, monkeypatch, tmp_path):
    assert len(_trades(from_file)) >= 2
    with FmpServer(FIXTURES / "yahoo", prefix="/") as server:
        server.route("v1/test/getcrumb", Reply(200, "stand-in-crumb"))
        server.route("", Reply(200, ""))
        server.route("v8/finance/chart/SPY", Reply(200, chart("SPY", spy, instrument="ETF")))
        monkeypatch.setenv("YAHOO_BASE_URL", server.base_url)
        out = backtest("--provider", "yahoo")
        text = CliRunner().invoke(app, ["backtest", STRATEGY, "--symbols", "SPY", *RANGE, "--provider", "yahoo",
                                        "--report", str(tmp_path / "report.html")])
        sweep = CliRunner().invoke(app, ["sweep", STRATEGY, "--symbols", "SPY", "--grid", "fast=5,10",
                                         "--param", "slow=30", "--start", "2012-06-01", "--end", "2013-06-28",
                                         "--provider", "yahoo", "--json"])
        walk = CliRunner().invoke(app, ["sweep", STRATEGY, "--symbols", "SPY", "--grid", "fast=5,10",
                                        "--param", "slow=30", "--start", "2012-06-01", "--end", "2013-06-28",
                                        "--walk-forward", "train=150,test=50", "--provider", "yahoo", "--json"])
    assert _trades(out) == _trades(from_file)
    assert out["results"][0]["metrics"] == from_file["results"][0]["metrics"]
    data = out["results"][0]["data"]
    assert data["providers"] == {"prices": "yahoo"} and data["price_basis"] == {"prices": "split-adjusted"}
    assert out["synthetic"] is False and "price_basis" not in from_file["results"][0]["data"]
    assert text.exit_code == 0 and "data: prices=yahoo (split-adjusted)" in text.output   # the console ...
    assert "prices=yahoo (split-adjusted)" in (tmp_path / "report.html").read_text()   # ... and the report
    assert sweep.exit_code == 0, sweep.output
    assert json.loads(sweep.output)["price_basis"] == {"prices": "split-adjusted"}   # sweeps say it too
    assert walk.exit_code == 0, walk.output
    walked = json.loads(walk.output)   # ... and walk-forward runs
    assert walked["price_basis"] == {"prices": "split-adjusted"} and walked["walk_forward"]["folds"]


def alpaca_bars(spy: pd.DataFrame) -> list[dict]:
    """The bars as Alpaca sends daily bars: stamped at New York midnight, in UTC."""
    return [{"t": pd.Timestamp(d).tz_localize("America/New_York").tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
             "o": r.open, "h": r.high, "l": r.low, "c": r.close, "v": int(r.volume), "n": 1000, "vw": r.close}
            for d, r in spy.iterrows()]


def test_alpaca_gives_the_trades_of_the_same_prices_from_a_file(spy, from_file, monkeypatch):
    bars = alpaca_bars(spy)
    half = len(bars) // 2
    with FmpServer(FIXTURES / "alpaca", prefix="/") as server:
        server.route("v2/stocks/bars", Reply(200, {"bars": {"SPY": bars[:half]}, "next_page_token": "page-2"}))
        server.route("v2/stocks/bars", Reply(200, {"bars": {"SPY": bars[half:]}, "next_page_token": None}),
                     query={"page_token": "page-2"})
        for name, value in {"ALPACA_API_KEY": "k", "ALPACA_SECRET_KEY": "s", "ALPACA_DATA_URL": server.base_url,
                            "ALPACA_ADJUSTMENT": "raw"}.items():
            monkeypatch.setenv(name, value)
        out = backtest()   # both keys set: alpaca is the default price provider
        assert server.count("v2/stocks/bars") == 2
    assert _trades(out) == _trades(from_file)
    data = out["results"][0]["data"]
    assert data["providers"] == {"prices": "alpaca"} and data["price_basis"] == {"prices": "raw"}


def test_a_live_signal_on_alpacas_latest_bar_equals_the_one_from_the_file(spy, tmp_path, provider_env_cleared,
                                                                          monkeypatch):
    """Without --asof, live signals evaluate the latest bar Alpaca has (its latest-bar endpoint)."""
    from datetime import UTC, datetime

    from ruleengine.live.signals import live_scan

    folder = tmp_path / "px"
    folder.mkdir()
    spy.rename_axis("date").to_csv(folder / "SPY.csv")
    params = {"fast": 10, "slow": 30}
    want = live_scan(STRATEGY, "SPY", asof="2013-06-27", data=str(folder), params=params)
    with FmpServer(FIXTURES / "alpaca", prefix="/") as server:
        server.route("v2/stocks/bars", Reply(200, {"bars": {"SPY": alpaca_bars(spy)}, "next_page_token": None}))
        server.route("v2/stocks/bars/latest", Reply(200, {"bars": {"SPY": {
            "t": "2013-06-27T19:59:00Z", "o": 160.4, "h": 160.5, "l": 160.3, "c": 160.42, "v": 90000, "n": 900,
            "vw": 160.4}}}))
        monkeypatch.setenv("ALPACA_DATA_URL", server.base_url)
        monkeypatch.setenv("ALPACA_API_KEY", "k")
        monkeypatch.setenv("ALPACA_SECRET_KEY", "s")
        got = live_scan(STRATEGY, "SPY", provider="alpaca", params=params, no_cache=True,
                        now=datetime(2013, 7, 1, 12, tzinfo=UTC))
        assert server.count("v2/stocks/bars/latest") == 1
    assert got.bar_time == want.bar_time == datetime(2013, 6, 27)   # the last bar of the data
    assert got.providers == {"prices": "alpaca"} and got.synthetic is False
    assert [(s.ticker, s.signal_type) for s in got.signals] == [(s.ticker, s.signal_type) for s in want.signals]
    assert [(n.ticker, n.failed.text) for n in got.near_misses] == [(n.ticker, n.failed.text) for n in want.near_misses]


def test_a_live_signal_on_yahoos_latest_bar_equals_the_one_from_the_file(spy, tmp_path, provider_env_cleared,
                                                                         monkeypatch):
    """Without --asof, `signals run --provider yahoo` evaluates the latest bar Yahoo has (the provider's
    `available_range`: one chart request over the last week). SPY's bars are dated up to yesterday's session here,
    so that the stand-in's latest bar is recent, as Yahoo's is."""
    yesterday = pd.Timestamp.now(tz="America/New_York").tz_localize(None).normalize() - pd.Timedelta(days=1)
    recent = spy.iloc[-300:].copy()
    recent.index = pd.bdate_range(end=yesterday, periods=len(recent))
    folder = tmp_path / "px"
    folder.mkdir()
    recent.rename_axis("date").to_csv(folder / "SPY.csv")
    last = str(recent.index[-1].date())
    args = ["signals", "run", STRATEGY, "--symbols", "SPY", "--param", "fast=10", "--param", "slow=30", "--json"]
    want = CliRunner().invoke(app, [*args, "--data", str(folder), "--asof", last])
    with FmpServer(FIXTURES / "yahoo", prefix="/") as server:
        server.route("v1/test/getcrumb", Reply(200, "stand-in-crumb"))
        server.route("", Reply(200, ""))
        server.route("v8/finance/chart/SPY", Reply(200, chart("SPY", recent, instrument="ETF")))
        monkeypatch.setenv("YAHOO_BASE_URL", server.base_url)
        got = CliRunner().invoke(app, [*args, "--provider", "yahoo"])
        windows = [(int(s.query["period2"]) - int(s.query["period1"])) / 86400
                   for s in server.seen("v8/finance/chart/SPY") if "period1" in s.query]
    assert want.exit_code == 0 and got.exit_code == 0, (want.output, got.output)
    got_d, want_d = json.loads(got.output), json.loads(want.output)
    assert got_d["bar_time"] == want_d["bar_time"] == f"{last}T00:00:00"   # the latest bar, named
    assert got_d["providers"] == {"prices": "yahoo"} and got_d["synthetic"] is False
    assert [(s["ticker"], s["signal_type"]) for s in got_d["signals"]] == \
        [(s["ticker"], s["signal_type"]) for s in want_d["signals"]]
    assert [m["ticker"] for m in got_d["near_misses"]] == [m["ticker"] for m in want_d["near_misses"]]
    assert windows[0] <= 7   # the latest-bar request, then the bars


def test_faults_through_the_cli_are_the_seeds_error_types(provider_env_cleared, monkeypatch):
    """An unknown symbol and a missing key, as a user meets them: ERROR_SCHEMA JSON naming the provider, the
    symbol and what to do; nothing else is tried."""
    with FmpServer(FIXTURES / "yahoo", prefix="/") as server:
        server.route("v1/test/getcrumb", Reply(200, "stand-in-crumb"))
        server.route("", Reply(200, ""))
        server.route("v8/finance/chart/NOPE", Reply(404, server.load("chart_not_found.json")))
        monkeypatch.setenv("YAHOO_BASE_URL", server.base_url)
        res = CliRunner().invoke(app, ["backtest", STRATEGY, "--symbols", "NOPE", *RANGE, "--no-cache", "--json",
                                       "--provider", "yahoo"])
    out = json.loads(res.output)
    assert res.exit_code == 1 and out["success"] is False and out["error"]["type"] == "invalid_symbol_error"
    (d,) = out["error"]["details"]
    assert d["code"] == "D110" and "'NOPE'" in d["message"] and "Yahoo" in d["message"]
    assert "check the ticker" in d["hint"]
    res = CliRunner().invoke(app, ["backtest", STRATEGY, "--symbols", "SPY", *RANGE, "--no-cache", "--json",
                                   "--provider", "alpaca"])
    out = json.loads(res.output)
    assert res.exit_code == 1 and out["error"]["type"] == "data_fetch_error"
    (d,) = out["error"]["details"]
    assert d["code"] == "D113" and "ALPACA_API_KEY and ALPACA_SECRET_KEY not set" in d["message"]
    assert "--provider yahoo" in d["hint"] and "Traceback" not in res.output


def test_remote_frames_follow_the_provider_contract_through_the_cache(spy, tmp_path, provider_env_cleared):
    """What `ruleengine.data.base` asks of every provider, checked on both, fresh and read back from the cache."""
    from ruleengine.data.alpaca import AlpacaProvider
    from ruleengine.data.base import FetchRequest
    from ruleengine.data.cache import CachedProvider
    from ruleengine.data.yahoo import YahooProvider

    request = FetchRequest("SPY", "ohlcv", pd.Timestamp("2013-01-02"), pd.Timestamp("2013-03-28"))
    with FmpServer(FIXTURES / "yahoo", prefix="/") as server:
        server.route("v1/test/getcrumb", Reply(200, "stand-in-crumb"))
        server.route("", Reply(200, ""))
        server.route("v8/finance/chart/SPY", Reply(200, chart("SPY", spy, instrument="ETF")))
        server.route("v2/stocks/bars", Reply(200, {"bars": {"SPY": alpaca_bars(spy)}, "next_page_token": None}))
        for provider in (YahooProvider(base_url=server.base_url), AlpacaProvider("k", "s", server.base_url)):
            cached = CachedProvider(provider, cache_dir=tmp_path / provider.name)
            fresh, again = cached.fetch(request), cached.fetch(request)
            assert (cached.misses, cached.hits) == (1, 1)
            for df in (fresh, again):
                assert df.index.name == "time" and str(df.index.tz) == "UTC"
                assert df.index.is_monotonic_increasing and df.index.is_unique
                assert list(df.columns) == ["open", "high", "low", "close", "volume"]
                assert set(df.dtypes.astype(str)) == {"float64"}
                assert (df.attrs["provider"], df.attrs["frequency"], df.attrs["synthetic"]) == \
                    (provider.name, "1Day", False)
                assert df.attrs["price_basis"] == "split-adjusted"
                want = spy.loc["2013-01-02":"2013-03-28"].astype("float64")
                assert df.to_numpy().tolist() == want.to_numpy().tolist()


def test_a_backtest_without_end_asks_yahoo_for_the_latest_bar_once_not_per_symbol(spy, tmp_path,
                                                                                 provider_env_cleared, monkeypatch):
    """The default end is the latest bar the symbols have: the first symbol whose latest bar is the last session
    answers it for every other (one latest-bar request for a universe, not one per symbol: Yahoo rate-limits)."""
    yesterday = pd.Timestamp.now(tz="America/New_York").tz_localize(None).normalize() - pd.Timedelta(days=1)
    recent = spy.iloc[-300:].copy()
    recent.index = pd.bdate_range(end=yesterday, periods=len(recent))
    start = str(recent.index[100].date())
    with FmpServer(FIXTURES / "yahoo", prefix="/") as server:
        server.route("v1/test/getcrumb", Reply(200, "stand-in-crumb"))
        server.route("", Reply(200, ""))
        for symbol in ("SPY", "QQQ", "IWM"):
            server.route(f"v8/finance/chart/{symbol}", Reply(200, chart(symbol, recent, instrument="ETF")))
        monkeypatch.setenv("YAHOO_BASE_URL", server.base_url)
        res = CliRunner().invoke(app, ["backtest", STRATEGY, "--symbols", "SPY,QQQ,IWM", "--start", start,
                                       "--param", "fast=10", "--param", "slow=30", "--no-cache", "--json",
                                       "--provider", "yahoo"])
        latest = [s for symbol in ("SPY", "QQQ", "IWM") for s in server.seen(f"v8/finance/chart/{symbol}")
                  if "period1" in s.query and (int(s.query["period2"]) - int(s.query["period1"])) / 86400 <= 7]
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    # SPY's latest bar is the last session: QQQ and IWM are not asked (SPY is, again, for the benchmark's load)
    assert latest and {s.path for s in latest} == {"v8/finance/chart/SPY"}
    assert {str(r["equity"]["time"][-1])[:10] for r in out["results"]} == {str(recent.index[-1].date())}
