"""The fmp provider: the real fmpsdk talking to a local stand-in for FMP's stable API
(tests/support/fmp_server.py).

Expected values are the fixture numbers (tests/fixtures/fmp/*.json) and hand-computed availability instants
(America/New_York: EST = UTC-5 until 2024-03-10, EDT = UTC-4 until 2024-11-03).
"""

from __future__ import annotations

import fmpsdk.client
import pandas as pd
import pytest
from support.fmp_server import FmpServer, Reply

from ruleengine.data.base import FetchRequest
from ruleengine.data.fmp import FmpProvider
from ruleengine.data.fmp_http import retry_after_seconds
from ruleengine.data.fmp_parse import earnings_frame
from ruleengine.errors import RuleEngineError

pytestmark = pytest.mark.network

UTC = "UTC"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


@pytest.fixture
def server():
    with FmpServer() as s:
        yield s


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv("FMP_API_KEY", raising=False)
    monkeypatch.delenv("FMP_BASE_URL", raising=False)


@pytest.fixture
def provider(server):
    return FmpProvider(api_key="test-key", base_url=server.base_url, max_retries=2, backoff=0.001, timeout=5)


def fetch(p: FmpProvider, kind: str, start: str, end: str, frequency: str = "1Day", symbol: str = "AAPL"):
    return p.fetch(FetchRequest(symbol, kind, pd.Timestamp(start), pd.Timestamp(end), frequency))


def fail(p: FmpProvider, *args, **kwargs) -> RuleEngineError:
    with pytest.raises(RuleEngineError) as info:
        fetch(p, *args, **kwargs)
    return info.value


# -- success, per kind ---------------------------------------------------------------------------------------

def test_daily_prices_exact_values_and_request(server, provider):
    server.route("historical-price-eod/full", "eod_aapl.json", query={"symbol": "AAPL"})
    df = fetch(provider, "ohlcv", "2024-01-03", "2024-01-05")
    assert list(df.index) == [ts("2024-01-03"), ts("2024-01-04"), ts("2024-01-05")]  # 01-02 is out of range
    assert df.index.name == "time"
    assert df.loc[ts("2024-01-04")].to_dict() == {"open": 182.15, "high": 183.09, "low": 180.88, "close": 181.91,
                                                  "volume": 71983600.0}
    assert df.dtypes.unique().tolist() == ["float64"]
    assert df.attrs["frequency"] == "1Day" and df.attrs["provider"] == "fmp" and df.attrs["synthetic"] is False
    (seen,) = server.seen("historical-price-eod/full")
    assert seen.query == {"symbol": "AAPL", "from": "2024-01-03", "to": "2024-01-05"}
    assert seen.apikey == "test-key"  # fmpsdk sends the key as a header, never in the URL
    assert fmpsdk.client.BASE_URL == "https://financialmodelingprep.com/stable/"  # never rebound


def test_intraday_prices_exchange_time_to_utc_across_dst(server, provider):
    server.route("historical-chart/5min", "chart_5min_spy.json", query={"symbol": "SPY"})
    df = fetch(provider, "ohlcv", "2024-03-08", "2024-03-11", "5Min", symbol="SPY")
    # 15:55 EST = 20:55 UTC; 09:30 EDT = 13:30 UTC (DST began 2024-03-10)
    assert list(df.index) == [ts("2024-03-08 20:55"), ts("2024-03-11 13:30"), ts("2024-03-11 13:35")]
    assert df["close"].tolist() == [511.9, 510.0, 510.2]
    assert df["volume"].tolist() == [3000.0, 2500.0, 1000.0]
    assert df.attrs["frequency"] == "5Min"
    (seen,) = server.seen("historical-chart/5min")
    assert (seen.query["from"], seen.query["to"]) == ("2024-03-08", "2024-03-11")


def test_intraday_ranges_are_split_into_windows(server, provider):
    server.route("historical-chart/1min", Reply(200, []))
    err = fail(provider, "ohlcv", "2024-03-01", "2024-03-12", "1Min")
    assert [d.code for d in err.diagnostics] == ["D111"]
    spans = [(s.query["from"], s.query["to"]) for s in server.seen("historical-chart/1min")]
    assert spans == [("2024-03-01", "2024-03-05"), ("2024-03-06", "2024-03-10"), ("2024-03-11", "2024-03-12")]


def test_earnings_mapping_and_availability(server, provider):
    server.route("earnings", "earnings_aapl.json", query={"symbol": "AAPL"})
    df = fetch(provider, "earnings", "2024-03-01", "2024-12-31", "quarterly")
    # 2024-02-01 ('--' = unknown time -> 16:30 EST) is the carry-in row; 2023-11-02 and 2025-01-30 are out.
    assert list(df.index) == [ts("2024-02-01 21:30"), ts("2024-05-02 12:00"), ts("2024-08-01 20:30"),
                              ts("2024-10-31 20:30")]
    assert df.index.name == "available_at"
    assert df["eps"].tolist() == [2.18, 1.53, 1.40, 1.64]
    assert df["reported_eps"].tolist() == df["eps"].tolist()
    assert df["estimated_eps"].tolist() == [2.10, 1.50, 1.35, 1.60]
    assert df["surprise"].tolist() == pytest.approx([0.08, 0.03, 0.05, 0.04])
    assert df["surprise_percentage"].tolist() == pytest.approx([0.08 / 2.10 * 100, 2.0, 0.05 / 1.35 * 100, 2.5])
    assert df["announce_time"].tolist() == [None, "BMO", "AMC", "AMC"]
    (seen,) = server.seen("earnings")
    assert seen.query["includeReportTimes"] == "True"


def test_surprise_percentage_uses_the_estimate_magnitude():
    df = earnings_frame([{"date": "2024-01-10", "epsActual": -0.05, "epsEstimated": -0.10, "time": "bmo"},
                         {"date": "2024-01-11", "epsActual": 0.10, "epsEstimated": 0},
                         {"date": "2024-01-12", "epsActual": None, "epsEstimated": 0.5}])
    assert df["surprise"].tolist()[:2] == pytest.approx([0.05, 0.10])
    assert df["surprise_percentage"].iloc[0] == pytest.approx(50.0)  # beat a negative estimate: positive
    assert df["surprise_percentage"].iloc[1:].isna().all()  # estimate 0 / actual missing -> NaN


def test_income_statement_available_at_edgar_acceptance(server, provider):
    server.route("income-statement", "income_aapl.json", query={"symbol": "AAPL", "period": "quarter"})
    df = fetch(provider, "income_statement", "2024-06-01", "2024-12-31", "quarterly")
    # accepted 06:05:52 / 06:01:36 EDT; the Q2 row has no acceptedDate -> 16:30 EDT on its filing date (carry-in)
    assert list(df.index) == [ts("2024-05-03 20:30"), ts("2024-08-02 10:05:52"), ts("2024-11-01 10:01:36")]
    last = df.iloc[-1]
    assert [last[c] for c in ("revenue", "gross_profit", "operating_income", "net_income", "eps", "eps_diluted")] \
        == [94930000000.0, 43879000000.0, 29591000000.0, 14736000000.0, 0.97, 0.97]
    assert last["period_end"] == pd.Timestamp("2024-09-28") and last["fiscal_period"] == "Q4"


def test_balance_sheet_mapping(server, provider):
    server.route("balance-sheet-statement", "balance_aapl.json", query={"symbol": "AAPL"})
    df = fetch(provider, "balance_sheet", "2024-09-01", "2024-12-31", "quarterly")
    assert list(df.index) == [ts("2024-08-02 10:05:52"), ts("2024-11-01 10:01:36")]
    assert df.iloc[1][["total_assets", "total_liabilities", "total_equity", "cash_and_equivalents", "total_debt",
                       "book_value"]].tolist() == [364980000000.0, 308030000000.0, 56950000000.0, 29943000000.0,
                                                   106629000000.0, 56950000000.0]


def test_key_metrics_join_ratios_and_statement_filing_dates(server, provider):
    server.route("key-metrics", "key_metrics_aapl.json")
    server.route("ratios", "ratios_aapl.json")
    server.route("income-statement", "income_aapl.json")
    df = fetch(provider, "key_metrics", "2024-06-01", "2024-12-31", "quarterly")
    # 2023-12-30 has no statement in the payload: period end + 90 days = 2024-03-29, 16:30 EDT (carry-in row)
    assert list(df.index) == [ts("2024-03-29 20:30"), ts("2024-08-02 10:05:52"), ts("2024-11-01 10:01:36")]
    assert df.iloc[2][["pe_ratio", "pb_ratio", "market_cap", "dividend_yield", "debt_to_equity", "roe"]].tolist() \
        == [37.29, 61.37, 3495160329570.0, 0.0043, 1.87, 0.2574]
    assert df["pe_ratio"].tolist() == [29.51, 33.75, 37.29]
    assert server.count() == 3


def test_key_metrics_without_ratios(server, provider):
    server.route("key-metrics", "key_metrics_aapl.json")
    server.route("ratios", Reply(200, []))
    server.route("income-statement", "income_aapl.json")
    df = fetch(provider, "key_metrics", "2024-10-01", "2024-12-31", "quarterly")
    assert df["market_cap"].tolist() == [3205122000000.0, 3495160329570.0]
    assert df["pe_ratio"].isna().all()


def test_providers_with_different_bases_coexist_across_threads():
    from concurrent.futures import ThreadPoolExecutor

    with FmpServer() as a, FmpServer() as b:
        a.route("historical-price-eod/full", "eod_aapl.json")
        b.route("historical-price-eod/full", Reply(200, []))
        pa = FmpProvider(api_key="a", base_url=a.base_url, backoff=0.001)
        pb = FmpProvider(api_key="b", base_url=b.base_url, backoff=0.001)

        def run(p):
            try:
                return len(fetch(p, "ohlcv", "2024-01-03", "2024-01-05"))
            except RuleEngineError as exc:
                return exc.diagnostics[0].code

        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(run, [pa, pb] * 4))
        assert results == [3, "D111"] * 4
        assert a.count() == 4 and b.count() == 4
        assert {s.apikey for s in a.requests} == {"a"} and {s.apikey for s in b.requests} == {"b"}


def test_insider_trades_filing_date_or_lag(server, provider):
    server.route("insider-trading/search", "insider_aapl.json", query={"symbol": "AAPL"})
    df = fetch(provider, "insider_trades", "2024-03-01", "2024-12-31", "event")
    # M: no filing date -> 2 sessions after Wed 03-27 (Good Friday 03-29 closed) = Mon 04-01, 16:30 EDT.
    assert list(df.index) == [ts("2024-04-01 20:30"), ts("2024-04-02 20:30"), ts("2024-04-03 20:30")]
    assert df["transaction_code"].tolist() == ["M", "P", "S"]
    assert df["shares"].tolist() == [5000.0, 1000.0, 4000.0]
    assert df["price"].tolist() == [0.0, 171.0, 170.5]
    assert df["acquired_disposed"].tolist() == ["A", "A", "D"]
    assert server.seen("insider-trading/search")[0].query == {"symbol": "AAPL", "page": "0", "limit": "100"}


def test_insider_trades_paginate(server, provider):
    page0 = [{"symbol": "AAPL", "filingDate": "2024-06-03", "transactionDate": "2024-05-30",
              "transactionType": "S-Sale", "securitiesTransacted": 10 + i, "price": 190.0} for i in range(100)]
    server.route("insider-trading/search", Reply(200, page0), query={"page": "0"})
    server.route("insider-trading/search", "insider_aapl.json", query={"page": "1"})
    df = fetch(provider, "insider_trades", "2024-03-01", "2024-12-31", "event")
    assert len(df) == 103 and server.count() == 2


def test_insider_trades_none_is_an_empty_frame(server, provider):
    server.route("insider-trading/search", Reply(200, []))
    df = fetch(provider, "insider_trades", "2024-03-01", "2024-12-31", "event")
    assert df.empty and "transaction_code" in df.columns and str(df.index.tz) == "UTC"


# -- errors ---------------------------------------------------------------------------------------------------

def test_empty_list_is_no_data(server, provider):
    server.route("historical-price-eod/full", Reply(200, []))
    server.route("earnings", Reply(200, []))
    err = fail(provider, "ohlcv", "2024-01-03", "2024-01-05", symbol="NOPE")
    assert [d.code for d in err.diagnostics] == ["D111"] and "NOPE" in str(err)
    assert err.error_type == "data_fetch_error"
    assert [d.code for d in fail(provider, "earnings", "2024-01-01", "2024-12-31").diagnostics] == ["D111"]


def test_prices_outside_the_range_are_no_data(server, provider):
    server.route("historical-price-eod/full", "eod_aapl.json")
    assert [d.code for d in fail(provider, "ohlcv", "2023-01-01", "2023-06-30").diagnostics] == ["D111"]


def test_404_is_symbol_not_found_without_retry(server, provider):
    server.route("historical-price-eod/full", Reply(404, {"Error Message": "Symbol not found"}))
    err = fail(provider, "ohlcv", "2024-01-03", "2024-01-05", symbol="XXXX")
    assert [d.code for d in err.diagnostics] == ["D110"] and err.error_type == "invalid_symbol_error"
    assert "XXXX" in err.diagnostics[0].message and server.count() == 1


@pytest.mark.parametrize("status, text", [
    (401, "Invalid API KEY. Feel free to create a Free API Key or visit our FAQ."),
    (402, "Restricted Endpoint: This endpoint is not available under your current subscription."),
    (403, "Forbidden"),
])
def test_credentials_and_plan_errors(server, provider, status, text):
    server.route("earnings", Reply(status, {"Error Message": text}))
    err = fail(provider, "earnings", "2024-01-01", "2024-12-31", "quarterly")
    assert [d.code for d in err.diagnostics] == ["D113"]
    assert text in err.diagnostics[0].message
    assert server.count() == 1  # never retried


def test_429_then_success_honours_retry_after(server):
    p = FmpProvider(api_key="k", base_url=server.base_url, max_retries=3, backoff=0.001)
    server.route("historical-price-eod/full",
                 Reply(429, {"Error Message": "Limit Reach"}, {"Retry-After": "0.1"}), "eod_aapl.json")
    df = fetch(p, "ohlcv", "2024-01-03", "2024-01-05")
    assert df["close"].tolist() == [184.25, 181.91, 181.18]
    first, second = server.seen("historical-price-eod/full")
    assert 0.1 <= second.time - first.time < 0.9  # Retry-After, not the tiny backoff nor fmpsdk's 1-2 s


def test_5xx_without_retry_after_backs_off_then_succeeds(server, provider):
    server.route("historical-price-eod/full", Reply(503, "busy"), Reply(502, "bad gateway"), "eod_aapl.json")
    assert len(fetch(provider, "ohlcv", "2024-01-03", "2024-01-05")) == 3
    assert server.count() == 3


def test_500s_exhaust_retries(server, provider):
    server.route("earnings", Reply(500, "Internal Server Error"))
    err = fail(provider, "earnings", "2024-01-01", "2024-12-31", "quarterly")
    assert [d.code for d in err.diagnostics] == ["D112"]
    assert "HTTP 500" in str(err) and "3 attempt(s)" in err.diagnostics[0].message
    assert server.count() == 3  # 1 + max_retries, and no extra retries by fmpsdk


def test_429s_exhaust_retries(server, provider):
    server.route("earnings", Reply(429, {"Error Message": "Limit Reach"}, {"Retry-After": "0.01"}))
    err = fail(provider, "earnings", "2024-01-01", "2024-12-31", "quarterly")
    d = err.diagnostics[0]
    assert d.code == "D112" and "HTTP 429" in d.message and "wait 0.01 s" in d.message
    assert server.count() == 3


def test_long_retry_after_fails_at_once(server, provider):
    server.route("earnings", Reply(429, {"Error Message": "Limit Reach"}, {"Retry-After": "3600"}))
    err = fail(provider, "earnings", "2024-01-01", "2024-12-31", "quarterly")
    assert [d.code for d in err.diagnostics] == ["D112"] and "3600" in err.diagnostics[0].message
    assert server.count() == 1


@pytest.mark.parametrize("message, code", [
    ("Invalid API KEY. Feel free to create a Free API Key or visit our FAQ.", "D113"),
    ("Limit Reach . Please upgrade your plan or visit our documentation for more details.", "D113"),
    ("Exclusive Endpoint : This endpoint is not available under your current subscription.", "D113"),
    ("Something went wrong while processing the request.", "D112"),
])
def test_error_message_with_status_200(server, provider, message, code):
    server.route("income-statement", Reply(200, {"Error Message": message}))
    err = fail(provider, "income_statement", "2024-01-01", "2024-12-31", "quarterly")
    assert [d.code for d in err.diagnostics] == [code] and message in err.diagnostics[0].message


def test_malformed_json(server, provider):
    server.route("historical-price-eod/full", Reply(200, "<html>gateway timeout</html>"))
    err = fail(provider, "ohlcv", "2024-01-03", "2024-01-05")
    assert [d.code for d in err.diagnostics] == ["D114"] and "not JSON" in str(err)


@pytest.mark.parametrize("body, words", [
    ({"historical": []}, "expected a JSON list"),
    ([1, 2], "record 0 is int"),
    ([{"date": "2024-01-03", "open": 1.0}], "'high'"),
    ([{"date": "yesterday", "open": 1, "high": 1, "low": 1, "close": 1, "volume": 1}], "invalid date"),
    ([{"date": "2024-01-03", "open": "n/a", "high": 1, "low": 1, "close": 1, "volume": 1}], "non-numeric"),
])
def test_wrong_shape(server, provider, body, words):
    server.route("historical-price-eod/full", Reply(200, body))
    err = fail(provider, "ohlcv", "2024-01-03", "2024-01-05")
    assert [d.code for d in err.diagnostics] == ["D114"] and words in err.diagnostics[0].message


def test_missing_key(server):
    p = FmpProvider(base_url=server.base_url)
    err = fail(p, "ohlcv", "2024-01-03", "2024-01-05")
    d = err.diagnostics[0]
    assert d.code == "D113" and "FMP_API_KEY" in d.hint and "sample" in d.hint
    assert server.count() == 0


def test_environment_configuration(server, monkeypatch):
    monkeypatch.setenv("FMP_API_KEY", "env-key")
    monkeypatch.setenv("FMP_BASE_URL", server.base_url + "/")
    p = FmpProvider(backoff=0.001)
    assert p.cache_key() == f"fmp:{server.base_url}"
    server.route("historical-price-eod/full", "eod_aapl.json")
    fetch(p, "ohlcv", "2024-01-03", "2024-01-05")
    assert server.seen("historical-price-eod/full")[0].apikey == "env-key"


def test_default_base_url_and_cache_key():
    p = FmpProvider(api_key="x")
    assert p.cache_key() == "fmp:https://financialmodelingprep.com/stable"
    assert p.cache_key() != FmpProvider(api_key="x", base_url="http://127.0.0.1:1/stable").cache_key()


def test_unreachable_server():
    with FmpServer() as s:
        url = s.base_url
    p = FmpProvider(api_key="k", base_url=url, max_retries=1, backoff=0.001, timeout=2)
    err = fail(p, "ohlcv", "2024-01-03", "2024-01-05")
    assert [d.code for d in err.diagnostics] == ["D112"] and "could not reach" in str(err)


def test_unsupported_kind_or_frequency(server, provider):
    assert [d.code for d in fail(provider, "dividends", "2024-01-01", "2024-02-01").diagnostics] == ["D109"]
    assert [d.code for d in fail(provider, "ohlcv", "2024-01-01", "2024-02-01", "1Week").diagnostics] == ["D109"]
    assert server.count() == 0
    assert provider.serves("ohlcv", "15Min") and provider.serves("earnings")


def test_retry_after_parsing():
    assert retry_after_seconds("0.1") == 0.1
    assert retry_after_seconds(" 2 ") == 2.0
    assert retry_after_seconds("-3") == 0.0
    assert retry_after_seconds("soon") is None and retry_after_seconds(None) is None
    now = pd.Timestamp("2024-01-01 00:00:00", tz=UTC).timestamp()
    assert retry_after_seconds("Mon, 01 Jan 2024 00:00:30 GMT", now=now) == 30.0
