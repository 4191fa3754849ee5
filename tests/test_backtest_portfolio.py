"""`--portfolio` sizing and skipped entries (issue 13 item 10), on real data with several symbols.

A portfolio shares one cash account. Its entries take 5 % of the equity when the document sets no
position_size_pct (seed 003), so it holds many positions at once; entries the cash left cannot cover are
skipped and reported: `RunResult.skipped_entries` (count, first times and symbols), a D130 warning, the
console and the HTML report.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from ruleengine.backtest.run import backtest
from ruleengine.backtest.simulation import PORTFOLIO_POSITION_SIZE_PCT
from ruleengine.cli import app

pytestmark = pytest.mark.realdata

RULE = "rules/stochastic_oversold.yaml"  # sets stop loss and take profit, no position_size_pct
SYMBOLS = "AAPL,MSFT,JPM,XOM,SPY,QQQ,IWM,GLD"
RANGE = ("2012-01-01", "2016-12-30")


def _max_open(run) -> int:
    """The largest number of positions held at once (from the trades' entry and exit bars)."""
    bars = max(t.exit_bar for t in run.trades) + 1
    held = np.zeros(bars + 1, dtype=int)
    for t in run.trades:
        held[t.entry_bar] += 1
        held[t.exit_bar] -= 1  # freed at its exit bar (an exit on bar b frees cash for entries after it)
    return int(np.cumsum(held).max())


@pytest.fixture(scope="module")
def default_run(shared_data):
    return backtest(RULE, SYMBOLS, *RANGE, data=str(shared_data), portfolio=True, benchmark=None)


@pytest.fixture(scope="module")
def all_in(shared_data):
    return backtest(RULE, SYMBOLS, *RANGE, data=str(shared_data), portfolio=True, benchmark=None,
                    params={"position_size_pct": 100})


def test_portfolio_default_size_is_five_percent_and_holds_many_positions(default_run, shared_data):
    run = default_run.results[0]
    assert run.risk["position_size_pct"] == PORTFOLIO_POSITION_SIZE_PCT == 5.0
    assert "position_size_pct" in run.risk["defaults_used"]  # named as a default in every output
    assert _max_open(run) >= 4  # the old 100 % default held one position at a time
    assert {t.symbol for t in run.trades} == set(run.symbols["prices"]) and len(run.symbols["prices"]) >= 6
    assert run.skipped_entries is not None and run.skipped_entries.count == 0  # 7 x 5 % always fits
    assert not [w for w in default_run.warnings if w["code"] == "D130"]
    # each entry takes 5 % of the equity at its fill: the first one 500 of the initial 10,000
    first = min(run.trades, key=lambda t: t.entry_bar)
    assert first.size * first.entry_price == pytest.approx(500.0, rel=1e-9)
    # a single run keeps its all-in default
    single = backtest(RULE, "AAPL", *RANGE, data=str(shared_data), benchmark=None).results[0]
    assert single.risk["position_size_pct"] == 100.0 and single.skipped_entries is None


def test_document_or_override_size_is_kept(shared_data):
    doc = {"name": "sized", "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
           "entry": ["crosses_above(sma(close, 10), sma(close, 30))"],
           "exit": ["crosses_below(sma(close, 10), sma(close, 30))"], "risk": {"position_size_pct": 20}}
    run = backtest(doc, SYMBOLS, *RANGE, data=str(shared_data), portfolio=True, benchmark=None).results[0]
    assert run.risk["position_size_pct"] == 20.0 and "position_size_pct" not in run.risk["defaults_used"]
    over = backtest(doc, SYMBOLS, *RANGE, data=str(shared_data), portfolio=True, benchmark=None,
                    params={"position_size_pct": 35}).results[0]
    assert over.risk["position_size_pct"] == 35.0


def test_skipped_entries_are_reported(all_in):
    run = all_in.results[0]
    skipped = run.skipped_entries
    assert _max_open(run) == 1  # all-in: one position at a time...
    assert skipped.count > 20  # ...and every entry signal of another symbol meanwhile is skipped
    assert len(skipped.first) == 20
    times = [e.time for e in skipped.first]
    assert times == sorted(times) and all(e.symbol in SYMBOLS.split(",") for e in skipped.first)
    # a skipped entry happened while another symbol's position was open
    for e in skipped.first:
        assert any(t.entry_time < e.time <= t.exit_time and t.symbol != e.symbol for t in run.trades) or \
            any(t.entry_time == e.time for t in run.trades)
    d130 = [w for w in all_in.warnings if w["code"] == "D130"]
    assert len(d130) == 1 and f"{skipped.count} entries skipped" in d130[0]["message"]
    assert f"{skipped.first[0].time} {skipped.first[0].symbol}" in d130[0]["message"]
    data = json.loads(all_in.to_json())
    assert data["results"][0]["skipped_entries"]["count"] == skipped.count
    assert data["results"][0]["skipped_entries"]["first"][0] == {"time": skipped.first[0].time,
                                                                 "symbol": skipped.first[0].symbol}


def test_skipped_entries_in_the_html_report_and_on_the_console(all_in, shared_data, tmp_path):
    html = tmp_path / "p.html"
    all_in.write_report(str(html))
    text = html.read_text()
    assert "D130" in text and f"{all_in.results[0].skipped_entries.count} entries skipped" in text
    out = CliRunner().invoke(app, ["backtest", RULE, "--symbols", SYMBOLS, "--start", RANGE[0],
                                   "--end", RANGE[1], "--data", str(shared_data), "--portfolio",
                                   "--param", "position_size_pct=100"])
    assert out.exit_code == 0, out.stdout
    assert "D130" in out.stdout and "entries skipped" in out.stdout
