"""Issue 13 items 2 and 7: data the user gave is used as given, or the run stops saying why.

* an explicit data path that cannot serve a slot is an error naming what the path holds (never synthetic data);
* daily files cannot give 5-minute bars: D118 naming the stored frequency (not "symbol not found");
* a folder mixing daily and hourly files reads each file at its own frequency;
* the default date range does not depend on the order of the symbols.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ruleengine.data.base import FetchRequest
from ruleengine.data.local import LocalProvider
from ruleengine.errors import RuleEngineError
from ruleengine.strategies import load_data

pytestmark = pytest.mark.realdata
ROOT = Path(__file__).resolve().parents[1]
GOLDEN = str(ROOT / "rules" / "golden_cross.yaml")
PE = str(ROOT / "rules" / "pe_ratio_earnings.yaml")
NY = "America/New_York"


def only_error(**kwargs) -> RuleEngineError:
    with pytest.raises(RuleEngineError) as exc:
        load_data(**kwargs)
    return exc.value


@pytest.mark.parametrize("strategy, symbol, file, slot, says", [
    (GOLDEN, "SPY", "earnings_quarterly.parquet", "prices",  # an earnings file given as prices
     "earnings_quarterly.parquet holds earnings (eps, reported_eps, estimated_eps, ...) at quarterly for 940 "
     "symbols; slot 'prices' needs ohlcv"),
    (PE, "AAPL", "daily.parquet", "earnings",  # a price file cannot fill an earnings slot with synthetic data
     "daily.parquet holds ohlcv (open, high, low, ...) at 1Day for 482 symbols; slot 'earnings' needs earnings"),
])
def test_a_data_path_that_cannot_serve_a_slot_is_an_error_naming_what_it_holds(
        strategy, symbol, file, slot, says, shared_data, provider_env_cleared):
    err = only_error(strategy=strategy, symbols=symbol, start="2014-01-01", end="2014-12-31",
                     data=str(shared_data / file))
    (d,) = err.diagnostics
    assert d.code == "D109" and d.path == f"data.{slot}" and says in d.message


@pytest.mark.parametrize("provider", [None, "local"])  # the implicit choice and --provider local
def test_five_minute_execution_on_daily_files_is_d118_naming_the_stored_frequency(provider, shared_data,
                                                                                  provider_env_cleared):
    five = {"execution_frequency": "5Min"}
    (d,) = only_error(strategy=GOLDEN, symbols="SPY", start="2017-01-02", end="2017-01-31", params=five,
                      data=str(shared_data / "daily.parquet"), provider=provider).diagnostics
    assert d.code == "D118" and "holds ohlcv at 1Day (daily.parquet): 5Min bars cannot be made" in d.message
    # the folder has 1-minute bars of a few ETFs: a stock stored only daily is D118, not "symbol not found"
    (d,) = only_error(strategy=GOLDEN, symbols="AAPL", start="2017-01-02", end="2017-01-31", params=five,
                      data=str(shared_data), provider=provider).diagnostics
    assert d.code == "D118" and "'AAPL' is stored at 1Day in daily.parquet" in d.message


@pytest.fixture
def mixed_folder(shared_data: Path, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """AAPL.csv: real daily bars (first by name); SPY.csv: real hourly bars built from the 1-minute file."""
    daily = pd.read_parquet(shared_data / "daily.parquet", filters=[("symbol", "==", "AAPL")])
    daily = daily.sort_values("date")[["date", "open", "high", "low", "close", "volume"]].tail(60)
    daily.to_csv(tmp_path / "AAPL.csv", index=False)
    minutes = pd.read_parquet(shared_data / "intraday_1min.parquet", filters=[("symbol", "==", "SPY")])
    minutes = minutes.set_index(pd.DatetimeIndex(minutes["datetime"]).tz_convert(NY).tz_localize(None))
    hourly = minutes.resample("60min", origin="start_day", offset="30min").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}).dropna()
    hourly = hourly[hourly.index >= "2019-12-16"]  # whole sessions only
    hourly.rename_axis("datetime").reset_index().to_csv(tmp_path / "SPY.csv", index=False)
    return tmp_path, hourly


def test_a_folder_mixing_daily_and_hourly_files_reads_each_at_its_own_frequency(mixed_folder):
    folder, hourly = mixed_folder
    p = LocalProvider(folder)
    assert "1Hour" in p.kinds["ohlcv"].frequencies and "Stored at 1Hour, 1Day" in p.kinds["ohlcv"].doc
    out = p.fetch(FetchRequest("SPY", "ohlcv", pd.Timestamp("2019-12-16"), pd.Timestamp("2019-12-20"), "1Hour"))
    assert out.attrs["frequency"] == "1Hour"
    expected = hourly.loc["2019-12-16":"2019-12-20 23:59", "close"]
    np.testing.assert_array_equal(out["close"].to_numpy(), expected.to_numpy())
    assert p.fetch(FetchRequest("AAPL", "ohlcv", pd.Timestamp("2017-11-01"),
                                pd.Timestamp("2017-11-30"))).attrs["frequency"] == "1Day"


def test_hourly_bars_in_a_mixed_folder_bind_at_hourly_and_at_daily_execution(mixed_folder, provider_env_cleared):
    folder, hourly = mixed_folder
    md = load_data(GOLDEN, "SPY", "2019-12-23", "2020-01-10", data=str(folder), warmup_bars=10,
                          params={"execution_frequency": "1Hour", "fast": 2, "slow": 5})
    assert md.providers == {"prices": "local"} and not md.synthetic and md.frequency == "1Hour"
    local = md.index.tz_convert(NY).tz_localize(None)
    np.testing.assert_array_equal(md.inputs[("prices", "close")][:, 0], hourly.loc[local, "close"].to_numpy())
    # daily execution: each session's close is its last hourly close (the file was labelled 1Day before)
    md = load_data(GOLDEN, "SPY", "2019-12-23", "2020-01-10", data=str(folder), warmup_bars=3,
                          params={"fast": 2, "slow": 5})
    sessions = hourly.groupby(hourly.index.normalize())["close"].last()
    days = md.index.tz_localize(None)
    assert len(days) == len(set(days)) and md.frequency == "1Day"
    np.testing.assert_array_equal(md.inputs[("prices", "close")][:, 0], sessions.loc[days].to_numpy())


def test_the_default_range_does_not_depend_on_the_order_of_the_symbols(shared_data, provider_env_cleared):
    data = str(shared_data / "daily.parquet")
    first = load_data(GOLDEN, "ZZZZ,AAPL", data=data)
    second = load_data(GOLDEN, "AAPL,ZZZZ", data=data)
    assert first.index.equals(second.index) and first.labels == second.labels == ["AAPL"]
    assert first.index[-1] == pd.Timestamp("2017-12-05", tz="UTC")  # AAPL's last bar, not today
    both = load_data(GOLDEN, "AA,AAPL", data=data)  # AA ends in 2012: AAPL is not dropped
    assert both.labels == ["AA", "AAPL"] and both.index[-1] == pd.Timestamp("2017-12-05", tz="UTC")
    assert both.index.equals(load_data(GOLDEN, "AAPL,AA", data=data).index)
