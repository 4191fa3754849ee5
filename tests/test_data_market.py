"""Binding: strategy slots + run-time symbols -> aligned point-in-time arrays (ruleengine.data.market)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ruleengine
from ruleengine.errors import RuleEngineError
from ruleengine.strategies import load_data

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
GOLDEN = str(RULES / "golden_cross.yaml")


def test_sample_run_fetches_the_derived_warm_up_before_start() -> None:
    compiled = ruleengine.compile_strategy(GOLDEN)
    md = load_data(compiled, "SPY", "2020-01-01", "2020-12-31")
    assert md.synthetic and md.providers == {"prices": "sample"}
    assert md.labels == ["SPY"] and md.frequency == "1Day"
    assert md.index.tz is not None and str(md.index.tz) == "UTC"
    assert md.index[md.start] == pd.Timestamp("2020-01-02", tz="UTC")  # first session of the range
    assert md.index[-1] == pd.Timestamp("2020-12-31", tz="UTC")
    assert md.start >= compiled.converge_bars()  # history enough for converged recursive indicators
    close = md.inputs[("prices", "close")]
    assert close.shape == (md.n_rows, 1) and close.flags.f_contiguous and not np.isnan(close).any()
    # the bars are exactly the provider's bars (no alignment artefacts)
    raw = ruleengine.default_registry().get("sample").fetch(
        __import__("ruleengine.data.base", fromlist=["FetchRequest"]).FetchRequest(
            "SPY", "ohlcv", md.index[0].tz_localize(None), pd.Timestamp("2020-12-31")))
    np.testing.assert_array_equal(close[:, 0], raw["close"].to_numpy())


def test_signals_on_market_data_cover_the_requested_range_and_equal_the_dataframe_path() -> None:
    compiled = ruleengine.compile_strategy(GOLDEN)
    md = load_data(compiled, "SPY,QQQ", "2019-01-01", "2020-12-31")
    sig = compiled.signals(md, {"fast": [10, 20], "slow": 50}).to_pandas()
    entries, exits = sig.entries, sig.exits
    assert entries.index[0] == md.index[md.start] and len(entries) == md.n_rows - md.start
    assert list(entries.columns) == [(10, "SPY"), (10, "QQQ"), (20, "SPY"), (20, "QQQ")]
    frame = pd.concat({lab: md.frame("prices", "close")[lab].rename("close").to_frame()
                       for lab in md.labels}, axis=1)
    sig = compiled.signals(frame, {"fast": [10, 20], "slow": 50}).to_pandas()
    e2, x2 = sig.entries, sig.exits
    pd.testing.assert_frame_equal(entries, e2.iloc[md.start:], check_names=False)
    pd.testing.assert_frame_equal(exits, x2.iloc[md.start:], check_names=False)


def test_pairs_map_each_slot_to_its_symbol() -> None:
    md = load_data(str(RULES / "pairs_zscore.yaml"), "asset_a=GLD,asset_b=SLV", "2019-01-01", "2019-06-30")
    assert md.labels == ["GLD/SLV"] and md.runs == [{"asset_a": "GLD", "asset_b": "SLV"}]
    a, b = md.inputs[("asset_a", "close")], md.inputs[("asset_b", "close")]
    assert not np.array_equal(a, b)
    with pytest.raises(RuleEngineError) as err:
        load_data(str(RULES / "pairs_zscore.yaml"), "GLD", "2019-01-01", "2019-06-30")
    assert err.value.diagnostics[0].code == "D115" and err.value.error_type == "schema_mismatch_error"


def test_intraday_execution_resamples_minutes_to_completed_hour_bars() -> None:
    text = (RULES / "golden_cross.yaml").read_text(encoding="utf-8")
    md = load_data(text, "SPY", "2024-03-04", "2024-03-08",
                          params={"execution_frequency": "1Hour", "fast": 3, "slow": 6}, warmup_bars=14)
    assert md.frequency == "1Hour"
    local = md.index[md.start:].tz_convert("America/New_York")
    assert local[0] == pd.Timestamp("2024-03-04 09:30", tz="America/New_York")
    assert len(local) == 5 * 7  # 09:30, 10:30, ..., 15:30 on five full sessions
    assert (local.minute == 30).all()


def test_unknown_provider_and_kind_errors_name_the_slot() -> None:
    doc = ("name: t\ndata:\n  prices: {kind: ohlcv, provider: fmpp}\nentry: ['close > 1']\nexit: ['close < 1']\n")
    with pytest.raises(RuleEngineError) as err:
        load_data(doc, "SPY", "2020-01-01", "2020-02-01")
    d = err.value.diagnostics[0]
    assert d.code == "D108" and d.path == "data.prices.provider" and "fmp" in (d.hint or "")
    doc2 = ("name: t\ndata:\n  prices: {kind: ohlcv}\n  km: {kind: key_metrics, frequency: quarterly}\n"
            "entry: ['km.pe_ratio < 10']\nexit: ['close < 1']\n")
    with pytest.raises(RuleEngineError) as err:
        load_data(doc2, "SPY", "2020-01-01", "2020-02-01", provider="sample")
    assert err.value.diagnostics[0].code == "D109" and "fmp" in (err.value.diagnostics[0].hint or "")


@pytest.mark.realdata
def test_universe_skips_a_symbol_without_data_with_a_warning(shared_data: Path) -> None:
    md = load_data(GOLDEN, "SPY,NOPE,QQQ", "2015-01-01", "2017-12-29", data=str(shared_data))
    assert md.labels == ["SPY", "QQQ"] and not md.synthetic and md.providers == {"prices": "local"}
    assert [w.code for w in md.warnings] == ["D116"] and "NOPE" in md.warnings[0].message
    assert md.warnings[0].severity == "warning"
    with pytest.raises(RuleEngineError) as err:  # one run: the missing symbol is the error
        load_data(GOLDEN, "NOPE", "2015-01-01", "2017-12-29", data=str(shared_data))
    assert err.value.diagnostics[0].code == "D110" and err.value.error_type == "invalid_symbol_error"


RSI_DOC = ("name: rsi band\ndata: {prices: {kind: ohlcv}}\n"
           "entry: ['rsi(close, 14) > 55']\nexit: ['rsi(close, 14) < 45 or close < ema(close, 50)']\n")


@pytest.mark.realdata
def test_live_equals_backtest_thanks_to_the_derived_history(shared_data: Path) -> None:
    """Signals from a short fetch (warm-up derived by the compiler) equal those of a long history."""
    compiled = ruleengine.compile_strategy(RSI_DOC)
    short = load_data(compiled, "SPY", "2016-06-01", "2017-12-29", data=str(shared_data))
    long = load_data(compiled, "SPY", "2008-01-02", "2017-12-29", data=str(shared_data))
    sig = compiled.signals(short).to_pandas()
    e_s, x_s = sig.entries, sig.exits
    sig = compiled.signals(long).to_pandas()
    e_l, x_l = sig.entries, sig.exits
    assert list(e_s.columns) == ["SPY"]  # market data: a column per run, also for one run
    pd.testing.assert_frame_equal(e_s, e_l.loc[e_s.index])
    pd.testing.assert_frame_equal(x_s, x_l.loc[x_s.index])
    assert e_s.to_numpy().sum() > 20 and x_s.to_numpy().sum() > 20
    # the test can fail: with only the lookback as history, Wilder's RSI and the EMA have not converged
    bare = load_data(compiled, "SPY", "2016-06-01", "2017-12-29", data=str(shared_data),
                            warmup_bars=compiled.warmup())
    sig = compiled.signals(bare).to_pandas()
    e_b, x_b = sig.entries, sig.exits
    assert (e_b != e_l.loc[e_b.index]).to_numpy().any() or (x_b != x_l.loc[x_b.index]).to_numpy().any()


@pytest.mark.realdata
def test_earnings_are_visible_from_the_session_after_an_after_close_announcement(shared_data: Path) -> None:
    md = load_data(str(RULES / "pe_ratio_earnings.yaml"), "AAPL", "2014-01-01", "2014-03-31",
                          data=str(shared_data))
    eps = md.frame("earnings", "eps")["AAPL"]
    # AAPL announced 14.50 after the close of 2014-01-27 (AMC): the 27th still sees the previous quarter
    assert eps.loc["2014-01-27"].item() == pytest.approx(8.26)
    assert eps.loc["2014-01-28"].item() == pytest.approx(14.50)
    # the value in force at the start was announced before the range (carried in)
    assert eps.loc["2014-01-02"].item() == pytest.approx(8.26)


@pytest.mark.realdata
@pytest.mark.parametrize("cut", ["2013-10-28", "2014-01-27", "2014-01-28", "2014-04-23", "2014-07-22"])
def test_truncating_the_data_never_changes_earlier_aligned_values(shared_data: Path, cut: str) -> None:
    rule = str(RULES / "pe_ratio_earnings.yaml")
    full = load_data(rule, "AAPL,MSFT", "2013-06-01", "2014-12-31", data=str(shared_data))
    part = load_data(rule, "AAPL,MSFT", "2013-06-01", cut, data=str(shared_data))
    assert part.index.equals(full.index[:len(part.index)])
    for key, values in part.inputs.items():
        np.testing.assert_array_equal(values, full.inputs[key][:len(part.index)], err_msg=str(key))


@pytest.mark.realdata
def test_a_universe_of_500_symbols_loads_from_local_files(shared_data: Path) -> None:
    symbols = sorted(pd.read_parquet(shared_data / "daily.parquet", columns=["symbol"])["symbol"].unique())
    md = load_data(GOLDEN, symbols, "2013-01-01", "2017-12-01", data=str(shared_data))
    # every symbol with bars in the range is a column; the others are skipped with a warning each
    assert md.n_cols + len(md.skipped) == len(symbols) and md.n_cols > 300
    assert all(w.code == "D116" for w in md.warnings) and len(md.warnings) == len(md.skipped)
    entries = ruleengine.compile_strategy(GOLDEN).signals(md).to_pandas().entries
    assert entries.shape == (md.n_rows - md.start, md.n_cols)


@pytest.mark.realdata
@pytest.mark.parametrize("rule, symbols", [
    ("golden_cross.yaml", "SPY,NOPE,QQQ,AAPL,LEHMQ,BHF"),
    ("pairs_zscore.yaml", "asset_a=GLD,asset_b=TLT"),
    ("pe_ratio_earnings.yaml", "AAPL,MSFT"),
])
def test_matrix_fast_path_equals_frame_by_frame_binding(shared_data: Path, rule: str, symbols: str) -> None:
    """Prices taken side by side from the long file equal the per-symbol frames path, value for value."""
    from ruleengine.data.base import Provider
    from ruleengine.data.local import LocalProvider
    from ruleengine.data.registry import ProviderRegistry

    local = LocalProvider(shared_data)

    class FramesOnly(Provider):  # the same files through the plain provider contract (no fetch_matrix)
        name, cacheable = "local", False
        kinds = property(lambda self: local.kinds)

        def fetch(self, request):  # type: ignore[no-untyped-def]
            return local.fetch(request)

    fast_reg, slow_reg = ProviderRegistry(cache=False), ProviderRegistry(cache=False)
    fast_reg.register(local)
    slow_reg.register(FramesOnly())
    args = (str(RULES / rule), symbols, "2009-06-01", "2012-12-31")
    fast = load_data(*args, registry=fast_reg, provider="local")
    slow = load_data(*args, registry=slow_reg, provider="local")
    assert fast.index.equals(slow.index) and fast.start == slow.start
    assert fast.runs == slow.runs and fast.skipped == slow.skipped
    assert [w.message for w in fast.warnings] == [w.message for w in slow.warnings]
    assert fast.inputs.keys() == slow.inputs.keys()
    for key in fast.inputs:
        np.testing.assert_array_equal(fast.inputs[key], slow.inputs[key], err_msg=str(key))
        assert fast.inputs[key].flags.f_contiguous
