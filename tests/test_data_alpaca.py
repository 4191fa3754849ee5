"""The alpaca provider: the real alpaca-py talking to a local stand-in for Alpaca's market data API
(tests/support/fmp_server.py with ``prefix="/"``; recorded-shape bodies in tests/fixtures/alpaca).

alpaca-py points at the stand-in through its own ``url_override`` (``ALPACA_DATA_URL``); it follows
``next_page_token`` itself. Error bodies are Alpaca's ``{"code": ..., "message": ...}``.
"""
from __future__ import annotations

import pandas as pd
import pytest
from support.fmp_server import FmpServer, Reply
from support.paths import FIXTURES

from ruleengine.data.alpaca import AlpacaProvider
from ruleengine.data.base import FetchRequest
from ruleengine.errors import RuleEngineError

pytestmark = pytest.mark.network
BARS, LATEST = "v2/stocks/bars", "v2/stocks/bars/latest"
TOKEN = "QUFQTHxEfDIwMjQtMDEtMDNUMDU6MDA6MDAuMDAwMDAwMDAwWg=="


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture
def server(provider_env_cleared):
    with FmpServer(FIXTURES / "alpaca", prefix="/") as s:
        yield s


@pytest.fixture
def provider(server):
    return AlpacaProvider("key-id", "secret", base_url=server.base_url, max_retries=2, backoff=0.001)


def fetch(p, start="2024-01-02", end="2024-01-05", frequency="1Day", symbol="AAPL"):
    return p.fetch(FetchRequest(symbol, "ohlcv", pd.Timestamp(start), pd.Timestamp(end), frequency))


def fail(p, **kwargs) -> RuleEngineError:
    with pytest.raises(RuleEngineError) as info:
        fetch(p, **kwargs)
    return info.value


def paged(server):
    server.route(BARS, "bars_aapl_1day_page1.json")
    server.route(BARS, "bars_aapl_1day_page2.json", query={"page_token": TOKEN})


def test_daily_bars_across_pages_with_feed_and_basis_stated(server, provider):
    paged(server)
    df = fetch(provider)
    assert list(df.index) == [day("2024-01-02"), day("2024-01-03"), day("2024-01-04"), day("2024-01-05")]
    assert df.loc[day("2024-01-04")].to_dict() == {"open": 182.15, "high": 183.0872, "low": 180.88,
                                                   "close": 181.91, "volume": 71992243.0}
    assert (df.attrs["price_basis"], df.attrs["feed"], df.attrs["provider"]) == ("split-adjusted", "iex", "alpaca")
    first, second = server.seen(BARS)
    assert "page_token" not in first.query and second.query["page_token"] == TOKEN
    assert first.query | {"page_token": TOKEN} == second.query   # the same request, next page
    assert (first.query["timeframe"], first.query["adjustment"], first.query["feed"]) == ("1Day", "split", "iex")
    assert first.query["symbols"] == "AAPL" and first.query["start"].startswith("2024-01-02T05:00")
    assert first.headers["APCA-API-KEY-ID"] == "key-id" and first.headers["APCA-API-SECRET-KEY"] == "secret"


@pytest.mark.parametrize("setting, sent", [("raw", "raw"), ("total-return", "all")])
def test_adjustment_and_feed_from_the_environment(server, monkeypatch, setting, sent):
    paged(server)
    monkeypatch.setenv("ALPACA_ADJUSTMENT", setting)
    monkeypatch.setenv("ALPACA_FEED", "sip")
    monkeypatch.setenv("ALPACA_API_KEY", "env-key")
    monkeypatch.setenv("ALPACA_SECRET_KEY", "env-secret")
    monkeypatch.setenv("ALPACA_DATA_URL", server.base_url + "/")
    p = AlpacaProvider(backoff=0.001)
    df = fetch(p)
    assert df.attrs["price_basis"] == setting and df.attrs["feed"] == "sip"
    seen = server.seen(BARS)[0]
    assert (seen.query["adjustment"], seen.query["feed"]) == (sent, "sip")
    assert seen.headers["APCA-API-KEY-ID"] == "env-key"
    assert p.cache_key() == f"alpaca:{server.base_url}:sip:{setting}"


def test_unknown_setting_is_an_error(monkeypatch):
    monkeypatch.setenv("ALPACA_FEED", "otc")
    with pytest.raises(RuleEngineError) as info:
        AlpacaProvider("k", "s")
    assert info.value.diagnostics[0].code == "D109" and "iex, sip" in info.value.diagnostics[0].hint


def test_intraday_keeps_the_regular_session(server, provider):
    server.route(BARS, "bars_spy_5min.json")
    df = fetch(provider, "2024-03-08", "2024-03-11", "5Min", "SPY")
    # 15:50 and 15:55 EST are in the session, 16:00 EST is after it; 09:30 EDT = 13:30 UTC
    assert list(df.index) == [day("2024-03-08 20:50"), day("2024-03-08 20:55"), day("2024-03-11 13:30")]
    assert server.seen(BARS)[0].query["timeframe"] == "5Min"


def test_hours_are_delivered_as_half_hours_of_the_session(server, provider):
    server.route(BARS, "bars_spy_5min.json")   # any intraday body: what matters is what is asked and labelled
    df = fetch(provider, "2024-03-08", "2024-03-11", "1Hour", "SPY")
    assert server.seen(BARS)[0].query["timeframe"] == "30Min" and df.attrs["frequency"] == "30Min"


def test_no_bars_is_no_data(server, provider):
    server.route(BARS, Reply(200, {"bars": {}, "next_page_token": None, "currency": "USD"}))
    err = fail(provider, symbol="ZZZQ")
    d = err.diagnostics[0]
    assert d.code == "D111" and "ZZZQ" in d.message and "does not list" in d.hint
    assert err.error_type == "data_fetch_error"


def test_invalid_symbol(server, provider):
    server.route(BARS, Reply(400, {"code": 40010001, "message": "invalid symbol: BRK/B"}))
    err = fail(provider, symbol="BRK/B")
    d = err.diagnostics[0]
    assert d.code == "D110" and err.error_type == "invalid_symbol_error" and "invalid symbol: BRK/B" in d.message
    assert server.count() == 1


@pytest.mark.parametrize("status, body", [
    (401, {"code": 40110000, "message": "request is not authorized"}),
    (403, {"code": 42210000, "message": "subscription does not permit querying recent SIP data"}),
])
def test_refused_credentials_or_plan(server, provider, status, body):
    server.route(BARS, Reply(status, body))
    err = fail(provider)
    d = err.diagnostics[0]
    assert d.code == "D113" and body["message"] in d.message and "ALPACA_API_KEY" in d.hint
    assert server.count() == 1   # never retried


def test_missing_keys_fail_before_any_request(server):
    p = AlpacaProvider(secret_key="s", base_url=server.base_url)
    d = fail(p).diagnostics[0]
    assert d.code == "D113" and "ALPACA_API_KEY not set" in d.message and "--provider yahoo" in d.hint
    assert server.count() == 0


def test_429_then_success_honours_retry_after(server, provider):
    server.route(BARS, Reply(429, {"code": 42910000, "message": "rate limit exceeded"}, {"Retry-After": "0.1"}),
                 "bars_aapl_1day_page1.json")
    server.route(BARS, "bars_aapl_1day_page2.json", query={"page_token": TOKEN})
    assert len(fetch(provider)) == 4
    first, second = server.seen(BARS)[:2]
    assert 0.1 <= second.time - first.time < 0.9   # Retry-After, not the tiny backoff nor alpaca-py's 3 s


def test_5xx_backs_off_then_succeeds(server, provider):
    server.route(BARS, Reply(503, "Service Unavailable"), Reply(500, {"message": "internal error"}),
                 "bars_aapl_1day_page1.json")
    server.route(BARS, "bars_aapl_1day_page2.json", query={"page_token": TOKEN})
    assert len(fetch(provider)) == 4 and server.count(BARS) == 4


def test_retries_exhausted(server, provider):
    server.route(BARS, Reply(429, {"code": 42910000, "message": "rate limit exceeded"}, {"Retry-After": "0.01"}))
    d = fail(provider).diagnostics[0]
    assert d.code == "D112" and "HTTP 429" in d.message and "3 attempt(s)" in d.message and "wait 0.01 s" in d.message
    assert server.count() == 3


def test_long_retry_after_fails_at_once(server, provider):
    server.route(BARS, Reply(429, {"message": "rate limit exceeded"}, {"Retry-After": "3600"}))
    d = fail(provider).diagnostics[0]
    assert d.code == "D112" and "3600" in d.message and server.count() == 1


@pytest.mark.parametrize("body", [
    "<html>gateway</html>",
    {"data": []},
    {"bars": {"AAPL": [{"t": "2024-01-02T05:00:00Z", "o": 1.0}]}, "next_page_token": None},
    {"bars": {"AAPL": [{"t": "yesterday", "o": 1, "h": 1, "l": 1, "c": 1, "v": 1}]}, "next_page_token": None},
])
def test_malformed_body(server, provider, body):
    server.route(BARS, Reply(200, body))
    err = fail(provider)
    assert [d.code for d in err.diagnostics] == ["D114"] and "malformed data from Alpaca" in str(err)


def test_unreachable_server():
    with FmpServer(FIXTURES / "alpaca", prefix="/") as s:
        url = s.base_url
    p = AlpacaProvider("k", "s", base_url=url, max_retries=1, backoff=0.001)
    d = fail(p).diagnostics[0]
    assert d.code == "D112" and "could not reach Alpaca" in d.message


def test_latest_bar_gives_the_live_end(server, provider):
    server.route(LATEST, "latest_bar_aapl.json")
    assert provider.available_range("AAPL") == (day("2016-01-04"), day("2024-01-05"))
    # 15:59 EST: the 5-minute bar that started at 15:55
    assert provider.available_range("AAPL", frequency="5Min")[1] == day("2024-01-05 20:55")
    assert provider.available_range("AAPL", frequency="1Hour")[1] == day("2024-01-05 20:30")   # 15:30-16:00
    assert server.seen(LATEST)[0].query == {"symbols": "AAPL", "feed": "iex"}


def test_latest_bar_of_an_unknown_symbol(server, provider):
    server.route(LATEST, Reply(200, {"bars": {}}))
    with pytest.raises(RuleEngineError) as info:
        provider.available_range("ZZZQ")
    assert info.value.diagnostics[0].code == "D110"


def test_unsupported_kind_or_frequency(server, provider):
    with pytest.raises(RuleEngineError) as info:
        provider.fetch(FetchRequest("AAPL", "earnings", pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01"),
                                    "quarterly"))
    assert info.value.diagnostics[0].code == "D109"
    assert [d.code for d in fail(provider, frequency="1Week").diagnostics] == ["D109"]
    assert server.count() == 0


def test_a_default_for_prices_only_with_both_keys():
    assert not AlpacaProvider.configured({"ALPACA_API_KEY": "k"})
    assert AlpacaProvider.configured({"ALPACA_API_KEY": "k", "ALPACA_SECRET_KEY": "s"})


def test_yahoo_and_alpaca_are_listed_with_their_keys_and_point_in_time(provider_env_cleared):
    """`ruleengine providers --json`, `list_capabilities` and the LLM prompt describe them from one place."""
    import json

    from typer.testing import CliRunner

    from ruleengine.cli import app
    from ruleengine.data.registry import default_registry
    from ruleengine.llm.handlers import list_capabilities
    from ruleengine.llm.prompt import providers_section

    listed = {p["name"]: p for p in json.loads(CliRunner().invoke(app, ["providers", "--json"]).output)["providers"]}
    assert listed["yahoo"]["credentials"] == [] and set(listed["yahoo"]["kinds"]) == {"ohlcv", "dividends", "splits"}
    assert listed["alpaca"]["credentials"] == ["ALPACA_API_KEY", "ALPACA_SECRET_KEY"]
    assert "ex-date's open" in listed["yahoo"]["point_in_time"] and listed["alpaca"]["price_basis"] == "split-adjusted"
    capabilities = {p["name"]: p for p in list_capabilities(None)["providers"]}
    assert capabilities["alpaca"]["kinds"]["ohlcv"]["frequencies"] == ["1Min", "5Min", "15Min", "30Min", "1Hour",
                                                                       "1Day"]
    text = providers_section(default_registry())
    assert "### yahoo\n" in text and "No key needed. Point in time: bars at their close" in text
    assert "Needs ALPACA_API_KEY and ALPACA_SECRET_KEY. Point in time:" in text


def test_providers_pickle_for_process_executors(server):
    """Sweeps on process executors send the provider to the workers."""
    import pickle

    from ruleengine.data.yahoo import YahooProvider

    paged(server)
    p = pickle.loads(pickle.dumps(AlpacaProvider("k", "s", base_url=server.base_url, backoff=0.001)))
    assert len(fetch(p)) == 4
    assert pickle.loads(pickle.dumps(YahooProvider("total-return"))).cache_key().endswith(":total-return")
