"""Point-in-time availability (`ruleengine.data.pit`) and the session calendar (`ruleengine.data.calendar`)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from ruleengine.data.calendar import add_business_days, bar_close_times, session_bounds, sessions_between
from ruleengine.data.pit import (
    AFTER_CLOSE,
    BEFORE_OPEN,
    EXCHANGE_TZ,
    announcement_available_at,
    filing_available_at,
    lagged_available_at,
)
from ruleengine.errors import RuleEngineError


def utc(*values: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(v, tz="UTC") for v in values]


# ------------------------------------------------------------------------------------------- constants
def test_contract_constants():
    assert (EXCHANGE_TZ, AFTER_CLOSE, BEFORE_OPEN) == ("America/New_York", "16:30", "08:00")


# ----------------------------------------------------------------------------------------- announcements
def test_announcement_bmo_amc_none_unknown_and_explicit_time():
    got = announcement_available_at(
        ["2014-01-27", "2014-01-28", "2014-01-29", "2014-01-30", "2014-01-31", "2014-07-01"],
        ["AMC", "BMO", None, "DMT", "10:15", "bmo"])
    # EST (UTC-5) in January, EDT (UTC-4) in July.
    assert list(got) == utc("2014-01-27 21:30", "2014-01-28 13:00", "2014-01-29 21:30", "2014-01-30 21:30",
                            "2014-01-31 15:15", "2014-07-01 12:00")
    assert str(got.tz) == "UTC"


def test_announcement_scalar_when_nan_and_date_objects():
    got = announcement_available_at([dt.date(2015, 4, 27), None], "BMO")
    assert got[0] == pd.Timestamp("2015-04-27 12:00", tz="UTC")
    assert pd.isna(got[1])
    nan_when = announcement_available_at(pd.Series(["2015-04-27"]), [float("nan")])
    assert list(nan_when) == utc("2015-04-27 20:30")
    assert len(announcement_available_at([], None)) == 0


def test_announcement_dates_from_utc_labels_keep_their_date():
    # 00:00 UTC date labels (the provider convention) must not slide to the previous local day.
    labels = pd.DatetimeIndex(["2019-12-24"], tz="UTC")
    assert list(announcement_available_at(labels, "AMC")) == utc("2019-12-24 21:30")


def test_announcement_length_mismatch_is_rejected():
    with pytest.raises(ValueError):
        announcement_available_at(["2015-04-27", "2015-04-28"], ["AMC"])


# ----------------------------------------------------------------------------------------------- filings
def test_filing_uses_acceptance_instant_else_after_close():
    got = filing_available_at(["2009-08-07", "2009-08-07", "2010-03-01"],
                              ["2009-08-07 09:27", None, pd.Timestamp("2010-03-01 21:05", tz="UTC")])
    assert list(got) == utc("2009-08-07 13:27", "2009-08-07 20:30", "2010-03-01 21:05")
    assert list(filing_available_at(["2010-01-04"])) == utc("2010-01-04 21:30")


def test_filing_never_before_its_filing_date():
    # EDGAR dates a filing accepted Fri 19:11 on the next business day; a missing filed date keeps accepted.
    got = filing_available_at(["2010-02-08", None], ["2010-02-05 19:11", "2010-01-04 10:00"])
    assert list(got) == utc("2010-02-08 05:00", "2010-01-04 15:00")


# ------------------------------------------------------------------------------------------------ lagged
def test_lagged_business_days_over_holidays_and_weekends():
    # Thu 2019-12-19 + 2 sessions = Mon 12-23; Fri 12-20 + 2 = Tue 12-24; Mon 12-23 + 2 = Thu 12-26 (Christmas).
    got = lagged_available_at(["2019-12-19", "2019-12-20", "2019-12-23", "2019-12-28"], business_days=2)
    assert list(got) == utc("2019-12-23 21:30", "2019-12-24 21:30", "2019-12-26 21:30", "2019-12-31 21:30")


def test_lagged_calendar_days_and_zero_lag():
    assert list(lagged_available_at(["2016-12-31"], calendar_days=90)) == utc("2017-03-31 20:30")
    assert list(lagged_available_at(["2019-12-20"])) == utc("2019-12-20 21:30")


# ---------------------------------------------------------------------------------------------- calendar
def test_session_bounds_regular_half_day_and_holiday():
    opens, closes = session_bounds(["2019-12-23", "2019-12-24", "2019-12-25", "2019-07-03"])
    assert list(opens[:2]) == utc("2019-12-23 14:30", "2019-12-24 14:30")
    assert list(closes[:2]) == utc("2019-12-23 21:00", "2019-12-24 18:00")
    assert pd.isna(closes[2]) and pd.isna(opens[2])
    assert closes[3] == pd.Timestamp("2019-07-03 17:00", tz="UTC")  # half day in EDT


def test_add_business_days_both_directions():
    got = add_business_days(["2019-12-24", "2019-12-28", "2020-01-02"], 1)
    assert [str(x.date()) for x in got] == ["2019-12-26", "2019-12-30", "2020-01-03"]
    back = add_business_days(["2019-12-26", "2019-12-28"], -1)
    assert [str(x.date()) for x in back] == ["2019-12-24", "2019-12-27"]


def test_sessions_between():
    got = sessions_between("2019-12-23", "2019-12-27")
    assert [str(x.date()) for x in got] == ["2019-12-23", "2019-12-24", "2019-12-26", "2019-12-27"]


def test_bar_close_times_daily_weekly_monthly():
    days = pd.DatetimeIndex(["2019-12-23", "2019-12-24", "2019-12-28"], tz="UTC")
    assert list(bar_close_times(days, "1Day")) == utc("2019-12-23 21:00", "2019-12-24 18:00",
                                                      "2019-12-28 21:00")  # non-session: 16:00 local
    weeks = pd.DatetimeIndex(["2019-12-23", "2019-12-30", "2019-11-25"], tz="UTC")
    # the week of 11-25 ends with the half day after Thanksgiving (Fri 11-29, 13:00).
    assert list(bar_close_times(weeks, "1Week")) == utc("2019-12-27 21:00", "2020-01-03 21:00",
                                                        "2019-11-29 18:00")
    months = pd.DatetimeIndex(["2019-11-01", "2019-12-02"], tz="UTC")
    assert list(bar_close_times(months, "1Month")) == utc("2019-11-29 18:00", "2019-12-31 21:00")


def test_bar_close_times_intraday_capped_at_session_close_and_naive_local():
    starts = pd.DatetimeIndex(["2019-12-23 20:30", "2019-12-24 17:30", "2019-12-24 14:30", "2019-12-23 22:00"],
                              tz="UTC")
    assert list(bar_close_times(starts, "1Hour")) == utc("2019-12-23 21:00", "2019-12-24 18:00",
                                                         "2019-12-24 15:30", "2019-12-23 23:00")
    naive = pd.DatetimeIndex(["2019-12-23 15:45"])  # exchange local time
    assert list(bar_close_times(naive, "15Min")) == utc("2019-12-23 21:00")


def test_unknown_frequency_and_calendar_are_diagnostics():
    with pytest.raises(RuleEngineError) as err:
        bar_close_times(pd.DatetimeIndex([], tz="UTC"), "1Hr")
    assert err.value.diagnostics[0].code == "D118" and "1Hour" in (err.value.diagnostics[0].hint or "")
    with pytest.raises(RuleEngineError) as err:
        session_bounds(["2019-12-23"], calendar="XNYZ")
    assert err.value.diagnostics[0].code == "D118"


def test_session_table_file_equals_the_calendar_and_spares_the_import(tmp_path, monkeypatch) -> None:
    """The on-disk session table is exactly exchange_calendars' XNYS; a new process then skips the import."""
    import subprocess
    import sys

    import exchange_calendars as xcals

    from ruleengine.data import calendar as cal_mod

    monkeypatch.setenv("RULEENGINE_CACHE_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(cal_mod, "_CALENDARS", {})
    built = cal_mod.get_calendar("XNYS")  # builds and writes the file
    files = list((tmp_path / "calendars").glob("XNYS-*.npz"))
    assert len(files) == 1
    monkeypatch.setattr(cal_mod, "_CALENDARS", {})
    read = cal_mod.get_calendar("XNYS")  # reads it back
    ref = xcals.get_calendar("XNYS", start="1990-01-01", end="2040-12-31")
    assert read.sessions.equals(pd.DatetimeIndex(ref.sessions).tz_localize(None).as_unit("ns"))
    for got, want in ((read.opens, ref.opens), (read.closes, ref.closes)):
        want_utc = pd.DatetimeIndex(want)
        want_utc = want_utc.tz_localize("UTC") if want_utc.tz is None else want_utc.tz_convert("UTC")
        assert pd.DatetimeIndex(got).equals(want_utc.as_unit("ns"))
    assert built.sessions.equals(read.sessions)
    code = ("import sys; from ruleengine.data.calendar import session_bounds; o, c = session_bounds(['2019-12-24']);"
            "print(c[0], 'exchange_calendars' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "RULEENGINE_CACHE_DIR": str(tmp_path / "data")}).stdout
    assert out.split()[-1] == "False" and "2019-12-24 18:00:00+00:00" in out
