"""The universe benchmark (issue 17 item 4): an equal-weight buy and hold of the run's point-in-time universe.

On each bar the universe is the members of that bar with a price; it is rebalanced to equal weight whenever
that set changes (a leaver sold at that bar's close, a delisted symbol at its last close) and held otherwise.
The oracle below is written apart from the engine: a share book kept bar by bar with pandas.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from ruleengine import backtest, load_data
from ruleengine.backtest.report import render_report
from ruleengine.backtest.universe_benchmark import equal_weight_universe
from ruleengine.data.market import MarketData
from ruleengine.data.request import DataRequest
from ruleengine.schema.strategy import DataSlot

NAN = np.nan
#: A always a member; B leaves on bar 5 (still trading); C enters on bar 3; D is delisted after bar 5
CLOSE = pd.DataFrame({"A": [10, 11, 12, 12, 12, 15, 18, 22.5],
                      "B": [20, 20, 22, 22, 22, 33, 33, 33],
                      "C": [50, 50, 50, 50, 55, 55, 55, 60.5],
                      "D": [40, 44, 44, 44, 44, 55, NAN, NAN]}, dtype=float)
MEMBERS = pd.DataFrame({"A": [True] * 8, "B": [True] * 5 + [False] * 3, "C": [False] * 3 + [True] * 5,
                        "D": [True] * 8})
#: worked by hand from 1,200: 400 each in A, B, D; C enters at 1,360 (340 each); B leaves and D's 55 make
#: 1,734 (578 each in A, C, D); D delisted at 55: 1,849.6 (924.8 each in A, C); A +25 %, C +10 %
HAND = [1200.0, 1280.0, 1360.0, 1360.0, 1394.0, 1734.0, 1849.6, 2173.28]
STRATEGY = {"name": "momentum filter", "data": {"prices": {"kind": "ohlcv"}},
            "entry": ["roc(close, 1) > 0"], "exit": ["roc(close, 1) < 0"], "risk": {"position_size_pct": 100}}


def oracle(close: pd.DataFrame, members: pd.DataFrame | None, cash: float) -> np.ndarray:
    """A share book: on a bar whose set of members with a close differs from the last bar's, everything held is
    valued (a symbol without a close at its last one) and split equally over the new set at its closes."""
    last = close.ffill()
    inside = close.notna() if members is None else close.notna() & members.astype(bool)
    shares = pd.Series(dtype=float)
    before: list[str] | None = None
    out = []
    for t in close.index:
        now = list(close.columns[inside.loc[t].to_numpy()])
        value = cash + float((shares * last.loc[t, shares.index]).sum())
        if now != before:
            shares = value / len(now) / close.loc[t, now] if now else pd.Series(dtype=float)
            cash = 0.0 if now else value
            before = now
        out.append(cash + float((shares * last.loc[t, shares.index]).sum()))
    return np.array(out)


def _market(close: pd.DataFrame, members: pd.DataFrame | None) -> MarketData:
    idx = pd.date_range("2024-01-01", periods=len(close), freq="B")
    frame = pd.concat({s: pd.DataFrame({c: close[s].to_numpy() for c in ("open", "high", "low", "close")},
                                       index=idx) for s in close.columns}, axis=1)
    request = DataRequest({"prices": DataSlot()}, {"prices": frozenset({"open", "high", "low", "close"})},
                          price_slot="prices")
    md = MarketData.from_frames(frame, request)
    return md if members is None else replace(md, members=np.asfortranarray(members.to_numpy()))


def test_hand_table_matches_the_worked_numbers_and_the_oracle() -> None:
    curve = equal_weight_universe(CLOSE.to_numpy(), MEMBERS.to_numpy(), 1200.0)
    np.testing.assert_allclose(curve, HAND, rtol=1e-13)
    np.testing.assert_allclose(oracle(CLOSE, MEMBERS, 1200.0), HAND, rtol=1e-13)
    # without a membership table every symbol with a price is in: C from the first bar, B to the end
    np.testing.assert_allclose(equal_weight_universe(CLOSE.to_numpy(), None, 1200.0), oracle(CLOSE, None, 1200.0),
                               rtol=1e-13)


def test_nobody_in_the_universe_is_cash() -> None:
    close = pd.DataFrame({"A": [NAN, 10, 12, NAN, 6], "B": [NAN, NAN, NAN, NAN, 3]})
    np.testing.assert_allclose(equal_weight_universe(close.to_numpy(), None, 100.0), [100, 100, 120, 120, 120])
    np.testing.assert_allclose(oracle(close, None, 100.0), [100, 100, 120, 120, 120])


def test_removing_later_bars_never_changes_earlier_values() -> None:
    rng = np.random.default_rng(7)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, (60, 6)), axis=0))
    close[:10, 1] = close[45:, 2] = close[30:33, 3] = NAN  # a late listing, a delisting, a gap
    members = rng.random((60, 6)) > 0.2
    full = equal_weight_universe(close, members, 1000.0)
    np.testing.assert_allclose(full, oracle(pd.DataFrame(close), pd.DataFrame(members), 1000.0), rtol=1e-12)
    for rows in range(1, 60):
        np.testing.assert_array_equal(equal_weight_universe(close[:rows], members[:rows], 1000.0), full[:rows])


def test_a_backtest_reports_it_per_run_and_for_a_portfolio() -> None:
    md = _market(CLOSE, MEMBERS)
    res = backtest(STRATEGY, md, benchmark=None, init_cash=1200)
    by_symbol = {r.label: r for r in res.results}
    a, d = by_symbol["A"], by_symbol["D"]
    assert a.metrics.universe_benchmark_return_pct == pytest.approx((HAND[-1] / 1200 - 1) * 100, rel=1e-13)
    # D's own bars end with its last close (bar 5): the universe is measured over the same bars
    assert d.data.bars == 6
    assert d.metrics.universe_benchmark_return_pct == pytest.approx((HAND[5] / 1200 - 1) * 100, rel=1e-13)
    np.testing.assert_allclose(a._chart.universe_equity, HAND, rtol=1e-13)
    assert "universe_benchmark_return_pct" in json.loads(res.to_json())["results"][0]["metrics"]
    html = render_report(res, max_runs=1)
    assert html.count("Universe equal weight (no fees)") == 1 and '"name":"universe equal weight"' in html
    port = backtest(STRATEGY, md, benchmark=None, init_cash=1200, portfolio=True).results[0]
    assert port.metrics.universe_benchmark_return_pct == pytest.approx((HAND[-1] / 1200 - 1) * 100, rel=1e-13)
    # without an index-like benchmark a portfolio's benchmark is the same equal weight of its members
    assert port.metrics.benchmark_return_pct == pytest.approx(port.metrics.universe_benchmark_return_pct,
                                                              rel=1e-13)
    # the truncated run's values are the full run's at that bar
    early = {r.label: r for r in backtest(STRATEGY, md.head(5), benchmark=None, init_cash=1200).results}
    assert early["A"].metrics.universe_benchmark_return_pct == pytest.approx((HAND[4] / 1200 - 1) * 100,
                                                                             rel=1e-13)


def test_a_single_symbol_run_has_none() -> None:
    res = backtest(STRATEGY, _market(CLOSE[["A"]], None), benchmark=None)
    run = res.results[0]
    assert run.metrics.universe_benchmark_return_pct is None and run._chart.universe_equity is None
    assert "universe_benchmark_return_pct" not in res.to_json()
    html = render_report(res)
    assert "Universe equal weight" not in html and "universe equal weight" not in html


@pytest.mark.realdata
def test_sp500_over_six_months_of_2008_matches_the_oracle(shared_data) -> None:
    md = load_data(STRATEGY, "@sp500", "2008-09-01", "2009-02-27", data=str(shared_data))
    run = backtest(STRATEGY, md, benchmark=None, portfolio=True).results[0]
    kept = run.symbols["prices"]
    cols = [md.labels.index(s) for s in kept]
    days = md.index[md.start:]
    close = pd.DataFrame(md.inputs[("prices", "close")][md.start:, cols], index=days, columns=kept)
    # membership read apart from the engine: start_date <= day < end_date (no end: still a member)
    table = pd.read_parquet(shared_data / "constituents.parquet")
    table = table[table.list == "sp500_membership_intervals"]
    naive = days.tz_localize(None) if days.tz is not None else days
    members = pd.DataFrame(False, index=days, columns=kept)
    for row in table[table.symbol.isin(kept)].itertuples():
        end = pd.Timestamp(row.end_date) if pd.notna(row.end_date) else pd.Timestamp.max
        members.loc[(naive >= pd.Timestamp(row.start_date)) & (naive < end), row.symbol] = True
    eligible = close.notna() & members
    assert (eligible.diff().iloc[1:] != 0).any(axis=1).sum() >= 3  # the universe changed inside the range
    assert (close.notna().iloc[0] & close.isna().iloc[-1]).any()  # and some member stopped trading
    expected = oracle(close, members, 10_000.0)
    np.testing.assert_allclose(run._chart.universe_equity, expected, rtol=1e-10)
    assert run.metrics.universe_benchmark_return_pct == pytest.approx((expected[-1] / 10_000 - 1) * 100, rel=1e-10)
