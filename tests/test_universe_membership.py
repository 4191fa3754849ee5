"""Survivorship-free universes (issue 17 item 3): membership intervals make a universe point in time.

A symbol takes part in cross-sections, may be entered and may be held only while it is a member; leaving
ends the position on the first bar after (exit reason left_universe), and a symbol whose prices end is
closed at its last close (delisted). A property test over random intervals proves no symbol is ever held
outside its membership; a real-data run over 2000-2012 holds names that were later removed or delisted.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ruleengine import backtest
from ruleengine.data.market import MarketData
from ruleengine.data.request import DataRequest
from ruleengine.data.universe import load_membership, membership_from_frame, universe_name
from ruleengine.errors import RuleEngineError
from ruleengine.schema.strategy import DataSlot

SYMS = ["AAA", "BBB", "CCC", "DDD"]
T = 40
STRATEGY = {"name": "rank filter", "data": {"prices": {"kind": "ohlcv"}},
            "entry": ["top(roc(close, 2), 2)"], "exit": ["not top(roc(close, 2), 3)"],
            "risk": {"position_size_pct": 100}}


def test_spells_are_start_inclusive_and_end_exclusive() -> None:
    table = pd.DataFrame({"list": ["sp500_membership_intervals"] * 3 + ["sp500_current"],
                          "symbol": ["X", "Y", "Y", "Z"],
                          "start_date": ["2020-01-02", "2020-01-01", "2020-01-08", "2020-01-01"],
                          "end_date": [None, "2020-01-06", None, None]})
    m = membership_from_frame("sp500", table)
    assert sorted(m.spells) == ["X", "Y"]  # the other list is not read
    index = pd.date_range("2020-01-01", periods=10, freq="D", tz="UTC")
    mask = m.mask(index, ["X", "Y", "Q"])
    assert mask[:, 0].tolist() == [False] + [True] * 9
    assert mask[:, 1].tolist() == [True] * 5 + [False, False] + [True] * 3
    assert not mask[:, 2].any()
    assert m.symbols(pd.Timestamp("2020-01-06"), pd.Timestamp("2020-01-07")) == ["X"]
    assert m.symbols() == ["X", "Y"]


def test_spelling_and_missing_table(tmp_path) -> None:
    assert universe_name("@sp500") == ("sp500", None)
    assert universe_name("@SP500:data/c.parquet") == ("sp500", "data/c.parquet")
    assert universe_name("@universe.txt") is None and universe_name("SPY") is None
    with pytest.raises(RuleEngineError) as err:
        load_membership("sp500", str(tmp_path / "missing" / "c.parquet"), None)
    assert err.value.diagnostics[0].code == "D117"


def _market(members: np.ndarray, seed: int = 0) -> MarketData:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, size=(T, len(SYMS))), axis=0))
    idx = pd.date_range("2024-01-01", periods=T, freq="B")
    cols = pd.MultiIndex.from_product([SYMS, ["open", "high", "low", "close"]])
    frame = pd.DataFrame(np.repeat(close, 4, axis=1), index=idx, columns=cols)
    request = DataRequest({"prices": DataSlot()}, {"prices": frozenset({"open", "high", "low", "close"})},
                          price_slot="prices")
    md = MarketData.from_frames(frame, request)
    return replace(md, members=np.asfortranarray(members))


@st.composite
def _intervals(draw: st.DrawFn) -> np.ndarray:
    members = np.zeros((T, len(SYMS)), dtype=bool)
    for s in range(len(SYMS)):
        for _ in range(draw(st.integers(0, 2))):
            a = draw(st.integers(0, T - 1))
            b = draw(st.integers(a + 1, T))
            members[a:b, s] = True
    return members


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(members=_intervals(), seed=st.integers(0, 3))
def test_no_symbol_is_ever_held_outside_its_membership(members: np.ndarray, seed: int) -> None:
    md = _market(members, seed)
    res = backtest(STRATEGY, md, benchmark=None)
    for run in res.results:
        s = SYMS.index(run.label)
        for t in run.trades:
            # held at the close of bars entry .. exit-1; the exit fills at the close of the exit bar
            assert members[t.entry_bar:t.exit_bar, s].all(), (run.label, t)
            if t.exit_reason == "left_universe":
                assert not members[t.exit_bar, s] and members[t.exit_bar - 1, s]
            if t.exit_bar < T - 1 and not members[t.exit_bar, s]:
                assert t.exit_reason == "left_universe"


def test_leaving_the_universe_closes_the_position_on_the_next_bar() -> None:
    members = np.ones((T, len(SYMS)), dtype=bool)
    members[20:, :] = False
    members[20:, 0] = True  # only AAA stays
    res = backtest({**STRATEGY, "entry": ["rank(close) >= 1"], "exit": ["close < 0"]}, _market(members),
                   benchmark=None)
    by = {r.label: r for r in res.results}
    for sym in SYMS[1:]:
        assert [(t.exit_bar, t.exit_reason) for t in by[sym].trades] == [(20, "left_universe")]
    assert [t.exit_reason for t in by["AAA"].trades] == ["end_of_data"]


@pytest.mark.realdata
def test_sp500_2000_2012_holds_names_that_left_and_differs_from_todays_list(shared_data) -> None:
    strategy = {"name": "momentum filter", "data": {"prices": {"kind": "ohlcv"}},
                "entry": ["top(roc(close, 126), 10)"], "exit": ["not top(roc(close, 126), 20)"],
                "risk": {"position_size_pct": 100}}
    pit = backtest(strategy, "@sp500", "2000-01-01", "2012-09-01", data=str(shared_data), benchmark=None)
    reasons = {t.exit_reason for r in pit.results for t in r.trades}
    assert {"delisted", "left_universe"} <= reasons
    table = pd.read_parquet(shared_data / "constituents.parquet")
    today = set(table[table.list == "sp500_current"].symbol)
    held = {r.label for r in pit.results if r.trades}
    gone = held - today
    assert len(gone) >= 10  # names no longer in the index were held while they were members
    now = backtest(strategy, sorted(today & {r.label for r in pit.results}), "2000-01-01", "2012-09-01",
                   data=str(shared_data), benchmark=None)
    trades_pit = sorted((r.label, t.entry_time) for r in pit.results for t in r.trades)
    trades_now = sorted((r.label, t.entry_time) for r in now.results for t in r.trades)
    assert trades_pit != trades_now
