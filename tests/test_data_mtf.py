"""Multi-timeframe slots (issue 13 item 1), the dating of weekly / monthly bars and fills (item 5) and the
one calendar lookup per run (the weekly / monthly slowness), on the real data of ../shared/data."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.paths import RULES, require_shared

import ruleengine
from ruleengine.data import calendar as cal_mod
from ruleengine.errors import RuleEngineError

pytestmark = pytest.mark.realdata

NY = "America/New_York"
OHLC = ["open", "high", "low", "close"]


def _doc(slots: dict, entry: str = "close > weekly.close", execution: str | None = None) -> dict:
    doc = {"name": "mtf", "data": slots, "entry": [entry], "exit": ["close < 0"]}
    if execution:
        doc["params"] = {"execution_frequency": {"type": "enum", "values": [execution], "default": execution}}
    return doc


DAILY_WEEKLY_MONTHLY = _doc({
    "prices": {"kind": "ohlcv", "frequency": "1Day"},
    "weekly": {"kind": "ohlcv", "frequency": "1Week", "symbol_from": "prices"},
    "monthly": {"kind": "ohlcv", "frequency": "1Month", "symbol_from": "prices"},
}, "close > weekly.close and close > monthly.close")


@pytest.fixture(scope="module")
def spy_daily() -> pd.DataFrame:
    raw = pd.read_parquet(require_shared("daily.parquet"), filters=[("symbol", "==", "SPY")])
    return raw.assign(date=pd.to_datetime(raw["date"])).set_index("date")[OHLC].sort_index()


@pytest.fixture(scope="module")
def spy_md(shared_data: Path) -> ruleengine.MarketData:
    return ruleengine.load_data(DAILY_WEEKLY_MONTHLY, "SPY", "2006-01-01", "2017-12-29", data=str(shared_data),
                                columns={"prices": set(OHLC), "weekly": set(OHLC), "monthly": set(OHLC)})


def _period_oracle(daily: pd.DataFrame, rule: str) -> pd.DataFrame:
    """pandas' own resampling: OHLC per calendar week / month, visible from the period's last data day."""
    grouped = daily.groupby(daily.index.to_period(rule))
    bars = grouped.agg({"open": "first", "high": "max", "low": "min", "close": "last"})
    bars["visible"] = grouped.apply(lambda g: g.index.max()).to_numpy()
    return bars.set_index("visible")


def _as_of(bars: pd.DataFrame, when: pd.DatetimeIndex) -> pd.DataFrame:
    """The latest bar visible at each of `when` (merge_asof: visible <= when)."""
    left = pd.DataFrame({"t": (when.tz_localize(None) if when.tz is not None else when).as_unit("ns")})
    right = bars.reset_index().rename(columns={"visible": "t"}).sort_values("t")
    right["t"] = pd.DatetimeIndex(right["t"]).as_unit("ns")
    return pd.merge_asof(left, right, on="t", direction="backward").set_index("t")


# ---------------------------------------------------------------------------------------- daily execution
@pytest.mark.parametrize("slot,rule", [("weekly", "W-SUN"), ("monthly", "M")])
def test_coarse_slots_on_daily_bars_equal_a_pandas_resampled_oracle(spy_md, spy_daily, slot, rule):
    md = spy_md
    expected = _as_of(_period_oracle(spy_daily, rule), md.index[md.start:])
    for col in OHLC:
        got = md.frame(slot, col)["SPY"].to_numpy()[md.start:]
        np.testing.assert_array_equal(got, expected[col].to_numpy(), err_msg=f"{slot}.{col}")


def test_weekly_close_is_the_last_completed_week_never_the_forming_one(spy_md, spy_daily):
    md = spy_md
    days = md.index[md.start:].tz_localize(None)
    close = md.frame("prices", "close")["SPY"].to_numpy()[md.start:]
    weekly = md.frame("weekly", "close")["SPY"].to_numpy()[md.start:]
    week = days.to_period("W-SUN")
    last_of_week = pd.Series(days, index=days).groupby(week).transform("max").to_numpy() == days.to_numpy()
    # the last session of a week shows that week (its close); every other day shows the week before
    assert np.array_equal(weekly[last_of_week], close[last_of_week])
    inside = ~last_of_week
    assert inside.sum() > 2000
    assert (weekly[inside] != close[inside]).mean() > 0.995  # equal only where two closes coincide by chance
    previous_week_close = spy_daily["close"].groupby(spy_daily.index.to_period("W-SUN")).last().shift(1)
    np.testing.assert_array_equal(weekly[inside], previous_week_close.reindex(week[inside]).to_numpy())


def test_coarse_slot_history_is_fetched_before_the_start(shared_data, spy_daily):
    """A window over a weekly slot is converged on the first requested bar: the same as with years more."""
    doc = _doc({"prices": {"kind": "ohlcv"}, "weekly": {"kind": "ohlcv", "frequency": "1Week",
                                                        "symbol_from": "prices"}},
               "close > sma(weekly.close, 10)")
    short = ruleengine.load_data(doc, "SPY", "2010-03-01", "2010-12-31", data=str(shared_data))
    long = ruleengine.load_data(doc, "SPY", "2009-01-02", "2010-12-31", data=str(shared_data))
    assert not np.isnan(short.frame("weekly", "close")["SPY"].iloc[0])  # the warm-up's first bar too
    compiled = ruleengine.compile_strategy(doc)
    e_short = compiled.signals(short).to_pandas().entries
    e_long = compiled.signals(long).to_pandas().entries
    assert pd.DataFrame(e_short).equals(pd.DataFrame(e_long).loc[e_short.index[0]:])
    assert 0 < pd.DataFrame(e_short).to_numpy().mean() < 1  # a condition that both holds and fails


def test_a_window_over_a_coarser_slot_is_said_to_count_execution_bars(shared_data):
    doc = _doc({"prices": {"kind": "ohlcv"}, "weekly": {"kind": "ohlcv", "frequency": "1Week",
                                                        "symbol_from": "prices"}},
               "close > sma(weekly.close, 10) and weekly.close[1] > 0 and sma(close - weekly.close, 5) > 0")
    md = ruleengine.load_data(doc, "SPY", "2010-03-01", "2010-06-30", data=str(shared_data))
    said = sorted(w.message.split("(")[0] for w in md.warnings if w.code == "D144")
    assert said == ["shift", "sma"]  # not the sma over close - weekly.close: that one mixes in daily bars
    example = ruleengine.load_data(RULES / "weekly_trend_daily_entries.yaml", "SPY", "2010-03-01", "2010-06-30",
                                   data=str(shared_data))
    assert not [w for w in example.warnings if w.code == "D144"]


# ---------------------------------------------------------------------------------------- intraday execution
@pytest.fixture(scope="module")
def spy_minutes() -> pd.DataFrame:
    raw = pd.read_parquet(require_shared("intraday_1min.parquet"), filters=[("symbol", "==", "SPY")])
    return raw.set_index("datetime")[OHLC].sort_index()


INTRADAY_DOC = _doc({
    "prices": {"kind": "ohlcv", "frequency": "1Min"},
    "daily": {"kind": "ohlcv", "frequency": "1Day", "symbol_from": "prices"},
    "weekly": {"kind": "ohlcv", "frequency": "1Week", "symbol_from": "prices"},
}, "close > daily.close and close > weekly.close", execution="1Hour")


def _intraday_md(shared_data: Path, end: object) -> ruleengine.MarketData:
    return ruleengine.load_data(INTRADAY_DOC, "SPY", "2019-12-13", end, data=str(shared_data),
                                columns={"prices": set(OHLC), "daily": set(OHLC), "weekly": set(OHLC)})


def _session_oracle(minutes: pd.DataFrame) -> pd.DataFrame:
    """Daily bars of the sessions the minute data cover from open to close (first bar 09:30, last bar ending
    at the close), each visible from its session close (16:00 local, 13:00 on 2019-12-24)."""
    local = minutes.index.tz_convert(NY)
    day = local.normalize().tz_localize(None)
    half_day = day == pd.Timestamp("2019-12-24")
    in_session = np.where(half_day, local.strftime("%H:%M") < "13:00", True)  # prints after a half day's close
    minutes, local, day = minutes[in_session], local[in_session], day[in_session]
    grouped = minutes.groupby(day)
    bars = grouped.agg({"open": "first", "high": "max", "low": "min", "close": "last"})
    first = pd.Series(local, index=day).groupby(level=0).min()
    last = pd.Series(local, index=day).groupby(level=0).max()
    close_at = pd.Series([pd.Timestamp(f"{d.date()} {'13:00' if d == pd.Timestamp('2019-12-24') else '16:00'}",
                                       tz=NY) for d in bars.index], index=bars.index)
    whole = (first.dt.strftime("%H:%M") == "09:30") \
        & (last + pd.Timedelta(minutes=1) >= close_at - pd.Timedelta("30min"))
    bars = bars[whole.to_numpy()]
    bars["visible"] = close_at[whole.to_numpy()].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    return bars.set_index("visible")


def _hour_closes(md: ruleengine.MarketData) -> pd.DatetimeIndex:
    """Close instant of each hourly bar (start + 1 h, capped at the session close), naive UTC."""
    from ruleengine.data.calendar import bar_close_times

    return bar_close_times(md.index, "1Hour").tz_localize(None)


def test_daily_and_weekly_slots_on_hourly_bars_equal_an_oracle(shared_data, spy_minutes):
    md = _intraday_md(shared_data, "2020-01-16")
    closes = _hour_closes(md)
    daily = _session_oracle(spy_minutes)
    expected = _as_of(daily, closes)
    for col in OHLC:
        np.testing.assert_array_equal(md.frame("daily", col)["SPY"].to_numpy(), expected[col].to_numpy(),
                                      err_msg=f"daily.{col}")
    # weekly: calendar weeks whose every session is whole in the minute data, visible from the last close
    sessions = daily.assign(day=daily.index.tz_localize("UTC").tz_convert(NY).normalize().tz_localize(None))
    weeks = sessions.groupby(sessions["day"].dt.to_period("W-SUN"))
    weekly = weeks.agg({"open": "first", "high": "max", "low": "min", "close": "last"})
    weekly["visible"] = weeks.apply(lambda g: g.index.max()).to_numpy()
    from ruleengine.data.calendar import sessions_between

    full = [len(g) == len(sessions_between(p.start_time, p.end_time)) for p, g in weeks]
    expected_w = _as_of(weekly[full].set_index("visible"), closes)
    np.testing.assert_array_equal(md.frame("weekly", "close")["SPY"].to_numpy(), expected_w["close"].to_numpy())
    assert np.isfinite(md.frame("weekly", "close")["SPY"].to_numpy()).sum() > 50


def test_truncated_at_every_hour_of_a_week_no_forming_day_or_week_appears(shared_data):
    full = _intraday_md(shared_data, "2020-01-16")
    cols = [("daily", c) for c in OHLC] + [("weekly", c) for c in OHLC]
    reference = {k: full.frame(*k)["SPY"] for k in cols}
    checked = 0
    for cut in pd.date_range("2019-12-30 00:00", "2020-01-05 23:00", freq="1h"):  # Mon..Sun, with New Year
        md = _intraday_md(shared_data, cut)
        for key in cols:
            got = md.frame(*key)["SPY"]
            # each row equals the full data's row: a forming day / week (only partly in the cut data) would not
            pd.testing.assert_series_equal(got, reference[key].loc[got.index], obj=f"{key} cut at {cut}")
        checked += 1
    assert checked == 24 * 7


# ---------------------------------------------------------------------------------------- symbol_from
def test_one_symbol_fills_a_slot_and_its_views():
    from ruleengine.data.symbols import slot_runs

    strat = ruleengine.load_strategy(DAILY_WEEKLY_MONTHLY)
    assert slot_runs("SPY,QQQ", strat.data) == [{"prices": "SPY", "weekly": "SPY", "monthly": "SPY"},
                                                {"prices": "QQQ", "weekly": "QQQ", "monthly": "QQQ"}]
    assert slot_runs("prices=SPY", strat.data)[0]["weekly"] == "SPY"
    full_run = {"prices": "SPY", "weekly": "SPY", "monthly": "SPY"}  # a run read back from MarketData.runs
    assert slot_runs(full_run, strat.data) == [full_run]
    with pytest.raises(RuleEngineError) as err:
        slot_runs("prices=SPY,weekly=QQQ", strat.data)
    assert [d.code for d in err.value.diagnostics] == ["D142"] and err.value.diagnostics[0].path == "symbols.weekly"


def test_a_pair_still_needs_a_symbol_per_asset():
    from ruleengine.data.symbols import slot_runs

    pair = ruleengine.load_strategy(_doc({
        "asset_a": {"kind": "ohlcv"}, "asset_b": {"kind": "ohlcv"},
        "weekly_a": {"kind": "ohlcv", "frequency": "1Week", "symbol_from": "asset_a"}},
        "asset_a.close > weekly_a.close"))
    with pytest.raises(RuleEngineError) as err:
        slot_runs("GLD", pair.data)
    assert err.value.diagnostics[0].code == "D115"
    assert slot_runs("asset_a=GLD,asset_b=SLV", pair.data) == [{"asset_a": "GLD", "asset_b": "SLV",
                                                                 "weekly_a": "GLD"}]


@pytest.mark.parametrize("slots,code,needle", [
    ({"prices": {}, "weekly": {"frequency": "1Week", "symbol_from": "pricez"}}, "D140", "did you mean 'prices'"),
    ({"prices": {}, "a": {"symbol_from": "b"}, "b": {"symbol_from": "a"}}, "D141", "a -> b -> a"),
    ({"prices": {"symbol_from": "prices"}}, "D141", "prices -> prices"),
])
def test_symbol_from_unknown_slot_or_cycle_is_a_diagnostic(slots, code, needle):
    with pytest.raises(RuleEngineError) as err:
        ruleengine.load_strategy(_doc(slots, "close > 0"))
    d = err.value.diagnostics[0]
    assert d.code == code and needle in f"{d.message} {d.hint}"


# ---------------------------------------------------------------------------------------- live == backtest
def test_live_signals_equal_the_backtest_signals(shared_data):
    path = RULES / "weekly_trend_daily_entries.yaml"
    compiled = ruleengine.compile_strategy(ruleengine.load_strategy(path))
    md = ruleengine.load_data(compiled, "SPY,QQQ,XLK", "2012-01-01", "2013-12-31", data=str(shared_data))
    sig = compiled.signals(md).to_pandas()
    entries, exits = sig.entries, sig.exits
    fired = entries.index[entries.any(axis=1) | exits.any(axis=1)]
    days = list(fired[:6]) + list(entries.index[[5, 6, 7, 8, 9]])  # signal days and a quiet Mon..Fri
    assert len(fired) >= 6
    for day in days:
        live = ruleengine.live_signals(path, "SPY,QQQ,XLK", asof=day.date(), data=str(shared_data))
        got = {(s.ticker, s.signal_type) for s in live}
        want = {(sym, "entry") for sym in entries.columns if entries.loc[day, sym]}
        want |= {(sym, "exit") for sym in exits.columns if exits.loc[day, sym]}
        assert got == want, day
        assert all(pd.Timestamp(s.bar_time).date() == day.date() for s in live)


# ---------------------------------------------------------------------------------------- dating (item 5)
@pytest.mark.parametrize("frequency", ["1Week", "1Month"])
@pytest.mark.parametrize("price", ["close", "open"])
def test_coarse_bars_and_fills_are_dated_when_the_price_existed(shared_data, spy_daily, frequency, price):
    res = ruleengine.backtest(RULES / "golden_cross.yaml", "SPY", "2006-01-01", "2017-12-29", data=str(shared_data),
                              params={"execution_frequency": frequency, "execution_price": price, "fast": 5,
                                      "slow": 20})
    run = res.results[0]
    rule = "W-SUN" if frequency == "1Week" else "M"
    days = spy_daily.index
    last_day = pd.Series(days, index=days).groupby(days.to_period(rule)).transform("max")
    first_day = pd.Series(days, index=days).groupby(days.to_period(rule)).transform("min")
    # bars (and so equity) are labelled by their last session: the close they are marked at
    eq = pd.DatetimeIndex(run.equity.time)
    assert (last_day.reindex(eq).to_numpy() == eq.to_numpy()).all()
    assert run.trades
    for t in run.trades:
        entry, exit_ = pd.Timestamp(t.entry_time), pd.Timestamp(t.exit_time)
        if price == "close":  # filled at the close of the signal bar: its last session, at that day's close
            assert entry == last_day[entry] and t.entry_price == pytest.approx(spy_daily.loc[entry, "close"])
        else:  # filled at the next bar's open: its first session, at that day's open
            assert entry == first_day[entry] and t.entry_price == pytest.approx(spy_daily.loc[entry, "open"])
        if t.exit_reason == "signal" and price == "open":
            assert exit_ == first_day[exit_] and t.exit_price == pytest.approx(spy_daily.loc[exit_, "open"])
        elif t.exit_reason in ("signal", "max_hold", "end_of_data"):
            assert exit_ == last_day[exit_] and t.exit_price == pytest.approx(spy_daily.loc[exit_, "close"])
        else:  # a stop inside the bar: dated at its last session, a price of that bar's range
            assert exit_ == last_day[exit_]
            bar = spy_daily.loc[first_day[exit_]:exit_]
            assert bar["low"].min() - 1e-9 <= t.exit_price <= bar["high"].max() + 1e-9
        assert exit_ >= entry


# ---------------------------------------------------------------------------------------- one calendar lookup
def test_the_calendar_is_loaded_once_per_run(shared_data, monkeypatch):
    """Weekly and monthly runs used to re-read the session table (and parse the package metadata) once per
    period: 7,381 times in one backtest. Counted, not timed."""
    monkeypatch.setattr(cal_mod, "_CALENDARS", {})
    monkeypatch.setattr(cal_mod, "LOADS", {})
    for frequency in ("1Week", "1Month", "1Day"):
        ruleengine.backtest(RULES / "golden_cross.yaml", "SPY", "2006-01-01", "2017-12-29", data=str(shared_data),
                            params={"execution_frequency": frequency, "fast": 5, "slow": 20})
    assert cal_mod.LOADS == {"XNYS": 1}


@pytest.mark.parametrize("frequency", ["1Week", "1Month"])
def test_weekly_monthly_arrays_equal_the_frame_resampling(shared_data, frequency):
    """The binder's numpy path (a universe's daily arrays at once) gives `resample_ohlcv`'s bars per symbol:
    symbols that start, end and have gaps at different dates (LEHMQ, WAG: 2001-09 closure) included."""
    from ruleengine.data.registry import default_registry
    from ruleengine.data.resample import resample_matrix, resample_ohlcv

    provider = default_registry(str(shared_data)).resolve(None, "ohlcv", "1Day", None, slot="prices")
    cols = ["open", "high", "low", "close", "volume"]
    _, index, arrays, _ = provider.fetch_matrix(["SPY", "LEHMQ", "GLD", "WAG"], pd.Timestamp("2001-06-13"),
                                                pd.Timestamp("2012-06-13"), "1Day", cols)
    names = list(arrays.pop("_symbols"))
    labels, out = resample_matrix(index, arrays, frequency)
    for j, sym in enumerate(names):
        frame = pd.DataFrame({c: arrays[c][:, j] for c in cols}, index=index)[arrays["_present"][:, j]]
        frame.attrs["frequency"] = "1Day"
        expected = resample_ohlcv(frame, frequency)
        got = pd.DataFrame({c: out[c][:, j] for c in cols}, index=labels)[out["_present"][:, j]]
        assert len(expected) > 50
        pd.testing.assert_frame_equal(got, expected, check_names=False, check_freq=False, obj=sym)


@pytest.mark.parametrize("asof,bar", [("2011-03-09", "2011-03-04"), ("2011-03-11", "2011-03-11"),
                                      ("2011-04-22", "2011-04-21")])  # Wed; Fri; Good Friday: Thursday
def test_a_weekly_live_signal_is_dated_at_the_last_completed_weeks_close(shared_data, asof, bar):
    from ruleengine.live.signals import live_scan

    scan = live_scan(RULES / "golden_cross.yaml", "SPY,QQQ,XLK", asof=asof, data=str(shared_data),
                                params={"execution_frequency": "1Week", "fast": 5, "slow": 20})
    assert str(pd.Timestamp(scan.bar_time).date()) == bar
    assert all(str(pd.Timestamp(s.bar_time).date()) == bar for s in scan.signals)


def test_a_slot_finer_than_the_execution_is_resampled_to_it(shared_data, spy_daily):
    """The rule that was there before: a 1Day slot on weekly bars holds those weekly (completed) bars."""
    doc = _doc({"prices": {"kind": "ohlcv", "frequency": "1Week"},
                "daily": {"kind": "ohlcv", "frequency": "1Day", "symbol_from": "prices"}},
               "close > daily.close", execution="1Week")
    md = ruleengine.load_data(doc, "SPY", "2010-01-01", "2010-12-31", data=str(shared_data),
                              columns={"prices": set(OHLC), "daily": set(OHLC)})
    weekly = _period_oracle(spy_daily, "W-SUN")
    for col in OHLC:
        np.testing.assert_array_equal(md.frame("daily", col)["SPY"].to_numpy(),
                                      weekly.loc[md.index.tz_localize(None), col].to_numpy())
        np.testing.assert_array_equal(md.frame("daily", col).to_numpy(), md.frame("prices", col).to_numpy())
