"""The yahoo provider: the real yfinance talking to a local stand-in for Yahoo's chart API (tests/support/
fmp_server.py with ``prefix="/"``; payloads from tests/fixtures/yahoo and tests/support/yahoo_chart.py).

yfinance has no base-URL setting; it takes a ``session=``, and the provider's session sends Yahoo's hosts to
the stand-in (``YAHOO_BASE_URL``). yfinance also asks for a cookie (fc.yahoo.com -> ``/``) and a crumb
(``/v1/test/getcrumb``) first, as it does against Yahoo.
"""
from __future__ import annotations

import pandas as pd
import pytest
from support.fmp_server import FmpServer, Reply
from support.paths import FIXTURES
from support.yahoo_chart import chart

from ruleengine.data.base import FetchRequest
from ruleengine.data.yahoo import YahooProvider
from ruleengine.errors import RuleEngineError

pytestmark = pytest.mark.network
CHART = "v8/finance/chart/"
NOW = pd.Timestamp("2024-03-15 18:00", tz="UTC")


@pytest.fixture
def server(provider_env_cleared):
    with FmpServer(FIXTURES / "yahoo", prefix="/") as s:
        s.route("v1/test/getcrumb", Reply(200, "stand-in-crumb"))
        s.route("", Reply(200, ""))
        yield s


@pytest.fixture
def provider(server):
    return YahooProvider(base_url=server.base_url, max_retries=2, backoff=0.001, timeout=5, clock=lambda: NOW)


def fetch(p, kind="ohlcv", start="2024-08-09", end="2024-08-15", frequency="1Day", symbol="AAPL"):
    return p.fetch(FetchRequest(symbol, kind, pd.Timestamp(start), pd.Timestamp(end), frequency))


def fail(p, **kwargs) -> RuleEngineError:
    with pytest.raises(RuleEngineError) as info:
        fetch(p, **kwargs)
    return info.value


def price_requests(server, symbol="AAPL"):
    return [s for s in server.seen(CHART + symbol) if "period1" in s.query]


def test_daily_bars_split_adjusted_by_default(server, provider):
    server.route(CHART + "AAPL", "chart_aapl_1d.json")
    df = fetch(provider, start="2024-08-12", end="2024-08-15")
    assert list(df.index) == [pd.Timestamp(d, tz="UTC") for d in ("2024-08-12", "2024-08-13", "2024-08-14",
                                                                   "2024-08-15")]
    assert df.loc[pd.Timestamp("2024-08-12", tz="UTC")].to_dict() == {
        "open": 216.07, "high": 219.51, "low": 215.60, "close": 217.53, "volume": 38028100.0}
    assert df.attrs["price_basis"] == "split-adjusted" and df.attrs["provider"] == "yahoo"
    (seen,) = price_requests(server)
    assert seen.query["interval"] == "1d" and seen.query["events"].startswith("div,splits")


def test_total_return_basis_scales_by_adjclose(server):
    server.route(CHART + "AAPL", "chart_aapl_1d.json")
    p = YahooProvider("total-return", base_url=server.base_url, backoff=0.001)
    df = fetch(p, start="2024-08-09", end="2024-08-12")
    assert df["close"].tolist() == pytest.approx([215.99, 217.53])   # the dividend-adjusted close
    assert df["open"].iloc[0] == pytest.approx(212.10 * 215.99 / 216.24)
    assert df.attrs["price_basis"] == "total-return" and p.cache_key().endswith("total-return")


def test_raw_basis_multiplies_back_the_splits_after_each_bar(server):
    # Yahoo's quotes after a 4-for-1 split on 2020-08-31 (its ex-date) are split-adjusted: the days before show
    # a quarter of the traded price; a 1-for-2 reverse split after the range halves everything before it.
    bars = pd.DataFrame({"open": [120.0, 125, 127], "high": [121, 126, 128], "low": [119, 124, 126],
                         "close": [125, 124.8, 127.5], "volume": [400, 420, 100]},
                        index=pd.to_datetime(["2020-08-27", "2020-08-28", "2020-08-31"]))
    server.route(CHART + "AAPL", Reply(200, chart("AAPL", bars, splits={"2020-08-31": (4, 1), "2022-01-03": (1, 2)})))
    p = YahooProvider("raw", base_url=server.base_url, backoff=0.001, clock=lambda: NOW)
    df = fetch(p, start="2020-08-27", end="2020-08-31")
    assert df["close"].tolist() == [125 * 4 * 0.5, 124.8 * 4 * 0.5, 127.5 * 0.5]
    assert df["volume"].tolist() == [400 / 2, 420 / 2, 100 * 2]
    assert df.attrs["price_basis"] == "raw"
    daily = [s for s in price_requests(server) if s.query["interval"] == "1d"]
    assert len(daily) == 2   # the bars, then the splits up to today (the clock)
    assert int(daily[1].query["period2"]) >= NOW.normalize().timestamp()


def test_unknown_basis_is_refused():
    with pytest.raises(RuleEngineError) as info:
        YahooProvider("adjusted")
    d = info.value.diagnostics[0]
    assert d.code == "D109" and "split-adjusted, total-return, raw" in d.hint


def test_dividends_and_splits_at_the_ex_date_open(server, provider):
    bars = pd.DataFrame({"open": [10.0, 11], "high": [10, 11], "low": [10, 11], "close": [10, 11],
                         "volume": [1, 1]}, index=pd.to_datetime(["2020-08-07", "2020-08-31"]))
    server.route(CHART + "AAPL", Reply(200, chart("AAPL", bars, dividends={"2020-08-07": 0.82},
                                                  splits={"2020-08-31": (4, 1)})))
    div = fetch(provider, "dividends", "2020-08-01", "2020-09-01", "event")
    assert list(div.index) == [pd.Timestamp("2020-08-07 13:30", tz="UTC")] and div["dividend"].tolist() == [0.82]
    split = fetch(provider, "splits", "2020-08-01", "2020-09-01", "event")
    assert list(split.index) == [pd.Timestamp("2020-08-31 13:30", tz="UTC")]   # 09:30 EDT
    assert split["split_ratio"].tolist() == [4.0] and split.index.name == "available_at"
    none = fetch(provider, "splits", "2020-08-01", "2020-08-20", "event")
    assert none.empty   # no split in the range is an answer, not an error


def test_intraday_bars_to_utc(server, provider):
    idx = pd.to_datetime(["2024-03-08 15:50", "2024-03-08 15:55", "2024-03-11 09:30"])
    bars = pd.DataFrame({"open": [1.0, 2, 3], "high": [1.0, 2, 3], "low": [1.0, 2, 3], "close": [1.0, 2, 3],
                         "volume": [10, 20, 30]}, index=idx)
    server.route(CHART + "SPY", Reply(200, chart("SPY", bars, intraday=True)))
    df = fetch(provider, start="2024-03-08", end="2024-03-11", frequency="5Min", symbol="SPY")
    assert list(df.index) == [pd.Timestamp(t, tz="UTC") for t in ("2024-03-08 20:50", "2024-03-08 20:55",
                                                                   "2024-03-11 13:30")]
    assert price_requests(server, "SPY")[0].query["interval"] == "5m"


@pytest.mark.parametrize("frequency, days", [("1Min", 30), ("5Min", 60), ("1Hour", 730)])
def test_intraday_too_far_back_is_refused_before_any_request(server, provider, frequency, days):
    start = (NOW - pd.Timedelta(days=days + 2)).tz_localize(None).normalize()
    err = fail(provider, start=str(start.date()), end="2024-03-14", frequency=frequency)
    d = err.diagnostics[0]
    assert d.code == "D111" and f"last {days} days" in d.message and "AAPL" in d.message
    assert err.error_type == "data_fetch_error"
    assert "coarser frequency" in d.hint
    assert server.count() == 0


def test_one_minute_ranges_are_split_into_seven_day_requests(server, provider):
    server.route(CHART + "SPY", Reply(200, chart("SPY", pd.DataFrame(
        {"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0], "volume": [1]},
        index=pd.to_datetime(["2024-03-13 10:00"])), intraday=True)))
    fetch(provider, start="2024-02-20", end="2024-03-14", frequency="1Min", symbol="SPY")
    spans = [(int(s.query["period2"]) - int(s.query["period1"])) / 86400 for s in price_requests(server, "SPY")]
    assert len(spans) == 4 and max(spans) <= 7


def test_empty_range_is_no_data(server, provider):
    server.route(CHART + "AAPL", "chart_aapl_1d.json")
    err = fail(provider, start="2023-01-02", end="2023-01-06")
    assert [d.code for d in err.diagnostics] == ["D111"] and err.error_type == "data_fetch_error"


def test_unknown_symbol(server, provider):
    server.route(CHART + "NOPE", Reply(404, server.load("chart_not_found.json")))
    err = fail(provider, symbol="NOPE")
    d = err.diagnostics[0]
    assert d.code == "D110" and err.error_type == "invalid_symbol_error" and "NOPE" in d.message
    assert "check the ticker" in d.hint


@pytest.mark.parametrize("status", [401, 403])
def test_refused_requests(server, provider, status):
    body = {"finance": {"result": None, "error": {"code": "Unauthorized", "description": "Invalid Crumb"}}}
    server.route(CHART + "AAPL", Reply(status, body))
    d = fail(provider).diagnostics[0]
    # Yahoo has no key: a refusal is about its cookie and crumb, a failed request to retry later
    assert d.code == "D112" and f"Yahoo refused prices of 'AAPL' (HTTP {status})" in d.message
    assert "retry later" in d.hint


def test_429_then_success_honours_retry_after(server, provider):
    server.route(CHART + "AAPL", Reply(429, "Too Many Requests", {"Retry-After": "0.1"}), "chart_aapl_1d.json")
    df = fetch(provider)
    assert len(df) == 5
    first, second = server.seen(CHART + "AAPL")[:2]
    assert 0.1 <= second.time - first.time < 0.9


def test_5xx_exhausts_retries(server, provider):
    server.route(CHART + "AAPL", Reply(503, "<html>busy</html>"))
    err = fail(provider)
    d = err.diagnostics[0]
    assert d.code == "D112" and "HTTP 503" in d.message and err.error_type == "data_fetch_error"


def test_malformed_body(server, provider):
    payload = chart("AAPL", pd.DataFrame({"open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0], "volume": [1]},
                                         index=pd.to_datetime(["2024-08-12"])))
    del payload["chart"]["result"][0]["meta"]["exchangeTimezoneName"]
    server.route(CHART + "AAPL", Reply(200, payload))
    err = fail(provider)
    assert [d.code for d in err.diagnostics] == ["D114"] and "malformed data from Yahoo" in str(err)


def test_429s_exhaust_retries(server, provider):
    server.route(CHART + "AAPL", Reply(429, "Too Many Requests", {"Retry-After": "0.01"}))
    d = fail(provider).diagnostics[0]
    assert d.code == "D112" and "rate limit (HTTP 429)" in d.message and "wait 0.01 s" in d.message


def test_long_retry_after_is_not_waited_for(server, provider):
    server.route(CHART + "AAPL", Reply(429, "Too Many Requests", {"Retry-After": "3600"}))
    d = fail(provider).diagnostics[0]
    assert d.code == "D112" and "3600" in d.message
    assert server.count(CHART + "AAPL") <= 2   # one per yfinance attempt, no retry loop of ours


def test_unreachable_server(provider_env_cleared):
    with FmpServer(FIXTURES / "yahoo", prefix="/") as s:
        url = s.base_url
    p = YahooProvider(base_url=url, max_retries=1, backoff=0.001, timeout=2)
    d = fail(p).diagnostics[0]
    assert d.code == "D112" and "AAPL" in d.message


def test_a_dividend_is_seen_from_its_ex_date_bar_on_and_never_before(server, monkeypatch):
    """Point in time through the binder: the ex-date's bar is the first to see the dividend; cutting the data
    before it shows nothing (the value cannot leak backwards)."""
    from ruleengine.strategies import load_data

    days = pd.bdate_range("2020-07-27", "2020-08-14")
    bars = pd.DataFrame({c: [100.0 + i for i in range(len(days))] for c in ("open", "high", "low", "close")},
                        index=days).assign(volume=1000)
    server.route(CHART + "AAPL", Reply(200, chart("AAPL", bars, dividends={"2020-08-07": 0.82})))
    doc = {"name": "dividend watch", "data": {"prices": {"kind": "ohlcv", "provider": "yahoo"},
                                              "divs": {"kind": "dividends", "frequency": "event", "provider": "yahoo"}},
           "entry": ["divs.dividend > 0"], "exit": ["close < 0"]}
    monkeypatch.setenv("YAHOO_BASE_URL", server.base_url)
    md = load_data(doc, "AAPL", "2020-07-27", "2020-08-14", no_cache=True)
    cut = load_data(doc, "AAPL", "2020-07-27", "2020-08-06", no_cache=True)
    seen = pd.Series(md.inputs[("divs", "dividend")][:, 0], index=md.index)
    assert seen[:"2020-08-06"].isna().all() and (seen["2020-08-07":] == 0.82).all()
    assert md.providers == {"prices": "yahoo", "divs": "yahoo"} and md.price_basis == {"prices": "split-adjusted"}
    assert pd.isna(cut.inputs[("divs", "dividend")][:, 0]).all()


def test_the_first_whole_day_inside_the_intraday_window_is_served(server, provider):
    # now - 60 days = 2024-01-15 13:00 New York: 2024-01-16 is the first whole day Yahoo still has
    bars = pd.DataFrame({c: [1.0] for c in ("open", "high", "low", "close")},
                        index=pd.to_datetime(["2024-01-16 09:30"]))
    server.route(CHART + "SPY", Reply(200, chart("SPY", bars.assign(volume=5), intraday=True)))
    assert len(fetch(provider, start="2024-01-16", end="2024-01-16", frequency="5Min", symbol="SPY")) == 1
    assert fail(provider, start="2024-01-15", end="2024-01-16", frequency="5Min", symbol="SPY").diagnostics[0] \
        .code == "D111"


def test_latest_bar_daily_is_the_last_session_and_first_is_the_listing_day(server, provider):
    """NOW is Friday 2024-03-15 14:00 New York: the chart's last row is today's session (live signals leave a
    daily bar of today out before 16:00 themselves); the first is AAPL's firstTradeDate (1980-12-12)."""
    bars = pd.DataFrame({"open": [1.0, 2, 3], "high": [1.0, 2, 3], "low": [1.0, 2, 3], "close": [1.0, 2, 3],
                         "volume": [1, 1, 1]}, index=pd.to_datetime(["2024-03-13", "2024-03-14", "2024-03-15"]))
    server.route(CHART + "AAPL", Reply(200, chart("AAPL", bars)))
    first, last = provider.available_range("aapl")
    assert (first, last) == (pd.Timestamp("1980-12-12", tz="UTC"), pd.Timestamp("2024-03-15", tz="UTC"))
    (seen,) = price_requests(server)   # one request, over the last 7 days up to today
    assert seen.query["interval"] == "1d"
    assert pd.Timestamp(int(seen.query["period1"]), unit="s", tz="UTC").tz_convert("America/New_York").date() == \
        pd.Timestamp("2024-03-09").date()


@pytest.mark.parametrize("frequency, interval, days", [("5Min", "5m", 60), ("1Min", "1m", 30), ("1Hour", "1h", 730)])
def test_latest_bar_intraday_is_the_last_bar_start_inside_yahoos_window(server, provider, frequency, interval, days):
    idx = pd.to_datetime(["2024-03-14 15:55", "2024-03-15 09:30", "2024-03-15 13:55"])
    bars = pd.DataFrame({"open": [1.0, 2, 3], "high": [1.0, 2, 3], "low": [1.0, 2, 3], "close": [1.0, 2, 3],
                         "volume": [10, 20, 30]}, index=idx)
    server.route(CHART + "SPY", Reply(200, chart("SPY", bars, intraday=True)))
    first, last = provider.available_range("SPY", "ohlcv", frequency)
    assert last == pd.Timestamp("2024-03-15 17:55", tz="UTC")   # 13:55 EDT, the bar's start
    # the first day Yahoo still serves at this interval: the same limit `fetch` checks before a request
    want = (NOW - pd.Timedelta(days=days)).tz_convert("America/New_York").tz_localize(None).ceil("D")
    assert first == want.tz_localize("America/New_York").tz_convert("UTC")
    (seen,) = price_requests(server, "SPY")
    assert seen.query["interval"] == interval
    assert (int(seen.query["period2"]) - int(seen.query["period1"])) / 86400 <= 7   # one 1m window


def test_latest_bar_of_an_unknown_symbol_or_an_unserved_kind(server, provider):
    server.route(CHART + "NOPE", Reply(404, server.load("chart_not_found.json")))
    with pytest.raises(RuleEngineError) as info:
        provider.available_range("NOPE")
    assert info.value.diagnostics[0].code == "D110"
    assert provider.available_range("AAPL", "dividends") is None   # events have no latest bar
    assert server.count(CHART + "AAPL") == 0
