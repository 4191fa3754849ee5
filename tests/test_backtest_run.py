"""`ruleengine.backtest.run.backtest`: orchestration, result model, benchmark, universes, portfolios, grids,
parameter splitting and every bad input as a structured error (sample provider and real data)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.prices import sine_prices

from ruleengine import compile_strategy
from ruleengine.api import load_strategy
from ruleengine.backtest.risk import FILL_CONTRACT, resolve_risk
from ruleengine.backtest.run import backtest, buy_and_hold, parse_param_args, split_params
from ruleengine.backtest.simulation import simulate
from ruleengine.errors import RuleEngineError
from ruleengine.strategies import load_data

GC = "rules/golden_cross.yaml"
FAST = {"fast": 10, "slow": 30}
NEVER = {"name": "never", "data": {"prices": {"kind": "ohlcv"}}, "entry": ["close < 0"],
         "exit": ["close > 0"]}


@pytest.fixture(autouse=True)
def clean_env(provider_env_cleared):
    """Provider defaults from the environment (an FMP key, RULEENGINE_PROVIDER) must not change these runs."""


def _codes(exc: pytest.ExceptionInfo[RuleEngineError]) -> list[str]:
    return [d.code for d in exc.value.diagnostics]


@pytest.fixture(scope="module")
def csv_dir(tmp_path_factory):
    """Per-symbol CSV files for the local provider: a good one, one with only NaN prices, one with a price < 0."""
    d = tmp_path_factory.mktemp("prices")
    df = sine_prices(300, 100, 10, 9.0)
    df.to_csv(d / "GOOD.csv", index=False)
    nan = df.copy()
    nan[["open", "high", "low", "close"]] = np.nan
    nan.to_csv(d / "NANS.csv", index=False)
    neg = df.copy()
    neg.loc[150, ["low", "close"]] = -1.0
    neg.to_csv(d / "NEG.csv", index=False)
    return d


# ------------------------------------------------------------------------------------------ sample provider


def test_single_run_result_model_and_json() -> None:
    res = backtest(GC, "SPY", "2015-01-01", "2016-12-30", params=FAST)
    assert res.success is True and len(res.results) == 1
    run = res.results[0]
    assert run.label == "SPY" and run.symbols == {"prices": "SPY"}
    assert run.data.synthetic and run.data.providers == {"prices": "sample"} and run.data.frequency == "1Day"
    assert run.data.start == "2015-01-02" and run.data.end == "2016-12-30"
    assert run.data.bars == len(run.equity.time) == len(run.equity.value) == 504
    assert res.fill_contract == FILL_CONTRACT and "fill_contract" not in run.model_dump()
    assert run.risk["stop_loss_pct"] == 10.0 and run.risk["fees_pct"] == 0.1
    assert run.risk["defaults_used"] == ["slippage_pct"]
    assert run.params == {"fast": 10, "slow": 30, "rsi_max": 70.0, "execution_frequency": "1Day",
                          "execution_price": "close"}
    m = run.metrics
    assert m.total_trades == len(run.trades) > 0
    assert m.final_equity == pytest.approx(run.equity.value[-1], rel=1e-15)
    assert m.total_return_pct == pytest.approx((run.equity.value[-1] / 10_000 - 1) * 100, rel=1e-12)
    for t in run.trades:
        assert t.symbol == "SPY" and t.exit_reason in {"signal", "stop_loss", "take_profit", "max_hold",
                                                        "end_of_data"}
        assert run.equity.time[t.entry_bar] == t.entry_time and run.equity.time[t.exit_bar] == t.exit_time
    # SYNTHETIC flagged, per run and overall
    assert any(w["code"] == "D120" and w["message"].startswith("SYNTHETIC data: not SPY's real prices")
               for w in res.warnings)
    assert [w["message"] for w in run.warnings if w["code"] == "D120"] == ["SYNTHETIC data: not SPY's real prices"]
    # the benchmark is SPY itself: buy and hold from the first to the last close of the run
    md = load_data(GC, "SPY", "2015-01-01", "2016-12-30", params=FAST)
    close = md.inputs[("prices", "close")][md.start:, 0]
    assert run.benchmark.symbol == "SPY" and run.benchmark.synthetic
    assert run.benchmark.total_return_pct == pytest.approx((close[-1] / close[0] - 1) * 100, rel=1e-12)
    assert m.benchmark_return_pct == run.benchmark.total_return_pct
    # JSON: strict, complete, round-trips
    data = json.loads(res.to_json())
    assert set(data) == {"success", "synthetic", "fill_contract", "results", "warnings", "provenance"}
    assert data["synthetic"] is True and data["fill_contract"].startswith("Fill contract")
    assert data["results"][0]["metrics"]["total_trades"] == m.total_trades
    assert set(data["results"][0]["trades"][0]) == {"symbol", "entry_time", "exit_time", "entry_price",
                                                    "exit_price", "size", "pnl", "pnl_pct", "fees",
                                                    "exit_reason", "entry_bar", "exit_bar"}


@pytest.mark.parametrize("path", sorted(Path("rules").glob("*.yaml")), ids=lambda p: p.stem)
def test_strategy_hash_is_the_sha256_of_the_canonical_document(path: Path) -> None:
    """The document's own hash is the one results and the store have always filed strategies under."""
    strat = load_strategy(str(path))
    canonical = json.dumps(strat.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert strat.strategy_hash() == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert load_strategy(strat.to_dict()).strategy_hash() == strat.strategy_hash()  # layout does not count


def test_provenance() -> None:
    res = backtest(GC, "SPY", "2016-01-01", "2016-12-30", params={**FAST, "stop_loss_pct": 4})
    p = res.provenance
    strat = load_strategy(GC)
    canonical = json.dumps(strat.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert p.strategy_hash == hashlib.sha256(canonical.encode()).hexdigest() == strat.strategy_hash()
    assert p.strategy_name == "Golden cross with RSI filter"
    assert p.params["fast"] == 10 and p.params["slow"] == 30 and p.risk_overrides == {"stop_loss_pct": 4}
    assert (p.start, p.end, p.frequency, p.init_cash, p.engine) == ("2016-01-04", "2016-12-30", "1Day", 10_000.0,
                                                                    "numba")
    assert {"python", "ruleengine", "numpy", "pandas", "numba"} <= set(p.versions)
    assert "vectorbt" not in p.versions  # only recorded when it was used


def test_risk_overrides_and_open_fills() -> None:
    res = backtest(GC, "QQQ", "2012-01-01", "2016-12-30",
                   params={**FAST, "stop_loss_pct": 4, "execution_price": "open", "max_hold_bars": 15})
    run = res.results[0]
    assert run.risk["stop_loss_pct"] == 4.0 and run.risk["execution_price"] == "open"
    assert run.risk["max_hold_bars"] == 15 and run.risk["max_hold_days"] == 250  # the document's own
    md = load_data(GC, "QQQ", "2012-01-01", "2016-12-30", params=FAST)
    opens = md.inputs[("prices", "open")][md.start:, 0]
    lows = md.inputs[("prices", "low")][md.start:, 0]
    assert run.trades
    for t in run.trades:
        assert t.entry_price == pytest.approx(opens[t.entry_bar], rel=1e-12)  # next bar's open, no slippage
        if t.exit_reason == "stop_loss":
            # at the level, or at the open when the bar gapped through it: inside the exit bar's range
            assert lows[t.exit_bar] - 1e-9 <= t.exit_price <= t.entry_price * 0.96 + 1e-9
        assert t.exit_bar - t.entry_bar <= 15
    assert "max_hold" in run.exit_reasons() or "stop_loss" in run.exit_reasons()


def test_strategy_that_never_fires_is_valid_with_warning() -> None:
    res = backtest(NEVER, "SPY", "2016-01-01", "2016-06-30")
    run = res.results[0]
    assert run.trades == [] and run.metrics.total_trades == 0 and run.metrics.total_return_pct == 0.0
    assert run.metrics.win_rate is None and run.metrics.exposure_pct == 0.0
    assert set(run.equity.value) == {10_000.0}
    assert [w["code"] for w in res.warnings] == ["D120", "D119"]
    assert "no trades" in res.warnings[1]["message"]


def test_universe_runs_are_independent_and_grid_labels() -> None:
    res = backtest(GC, "SPY,QQQ,IWM", "2014-01-01", "2016-12-30", params=FAST)
    assert [r.label for r in res.results] == ["SPY", "QQQ", "IWM"]
    alone = backtest(GC, "QQQ", "2014-01-01", "2016-12-30", params=FAST).results[0]
    # the same run, plus the universe benchmark that a run of one symbol has not
    assert res.results[1].metrics.universe_benchmark_return_pct is not None
    assert res.results[1].metrics.model_copy(update={"universe_benchmark_return_pct": None}) == alone.metrics
    assert res.results[1].trades == alone.trades
    assert all(r.benchmark.symbol == "SPY" for r in res.results)
    assert res.results[1].benchmark.total_return_pct == res.results[0].benchmark.total_return_pct
    grid = backtest(GC, "SPY,QQQ", "2014-01-01", "2016-12-30", params={"fast": [10, 20], "slow": 30})
    assert [r.label for r in grid.results] == ["SPY [fast=10]", "QQQ [fast=10]", "SPY [fast=20]", "QQQ [fast=20]"]
    assert grid.results[1].trades == alone.trades and grid.results[2].params["fast"] == 20


def test_portfolio_shares_cash() -> None:
    res = backtest(GC, "SPY,QQQ,IWM", "2014-01-01", "2016-12-30", params={**FAST, "position_size_pct": 30},
                   portfolio=True)
    assert len(res.results) == 1
    run = res.results[0]
    assert run.label == "portfolio of 3" and run.symbols == {"prices": ["SPY", "QQQ", "IWM"]}
    assert {t.symbol for t in run.trades} <= {"SPY", "QQQ", "IWM"} and len({t.symbol for t in run.trades}) > 1
    assert run.metrics.total_trades == len(run.trades)
    # all the money is one account: final equity = initial cash + every trade's pnl
    assert run.metrics.final_equity == pytest.approx(10_000 + sum(t.pnl for t in run.trades), rel=1e-9)


def test_pair_run_and_progress() -> None:
    calls: list[tuple[int, int, str]] = []
    res = backtest("rules/pairs_zscore.yaml", "asset_a=GLD,asset_b=SLV", "2015-01-01", "2016-12-30",
                   progress=lambda done, total, step: calls.append((done, total, step)))
    run = res.results[0]
    assert run.symbols == {"asset_a": "GLD", "asset_b": "SLV"} and run.label == "GLD/SLV"
    assert run.risk["max_hold_days"] == 30 and "take_profit_pct" in run.risk["defaults_used"]  # short_term: 15 %
    assert run.risk["take_profit_pct"] == 15.0
    assert [c[0] for c in calls] == list(range(len(calls)))
    assert calls[0] == (0, 0, "loading data") and calls[-1] == (5, 5, "done") and len(calls) == 6


def test_weekly_and_hourly_execution() -> None:
    weekly = {"name": "w", "data": {"prices": {"kind": "ohlcv"}},
              "params": {"execution_frequency": {"type": "enum", "values": ["1Day", "1Week"], "default": "1Week"}},
              "entry": ["crosses_above(sma(close, 4), sma(close, 12))"],
              "exit": ["crosses_below(sma(close, 4), sma(close, 12))"]}
    run = backtest(weekly, "QQQ", "2010-01-01", "2016-12-30").results[0]
    assert run.data.frequency == "1Week" and run.metrics.periods_per_year == 52
    assert run.benchmark.symbol == "SPY" and run.benchmark.total_return_pct is not None
    assert run.data.bars == len(run.equity.time) and 360 <= run.data.bars <= 366
    hourly = backtest(GC, "SPY", "2024-01-02", "2024-01-31",
                      params={**FAST, "execution_frequency": "1Hour"}).results[0]
    assert hourly.metrics.periods_per_year == 252 * 7
    assert hourly.equity.time[:2] == ["2024-01-02T14:30:00Z", "2024-01-02T15:30:00Z"]  # 09:30 New York, UTC


def test_buy_and_hold() -> None:
    eq, ret = buy_and_hold(np.array([np.nan, 10.0, 12.0, np.nan, 15.0]), 100.0)
    assert np.allclose(eq, [100.0, 100.0, 120.0, 120.0, 150.0]) and ret == pytest.approx(50.0)
    assert buy_and_hold(np.array([np.nan]), 100.0)[1] is None


# ------------------------------------------------------------------------------------------ parameters


def test_split_and_parse_params() -> None:
    strat = load_strategy(GC)
    assert split_params(strat, {"fast": 5, "stop_loss_pct": 4, "execution_price": "open"}) == (
        {"fast": 5, "execution_price": "open"}, {"stop_loss_pct": 4, "execution_price": "open"})
    parsed = parse_param_args(strat, ["fast=20", "rsi_max=65.5", "execution_price=open", "stop_loss_pct=4",
                                      "max_hold_days=30", "take_profit_pct=none"])
    assert parsed == {"fast": 20, "rsi_max": 65.5, "execution_price": "open", "stop_loss_pct": 4.0,
                      "max_hold_days": 30, "take_profit_pct": None}
    assert isinstance(parsed["fast"], int) and isinstance(parsed["rsi_max"], float)
    with pytest.raises(RuleEngineError) as exc:
        parse_param_args(strat, ["fast=2.5", "slow=abc", "nope=1", "justaname", "max_hold_days=1.5"])
    assert _codes(exc) == ["D103", "D103", "D104", "D103", "D103"]
    flag = load_strategy({"name": "b", "data": {"prices": {}}, "entry": ["close > 1"],
                          "params": {"on": {"type": "bool", "default": False}}})
    assert parse_param_args(flag, ["on=true"]) == {"on": True}
    assert parse_param_args(flag, ["on=No"]) == {"on": False}


@pytest.mark.parametrize(("params", "code", "path"), [
    ({"nope": 1}, "D104", "params.nope"),
    ({"fast": 1000}, "D103", "params.fast"),
    ({"stop_loss_pct": -3}, "D103", "risk.stop_loss_pct"),
    ({"stop_loss_pct": [3, 4]}, "D103", "risk.stop_loss_pct"),
    ({"execution_price": "vwap"}, "D103", "params.execution_price"),
])
def test_bad_parameters(params, code, path) -> None:
    with pytest.raises(RuleEngineError) as exc:
        backtest(GC, "SPY", "2016-01-01", "2016-12-30", params=params)
    assert exc.value.diagnostics[0].code == code and exc.value.diagnostics[0].path == path


def test_bad_options_and_ranges() -> None:
    with pytest.raises(RuleEngineError) as exc:
        backtest(GC, "SPY", init_cash=0)
    assert _codes(exc) == ["D103"] and exc.value.diagnostics[0].path == "init_cash"
    with pytest.raises(RuleEngineError) as exc:
        backtest(GC, "SPY", engine="fast")
    assert _codes(exc) == ["D103"]
    with pytest.raises(RuleEngineError) as exc:
        backtest(GC, "SPY", "2017-01-01", "2016-01-01")
    assert _codes(exc) == ["D111"] and "after" in exc.value.diagnostics[0].message
    with pytest.raises(RuleEngineError) as exc:  # a weekend: no session in the range
        backtest(GC, "SPY", "2016-01-09", "2016-01-10")
    assert _codes(exc) == ["D111"]
    with pytest.raises(RuleEngineError) as exc:
        backtest(GC, "not a ticker!", "2016-01-01", "2016-12-30")
    assert _codes(exc) == ["D117"]
    with pytest.raises(RuleEngineError) as exc:
        backtest("name: x\ndata: {prices: {}}\nentry:\n  - close > smaa(close, 3)\n", "SPY")
    assert _codes(exc) == ["C101"]


# ------------------------------------------------------------------------------------------ local files


def test_bad_prices_error_for_one_symbol_and_skip_in_a_universe(csv_dir) -> None:
    with pytest.raises(RuleEngineError) as exc:
        backtest(GC, "NANS", data=str(csv_dir), params=FAST)
    assert _codes(exc) == ["D111"] and exc.value.error_type == "data_fetch_error"
    with pytest.raises(RuleEngineError) as exc:
        backtest(GC, "NEG", data=str(csv_dir), params=FAST)
    day = pd.bdate_range("2020-01-02", periods=300)[150].strftime("%Y-%m-%d")
    assert _codes(exc) == ["D114"] and f"prices.close is -1 on {day}" in exc.value.diagnostics[0].message
    with pytest.raises(RuleEngineError) as exc:
        backtest(GC, "MISSING", data=str(csv_dir), params=FAST)
    assert _codes(exc) == ["D110"]
    res = backtest(GC, "GOOD,NANS,NEG,MISSING", data=str(csv_dir), params=FAST)
    assert [r.label for r in res.results] == ["GOOD"]
    codes = [(w["code"], w["message"].split(":")[0]) for w in res.warnings]
    assert ("D116", "MISSING") in codes and ("D116", "NANS") in codes and ("D116", "NEG") in codes
    # no SPY in these files: the benchmark falls back to the traded symbol, with a warning
    fallback = ("D121", f"benchmark SPY is not available (symbol 'SPY' not found in the local ohlcv data ({csv_dir}))")
    assert fallback in [(w["code"], w["message"].split(";")[0]) for w in res.warnings]
    run = res.results[0]
    assert run.benchmark.symbol == "GOOD" and not run.data.synthetic
    close = pd.read_csv(csv_dir / "GOOD.csv")["close"].to_numpy()
    assert run.benchmark.total_return_pct == pytest.approx((close[-1] / close[0] - 1) * 100, rel=1e-12)


# ------------------------------------------------------------------------------------------ real data


@pytest.mark.realdata
def test_real_spy_matches_a_direct_simulation(shared_data, ohlcv_of) -> None:
    res = backtest(GC, "XLE", "2010-01-01", "2017-12-29", data=str(shared_data), params={"fast": 20, "slow": 100})
    run = res.results[0]
    assert not run.data.synthetic and res.warnings == []
    compiled = compile_strategy(GC)
    md = load_data(compiled, "XLE", "2010-01-01", "2017-12-29", data=str(shared_data),
                          params={"fast": 20, "slow": 100})
    sig = compiled.signals(md, {"fast": 20, "slow": 100})
    entries, exits = sig.entries, sig.exits
    prices = {c: md.inputs[("prices", c)] for c in ("open", "high", "low", "close")}
    sim = simulate(prices, entries, exits, md.index, resolve_risk(compiled.strategy), start=md.start)
    assert [(t.entry_bar + md.start, t.exit_bar + md.start, t.exit_reason) for t in run.trades] == \
        list(zip(sim.trades.entry_bar, sim.trades.exit_bar, sim.trades.exit_reason, strict=True))
    assert run.equity.value == pytest.approx(list(sim.equity[md.start:, 0]), rel=1e-15)
    xle = ohlcv_of("XLE")
    for t in run.trades:  # close fills at the signal bar's close (no slippage in this rule)
        assert t.entry_price == pytest.approx(xle.loc[t.entry_time, "close"], rel=1e-12)
    spy = ohlcv_of("SPY").loc["2010-01-04":"2017-12-29", "close"]
    assert run.benchmark.symbol == "SPY"
    assert run.benchmark.total_return_pct == pytest.approx((spy.iloc[-1] / spy.iloc[0] - 1) * 100, rel=1e-12)


@pytest.mark.realdata
def test_real_universe_skips_unknown_and_keeps_own_ranges(shared_data) -> None:
    res = backtest(GC, "SPY,AAPL,NOPE", "2010-01-01", "2017-12-29", data=str(shared_data),
                   params={"fast": 20, "slow": 100})
    assert [r.label for r in res.results] == ["SPY", "AAPL"]
    assert [w["code"] for w in res.warnings] == ["D116"] and "NOPE" in res.warnings[0]["message"]
    aapl = res.results[1]
    # AAPL's rows in the shared data run 2012-12-06 .. 2017-12-05: its run covers those bars only
    assert (aapl.data.start, aapl.data.end) == ("2012-12-06", "2017-12-05")
    assert len(aapl.equity.value) == aapl.data.bars < res.results[0].data.bars


def test_backtest_on_market_data_already_in_memory_equals_loading_it() -> None:
    """`backtest(strategy, md)` with a MarketData from load_data gives the same runs as loading by symbols."""
    md = load_data(GC, "SPY,QQQ", "2014-01-01", "2016-12-30", params=FAST)
    given = backtest(GC, md, params=FAST, benchmark=None)
    loaded = backtest(GC, "SPY,QQQ", "2014-01-01", "2016-12-30", params=FAST, benchmark=None)
    assert [r.label for r in given.results] == ["SPY", "QQQ"]
    for a, b in zip(given.results, loaded.results, strict=True):
        assert a.metrics == b.metrics and a.trades == b.trades
    with pytest.raises(RuleEngineError) as err:  # data loaded for another strategy lacks what this one reads
        backtest("rules/rsi_mean_reversion.yaml", load_data(
            "name: t\ndata: {prices: {kind: ohlcv, columns: [close]}}\nentry: ['close > 1']\n", "SPY",
            "2015-01-01", "2015-06-30", columns={"prices": {"close"}}))
    assert err.value.diagnostics[0].code == "D102"


def test_results_stored_with_a_contract_per_run_still_load() -> None:
    """Results saved before the fill contract moved to the top (once per result) load with their own text."""
    from ruleengine.backtest.result import BacktestResult

    data = backtest(GC, "SPY", "2016-01-01", "2016-12-30", params=FAST).to_dict()
    del data["fill_contract"]
    for run in data["results"]:
        run["fill_contract"] = "Fill contract (as stored then)"
    back = BacktestResult.model_validate(data)
    assert back.fill_contract == "Fill contract (as stored then)"
    assert "fill_contract" not in back.results[0].model_dump()
