"""Live signals: reasoning values against hand-computed indicators, confidence, near misses, the partial-bar
rule, live == backtest on real data with --asof cuts, and a 500-symbol scan."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import talib
from support.prices import sine_prices

import ruleengine
from ruleengine.errors import RuleEngineError
from ruleengine.live import live_scan, live_signals
from ruleengine.live.confidence import confidence, hit_rate, margin_score, strength
from ruleengine.live.reasoning import fmt

STRAT = """
name: live test
data: {prices: {kind: ohlcv}}
params:
  floor: {type: float, default: 90, min: 0, max: 1000}
entry:
  logic: all
  conditions:
    - close < sma(close, 5)
    - rsi(close, 3) < 60
    - {field: close, operator: gt, value: floor}
exit:
  conditions:
    - crosses_above(close, sma(close, 5))
"""


@pytest.fixture(scope="module")
def prices(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """Two symbols as CSV files for the local provider: AAA around 100, BBB around 50 (below the floor)."""
    d = tmp_path_factory.mktemp("live")
    a = sine_prices(300, 100, 10, 9.0)
    b = sine_prices(300, 50, 5, 7.0)
    a.to_csv(d / "AAA.csv", index=False)
    b.to_csv(d / "BBB.csv", index=False)
    return d, a.set_index(pd.to_datetime(a["date"])), b.set_index(pd.to_datetime(b["date"]))


def _indicators(df: pd.DataFrame) -> pd.DataFrame:
    close = df["close"].astype(float)
    out = pd.DataFrame({"close": close, "sma": close.rolling(5).mean(),
                        "rsi": talib.RSI(close.to_numpy(), 3)}, index=df.index)
    out["c1"] = out.close < out.sma
    out["c2"] = out.rsi < 60
    out["c3"] = out.close > 90
    out["cross"] = (out.close > out.sma) & (out.close.shift(1) <= out.sma.shift(1))
    return out


def _scale(series: pd.Series, i: int) -> float:
    """Mean absolute one-bar change over the last 20 bars up to row i."""
    return float(series.iloc[i - 20:i + 1].diff().abs().dropna().mean())


def test_reasoning_tree_values_margins_and_confidence_by_hand(prices) -> None:
    d, a, _b = prices
    ind = _indicators(a)
    i = next(k for k in range(150, len(ind)) if ind.c1.iloc[k] and ind.c2.iloc[k] and ind.c3.iloc[k])
    day = ind.index[i]
    sigs = live_signals(STRAT, "AAA,BBB", asof=str(day.date()), data=str(d), hit_rate=(7, 10))
    [sig] = [s for s in sigs if s.signal_type == "entry"]
    assert (sig.ticker, sig.bar_time, sig.price_at_signal) == ("AAA", day.to_pydatetime(), ind.close.iloc[i])
    c1, c2, c3 = sig.reasoning.conditions
    close, sma, rsi = ind.close.iloc[i], ind.sma.iloc[i], ind.rsi.iloc[i]
    # operands on the bar, against pandas / TA-Lib over the full history
    assert (c1.kind, c1.op, c1.left.text, c1.right.text) == ("compare", "<", "prices.close", "sma(prices.close, 5)")
    assert c1.left.value == close and c1.right.value == pytest.approx(sma, rel=1e-12)
    assert c2.left.text == "rsi(prices.close, 3)" and c2.left.value == pytest.approx(rsi, rel=1e-9)
    assert c3.right.text == "floor" and c3.right.value == 90.0
    # margins: the distance to flipping, and the typical one-bar move of left - right
    assert c1.margin == pytest.approx(sma - close, rel=1e-9)
    assert c1.scale == pytest.approx(_scale(ind.close - ind.sma, i), rel=1e-9)
    assert c2.margin == pytest.approx(60 - rsi, rel=1e-9)
    assert c2.scale == pytest.approx(_scale(ind.rsi, i), rel=1e-7)
    assert c3.margin == pytest.approx(close - 90, rel=1e-12)
    assert c3.scale == pytest.approx(_scale(ind.close, i), rel=1e-12)
    for c in (c1, c2, c3):
        assert c.result is True and c.norm_margin == pytest.approx(c.margin / c.scale)
        assert c.strength == pytest.approx(c.norm_margin / (1 + c.norm_margin))
    m = (c1.strength + c2.strength + c3.strength) / 3
    assert sig.reasoning.margin_score == pytest.approx(m)
    assert sig.reasoning.hit_rate == pytest.approx(8 / 12)
    assert sig.confidence_score == pytest.approx(round(100 * (0.6 * m + 0.4 * 8 / 12), 2))
    assert c2.line == f"rsi(prices.close, 3) = {fmt(rsi)} < 60 (margin {fmt(60 - rsi)})"
    assert c1.line.startswith(f"prices.close = {fmt(close)} < sma(prices.close, 5) = {fmt(sma)} (margin ")
    lines = sig.reasoning.text.splitlines()
    assert lines[0] == "entry (all of):" and lines[1].startswith("  [+] prices.close = ")
    assert lines[-1].startswith(f"confidence {sig.confidence_score:.0f}/100 = 100 x (0.6 x M")
    snap = sig.data_snapshot
    assert snap["bar"]["close"] == close and snap["values"]["rsi(prices.close, 3)"] == c2.left.value
    assert snap["params"]["floor"] == 90.0 and snap["symbols"] == {"prices": "AAA"}


def test_exit_crossing_margin_and_previous_bar(prices) -> None:
    d, a, _b = prices
    ind = _indicators(a)
    i = next(k for k in range(150, len(ind)) if ind.cross.iloc[k])
    scan = live_scan(STRAT, "AAA", asof=str(ind.index[i].date()), data=str(d), signal_types=("exit",))
    [sig] = scan.signals
    [node] = sig.reasoning.conditions
    assert (node.kind, node.op, node.result) == ("cross", "crosses_above", True)
    assert node.left.value == ind.close.iloc[i] and node.left.previous == ind.close.iloc[i - 1]
    assert node.right.previous == pytest.approx(ind.sma.iloc[i - 1], rel=1e-12)
    assert node.margin == pytest.approx(ind.close.iloc[i] - ind.sma.iloc[i], rel=1e-9)
    assert sig.reasoning.logic == "any" and sig.reasoning.hit_rate == 0.5  # no backtest: H = 1/2
    # the bar after: still above, so no crossing can happen; the node says so and has no margin
    nxt = next(k for k in range(i + 1, len(ind)) if ind.close.iloc[k] > ind.sma.iloc[k]
               and ind.close.iloc[k - 1] > ind.sma.iloc[k - 1])
    later = live_scan(STRAT, "AAA", asof=str(ind.index[nxt].date()), data=str(d), near_misses=False)
    assert [s for s in later.signals if s.signal_type == "exit"] == []


def test_near_misses_all_but_one_condition_closest_first(prices) -> None:
    d, a, b = prices
    ia, ib = _indicators(a), _indicators(b)
    both = ia.c1 & ia.c2 & ~ia.c3 | (ia.c1 & ~ia.c2 & ia.c3)
    k = next(k for k in range(150, len(ia)) if both.iloc[k] and ib.c1.iloc[k] and ib.c2.iloc[k])
    scan = live_scan(STRAT, "AAA,BBB", asof=str(ia.index[k].date()), data=str(d))
    assert [s for s in scan.signals if s.signal_type == "entry"] == []
    by = {m.ticker: m for m in scan.near_misses}
    assert set(by) == {"AAA", "BBB"}
    assert by["BBB"].failed.text == "prices.close > floor"  # BBB (~50) is always below the floor of 90
    assert by["BBB"].failed.margin == pytest.approx(ib.close.iloc[k] - 90)
    assert by["BBB"].reasoning.held == 2 and by["BBB"].reasoning.total == 3
    norms = [m.failed.norm_margin for m in scan.near_misses]
    assert norms == sorted(norms, reverse=True) and all(n < 0 for n in norms)
    assert scan.near_misses[0].failed.line.endswith(f"(fails by {fmt(-scan.near_misses[0].failed.margin)})")


def test_confidence_formula_cases() -> None:
    assert [strength(x) for x in (0.0, 1.0, 3.0, -2.0)] == [0.0, 0.5, 0.75, 0.0]
    assert strength(None, True) == 1.0 and strength(None, False) == 0.0 and strength(float("inf")) == 1.0
    assert hit_rate(0, 0) == 0.5 and hit_rate(7, 10) == pytest.approx(8 / 12) and hit_rate(0, 8) == 0.1
    assert margin_score([0.5, 0.75], "all") == 0.625
    assert margin_score([0.5, 0.0, 0.9], "any", [True, False, False]) == 0.5
    assert margin_score([], "code") == 0.5
    assert confidence(0.5, 0.5) == 50.0
    assert confidence(0.625, 8 / 12) == pytest.approx(100 * (0.375 + 0.4 * 8 / 12))
    assert confidence(1.0, 1.0) == 100.0 and confidence(0.0, 0.0) == 0.0
    # rsi 28.4 against 30 with a typical move of 1.6: one move away -> strength 0.5; 7 of 10 trades won
    assert confidence(margin_score([strength(1.6 / 1.6)], "all"), hit_rate(7, 10)) == pytest.approx(56.6666667)


def test_min_confidence_filter_and_bad_value(prices) -> None:
    d, a, _b = prices
    ind = _indicators(a)
    i = next(k for k in range(150, len(ind)) if ind.c1.iloc[k] and ind.c2.iloc[k] and ind.c3.iloc[k])
    asof = str(ind.index[i].date())
    [sig] = [s for s in live_signals(STRAT, "AAA", asof=asof, data=str(d)) if s.signal_type == "entry"]
    assert live_signals(STRAT, "AAA", asof=asof, data=str(d), min_confidence=sig.confidence_score + 0.01,
                        signal_types=("entry",)) == []
    with pytest.raises(RuleEngineError) as exc:
        live_signals(STRAT, "AAA", asof=asof, data=str(d), min_confidence=101)
    assert exc.value.diagnostics[0].code == "T107"


def test_todays_bar_waits_for_the_close(prices) -> None:
    d, a, _b = prices
    last = a.index[-1]
    ny = "America/New_York"
    before = pd.Timestamp(f"{last.date()} 15:00", tz=ny).tz_convert("UTC").to_pydatetime()
    after = pd.Timestamp(f"{last.date()} 16:30", tz=ny).tz_convert("UTC").to_pydatetime()
    assert live_scan(STRAT, "AAA", data=str(d), now=before).bar_time == a.index[-2].to_pydatetime()
    assert live_scan(STRAT, "AAA", data=str(d), now=after).bar_time == last.to_pydatetime()


def test_code_strategy_has_no_tree_and_a_neutral_margin_score(prices) -> None:
    d, a, _b = prices
    doc = ("name: code cross\ndata: {prices: {kind: ohlcv, columns: [close]}}\ncode: |\n  WARMUP_BARS = 10\n"
           "  def generate_signals(data, params):\n      c = data['prices']['close']\n"
           "      m = c.rolling(5).mean()\n      return (c > m) & (c.shift(1) <= m.shift(1)), c < 0\n")
    ind = _indicators(a)
    i = next(k for k in range(150, len(ind)) if ind.cross.iloc[k])
    sigs = live_signals(doc, "AAA", asof=str(ind.index[i].date()), data=str(d), hit_rate=(3, 4))
    [sig] = sigs
    assert sig.signal_type == "entry" and sig.reasoning.logic == "code" and sig.reasoning.conditions == []
    assert sig.reasoning.margin_score == 0.5
    assert sig.confidence_score == pytest.approx(round(100 * (0.6 * 0.5 + 0.4 * 4 / 6), 2))
    assert "code strategy" in sig.reasoning.text


def test_stored_strategy_that_no_longer_compiles(tmp_path: Path, prices) -> None:
    from ruleengine.store import open_store

    d, _a, _b = prices
    path = tmp_path / "s.db"
    store = open_store(str(path))
    rec = store.add_strategy(STRAT)
    con = sqlite3.connect(path)
    con.execute("UPDATE strategy_versions SET strategy_definition = replace(strategy_definition, 'sma(', 'smaa(')")
    con.commit()
    con.close()
    with pytest.raises(RuleEngineError) as exc:
        live_signals(store.get_strategy(rec.id), "AAA", data=str(d))
    codes = [x.code for x in exc.value.diagnostics]
    assert codes[0] == "T105" and "C101" in codes
    assert "strategies add FILE --id 1" in (exc.value.diagnostics[0].hint or "")


# ---------------------------------------------------------------------------------------------- real data

RULES = ["rules/rsi_mean_reversion.yaml", "rules/golden_cross.yaml", "rules/bollinger_reversion.yaml",
         "rules/macd_signal_cross.yaml", "rules/stochastic_oversold.yaml", "rules/donchian_breakout.yaml",
         "rules/adx_trend_filter.yaml", "rules/volatility_squeeze.yaml", "rules/momentum_threshold.yaml"]
CUTS = ["2014-03-14", "2015-08-24", "2016-11-09", "2017-06-30"]


@pytest.fixture(scope="module")
def universe(shared_data: Path) -> list[str]:
    import pyarrow.parquet as pq

    table = pq.read_table(shared_data / "daily.parquet", columns=["symbol", "source"]).to_pandas()
    cn = sorted(table.loc[table.source == "cn_sp500_yahoo", "symbol"].unique())
    return ["SPY", "QQQ", "XLE", "GLD", "TLT", *cn[::8]]  # 46 symbols with data over the cuts


@pytest.mark.realdata
@pytest.mark.parametrize("rule", RULES)
def test_live_equals_backtest_signals_on_each_cut(rule: str, universe: list[str], shared_data: Path) -> None:
    """The live signal on bar t (data cut at t) equals the signal on bar t of one long run (data to the end)."""
    compiled = ruleengine.compile_strategy(rule)
    md = ruleengine.load_data(compiled, universe, "2013-06-03", "2017-11-30", data=str(shared_data))
    sig = compiled.signals(md).to_pandas()
    entries, exits = sig.entries, sig.exits
    found = 0
    for cut in CUTS:
        scan = live_scan(compiled, universe, asof=cut, data=str(shared_data), near_misses=False)
        day = pd.Timestamp(cut, tz="UTC")
        assert scan.bar_time == day.tz_localize(None).to_pydatetime()
        for kind, frame in (("entry", entries), ("exit", exits)):
            want = {str(c) for c in frame.columns[frame.loc[day].to_numpy(dtype=bool)]}
            got = {s.ticker for s in scan.signals if s.signal_type == kind}
            assert got == want, (rule, cut, kind)
            found += len(got)
        for s in scan.signals:  # the tree agrees with the signal: an all-group holds every condition
            group = compiled.strategy.entry if s.signal_type == "entry" else compiled.strategy.exit
            results = [c.result for c in s.reasoning.conditions]
            assert all(results) if group.logic == "all" else any(results)
    assert found >= 1  # each rule fires somewhere on these cuts (6 to 122 signals): the check is not vacuous


@pytest.mark.realdata
def test_a_backtest_entry_is_a_live_entry_signal_on_that_bar(universe: list[str], shared_data: Path) -> None:
    rule = "rules/rsi_mean_reversion.yaml"
    res = ruleengine.backtest(rule, universe[:12], "2014-01-01", "2017-06-30", data=str(shared_data))
    trades = [t for r in res.results for t in r.trades][:6]
    assert trades, "the rule trades on these symbols"
    for t in trades:
        sigs = live_signals(rule, t.symbol, asof=t.entry_time[:10], data=str(shared_data), signal_types=("entry",))
        assert [(s.ticker, s.bar_time.date().isoformat(), s.price_at_signal) for s in sigs] == \
               [(t.symbol, t.entry_time[:10], t.entry_price)]
    rsi = talib.RSI(pd.read_parquet(shared_data / "daily.parquet", filters=[("symbol", "==", trades[0].symbol)])
                    .sort_values("date")["close"].to_numpy(dtype=float), 14)
    dates = pd.read_parquet(shared_data / "daily.parquet", filters=[("symbol", "==", trades[0].symbol)]) \
        .sort_values("date")["date"].astype(str).to_numpy()
    [sig] = live_signals(rule, trades[0].symbol, asof=trades[0].entry_time[:10], data=str(shared_data),
                         signal_types=("entry",))
    want = rsi[np.flatnonzero(dates == trades[0].entry_time[:10])[0]]
    assert sig.reasoning.conditions[0].left.value == pytest.approx(want, rel=1e-8)  # TA-Lib on the full history


@pytest.mark.realdata
def test_scan_of_every_symbol_in_the_data(shared_data: Path) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(shared_data / "daily.parquet", columns=["symbol", "date"]).to_pandas()
    symbols = sorted(table.symbol.unique())
    assert len(symbols) >= 480
    day = "2017-06-30"
    with_bar = set(table.loc[table.date.astype(str) == day, "symbol"])
    rule = "rules/rsi_mean_reversion.yaml"
    t0 = datetime.now()
    scan = live_scan(rule, symbols, asof=day, data=str(shared_data))
    elapsed = (datetime.now() - t0).total_seconds()
    assert scan.evaluated == len(with_bar)
    assert any(w["code"] == "D116" for w in scan.warnings)  # symbols without data then are named
    compiled = ruleengine.compile_strategy(rule)
    md = ruleengine.load_data(compiled, sorted(with_bar), "2017-01-03", day, data=str(shared_data))
    entries = compiled.signals(md).to_pandas().entries
    want = {str(c) for c in entries.columns[entries.iloc[-1].to_numpy(dtype=bool)]}
    assert {s.ticker for s in scan.signals if s.signal_type == "entry"} == want
    assert elapsed < 30  # generous: the benchmark measures it (benchmarks/bench_live.py)
