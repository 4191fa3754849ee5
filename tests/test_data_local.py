"""The local provider: layouts, column mapping, time zones, errors; the real files of ../shared/data."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from support.paths import require_shared

from ruleengine.data.base import FetchRequest
from ruleengine.data.local import LocalProvider
from ruleengine.errors import RuleEngineError


def req(symbol: str, kind: str = "ohlcv", start: str = "2020-01-01", end: str = "2020-12-31",
        frequency: str = "1Day") -> FetchRequest:
    return FetchRequest(symbol, kind, pd.Timestamp(start), pd.Timestamp(end), frequency)


def codes(exc: pytest.ExceptionInfo[RuleEngineError]) -> list[str]:
    return [d.code for d in exc.value.diagnostics]


def bars(n: int = 5, start: str = "2020-01-02", base: float = 100.0) -> pd.DataFrame:
    dates = pd.bdate_range(start, periods=n)
    close = base + np.arange(n, dtype=float)
    return pd.DataFrame({"date": dates, "open": close - 0.5, "high": close + 1, "low": close - 1,
                         "close": close, "volume": np.arange(1, n + 1) * 1000})


# ---------------------------------------------------------------------------------------------- layouts
def test_per_symbol_csv_folder_with_capitalised_headers(tmp_path):
    df = bars()
    df.columns = ["Date", "Open", "High", "Low", "Close", "Volume"]
    df.to_csv(tmp_path / "SPY.csv", index=False)
    bars(base=50).to_csv(tmp_path / "QQQ.csv", index=False)
    p = LocalProvider(tmp_path)
    out = p.fetch(req("SPY", start="2020-01-03", end="2020-01-07"))
    assert list(out.columns) == ["open", "high", "low", "close", "volume"]
    assert out.index.tz is not None and str(out.index.tz) == "UTC" and out.index.name == "time"
    assert [str(t) for t in out.index] == ["2020-01-03 00:00:00+00:00", "2020-01-06 00:00:00+00:00",
                                           "2020-01-07 00:00:00+00:00"]
    assert out["close"].tolist() == [101.0, 102.0, 103.0]
    assert out["volume"].tolist() == [2000.0, 3000.0, 4000.0]
    assert out.dtypes.unique().tolist() == [np.dtype("float64")]
    assert out.attrs["provider"] == "local" and out.attrs["frequency"] == "1Day"
    assert out.attrs["synthetic"] is False
    assert p.symbols() == ["QQQ", "SPY"]
    assert p.fetch(req("spy"))["close"].iloc[0] == 100.0  # symbols match case-insensitively
    assert p.kinds["ohlcv"].frequencies == ("1Day", "1Week", "1Month")


def test_long_parquet_named_after_the_kind_and_fetch_many(tmp_path):
    a, b = bars(base=10), bars(base=20)
    a["symbol"], b["symbol"] = "AAA", "BBB"
    pd.concat([b, a]).to_parquet(tmp_path / "ohlcv.parquet")  # unsorted on purpose
    p = LocalProvider(tmp_path)
    many = p.fetch_many(["BBB", "AAA"], "ohlcv", "2020-01-01", "2020-01-03")
    assert list(many) == ["BBB", "AAA"]
    assert many["AAA"]["close"].tolist() == [10.0, 11.0]
    assert many["BBB"]["close"].tolist() == [20.0, 21.0]
    with pytest.raises(RuleEngineError) as exc:
        p.fetch_many(["AAA", "NOPE", "ZZZ"], "ohlcv", "2020-01-01", "2020-01-03")
    assert codes(exc) == ["D110", "D110"]
    assert list(p.fetch_many(["AAA", "NOPE"], "ohlcv", "2020-01-01", "2020-01-03", skip_missing=True)) == ["AAA"]


def test_single_long_csv_file_with_ticker_column_and_mapped_columns(tmp_path):
    df = bars()
    df = df.rename(columns={"date": "Timestamp", "close": "Adj Close"})
    df["ticker"] = "XYZ"
    df.to_csv(tmp_path / "prices.csv", index=False)
    p = LocalProvider(tmp_path / "prices.csv", time_column="timestamp", columns={"close": "Adj Close"})
    out = p.fetch(req("XYZ", start="2020-01-02", end="2020-01-02"))
    assert out["close"].tolist() == [100.0] and out["open"].tolist() == [99.5]


def test_single_file_without_symbol_column_serves_its_stem(tmp_path):
    bars().to_parquet(tmp_path / "gld.parquet")
    p = LocalProvider(tmp_path / "gld.parquet")
    assert p.fetch(req("GLD"))["close"].iloc[-1] == 104.0
    with pytest.raises(RuleEngineError) as exc:
        p.fetch(req("SLV"))
    assert codes(exc) == ["D110"]


def test_duplicate_bars_with_different_values_are_refused(tmp_path):
    # Issue 13 item 8: which of two bars at one time is right cannot be known (the last one used to win).
    df = pd.concat([bars(2), bars(1, base=500)])
    df.to_csv(tmp_path / "DUP.csv", index=False)
    with pytest.raises(RuleEngineError) as exc:
        LocalProvider(tmp_path).fetch(req("DUP"))
    assert codes(exc) == ["D151"] and "lines 2 (2020-01-02), 4 (2020-01-02)" in str(exc.value)


def test_folder_with_long_files_ignores_other_top_level_files(tmp_path):
    a = bars()
    a["symbol"] = "AAA"
    a.to_parquet(tmp_path / "ohlcv.parquet")
    pd.DataFrame({"symbol": ["AAA"], "list": ["x"]}).to_parquet(tmp_path / "constituents.parquet")
    p = LocalProvider(tmp_path)
    assert p.symbols() == ["AAA"]


# ---------------------------------------------------------------------------------------------- intraday, tz
def test_intraday_naive_times_are_exchange_local_and_frequency_inferred(tmp_path):
    times = pd.date_range("2020-07-01 09:30", periods=6, freq="5min")  # EDT: UTC-4
    df = pd.DataFrame({"datetime": times, "open": 1.0, "high": 2.0, "low": 0.5, "close": 1.5, "volume": 10})
    df.to_csv(tmp_path / "SPY.csv", index=False)
    p = LocalProvider(tmp_path)
    assert p.kinds["ohlcv"].frequencies[0] == "5Min"
    out = p.fetch(req("SPY", start="2020-07-01", end="2020-07-01", frequency="15Min"))
    assert out.attrs["frequency"] == "5Min"  # delivered native; the binder resamples
    assert str(out.index[0]) == "2020-07-01 13:30:00+00:00" and len(out) == 6
    with pytest.raises(RuleEngineError) as exc:
        p.fetch(req("SPY", start="2020-07-01", end="2020-07-01", frequency="1Min"))
    assert codes(exc) == ["D118"]  # issue 13: the promised D118, naming the stored frequency


def test_intraday_tz_option(tmp_path):
    times = pd.date_range("2020-01-02 08:30", periods=3, freq="1min")  # Chicago: UTC-6 in January
    pd.DataFrame({"datetime": times, "close": [1.0, 2.0, 3.0]}).to_csv(tmp_path / "ES.csv", index=False)
    out = LocalProvider(tmp_path, tz="America/Chicago").fetch(req("ES", start="2020-01-02", end="2020-01-02",
                                                                  frequency="1Min"))
    assert str(out.index[0]) == "2020-01-02 14:30:00+00:00"
    assert np.isnan(out["open"]).all() and out["close"].tolist() == [1.0, 2.0, 3.0]


def test_tz_aware_times_are_converted(tmp_path):
    times = pd.date_range("2020-01-02 09:30", periods=2, freq="1min", tz="America/New_York")
    pd.DataFrame({"datetime": times, "close": [1.0, 2.0]}).to_parquet(tmp_path / "X.parquet")
    out = LocalProvider(tmp_path).fetch(req("X", start="2020-01-02", end="2020-01-02", frequency="1Min"))
    assert str(out.index[1]) == "2020-01-02 14:31:00+00:00"


# ---------------------------------------------------------------------------------------------- event kinds
def test_event_subfolder_dates_become_available_after_the_close(tmp_path):
    (tmp_path / "earnings").mkdir()
    pd.DataFrame({"date": ["2020-01-28", "2020-04-30"], "EPS": [1.5, 2.0],
                  "estimated_eps": [1.4, 2.2]}).to_csv(tmp_path / "earnings" / "AAPL.csv", index=False)
    bars().to_csv(tmp_path / "AAPL.csv", index=False)
    p = LocalProvider(tmp_path, columns={"earnings": {"eps": "EPS"}})
    assert set(p.kinds) == {"ohlcv", "earnings"}
    out = p.fetch(req("AAPL", kind="earnings"))
    assert out.index.name == "available_at"
    assert [str(t) for t in out.index] == ["2020-01-28 21:30:00+00:00", "2020-04-30 20:30:00+00:00"]
    assert out["eps"].tolist() == [1.5, 2.0] and np.isnan(out["surprise"]).all()
    # The value in force at the start is carried into the range.
    carried = p.fetch(req("AAPL", kind="earnings", start="2020-02-01", end="2020-03-01"))
    assert carried["eps"].tolist() == [1.5]


def test_insider_file_needs_its_raw_columns(tmp_path):
    (tmp_path / "insider_trades").mkdir()
    pd.DataFrame({"date": ["2020-01-02"], "shares": [5.0]}).to_csv(tmp_path / "insider_trades" / "A.csv")
    p = LocalProvider(tmp_path)
    with pytest.raises(RuleEngineError) as exc:
        p.fetch(req("A", kind="insider_trades"))
    assert codes(exc) == ["D114"] and "transaction_code" in exc.value.diagnostics[0].message


# ---------------------------------------------------------------------------------------------- errors
def test_unknown_symbol_did_you_mean_and_empty_range(tmp_path):
    bars().to_csv(tmp_path / "SPY.csv", index=False)
    p = LocalProvider(tmp_path)
    with pytest.raises(RuleEngineError) as exc:
        p.fetch(req("SPYY"))
    assert codes(exc) == ["D110"] and "'SPY'" in exc.value.diagnostics[0].hint
    assert exc.value.error_type == "invalid_symbol_error"
    with pytest.raises(RuleEngineError) as exc:
        p.fetch(req("SPY", start="2021-01-01", end="2021-02-01"))
    assert codes(exc) == ["D111"] and exc.value.error_type == "data_fetch_error"
    assert exc.value.diagnostics[0].hint == "SPY has data for 2020-01-02 .. 2020-01-08"


def test_missing_kind_malformed_file_and_missing_path(tmp_path):
    bars().to_csv(tmp_path / "SPY.csv", index=False)
    with pytest.raises(RuleEngineError) as exc:
        LocalProvider(tmp_path).fetch(req("SPY", kind="earnings"))
    assert codes(exc) == ["D109"] and "ohlcv" in exc.value.diagnostics[0].hint
    (tmp_path / "BAD.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(RuleEngineError) as exc:
        LocalProvider(tmp_path).fetch(req("BAD"))
    assert codes(exc) == ["D114"] and "BAD.parquet" in exc.value.diagnostics[0].message
    with pytest.raises(RuleEngineError) as exc:
        LocalProvider(tmp_path / "nope")
    assert codes(exc) == ["R101"]


def test_file_without_time_or_close_column(tmp_path):
    pd.DataFrame({"when": ["2020-01-02"], "close": [1.0]}).to_csv(tmp_path / "A.csv", index=False)
    with pytest.raises(RuleEngineError) as exc:
        LocalProvider(tmp_path).fetch(req("A"))
    assert codes(exc) == ["D114"] and "time column" in exc.value.diagnostics[0].message
    pd.DataFrame({"date": ["2020-01-02"], "price": [1.0]}).to_csv(tmp_path / "A.csv", index=False)
    with pytest.raises(RuleEngineError) as exc:
        LocalProvider(tmp_path).fetch(req("A"))
    assert codes(exc) == ["D114"] and "close" in exc.value.diagnostics[0].message


def test_empty_folder_and_bad_options(tmp_path):
    with pytest.raises(RuleEngineError) as exc:
        LocalProvider(tmp_path)
    assert codes(exc) == ["D114"]
    with pytest.raises(RuleEngineError) as exc:
        LocalProvider(tmp_path, layout="wide")
    assert codes(exc) == ["S104"]


# ---------------------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def shared():
    return LocalProvider(require_shared("daily.parquet").parent)


@pytest.mark.realdata
def test_real_daily_spy_values_and_price_basis(shared, ohlcv_of):
    out = shared.fetch(req("SPY", start="2017-01-03", end="2017-01-06"))
    expected = ohlcv_of("SPY").loc["2017-01-03":"2017-01-06"]
    assert out["close"].tolist() == expected["close"].tolist()
    assert out.loc["2017-01-03", "close"].item() == 196.684
    assert out.loc["2017-01-03", "volume"].item() == 104321900.0
    assert out.attrs["source"] == "stooq_etf_adjusted" and "dividend" in out.attrs["price_basis"]


@pytest.mark.realdata
def test_real_intraday_half_day(shared):
    out = shared.fetch(req("SPY", start="2019-12-24", end="2019-12-24", frequency="1Min"))
    assert str(out.index[0]) == "2019-12-24 14:30:00+00:00"   # 09:30 New York
    assert out.index[-1] <= pd.Timestamp("2019-12-24 18:00", tz="UTC")  # 13:00 close on the half day
    assert out.attrs["frequency"] == "1Min"


@pytest.mark.realdata
def test_real_earnings_amc_and_bmo_availability(shared):
    aapl = shared.fetch(req("AAPL", kind="earnings", start="2014-01-27", end="2014-01-27"))
    # The previous quarter's record (in force at the start) comes first; AMC: 16:30 EST, next session.
    assert [str(t) for t in aapl.index] == ["2013-10-28 20:30:00+00:00", "2014-01-27 21:30:00+00:00"]
    row = aapl.iloc[-1]
    assert (row["eps"], row["reported_eps"], row["estimated_eps"]) == (14.5, 14.5, 14.04)
    assert row["surprise"] == pytest.approx(0.46) and row["surprise_percentage"] == pytest.approx(46 / 14.04)
    jpm = shared.fetch(req("JPM", kind="earnings", start="2014-01-14", end="2014-01-14"))
    assert str(jpm.index[-1]) == "2014-01-14 13:00:00+00:00"   # BMO: 08:00 EST, same day
    assert jpm["surprise_percentage"].iloc[-1] == pytest.approx(100 * 0.09 / 1.31)


@pytest.mark.realdata
def test_real_sec_filing_availability_and_tags(shared):
    inc = shared.fetch(req("AAPL", kind="income_statement", start="2009-07-01", end="2009-07-31"))
    assert [str(t) for t in inc.index] == ["2009-07-22 20:42:00+00:00"]  # EDGAR acceptance 16:42 EDT
    assert inc["revenue"].iloc[0] == 8.337e9 and inc["eps_diluted"].iloc[0] == 1.35
    assert inc["period_end"].iloc[0] == pd.Timestamp("2009-06-30")
    bal = shared.fetch(req("AAPL", kind="balance_sheet", start="2009-07-01", end="2009-07-31"))
    assert bal["total_assets"].iloc[0] == 4.814e10 and bal["book_value"].iloc[0] == bal["total_equity"].iloc[0]


@pytest.mark.realdata
def test_real_insider_lag_and_fundamentals_lag(shared):
    ins = shared.fetch(req("AAPL", kind="insider_trades", start="2022-04-19", end="2022-04-19"))
    # Traded Fri 2022-04-15 (Good Friday, no session): +2 sessions = Tue 04-19, 16:30 EDT.
    assert set(ins["transaction_date"]) == {pd.Timestamp("2022-04-15")}
    assert {str(t) for t in ins.index} == {"2022-04-19 20:30:00+00:00"}
    fun = shared.fetch(req("AAL", kind="fundamentals", start="2013-01-01", end="2013-12-31"))
    assert str(fun.index[0]) == "2013-03-31 20:30:00+00:00"  # period end 2012-12-31 + 90 days, 16:30 EDT
    assert fun["revenue"].iloc[0] == 2.4855e10


@pytest.mark.realdata
def test_real_universe_of_500_symbols_loads_fast(shared):
    symbols = shared.symbols()[:500]
    t0 = time.perf_counter()
    frames = shared.fetch_many(symbols, "ohlcv", "2013-01-01", "2017-12-31", skip_missing=True)
    elapsed = time.perf_counter() - t0
    assert len(frames) > 300 and elapsed < 3.0
