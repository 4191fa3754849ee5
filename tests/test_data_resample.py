"""OHLCV resampling (`ruleengine.data.resample`): sessions, half days, DST, gaps, completed bars only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support.paths import require_shared

from ruleengine.data.calendar import bar_close_times
from ruleengine.data.resample import infer_frequency, resample_ohlcv
from ruleengine.errors import RuleEngineError

NY = "America/New_York"
COLS = ["open", "high", "low", "close", "volume"]


def minutes(stamps: list[str], tz: str | None = NY, values: list[tuple] | None = None) -> pd.DataFrame:
    """Minute bars at local `stamps`; bar i: open i, high i + 0.5, low i - 0.5, close i + 0.25, volume 10 i."""
    idx = pd.DatetimeIndex(stamps)
    idx = idx.tz_localize(tz) if tz else idx
    rows = values or [(i, i + 0.5, i - 0.5, i + 0.25, 10.0 * i) for i in range(1, len(idx) + 1)]
    df = pd.DataFrame(rows, columns=COLS, index=idx, dtype="float64")
    df.attrs["frequency"] = "1Min"
    return df


def session_minutes(day: str, start: str = "09:30", end: str = "15:59") -> list[str]:
    return [str(t) for t in pd.date_range(f"{day} {start}", f"{day} {end}", freq="1min")]


def rows(df: pd.DataFrame) -> list[tuple]:
    return [(str(t), *map(float, r)) for t, r in zip(df.index, df[COLS].to_numpy(), strict=True)]


# --------------------------------------------------------------------------------------- hand-written
def test_hourly_buckets_anchored_at_open_regular_session_only():
    df = minutes(["2019-12-23 08:00", "2019-12-23 09:30", "2019-12-23 09:31", "2019-12-23 10:29",
                  "2019-12-23 10:30", "2019-12-23 15:59", "2019-12-23 16:00"])
    got = resample_ohlcv(df, "1Hour")
    # bars 2..4 -> 09:30-10:30; bar 5 -> 10:30-11:30; bar 6 -> 15:30-16:00; 08:00 and 16:00 are outside.
    assert rows(got) == [("2019-12-23 14:30:00+00:00", 2.0, 4.5, 1.5, 4.25, 90.0),
                         ("2019-12-23 15:30:00+00:00", 5.0, 5.5, 4.5, 5.25, 50.0),
                         ("2019-12-23 20:30:00+00:00", 6.0, 6.5, 5.5, 6.25, 60.0)]
    assert got.index.name == "time" and str(got.index.tz) == "UTC" and got.attrs["frequency"] == "1Hour"
    assert list(got.dtypes) == ["float64"] * 5


def test_all_session_keeps_extended_hours_in_their_own_buckets():
    df = minutes(["2019-12-23 08:00", "2019-12-23 09:30", "2019-12-23 15:59", "2019-12-23 16:00"])
    got = resample_ohlcv(df, "1Hour", session="all")
    # pre-market bucket 08:00-09:00 (midnight-anchored); 16:00-17:00 is not complete (data end 16:01).
    assert [str(t) for t in got.index] == ["2019-12-23 13:00:00+00:00", "2019-12-23 14:30:00+00:00",
                                           "2019-12-23 20:30:00+00:00"]
    done = resample_ohlcv(df, "1Hour", session="all", complete_until=pd.Timestamp("2019-12-23 17:00", tz=NY))
    assert rows(done)[-1] == ("2019-12-23 21:00:00+00:00", 4.0, 4.5, 3.5, 4.25, 40.0)
    # session="all" days run midnight to midnight local: 12-23 began before the data (08:00), 12-24 is whole.
    two = minutes(list(map(str, df.index.tz_localize(None))) + ["2019-12-24 08:00", "2019-12-24 12:59",
                                                                "2019-12-24 14:00"])
    day = resample_ohlcv(two, "1Day", session="all", complete_until=pd.Timestamp("2019-12-25 00:00", tz=NY))
    assert rows(day) == [("2019-12-24 00:00:00+00:00", 5.0, 7.5, 4.5, 7.25, 180.0)]


def test_daily_from_minutes_labelled_by_session_date():
    df = minutes(session_minutes("2019-12-23"))  # 390 bars
    got = resample_ohlcv(df, "1Day")
    assert rows(got) == [("2019-12-23 00:00:00+00:00", 1.0, 390.5, 0.5, 390.25, 10.0 * 390 * 391 / 2)]
    assert got.attrs["incomplete_sessions"] == []


def test_half_day_ends_at_13_00():
    df = minutes(["2019-12-24 09:30", "2019-12-24 12:30", "2019-12-24 12:59", "2019-12-24 13:00"])
    hours = resample_ohlcv(df, "1Hour")
    # 12:30-13:00 is the last (short) bar; the 13:00 print is outside the session.
    assert rows(hours) == [("2019-12-24 14:30:00+00:00", 1.0, 1.5, 0.5, 1.25, 10.0),
                           ("2019-12-24 17:30:00+00:00", 2.0, 3.5, 1.5, 3.25, 50.0)]
    closes = bar_close_times(hours.index, "1Hour")
    assert str(closes[-1]) == "2019-12-24 18:00:00+00:00"
    day = resample_ohlcv(df, "1Day", edge_tolerance="4h")  # sparse minutes: tolerate the 09:31-12:30 gap
    assert rows(day) == [("2019-12-24 00:00:00+00:00", 1.0, 3.5, 0.5, 3.25, 60.0)]


def test_dst_change_keeps_0930_local_anchor():
    # 2019-11-01 is EDT (UTC-4), 2019-11-04 EST (UTC-5); naive input is exchange local time.
    stamps = ["2019-11-01 09:30", "2019-11-01 10:45", "2019-11-04 09:30", "2019-11-04 10:45"]
    aware, naive = resample_ohlcv(minutes(stamps), "1Hour"), resample_ohlcv(minutes(stamps, tz=None), "1Hour")
    assert [str(t) for t in aware.index] == ["2019-11-01 13:30:00+00:00", "2019-11-01 14:30:00+00:00",
                                             "2019-11-04 14:30:00+00:00"]  # 11-04 10:30 bar not complete
    pd.testing.assert_frame_equal(aware, naive)


def test_gaps_inside_periods_are_aggregated_and_empty_periods_omitted():
    stamps = ["2019-12-23 09:30", "2019-12-23 09:50", "2019-12-23 11:45", "2019-12-23 13:00"]
    got = resample_ohlcv(minutes(stamps), "30Min")
    # 09:30-10:00 holds bars 1, 2; 10:00-11:30 are empty (no rows); 13:00-13:30 not complete.
    assert rows(got) == [("2019-12-23 14:30:00+00:00", 1.0, 2.5, 0.5, 2.25, 30.0),
                         ("2019-12-23 16:30:00+00:00", 3.0, 3.5, 2.5, 3.25, 30.0)]
    assert not got.isna().any().any()


def test_partial_period_at_the_end_is_not_exposed():
    df = minutes(session_minutes("2019-12-23") + session_minutes("2019-12-26", end="11:17"))
    hours = resample_ohlcv(df, "1Hour")
    assert str(hours.index[-1]) == "2019-12-26 14:30:00+00:00"  # 09:30-10:30; 10:30-11:30 not complete
    days = resample_ohlcv(df, "1Day")
    assert [str(t) for t in days.index] == ["2019-12-23 00:00:00+00:00"]  # no bar for 12-26


def test_session_missing_its_first_bars_is_flagged_not_a_daily_bar():
    df = minutes(session_minutes("2019-12-19") + session_minutes("2019-12-20", start="11:00")
                 + session_minutes("2019-12-23"))
    days = resample_ohlcv(df, "1Day")
    assert [str(t.date()) for t in days.index] == ["2019-12-19", "2019-12-23"]
    assert days.attrs["incomplete_sessions"] == ["2019-12-20"]
    hours = resample_ohlcv(df, "1Hour")  # intraday bars of the session are kept (from what exists)
    assert "2019-12-20 16:30:00+00:00" in [str(t) for t in hours.index]


def daily_frame(days: list[str]) -> pd.DataFrame:
    idx = pd.DatetimeIndex(days, tz="UTC")
    n = np.arange(1, len(idx) + 1, dtype="float64")
    df = pd.DataFrame({"open": n, "high": n + 1, "low": n - 1, "close": n + 0.5, "volume": 100 * n}, index=idx)
    df.attrs["frequency"] = "1Day"
    return df


def test_weekly_and_monthly_from_daily_completed_and_labelled_by_last_session():
    # Labelled by the session whose close completes the bar (issue 13 item 5: a Monday label on a bar holding
    # Friday's close read as lookahead); the first-session labels of before are gone.
    sessions = [str(d.date()) for d in pd.bdate_range("2019-11-25", "2020-01-31")
                if str(d.date()) not in ("2019-11-28", "2019-12-25", "2020-01-01", "2020-01-20")]
    df = daily_frame(sessions)
    weeks = resample_ohlcv(df, "1Week")
    labels = [str(t.date()) for t in weeks.index]
    assert labels[:3] == ["2019-11-29", "2019-12-06", "2019-12-13"]
    assert "2020-01-24" in labels  # MLK week: Tuesday to Friday
    wk = weeks.loc["2019-12-27"]  # sessions 12-23, 24, 26, 27 = rows 20..23 (4 in Nov, 15 in Dec 2-20)
    assert list(wk) == [20.0, 24.0, 19.0, 23.5, 100.0 * (20 + 21 + 22 + 23)]
    months = resample_ohlcv(df, "1Month")
    assert [str(t.date()) for t in months.index] == ["2019-12-31", "2020-01-31"]  # Nov starts before data
    assert list(months.loc["2019-12-31"][["open", "close"]]) == [5.0, 25.5]
    # data ending Mon 2019-12-30: that week and December are not complete.
    cut = resample_ohlcv(df.loc[:"2019-12-30"], "1Week")
    assert str(cut.index[-1].date()) == "2019-12-27"
    assert resample_ohlcv(df.loc[:"2019-12-30"], "1Month").empty


def test_weekly_from_minutes_drops_weeks_with_incomplete_sessions():
    week1 = ["2019-12-16", "2019-12-17", "2019-12-18", "2019-12-19", "2019-12-20"]
    week2 = ["2019-12-23", "2019-12-24", "2019-12-26", "2019-12-27"]
    stamps = [s for d in week1 for s in session_minutes(d)]
    stamps += [s for d in week2 for s in session_minutes(d, end="12:59" if d == "2019-12-24" else "15:59")]
    full = resample_ohlcv(minutes(stamps), "1Week")
    assert [str(t.date()) for t in full.index] == ["2019-12-20", "2019-12-27"]
    gap = minutes([s for s in stamps if not ("2019-12-18 12:00" <= s[:16] <= "2019-12-18 15:59")])
    assert [str(t.date()) for t in resample_ohlcv(gap, "1Week").index] == ["2019-12-27"]


def test_same_frequency_is_unchanged_and_upsampling_is_d118():
    df = daily_frame(["2019-12-23", "2019-12-24"])
    assert resample_ohlcv(df, "1Day") is df
    with pytest.raises(RuleEngineError) as err:
        resample_ohlcv(df, "1Hour")
    d = err.value.diagnostics[0]
    assert d.code == "D118" and "1Hour" in (d.hint or "") and "execution_frequency" in (d.hint or "")
    with pytest.raises(RuleEngineError) as err:
        resample_ohlcv(df, "2Day")
    assert err.value.diagnostics[0].code == "D118"
    with pytest.raises(RuleEngineError) as err:
        resample_ohlcv(df.drop(columns="volume"), "1Week")
    assert err.value.diagnostics[0].code == "D102"
    with pytest.raises(RuleEngineError) as err:
        resample_ohlcv(df.iloc[::-1], "1Week")
    assert err.value.diagnostics[0].code == "D105"


def test_infer_frequency():
    df = minutes(["2019-12-23 09:30", "2019-12-23 09:35", "2019-12-23 09:45"])
    df.attrs.clear()
    assert infer_frequency(df) == "5Min"
    assert infer_frequency(daily_frame(["2019-12-23", "2019-12-24"]).assign()) == "1Day"


# ----------------------------------------------------------------------------------------- causality
def _check_truncation(df: pd.DataFrame, freq: str, cuts: list[pd.Timestamp]) -> None:
    full = resample_ohlcv(df, freq)
    full_close = bar_close_times(full.index, freq)
    for cut in cuts:
        part = df[df.index + pd.Timedelta(minutes=1) <= cut]  # minute bars complete by the cut
        if part.empty:
            continue
        got = resample_ohlcv(part, freq)
        pd.testing.assert_frame_equal(got, full.loc[got.index], check_freq=False, obj=f"{freq} cut at {cut}")
        data_end = part.index[-1] + pd.Timedelta(minutes=1)
        expected = full.index[(full_close <= data_end)]
        assert got.index.equals(expected), f"{freq} cut at {cut}"


def test_causality_synthetic_minutes_seeded_cuts():
    days = ["2019-12-19", "2019-12-20", "2019-12-23", "2019-12-24", "2019-12-26", "2019-12-27", "2019-12-30"]
    stamps = [s for d in days for s in session_minutes(d, end="12:59" if d == "2019-12-24" else "15:59")]
    df = minutes(stamps)
    rng = np.random.default_rng(7)
    cuts = [df.index[i] for i in rng.integers(0, len(df), 25)] + [pd.Timestamp("2019-12-24 13:00", tz=NY)]
    for freq in ("5Min", "1Hour", "1Day", "1Week"):
        _check_truncation(df, freq, cuts)


# ----------------------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def spy_minutes() -> pd.DataFrame:
    raw = pd.read_parquet(require_shared("intraday_1min.parquet"))
    spy = raw[raw["symbol"] == "SPY"].set_index("datetime")[COLS].astype("float64").sort_index()
    spy.attrs["frequency"] = "1Min"
    return spy


@pytest.mark.realdata
def test_spy_daily_from_minutes_matches_hand_aggregate(spy_minutes):
    days = resample_ohlcv(spy_minutes, "1Day")
    day = spy_minutes.loc["2019-12-17"]
    by_hand = [day["open"].iloc[0], day["high"].max(), day["low"].min(), day["close"].iloc[-1],
               day["volume"].sum()]
    assert list(days.loc["2019-12-17"]) == by_hand == [319.91, 320.25, 319.48, 319.56, 47216490.0]
    # half day: the 13:00 closing print is not part of the session
    assert list(days.loc["2019-12-24"]) == [321.47, 321.52, 320.90, 321.26, 16047639.0]
    # 2019-12-13 starts at 11:00 (first chunk day) and 2020-01-10 ends at 10:59: not complete sessions
    assert days.attrs["incomplete_sessions"] == ["2019-12-13", "2020-01-10"]
    assert str(days.index[0].date()) == "2019-12-16" and len(days) == 21


@pytest.mark.realdata
def test_spy_hourly_from_minutes(spy_minutes):
    hours = resample_ohlcv(spy_minutes, "1Hour")
    first = hours.index[0].tz_convert(NY)
    assert str(first) == "2019-12-13 11:30:00-05:00"  # 10:30-11:30 began before the data (11:00)
    assert len(hours.loc["2019-12-17"]) == 7 and len(hours.loc["2019-12-24"]) == 4
    h = spy_minutes.loc["2019-12-17 10:30":"2019-12-17 11:29"]
    assert list(hours.loc[pd.Timestamp("2019-12-17 10:30", tz=NY)]) == [
        h["open"].iloc[0], h["high"].max(), h["low"].min(), h["close"].iloc[-1], h["volume"].sum()]


@pytest.mark.realdata
def test_spy_resampling_is_causal_at_random_cuts(spy_minutes):
    rng = np.random.default_rng(2024)
    cuts = [spy_minutes.index[i] for i in rng.integers(0, len(spy_minutes), 12)]
    for freq in ("1Hour", "1Day"):
        _check_truncation(spy_minutes, freq, cuts)


def test_empty_and_out_of_session_input_give_empty_frames():
    weekend = minutes(["2019-12-21 10:00"])
    for df in (weekend, weekend.iloc[:0]):
        got = resample_ohlcv(df, "1Day")
        assert got.empty and list(got.columns) == COLS and str(got.index.tz) == "UTC"
