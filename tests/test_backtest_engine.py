"""Cross-checks of the simulation engine on real data: ../shared/data where it exists, else the committed
sample of its daily prices (tests/fixtures/daily_sample, 500 bars per symbol; fixture `real_daily`), on which
the rules that need other data (earnings, insider trades) and the GOOG case skip with a message.

- the numba engine equals the plain-Python reference of the fill contract (tests/support/sim_reference.py):
  same trades (entry and exit bars, exit reasons, prices) and the same total return to 1e-9 relative, for
  every rule in rules/ and for every stop combination (SL, TP, TSL, max hold days / bars, open / close fills);
- vectorbt's ``Portfolio.from_signals`` (engine="vectorbt") gives the same trades where it can express the
  risk, compared with our engine in vectorbt's order of a bar's events (``fill_order="vectorbt"``: with
  open fills vectorbt checks a stop before the exit order pending at the open and does not check the bar
  of an entry at the open); the default time order differs from it exactly there (tested on GOOG);
- causality: truncating the data at a date never changes earlier trades.

The symbols mix an ETF, a stock listed in the data from 2012 and one delisted in 2012, so that columns
have missing bars (NaN) on the union index (the sample keeps that: see tests/support/daily_sample.py).
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from support.paths import SHARED_DATA, rotation_rule
from support.sim_reference import reference_portfolio, reference_simulate

import ruleengine
from ruleengine.backtest.risk import RiskSpec, resolve_risk
from ruleengine.backtest.simulation import simulate, simulate_portfolio
from ruleengine.errors import RuleEngineError

RULES = sorted(p for p in (Path(__file__).resolve().parents[1] / "rules").glob("*.yaml")
               if not p.stem.startswith("code_")  # code strategies: tests/test_sandbox_run.py
               and not rotation_rule(p))  # target weights, no signals: tests/test_rotation.py (vectorbt oracle)
SYMBOLS = "SPY,QQQ,AAPL,LEHMQ"
SYMBOLS_FOR = {"pairs_zscore": "asset_a=XLE,asset_b=XLF", "pairs_long_short": "asset_a=XLE,asset_b=XLF",
               "insider_buying_rsi": "AAPL,MSFT,JPM,XOM",
               "pe_ratio_earnings": "AAPL,MSFT,JPM,XOM"}
START, END = "2006-01-01", "2017-12-31"
FULL_DATA = (SHARED_DATA / "daily.parquet").exists()
#: Counts that show a check is not vacuous, where the 500-bar sample gives fewer than the full data
#: (sample: 3 golden-cross trades, 5 entries skipped for want of cash; the other counts hold on both).
ENOUGH = ({"golden_cross_trades": 10, "portfolio_skipped": 10} if FULL_DATA else
          {"golden_cross_trades": 3, "portfolio_skipped": 4})
CASH = 10_000.0
BASE = RiskSpec(position_size_pct=100.0, fees_pct=0.0, slippage_pct=0.0, execution_price="close")
STOPS = [
    {},
    {"stop_loss_pct": 5},
    {"take_profit_pct": 8},
    {"trailing_stop_pct": 7},
    {"stop_loss_pct": 5, "take_profit_pct": 10},
    {"stop_loss_pct": 8, "trailing_stop_pct": 5},
    {"stop_loss_pct": 4, "trailing_stop_pct": 9},  # the wider trailing stop takes over after a rise
    {"max_hold_days": 20},
    {"max_hold_bars": 10},
    {"stop_loss_pct": 6, "take_profit_pct": 12, "trailing_stop_pct": 9, "max_hold_days": 45},
    {"stop_loss_pct": 3, "take_profit_pct": 4, "max_hold_bars": 7, "fees_pct": 0.1, "slippage_pct": 0.05,
     "position_size_pct": 50},
]
COMBOS = [replace(BASE, execution_price=ex, **kw) for kw in STOPS for ex in ("close", "open")]


class Run:
    """A rule's market data and signals on the local files."""

    def __init__(self, path: Path, folder: Path) -> None:
        self.name = path.stem
        self.strategy = ruleengine.load_strategy(str(path))
        self.md = ruleengine.load_data(self.strategy, SYMBOLS_FOR.get(self.name, SYMBOLS), START, END,
                                       data=str(folder))
        slot = self.strategy.price_slot()
        self.prices = {k: self.md.inputs[(slot, k)] for k in ("open", "high", "low", "close")}
        self.compiled = ruleengine.compile_strategy(self.strategy)
        sig = self.compiled.signals(self.md)
        self.entries, self.exits, self.levels = sig.entries, sig.exits, sig.levels
        #: a long_short rule's short side, the keyword arguments of `simulate` (empty for the others)
        self.short = {} if sig.short_entries is None else {"short_entries": sig.short_entries,
                                                             "short_exits": sig.short_exits}

    def args(self) -> tuple:
        return self.prices, self.entries, self.exits, self.md.index

    def order_levels(self) -> np.ndarray | None:
        """The entry order's price levels (T, N) for the reference simulation; None for market orders."""
        return self.levels.get("entry_order_price")


def _daily_prices_only(path: Path) -> bool:
    return all(slot.kind == "ohlcv" for slot in ruleengine.load_strategy(str(path)).data.values())


@pytest.fixture(scope="module")
def runs(real_daily):
    """Every rule's run; on the sample (daily prices only) the rules that need other data are left out."""
    return {p.stem: Run(p, real_daily) for p in RULES if FULL_DATA or _daily_prices_only(p)}


def run_of(runs: dict, rule: str) -> Run:
    if rule not in runs:
        pytest.skip(f"{rule} needs more than daily prices: ../shared/data not found at {SHARED_DATA}, "
                    "and the committed sample holds daily prices only")
    return runs[rule]


@pytest.fixture(scope="module")
def vbt_ready():
    """Import vectorbt and compile its from_signals once for the module (about 12 s, not cached by numba)."""
    import vectorbt as vbt  # the oracle is part of the test set-up: missing it is a broken set-up, not a skip
    px = np.array([[1.0], [1.1], [1.2]])
    simulate(dict.fromkeys(("open", "high", "low", "close"), px), np.array([[True], [False], [False]]),
             np.zeros((3, 1), bool), __import__("pandas").date_range("2020-01-01", periods=3, tz="UTC"),
             replace(BASE, stop_loss_pct=5, take_profit_pct=5), engine="vectorbt")
    return vbt


def _key(t: dict) -> list:
    return [int(t["column"]), int(t["entry_bar"]), int(t["exit_bar"]), str(t["exit_reason"])]


def assert_same_as_reference(sim, ref_trades, ref_equity, what: str) -> None:
    got = sim.trades.to_dict("records")
    ref = sorted(ref_trades, key=lambda t: (t["column"], t["entry_bar"]))
    assert [_key(t) for t in got] == [_key(t) for t in ref], what
    for g, r in zip(got, ref, strict=True):
        for k in ("entry_price", "exit_price", "size", "pnl"):
            assert g[k] == pytest.approx(r[k], rel=1e-9, abs=1e-9), (what, k, g)
    final = np.asarray(ref_equity, dtype=float)[-1]
    np.testing.assert_allclose(sim.equity[-1] / CASH - 1, final / CASH - 1, rtol=1e-9, atol=1e-12, err_msg=what)


def assert_same_trades(a, b, what: str) -> None:
    ta, tb = a.trades, b.trades
    assert ta[["column", "entry_bar", "exit_bar", "exit_reason"]].values.tolist() == \
        tb[["column", "entry_bar", "exit_bar", "exit_reason"]].values.tolist(), what
    for k in ("entry_price", "exit_price", "size", "pnl"):
        np.testing.assert_allclose(ta[k].to_numpy(), tb[k].to_numpy(), rtol=1e-9, atol=1e-9, err_msg=f"{what}: {k}")
    np.testing.assert_allclose(a.equity[-1] / CASH - 1, b.equity[-1] / CASH - 1, rtol=1e-9, atol=1e-12,
                               err_msg=what)


# ------------------------------------------------------------------------------------------------ reference
@pytest.mark.parametrize("rule", [p.stem for p in RULES])
def test_every_rule_matches_the_reference(runs, rule):
    run = run_of(runs, rule)
    risk = resolve_risk(run.strategy)
    for r in (risk, replace(risk, execution_price="open")):
        sim = simulate(*run.args(), r, levels=run.levels, init_cash=CASH, start=run.md.start, **run.short)
        ref = reference_simulate(*run.args(), [r] * run.md.n_cols, init_cash=CASH, start=run.md.start,
                                 order_levels=run.order_levels(), distances=run.levels,
                                 exit_levels=run.levels.get("exit_order_price"), **run.short)
        assert_same_as_reference(sim, *ref, f"{rule} {r.execution_price}")
    if rule == "golden_cross":  # the rule file trades on these symbols: the check is not vacuous
        assert len(sim.trades) >= ENOUGH["golden_cross_trades"]


@pytest.mark.parametrize("rule", ["bollinger_reversion", "stochastic_oversold"])
def test_every_stop_combination_matches_the_reference(runs, rule):
    run = runs[rule]
    reasons: set[str] = set()
    for risk in COMBOS:
        sim = simulate(*run.args(), risk, init_cash=CASH, start=run.md.start)
        ref = reference_simulate(*run.args(), [risk] * run.md.n_cols, init_cash=CASH, start=run.md.start)
        assert_same_as_reference(sim, *ref, f"{rule} {risk}")
        reasons |= set(sim.trades.exit_reason)
    assert reasons >= {"signal", "stop_loss", "take_profit", "trailing_stop", "max_hold"}  # every stop acted


def test_portfolio_matches_the_reference(runs):
    run = runs["stochastic_oversold"]
    skipped = 0
    for risk in (replace(BASE, position_size_pct=30, stop_loss_pct=5, max_hold_days=20),
                 replace(BASE, position_size_pct=45, trailing_stop_pct=6, take_profit_pct=9, fees_pct=0.1,
                         slippage_pct=0.05, execution_price="open"),
                 replace(BASE, position_size_pct=60, stop_loss_pct=4, max_hold_bars=8,
                         execution_price="open")):
        sim = simulate_portfolio(*run.args(), risk, init_cash=CASH, start=run.md.start)
        ref_trades, ref_eq, ref_skipped = reference_portfolio(*run.args(), [risk] * run.md.n_cols,
                                                              init_cash=CASH, start=run.md.start)
        got = sorted(_key(t) for t in sim.trades.to_dict("records"))
        assert got == sorted(_key(t) for t in ref_trades)
        assert len(got) > 20
        np.testing.assert_allclose(sim.equity[:, 0], ref_eq, rtol=1e-9)
        assert sim.skipped[["bar", "column"]].values.tolist() == [list(s) for s in ref_skipped]
        assert sim.skipped_count == len(ref_skipped)
        skipped += sim.skipped_count
        assert sim.equity.shape == (run.md.n_rows, 1) and sim.position.shape == (run.md.n_rows, run.md.n_cols)
    # entries skipped for want of cash, reported bar by bar as the reference does
    assert skipped > ENOUGH["portfolio_skipped"]


# ------------------------------------------------------------------------------------------------ vectorbt
def _vbt_expressible(r: RiskSpec) -> bool:
    return r.max_hold_days is None and r.max_hold_bars is None and r.entry_order == "market" and not (
        r.stop_loss_pct is not None and r.trailing_stop_pct is not None and r.trailing_stop_pct > r.stop_loss_pct)


def test_vectorbt_gives_the_same_trades_for_every_rule(runs, vbt_ready):
    checked = 0
    for rule, run in runs.items():
        if run.short or run.levels:  # long_short: tests/test_long_short.py compares with vectorbt (on symbols that
            # stay solvent); limit and stop entry orders: backtesting.py is their oracle (tests/test_orders.py)
            continue
        risk = replace(resolve_risk(run.strategy), max_hold_days=None, max_hold_bars=None)
        variants = [risk] if _vbt_expressible(risk) else [replace(risk, trailing_stop_pct=None),
                                                           replace(risk, stop_loss_pct=None)]
        for r in [*variants, *(replace(v, execution_price="open") for v in variants)]:
            ours = simulate(*run.args(), r, init_cash=CASH, start=run.md.start, fill_order="vectorbt")
            theirs = simulate(*run.args(), r, init_cash=CASH, start=run.md.start, engine="vectorbt")
            assert_same_trades(ours, theirs, f"{rule} {r}")
            np.testing.assert_allclose(ours.equity, theirs.equity, rtol=1e-9)
            checked += len(ours.trades)
    assert checked > 300


@pytest.mark.parametrize("rule", ["bollinger_reversion", "stochastic_oversold"])
def test_vectorbt_gives_the_same_trades_for_every_expressible_stop_combination(runs, vbt_ready, rule):
    run = runs[rule]
    combos = [r for r in COMBOS if _vbt_expressible(r)]
    assert len(combos) >= 12
    for risk in combos:
        ours = simulate(*run.args(), risk, init_cash=CASH, start=run.md.start, fill_order="vectorbt")
        theirs = simulate(*run.args(), risk, init_cash=CASH, start=run.md.start, engine="vectorbt")
        assert_same_trades(ours, theirs, f"{rule} {risk}")


def test_vectorbt_risk_per_column_with_mixed_execution_prices(runs, vbt_ready):
    run = runs["stochastic_oversold"]
    risks = [replace(BASE, stop_loss_pct=5), replace(BASE, take_profit_pct=8, execution_price="open"),
             replace(BASE, trailing_stop_pct=7, fees_pct=0.1), replace(BASE, execution_price="open", slippage_pct=0.1)]
    ours = simulate(*run.args(), risks, init_cash=CASH, start=run.md.start, fill_order="vectorbt")
    theirs = simulate(*run.args(), risks, init_cash=CASH, start=run.md.start, engine="vectorbt")
    assert_same_trades(ours, theirs, "mixed")
    np.testing.assert_allclose(ours.equity, theirs.equity, rtol=1e-9)
    assert sorted(set(ours.trades.column)) == [0, 1, 2, 3]


def test_vectorbt_engine_refuses_what_it_cannot_express(runs, vbt_ready):
    run = runs["golden_cross"]
    for bad, path in ((replace(BASE, max_hold_days=10), "risk.max_hold_days"),
                      (replace(BASE, max_hold_bars=10), "risk.max_hold_bars"),
                      (replace(BASE, stop_loss_pct=4, trailing_stop_pct=9), "risk.trailing_stop_pct")):
        with pytest.raises(RuleEngineError) as e:
            simulate(*run.args(), bad, start=run.md.start, engine="vectorbt")
        assert (e.value.diagnostics[0].code, e.value.diagnostics[0].path) == ("D103", path)


# ------------------------------------------------------------------------------------------------ causality
@pytest.mark.parametrize("execution_price", ["close", "open"])
def test_truncating_the_data_never_changes_earlier_trades(runs, execution_price):
    run = runs["volatility_squeeze"]
    risk = replace(resolve_risk(run.strategy), take_profit_pct=12, execution_price=execution_price)
    full = simulate(*run.args(), risk, init_cash=CASH, start=run.md.start)
    T = run.md.n_rows
    full_trades = full.trades.to_dict("records")
    for cut in np.linspace(run.md.start + 50, T - 1, 9).astype(int):
        inputs = {k: np.asfortranarray(v[:cut]) for k, v in run.md.inputs.items()}
        entries, exits, _ = run.compiled.signals_arrays(inputs, cut, run.md.n_cols)
        prices = {k: v[:cut] for k, v in run.prices.items()}
        part = simulate(prices, entries, exits, run.md.index[:cut], risk, init_cash=CASH, start=run.md.start)
        np.testing.assert_array_equal(part.equity, full.equity[:cut])
        part_trades = part.trades.to_dict("records")
        eod = "end_of_data"
        assert [_key(t) for t in part_trades if t["exit_reason"] != eod] == \
            [_key(t) for t in full_trades if t["exit_bar"] < cut and t["exit_reason"] != eod]
        # positions open at the cut are marked there; in the full run they are still open at the cut
        assert [(t["column"], t["entry_bar"]) for t in part_trades if t["exit_reason"] == eod] == \
            [(t["column"], t["entry_bar"]) for t in full_trades
             if t["entry_bar"] < cut and (t["exit_bar"] >= cut or t["exit_reason"] == eod)]


# ------------------------------------------------------------------------------------------------ time order
SMA_CROSS = {"name": "SMA cross 10/20", "data": {"prices": {"kind": "ohlcv", "frequency": "1Day"}},
             "entry": ["crosses_above(sma(close, 10), sma(close, 20))"],
             "exit": ["crosses_below(sma(close, 10), sma(close, 20))"],
             "risk": {"stop_loss_pct": 2, "position_size_pct": 100}}


@pytest.mark.realdata
def test_goog_open_fills_never_exit_below_the_open_of_a_pending_exit(shared_data):
    # backtesting.py's quick-start strategy (SMA 10/20 cross) on GOOG with open fills and a stop loss: some
    # exit signals are followed by a bar that opens above the stop level and then falls through it. The exit
    # order pending at that open must fill at the open (time order); vectorbt's order (the old contract)
    # filled the stop level reached later in the bar, below the open.
    strategy = ruleengine.load_strategy(SMA_CROSS)
    md = ruleengine.load_data(strategy, "GOOG", "2013-01-01", "2017-12-05", data=str(shared_data))
    compiled = ruleengine.compile_strategy(strategy)
    sig = compiled.signals(md)
    entries, exits = sig.entries, sig.exits
    prices = {k: md.inputs[("prices", k)] for k in ("open", "high", "low", "close")}
    opens = prices["open"][:, 0]

    def pending_exit_fills(sim) -> list[tuple[float, float]]:
        """(exit price, open) of the trades that closed on a bar whose open had an exit order pending."""
        return [(t.exit_price, opens[t.exit_bar]) for t in sim.trades.itertuples()
                if exits[t.exit_bar - 1, 0] and not entries[t.exit_bar - 1, 0]]

    timed, vbt_order = [], []
    for stop in (1, 2, 3, 5):
        risk = replace(BASE, stop_loss_pct=stop, execution_price="open")
        for order, out in (("time", timed), ("vectorbt", vbt_order)):
            out += pending_exit_fills(simulate(prices, entries, exits, md.index, risk, start=md.start,
                                               fill_order=order))
    assert len(timed) >= 30
    assert all(price == open_ for price, open_ in timed)  # at the open, never a later (lower) stop level
    assert sum(price < open_ for price, open_ in vbt_order) >= 2  # the case exists on this data
    # the library entry point fills the same way
    sim = simulate(prices, entries, exits, md.index, replace(BASE, stop_loss_pct=3, execution_price="open"),
                   start=md.start)
    result = ruleengine.backtest(SMA_CROSS, md, params={"execution_price": "open", "stop_loss_pct": 3,
                                                         "take_profit_pct": "off", "max_hold_days": "off"},
                                 benchmark=None)
    got = [(t.exit_price, t.exit_reason) for t in result.results[0].trades]
    assert got == [(t.exit_price, t.exit_reason) for t in sim.trades.itertuples()]
