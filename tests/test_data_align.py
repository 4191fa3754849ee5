"""Point-in-time alignment (`ruleengine.data.align`): as-of joins on bar closes, insider aggregation, causality."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support.paths import require_shared

from ruleengine.data.align import aggregate_insider, align_to_bars, arrival_positions
from ruleengine.data.calendar import bar_close_times, sessions_between
from ruleengine.data.pit import announcement_available_at, filing_available_at, lagged_available_at
from ruleengine.errors import RuleEngineError

NY = "America/New_York"
NAN = float("nan")


def day_bars(start: str, end: str) -> pd.DatetimeIndex:
    """XNYS session dates as 00:00 UTC labels (the provider convention for daily bars)."""
    return sessions_between(start, end).tz_localize("UTC")


def records(at: list[str], tz: str = "UTC", **cols: list) -> pd.DataFrame:
    idx = pd.DatetimeIndex(at, name="available_at").tz_localize(tz).tz_convert("UTC")
    return pd.DataFrame(cols, index=idx)


def col(df: pd.DataFrame, name: str) -> list[float]:
    return [NAN if pd.isna(v) else round(float(v), 6) for v in df[name]]


def same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all((pd.isna(x) and pd.isna(y)) or x == y for x, y in zip(a, b, strict=True))


# ------------------------------------------------------------------------------------------ daily bars
def test_amc_next_session_bmo_same_day_nan_before_first():
    bars = day_bars("2014-01-23", "2014-01-30")  # 23, 24, 27, 28, 29, 30
    at = announcement_available_at(["2014-01-24", "2014-01-28"], ["AMC", "BMO"])
    rec = pd.DataFrame({"eps": [1.0, 2.0]}, index=at)
    got = col(align_to_bars(rec, bars, "1Day"), "eps")
    assert same(got, [NAN, NAN, 1.0, 2.0, 2.0, 2.0])


def test_record_at_exactly_the_close_is_visible_on_that_bar():
    bars = day_bars("2019-12-23", "2019-12-26")  # 23, 24 (half day, closes 18:00 UTC), 26
    rec = records(["2019-12-23 21:00", "2019-12-24 18:00", "2019-12-24 18:01"], v=[1.0, 2.0, 3.0])
    assert same(col(align_to_bars(rec, bars, "1Day"), "v"), [1.0, 2.0, 3.0])
    assert same(col(align_to_bars(rec, bars, "1Day", how="last"), "v"), [1.0, 2.0, 3.0])


def test_later_availability_wins_and_ties_keep_row_order():
    bars = day_bars("2014-01-27", "2014-01-28")
    rec = records(["2014-01-28 15:00", "2014-01-28 14:00", "2014-01-28 15:00"], v=[1.0, 2.0, 3.0])
    assert same(col(align_to_bars(rec, bars, "1Day"), "v"), [NAN, 3.0])
    rec2 = records(["2014-01-28 15:00", "2014-01-28 14:00"], v=[1.0, 2.0])
    assert same(col(align_to_bars(rec2, bars, "1Day"), "v"), [NAN, 1.0])


def test_skipna_carries_each_columns_last_value_or_the_whole_row():
    bars = day_bars("2014-01-27", "2014-01-29")
    rec = records(["2014-01-27 15:00", "2014-01-28 15:00"], eps=[1.0, NAN], est=[10.0, 20.0],
                  note=["a", "b"])
    per_col = align_to_bars(rec, bars, "1Day")
    assert same(col(per_col, "eps"), [1.0, 1.0, 1.0]) and same(col(per_col, "est"), [10.0, 20.0, 20.0])
    assert list(per_col["note"]) == ["a", "b", "b"]
    whole = align_to_bars(rec, bars, "1Day", skipna=False)
    assert same(col(whole, "eps"), [1.0, NAN, NAN]) and same(col(whole, "est"), [10.0, 20.0, 20.0])


def test_event_aggregations_count_each_record_once_on_its_arrival_bar():
    bars = day_bars("2014-01-27", "2014-01-30")  # 27, 28, 29, 30
    rec = records(["2014-01-20 12:00", "2014-01-27 22:00", "2014-01-28 12:00", "2014-02-03 12:00"],
                  v=[1.0, 2.0, 4.0, 8.0])
    assert col(align_to_bars(rec, bars, "1Day", how="sum"), "v") == [1.0, 6.0, 0.0, 0.0]
    assert col(align_to_bars(rec, bars, "1Day", how="count"), "v") == [1.0, 2.0, 0.0, 0.0]
    assert same(col(align_to_bars(rec, bars, "1Day", how="max"), "v"), [1.0, 4.0, NAN, NAN])
    assert col(align_to_bars(rec, bars, "1Day", how="sum", lag_bars=2), "v") == [0.0, 0.0, 1.0, 6.0]


def test_nat_records_never_arrive_and_naive_index_is_utc():
    bars = day_bars("2014-01-27", "2014-01-28")
    rec = pd.DataFrame({"v": [1.0, 2.0]}, index=pd.DatetimeIndex([pd.NaT, "2014-01-27 20:00"]))
    assert same(col(align_to_bars(rec, bars, "1Day"), "v"), [2.0, 2.0])


def test_intraday_bars_close_at_start_plus_length():
    bars = pd.DatetimeIndex(["2019-12-24 09:30", "2019-12-24 10:30", "2019-12-24 11:30", "2019-12-24 12:30",
                             "2019-12-26 09:30"], tz=NY).tz_convert("UTC")
    rec = records(["2019-12-24 10:15", "2019-12-24 11:30", "2019-12-24 12:31", "2019-12-24 13:00",
                   "2019-12-24 16:30"], tz=NY, v=[1.0, 2.0, 3.0, 4.0, 5.0])
    # 10:15 -> 09:30 bar; 11:30 == close of the 10:30 bar; 12:31 and 13:00 -> the half day's short last bar
    # (closes 13:00); after the close -> next session's first bar.
    assert col(align_to_bars(rec, bars, "1Hour", how="sum"), "v") == [1.0, 2.0, 0.0, 7.0, 5.0]


def test_arrival_positions_and_bad_inputs():
    closes = bar_close_times(day_bars("2020-01-02", "2020-01-03"), "1Day")
    at = pd.DatetimeIndex(["2020-01-01", "2020-01-02 21:00", "2020-01-03 21:00:01"], tz="UTC")
    assert list(arrival_positions(at, closes)) == [0, 0, 2]
    rec = records(["2020-01-02"], v=[1.0])
    with pytest.raises(RuleEngineError) as err:
        align_to_bars(rec, day_bars("2020-01-02", "2020-01-06")[::-1], "1Day")
    assert err.value.diagnostics[0].code == "D105"
    with pytest.raises(RuleEngineError) as err:
        align_to_bars(rec, day_bars("2020-01-02", "2020-01-06"), "1Day", how="median")
    assert err.value.diagnostics[0].code == "D103"
    with pytest.raises(RuleEngineError) as err:
        align_to_bars(rec, day_bars("2020-01-02", "2020-01-06"), "1Day", columns=["eps"])
    assert err.value.diagnostics[0].code == "D102"


# --------------------------------------------------------------------------------------- insider trades
def test_aggregate_insider_counts_purchases_and_sales_only():
    bars = day_bars("2022-03-01", "2022-03-04")  # Tue..Fri
    trades = pd.DataFrame({
        "transaction_date": ["2022-02-25", "2022-02-25", "2022-02-28", "2022-02-28", "2022-03-01", "2022-03-02"],
        "transaction_code": ["P", "S", "A", "s", "M", "P"],
        "shares": [100.0, 40.0, 999.0, 10.0, 50.0, 5.0],
        "price": [10.0, 12.0, 0.0, 11.0, 1.0, NAN]})
    trades.index = lagged_available_at(trades["transaction_date"], business_days=2)
    got = aggregate_insider(trades, bars, "1Day")
    assert list(got.columns) == ["buy_count", "sell_count", "buy_shares", "sell_shares", "buy_value",
                                 "sell_value", "net_shares", "net_value"]
    # Fri 02-25 + 2 sessions = Tue 03-01 after the close -> Wed 03-02 bar; Mon 02-28 -> Thu 03-03 bar;
    # Wed 03-02 -> Fri 03-04 after the close -> beyond the last bar. A and M are not counted.
    assert got.loc["2022-03-02"].tolist() == [1.0, 1.0, 100.0, 40.0, 1000.0, 480.0, 60.0, 520.0]
    assert got.loc["2022-03-03"].tolist() == [0.0, 1.0, 0.0, 10.0, 0.0, 110.0, -10.0, -110.0]
    assert got.loc["2022-03-01"].tolist() == [0.0] * 8 and got.loc["2022-03-04"].tolist() == [0.0] * 8
    # the same from transaction dates with the declared reporting lag
    raw = trades.reset_index(drop=True)
    pd.testing.assert_frame_equal(aggregate_insider(raw, bars, "1Day", reporting_lag_days=2), got)


# ----------------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def earnings() -> pd.DataFrame:
    return pd.read_parquet(require_shared("earnings_quarterly.parquet"))


@pytest.fixture(scope="module")
def sec() -> pd.DataFrame:
    return pd.read_parquet(require_shared("sec_financials.parquet"))


def earnings_records(earnings: pd.DataFrame, symbol: str) -> pd.DataFrame:
    e = earnings[earnings["symbol"] == symbol]
    at = announcement_available_at(e["announce_date"], e["announce_time"])
    return pd.DataFrame({"eps": e["eps_actual"].to_numpy(), "estimated_eps": e["eps_estimate"].to_numpy()},
                        index=pd.DatetimeIndex(at, name="available_at"))


@pytest.mark.realdata
def test_aapl_amc_eps_visible_from_the_next_session(earnings, ohlcv_of):
    bars = ohlcv_of("AAPL").loc["2014-01-01":"2014-12-31"].index.tz_localize("UTC")
    eps = align_to_bars(earnings_records(earnings, "AAPL"), bars, "1Day")["eps"]
    # 2014-01-27 AMC, eps 14.50: the 01-27 bar still shows the previous quarter (2013-10-28: 8.26).
    assert eps.loc["2014-01-27"] == 8.26 and eps.loc["2014-01-28"] == 14.50
    assert eps.loc["2014-04-23"] == 14.50 and eps.loc["2014-04-24"] == 11.62


@pytest.mark.realdata
def test_jpm_bmo_eps_visible_the_same_day(earnings, ohlcv_of):
    bars = ohlcv_of("JPM").loc["2014-01-01":"2014-12-31"].index.tz_localize("UTC")
    eps = align_to_bars(earnings_records(earnings, "JPM"), bars, "1Day")["eps"]
    assert eps.loc["2014-01-13"] == 1.42 and eps.loc["2014-01-14"] == 1.40  # 2014-01-14 BMO
    assert eps.loc["2014-04-10"] == 1.40 and eps.loc["2014-04-11"] == 1.28  # 2014-04-11 BMO


def sec_records(sec: pd.DataFrame, symbol: str, tag: str = "EarningsPerShareDiluted") -> pd.DataFrame:
    """The current quarter's value of each filing (comparatives of earlier periods left out)."""
    rows = sec[(sec["symbol"] == symbol) & (sec["tag"] == tag) & (sec["qtrs"] == 1)
               & (sec["value_date"] == sec["report_period"])]
    at = filing_available_at(rows["filed"], rows["accepted"])
    return pd.DataFrame({"eps_diluted": rows["value"].to_numpy(),
                         "report_period": pd.to_datetime(rows["report_period"]).to_numpy()},
                        index=pd.DatetimeIndex(at, name="available_at"))


@pytest.mark.realdata
def test_sec_filing_after_the_close_visible_next_day_never_at_period_end(sec):
    bars = day_bars("2009-06-01", "2010-06-30")
    eps = align_to_bars(sec_records(sec, "AAPL"), bars, "1Day")["eps_diluted"]
    # 10-Q for 2009-12-31 accepted 2010-01-25 16:24: visible from 01-26, not at 12-31 nor on 01-25.
    assert eps.loc["2009-12-31"] == 1.35 and eps.loc["2010-01-25"] == 1.35 and eps.loc["2010-01-26"] == 3.67
    assert np.isnan(eps.loc["2009-07-22"]) and eps.loc["2009-07-23"] == 1.35  # 16:42 acceptance
    adi = align_to_bars(sec_records(sec, "ADI"), bars, "1Day")["eps_diluted"]
    assert adi.loc["2010-02-17"] == 0.22 and adi.loc["2010-02-18"] == 0.40  # accepted 16:56
    # a filing accepted during the session is visible on that day's bar
    same_day = sec["accepted"].dt.normalize() == pd.to_datetime(sec["filed"])
    noon = sec[same_day & (sec["accepted"].dt.hour == 11) & sec["symbol"].notna() & (sec["qtrs"] == 1)
               & (sec["tag"] == "EarningsPerShareDiluted") & (sec["value_date"] == sec["report_period"])]
    row = noon.iloc[0]
    rec = sec_records(sec, row["symbol"])
    got = align_to_bars(rec, bars, "1Day")["eps_diluted"]
    assert got.loc[str(row["filed"])] == row["value"]
    arrivals = align_to_bars(rec, bars, "1Day", how="count")["eps_diluted"]
    assert arrivals.loc[str(row["filed"])] == 1.0  # it arrives on that very bar, not earlier


# ----------------------------------------------------------------------------------------- causality
def _check_cuts(rec: pd.DataFrame, bars: pd.DatetimeIndex, cuts: list[pd.Timestamp], how: str) -> None:
    # Random cuts rarely fall just before a record's availability, where a leak would show: add those.
    cuts = [*cuts, *(a - pd.Timedelta(seconds=1) for a in rec.index.dropna())]
    full = align_to_bars(rec, bars, "1Day", how=how)
    closes = bar_close_times(bars, "1Day")
    for cut in cuts:
        part = align_to_bars(rec[rec.index <= cut], bars, "1Day", how=how)
        before = closes <= cut
        pd.testing.assert_frame_equal(part[before], full[before], obj=f"{how} cut at {cut}")


@pytest.mark.realdata
def test_alignment_is_causal_for_fundamentals_at_random_cuts(earnings, sec):
    rng = np.random.default_rng(11)
    bars = day_bars("2009-06-01", "2010-06-30")
    fundamentals = pd.concat([sec_records(sec, s) for s in ("AAPL", "ADI")]).drop(columns="report_period")
    span = (bars[0].value, bars[-1].value + 86400 * 10**9)
    cuts = [pd.Timestamp(int(v), tz="UTC") for v in rng.integers(*span, 20)]
    _check_cuts(fundamentals, bars, cuts, "ffill")
    ebars = day_bars("2012-01-01", "2015-05-29")
    rec = earnings_records(earnings, "AAPL")
    ecuts = [pd.Timestamp(int(v), tz="UTC") for v in rng.integers(ebars[0].value, ebars[-1].value, 20)]
    _check_cuts(rec, ebars, ecuts, "ffill")


def test_insider_aggregation_is_causal_at_seeded_cuts():
    rng = np.random.default_rng(5)
    bars = day_bars("2022-01-03", "2022-06-30")
    n = 200
    dates = pd.to_datetime("2021-12-20") + pd.to_timedelta(rng.integers(0, 200, n), unit="D")
    trades = pd.DataFrame({"transaction_code": rng.choice(list("PSAMF"), n),
                           "shares": rng.integers(1, 1000, n).astype(float),
                           "price": rng.uniform(5, 50, n).round(2)},
                          index=lagged_available_at(dates, business_days=2))
    full = aggregate_insider(trades, bars, "1Day")
    arrived = trades.index <= bar_close_times(bars[-1:], "1Day")[0]
    assert full["buy_count"].sum() == ((trades["transaction_code"] == "P") & arrived).sum() > 0
    closes = bar_close_times(bars, "1Day")
    for cut in [pd.Timestamp(int(v), tz="UTC") for v in rng.integers(bars[0].value, bars[-1].value, 20)]:
        part = aggregate_insider(trades[trades.index <= cut], bars, "1Day")
        pd.testing.assert_frame_equal(part[closes <= cut], full[closes <= cut])
