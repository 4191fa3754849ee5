"""The sample provider: deterministic, range-independent, realistic and labelled synthetic."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ruleengine.data.base import FetchRequest
from ruleengine.data.calendar import add_business_days, sessions_between
from ruleengine.data.sample import EPOCH, SampleProvider
from ruleengine.errors import RuleEngineError


def req(symbol: str, kind: str = "ohlcv", start: str = "2018-01-01", end: str = "2019-12-31",
        frequency: str = "1Day") -> FetchRequest:
    return FetchRequest(symbol, kind, pd.Timestamp(start), pd.Timestamp(end), frequency)


@pytest.fixture(scope="module")
def sample() -> SampleProvider:
    return SampleProvider()


def test_same_symbol_same_frames_across_instances_and_ranges(sample):
    a = sample.fetch(req("SPY"))
    b = SampleProvider().fetch(req("SPY"))
    pd.testing.assert_frame_equal(a, b)
    wide = SampleProvider().fetch(req("SPY", start="2010-01-01", end="2024-12-31"))
    pd.testing.assert_frame_equal(wide.loc[a.index], a, check_freq=False)
    late = SampleProvider().fetch(req("SPY", start="2019-06-03", end="2019-06-07"))
    pd.testing.assert_frame_equal(late, a.loc["2019-06-03":"2019-06-07"], check_freq=False)
    assert SampleProvider().fetch(req("spy"))["close"].equals(a["close"])  # case-insensitive


def test_values_do_not_depend_on_python_hash_seed(sample):
    code = ("import pandas as pd; from ruleengine.data.sample import SampleProvider; "
            "from ruleengine.data.base import FetchRequest; "
            "print(float(SampleProvider().fetch(FetchRequest('SPY', 'ohlcv', pd.Timestamp('2019-01-02'), "
            "pd.Timestamp('2019-01-02')))['close'].iloc[0]))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert float(out.stdout.strip()) == sample.fetch(req("SPY", start="2019-01-02", end="2019-01-02"))[
        "close"].iloc[0]


def test_different_symbols_differ(sample):
    a, b = sample.fetch(req("SPY")), sample.fetch(req("QQQ"))
    assert not np.allclose(a["close"].to_numpy(), b["close"].to_numpy())


def test_sessions_and_ohlc_consistency_over_the_whole_history(sample):
    df = sample.fetch(req("ABC", start="1990-01-01", end="2024-12-31"))
    sessions = sessions_between(EPOCH, "2024-12-31")
    assert df.index.tz_localize(None).equals(pd.DatetimeIndex(sessions)) and df.index[0].date() == EPOCH.date()
    assert (df["low"] <= df[["open", "close"]].min(axis=1)).all()
    assert (df["high"] >= df[["open", "close"]].max(axis=1)).all()
    assert (df["low"] > 0).all() and (df["volume"] >= 100).all()
    assert np.array_equal(df["close"].to_numpy(), np.round(df["close"].to_numpy(), 2))  # cents


def test_realism_regimes_fat_tails_and_volume_follows_moves(sample):
    df = sample.fetch(req("REGIME", start="1995-01-01", end="2024-12-31"))
    r = np.log(df["close"]).diff().dropna()
    vol = r.rolling(60).std().dropna()
    assert vol.quantile(0.95) / vol.quantile(0.05) > 1.8          # calm and stressed periods
    assert ((r - r.mean()) ** 4).mean() / r.var() ** 2 > 4.0      # fatter tails than a normal (3)
    corr = pd.Series(df["volume"].iloc[1:].to_numpy()).corr(pd.Series(r.abs().to_numpy()), method="spearman")
    assert corr > 0.3


def test_minute_bars_aggregate_exactly_to_the_daily_bars(sample):
    day = sample.fetch(req("SPY", start="2019-12-23", end="2019-12-24"))
    mins = sample.fetch(req("SPY", start="2019-12-23", end="2019-12-24", frequency="1Min"))
    assert mins.attrs["frequency"] == "1Min"
    local = mins.index.tz_convert("America/New_York")
    assert str(mins.index[0]) == "2019-12-23 14:30:00+00:00"   # 09:30 New York
    counts = pd.Series(local.date).value_counts().sort_index()
    assert counts.tolist() == [390, 210]                          # 2019-12-24 closes at 13:00
    agg = mins.groupby(local.date).agg({"open": "first", "high": "max", "low": "min", "close": "last",
                                        "volume": "sum"})
    assert np.array_equal(agg.to_numpy(), day.to_numpy())
    assert (mins["low"] <= mins[["open", "close"]].min(axis=1)).all()
    assert (mins["high"] >= mins[["open", "close"]].max(axis=1)).all()
    # 5Min is delivered at 1Min and identical to it (resampled by the binder).
    five = sample.fetch(req("SPY", start="2019-12-24", end="2019-12-24", frequency="5Min"))
    pd.testing.assert_frame_equal(five, mins.loc["2019-12-24"], check_freq=False)


def test_earnings_dates_times_and_surprise(sample):
    e = sample.fetch(req("MSFT", kind="earnings", start="2000-01-01", end="2019-12-31"))
    lag = (e["announce_date"] - e["period_end"]).dt.days
    assert lag.between(25, 44).all()                   # 25-40 days, rolled to the next session
    assert set(e["announce_time"]) == {"BMO", "AMC"}
    local = e.index.tz_convert("America/New_York")
    hhmm = pd.Series(local.strftime("%H:%M"), index=e.index)
    assert (hhmm[e["announce_time"] == "BMO"] == "08:00").all() and (hhmm[e["announce_time"] == "AMC"]
                                                                    == "16:30").all()
    assert (local.normalize().tz_localize(None) == e["announce_date"].to_numpy()).all()
    assert np.allclose(e["surprise"], e["eps"] - e["estimated_eps"])
    assert (e["eps"] == e["reported_eps"]).all()
    assert (e["surprise"] > 0).mean() > 0.5                # companies beat more often than not
    assert e.attrs["synthetic"] is True and e.attrs["frequency"] == "quarterly"


def test_statements_are_filed_after_the_announcement(sample):
    e = sample.fetch(req("MSFT", kind="earnings", start="2010-01-01", end="2012-12-31"))
    inc = sample.fetch(req("MSFT", kind="income_statement", start="2010-01-01", end="2012-12-31"))
    bal = sample.fetch(req("MSFT", kind="balance_sheet", start="2010-01-01", end="2012-12-31"))
    fun = sample.fetch(req("MSFT", kind="fundamentals", start="2010-01-01", end="2012-12-31"))
    merged = inc.reset_index().merge(e.reset_index(), on="period_end", suffixes=("_f", "_e"))
    assert len(merged) >= 12 and (merged["available_at_f"] > merged["available_at_e"]).all()
    assert (merged["eps_f"] == merged["eps_e"]).all()   # the announced EPS is the filed EPS
    assert np.allclose(bal["total_equity"], bal["total_assets"] - bal["total_liabilities"])
    assert set(fun.columns) >= {"revenue", "net_income", "eps", "shares_outstanding", "book_value"}
    assert {"10-K", "10-Q"} == set(inc["form"])


def test_insider_trades_lag_two_business_days(sample):
    t = sample.fetch(req("AAPL", kind="insider_trades", start="2015-01-01", end="2019-12-31"))
    assert len(t) > 10 and set(t["transaction_code"]) == {"P", "S"}
    expected = add_business_days(t["transaction_date"], 2)
    assert (t.index.tz_convert("America/New_York").normalize().tz_localize(None) == expected).all()
    prices = sample.fetch(req("AAPL", start="2015-01-01", end="2019-12-31"))["close"]
    at = prices.reindex(pd.DatetimeIndex(t["transaction_date"]).tz_localize("UTC")).to_numpy()
    assert np.allclose(t["price"].to_numpy(), at, rtol=0.03)


def test_labelled_synthetic_everywhere(sample):
    df = sample.fetch(req("SPY"))
    assert df.attrs["synthetic"] is True and "SPY" in df.attrs["warning"] and "not" in df.attrs["warning"]
    d = sample.describe()
    assert d["synthetic"] is True and "SYNTHETIC" in d["description"] and "NOT" in d["description"]


def test_errors(sample):
    with pytest.raises(RuleEngineError) as exc:
        sample.fetch(req("SPY", start="1990-01-01", end="1994-12-31"))
    assert exc.value.diagnostics[0].code == "D111" and "1995-01-03" in exc.value.diagnostics[0].hint
    with pytest.raises(RuleEngineError) as exc:
        sample.fetch(req("  "))
    assert exc.value.diagnostics[0].code == "D110"
    with pytest.raises(RuleEngineError) as exc:
        sample.fetch(req("SPY", kind="key_metrics"))
    assert exc.value.diagnostics[0].code == "D109"
    assert not sample.serves("key_metrics") and sample.serves("ohlcv", "1Hour")
