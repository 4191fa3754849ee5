"""Pairs held live: both legs of a pair position the user holds, and its position variables on the evaluated bar.

A pair strategy's exit conditions on position variables (``unrealized_pct < -3 or bars_held >= 20``) read the
pair's combined value, as the fill step defines it (`PAIR_FILL_CONTRACT` in ruleengine.backtest.risk,
`ruleengine.kernels.pairs.pair_variables_nb`): with units u and entry prices E of each leg, the value at prices
(p_a, p_b) is a long leg's u x p plus a short leg's u x (2E - p) less its borrow cost accrued since the entry bar
(u x E x the annual ``borrow_cost_pct`` x the calendar time in years of 365 days). Then ``entry_price`` is the
value at entry V0 = u_a E_a + u_b E_b, ``unrealized_pct`` (V / V0 - 1) x 100 at the bar's close,
``highest_since_entry`` / ``lowest_since_entry`` the extremes of V0 and the values at each later bar's open and
close (with open fills the entry bar's close too), ``bars_held`` the bars after the entry bar on which both legs
traded. A `HeldPair` comes from one of three places (a later one replaces an earlier one for its run):

- **the user's own fills** (`fill_pairs`): both legs held on opposite sides, leg a's side the pair's; the units
  and average prices are the fills', the entry the later leg's first fill;
- **the store** (`stored_pair`): an acted pair entry without an outcome; each leg's price from its recorded fill
  (``acted_legs``), the hedge ratio and sizing from the signal's snapshot, the entry bar as for one position;
- **given** (`parse_pair_position`): ``XLE/XLF:long:XLE=60.1,XLF=24.3:2017-06-01``, the run's label, the pair's
  side (its first leg's), each leg's entry price (optionally its units, ``XLE=100@60.1``) and the entry bar.

Units: given or from fills they are the position's own, and the cash variables (entry_price, the extremes) are
its value. Otherwise the units of leg b per unit of leg a are the fill step's split at the hedge ratio of the
entry's signal bar (the stored snapshot's, or read from the data: the entry bar with close fills, the bar before
with open fills): hedge ratio x E_a / E_b for ``dollar_neutral``, the hedge ratio for ``hedge_ratio_units``; the
cash variables are then per unit of leg a (said in the reasoning), and the scale-free ones (unrealized_pct,
bars_held, ratios of the cash ones) are those of any size. The entry prices are the fills: no slippage is added.
Whole units round the backtest's legs, so only given units reproduce a whole-unit trade's ratio exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..sides import Side
from .positions import HeldPosition, entry_date, entry_row, position_error, positive_number

#: how a held pair is written (`--position`): RUN:SIDE:LEG=PRICE,LEG=PRICE:DATE
PAIR_POSITION_FORMAT = ("A/B:SIDE:A=PRICE,B=PRICE:DATE (units optional: A=UNITS@PRICE,B=UNITS@PRICE), e.g. "
                        "XLE/XLF:long:XLE=60.1,XLF=24.3:2017-06-01")
_OTHER: dict[str, Side] = {"long": "short", "short": "long"}
_YEAR_NS = 365 * 86_400e9  # the borrow cost's year, as the fill step counts it


@dataclass(frozen=True)
class PairLeg:
    """One leg of a held pair: its symbol, side, entry price and units (None: from the hedge ratio)."""

    symbol: str
    side: Side
    entry_price: float
    units: float | None = None

    def describe(self) -> str:
        size = f"{self.units:g} " if self.units is not None else ""
        return f"{size}{self.symbol} {self.side} at {self.entry_price:g}"


@dataclass(frozen=True)
class HeldPair:
    """A pair position the user holds in run `ticker` (``XLE/XLF``); see the module docstring."""

    ticker: str
    side: Side  # the pair's: its first leg's
    legs: tuple[PairLeg, PairLeg]
    entry_time: pd.Timestamp
    source: str
    after_bar: bool = False
    hedge: tuple[float, str] | None = None  # (hedge ratio, sizing) of the entry's signal bar, when recorded
    missing: str | None = None  # why its variables have no value (a stored pair acted on with one price)

    def describe(self) -> str:
        when = self.entry_time.date() if self.entry_time == self.entry_time.normalize() else self.entry_time
        rule = "the bar after " if self.after_bar else ""
        return f"{self.side} pair from {rule}{when}: " + ", ".join(leg.describe() for leg in self.legs) \
            + f" ({self.source})"

    def snapshot(self, values: Mapping[str, float], units: tuple[float, float]) -> dict[str, Any]:
        """``data_snapshot["position"]`` of an exit signal on this pair: its legs (units as valued) and
        variables."""
        return {"side": self.side, "entry_time": str(self.entry_time), "source": self.source,
                "legs": [{"symbol": leg.symbol, "side": leg.side, "entry_price": leg.entry_price, "units": u}
                         for leg, u in zip(self.legs, units, strict=True)],
                "units_given": self.legs[0].units is not None, "variables": dict(values)}


def parse_pair_position(spec: str) -> HeldPair:
    """A given pair from ``A/B:SIDE:A=PRICE,B=PRICE:DATE`` (units optional, ``A=UNITS@PRICE``); T107 (path
    ``position``) when it is not one."""
    parts = [p.strip() for p in spec.split(":", 3)]

    bad = position_error(spec, f"write a pair as {PAIR_POSITION_FORMAT}")
    if len(parts) != 4 or not all(parts):
        raise bad("expected four parts separated by ':'")
    run, side, prices, date = parts
    symbols = [s.strip().upper() for s in run.split("/")]
    if len(symbols) != 2 or not all(symbols) or symbols[0] == symbols[1]:
        raise bad(f"'{run}' is not a pair's run: two different tickers A/B")
    if side not in ("long", "short"):
        raise bad(f"the side is '{side}', not long or short (the pair's side: its first leg's)")
    got: dict[str, tuple[float, float | None]] = {}
    for item in prices.split(","):
        sym, _, value = item.partition("=")
        sym = sym.strip().upper()
        if sym not in symbols:
            raise bad(f"'{item.strip()}' does not name a leg ({symbols[0]}=PRICE or {symbols[1]}=PRICE)")
        if sym in got:
            raise bad(f"{sym} is given twice")
        units_text, at, price_text = value.strip().rpartition("@")
        units = positive_number(units_text, "units", bad) if at else None
        got[sym] = (positive_number(price_text, "price", bad), units)
    if len(got) != 2:
        raise bad(f"give both legs' entry prices: {symbols[0]}=PRICE,{symbols[1]}=PRICE")
    if (got[symbols[0]][1] is None) != (got[symbols[1]][1] is None):
        raise bad("give the units of both legs (A=UNITS@PRICE,B=UNITS@PRICE) or of neither")
    when = entry_date(date, bad)
    sides: tuple[Side, Side] = (side, _OTHER[side])  # type: ignore[assignment]
    legs = tuple(PairLeg(sym, s, *got[sym]) for sym, s in zip(symbols, sides, strict=True))
    return HeldPair("/".join(symbols), sides[0], legs, when, "given")  # type: ignore[arg-type]


def stored_pair(sig: Any, *, open_fills: bool) -> HeldPair:
    """The held pair of an acted pair entry signal (its snapshot's ``pair`` legs, hedge ratio and sizing; each
    leg's recorded fill price); one acted on with a single price (before both legs were recorded) has no leg
    prices, and says so."""
    pair = sig.data_snapshot["pair"]
    acted = sig.acted_legs or {}
    legs = tuple(PairLeg(str(leg["symbol"]), leg["side"], float(acted[leg["symbol"]]["price"])
                         if leg["symbol"] in acted else math.nan) for leg in pair["legs"])
    a, b = (str(leg["symbol"]) for leg in pair["legs"])
    missing = None if a in acted and b in acted else (
        f"store signal {sig.id} was acted on with one price (before both legs were recorded): a pair's variables "
        f"need each leg's fill; give them with --position {sig.ticker}:{sig.direction}:{a}=PRICE,{b}=PRICE:DATE")
    hedge = (float(pair["hedge_ratio"]), str(pair["sizing"]))
    return HeldPair(sig.ticker, sig.direction, legs, pd.Timestamp(sig.bar_time),  # type: ignore[arg-type]
                    f"store signal {sig.id}", after_bar=open_fills, hedge=hedge, missing=missing)


@dataclass(frozen=True)
class PairInputs:
    """What a held pair's variables read beside its prices: every bar's hedge ratio, the sizing, the borrow
    cost."""

    hedge: np.ndarray  # (T, N)
    sizing: str
    borrow_cost_pct: float | None

    @staticmethod
    def of(strat: Any, levels: Mapping[str, np.ndarray], shape: tuple[int, ...],
           params: Mapping[str, Any] | None) -> PairInputs:
        """Those of a pair strategy's run (`levels`: its signal levels over bars of `shape`; `params`: the
        run's, risk overrides included)."""
        from ..backtest.pairs import hedge_levels
        from ..backtest.risk import resolve_risk

        return PairInputs(hedge_levels(strat.pair, levels, shape), strat.pair.sizing,
                          resolve_risk(strat, params).borrow_cost_pct)


def pair_runs(strat: Any, symbols: Any) -> list[tuple[str, str]]:
    """The (leg a, leg b) symbols of each run of a pair strategy's `symbols`."""
    from ..data.symbols import slot_runs

    a, b = strat.pair.legs
    return [(str(run[a]), str(run[b])) for run in slot_runs(symbols, strat.data)]


def fill_pairs(positions: Sequence[HeldPosition], runs: Sequence[tuple[str, str]]) -> list[HeldPair]:
    """The pairs the user's own fills hold (`ruleengine.live.positions.fill_positions`'s positions): a run
    whose legs are both held on opposite sides, on the side of its first leg, with each leg's units and average
    price, entered when the later leg was."""
    by_symbol = {p.ticker: p for p in positions}
    out: list[HeldPair] = []
    for a, b in runs:
        pa, pb = by_symbol.get(a.upper()), by_symbol.get(b.upper())
        if pa is None or pb is None or pa.side == pb.side:
            continue
        legs = (PairLeg(pa.ticker, pa.side, pa.entry_price, pa.units),
                PairLeg(pb.ticker, pb.side, pb.entry_price, pb.units))
        out.append(HeldPair(f"{pa.ticker}/{pb.ticker}", pa.side, legs, max(pa.entry_time, pb.entry_time),
                            "your fills"))
    return out


def pair_values(held: HeldPair, index: pd.DatetimeIndex, prices: Mapping[str, np.ndarray], hedge: np.ndarray,
                sizing: str, r: int, exec_open: bool, borrow_cost_pct: float | None
                ) -> tuple[dict[str, float], tuple[float, float]] | str:
    """The position variables of `held` at bar `r` (see the module docstring) and the units they value, or why
    they have no value there.

    Args:
        index: the bars' labels up to `r` at least.
        prices: ``open_a``, ``close_a``, ``open_b``, ``close_b`` of the pair's run (1-d, the bars of `index`).
        hedge: the hedge ratio of each bar (1-d), read where the units come from the hedge ratio.
        sizing: the pair block's sizing (``dollar_neutral`` or ``hedge_ratio_units``).
        borrow_cost_pct: the strategy's annual borrow cost of the short leg (None: none).
    """
    if held.missing is not None:
        return held.missing
    e = entry_row(held, index, r)
    if isinstance(e, str):
        return e
    close_a, close_b = prices["close_a"], prices["close_b"]
    both = np.isfinite(close_a) & np.isfinite(close_b)
    units = _held_units(held, both, hedge, sizing, e, exec_open)
    if isinstance(units, str):
        return units
    times = pd.DatetimeIndex(index).as_unit("ns").asi8
    rate = (borrow_cost_pct or 0.0) / 100.0
    (la, lb), (ua, ub) = held.legs, units

    def value(t: int, pa: float, pb: float) -> float:
        years = (times[t] - times[e]) / _YEAR_NS
        return sum(_leg_value(leg, u, p, rate * years) for leg, u, p in ((la, ua, pa), (lb, ub, pb)))

    def at_open(t: int, leg: str) -> float:  # the fill step's fill-in: an open without a price is the close
        o = float(prices[f"open_{leg}"][t])
        return o if np.isfinite(o) else float(prices[f"close_{leg}"][t])

    base = ua * la.entry_price + ub * lb.entry_price
    marks = [base]
    if exec_open and both[e] and e <= r:  # entered at the entry bar's open: its close is held
        marks.append(value(e, float(close_a[e]), float(close_b[e])))
    later = [t for t in range(e + 1, r + 1) if both[t]]
    for t in later:
        marks += [value(t, at_open(t, "a"), at_open(t, "b")), value(t, float(close_a[t]), float(close_b[t]))]
    now = value(r, float(close_a[r]), float(close_b[r]))
    return ({"entry_price": float(base), "bars_held": float(len(later)),
             "unrealized_pct": float((now / base - 1.0) * 100.0), "highest_since_entry": float(max(marks)),
             "lowest_since_entry": float(min(marks))}, (float(ua), float(ub)))


def _leg_value(leg: PairLeg, units: float, price: float, borrow_years_rate: float) -> float:
    """What one leg adds to the pair's value at `price`: units x price long; collateral plus gain less the
    accrued borrow cost short (`ruleengine.kernels.simulate.worth_nb`)."""
    if leg.side == "long":
        return units * price
    return units * (2.0 * leg.entry_price - price) - units * leg.entry_price * borrow_years_rate


def _held_units(held: HeldPair, both: np.ndarray, hedge: np.ndarray, sizing: str, e: int,
                exec_open: bool) -> tuple[float, float] | str:
    """The units valued: the legs' own, else 1 of leg a and the fill step's split of leg b at the hedge ratio of
    the entry's signal bar (the stored one, else the data's: the entry bar, or with open fills the last bar
    before it both legs traded)."""
    a, b = held.legs
    if a.units is not None and b.units is not None:
        return a.units, b.units
    if held.hedge is not None:
        ratio, sizing = held.hedge
    else:
        before = np.flatnonzero(both[:e])
        bar = e if not exec_open else (int(before[-1]) if len(before) else -1)
        if bar < 0:
            return f"no bar before the pair's entry ({held.describe()}) to read its hedge ratio: give the units " \
                "(A=UNITS@PRICE,B=UNITS@PRICE)"
        ratio = float(hedge[bar])
    if not (np.isfinite(ratio) and ratio > 0):
        return f"no hedge ratio > 0 on the pair's signal bar ({held.describe()}): the fill step opens no pair " \
            "there; give the units (A=UNITS@PRICE,B=UNITS@PRICE)"
    return 1.0, ratio if sizing == "hedge_ratio_units" else ratio * a.entry_price / b.entry_price


def pair_note(held: HeldPair, values: Mapping[str, float], units: tuple[float, float]) -> str:
    """The exit reasoning's line: the pair held, the units valued, each variable's value."""
    from .reasoning import fmt

    a, b = held.legs
    scale = "" if a.units is not None else \
        f"; valued per 1 {a.symbol} with {units[1]:.6g} {b.symbol} (the hedge ratio's split)"
    return f"pair held: {held.describe()}{scale}; " + ", ".join(f"{k} {fmt(v)}" for k, v in values.items())


__all__ = ["PAIR_POSITION_FORMAT", "HeldPair", "PairInputs", "PairLeg", "fill_pairs", "pair_note", "pair_runs",
           "pair_values", "parse_pair_position", "stored_pair"]
