"""Live signals of a pair strategy (a document with a ``pair`` block): both legs named, each with its order.

A pair signal is one signal of the pair's run (ticker ``XLE/XLF``, the data layer's label of a run of two
symbols): going long the pair (``entry``) buys the first leg and sells the second short, going short the pair
(``short_entry``, or ``entry`` of a ``direction: short`` strategy) does the opposite, and an exit closes both
legs together, as the fill step trades them (`ruleengine.backtest.pairs`). Each signal carries the legs'
symbols, sides, orders and closes on the bar and the hedge ratio read on that bar (the number, or the
expression's value) with the sizing that turns it into units, in its reasoning (a note) and in
``data_snapshot["pair"]``.

- **No hedge ratio, no entry**: on a bar where the hedge ratio is not a number > 0 the fill step opens no pair;
  such an entry is left out of the signals with warning D148 (never a signal that a backtest would not take).
- **Both legs' bars**: a pair is evaluated only where both legs have a bar (the other runs are counted in
  warning D116 like a symbol without a bar).
- **Runs, not a universe**: a pair trades two named legs, so its symbols name them (``asset_a=XLE,asset_b=XLF``,
  several pairs as ``asset_a=XLE,asset_b=XLF;asset_a=GLD,asset_b=GDX``,
  or a list of such mappings); a universe of single symbols (``@file``, ``SPY,QQQ``) cannot say which symbol is
  which leg and is D146.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import Diagnostic, RuleEngineError
from ..sides import Side, action

#: the other side of a pair's first leg (the second leg's)
_OTHER: dict[str, Side] = {"long": "short", "short": "long"}


@dataclass(frozen=True)
class PairBar:
    """One pair run on the evaluated bar: its legs' slots, symbols and closes, and the hedge ratio."""

    slots: tuple[str, str]
    symbols: tuple[str, str]
    closes: tuple[float, float]
    hedge_ratio: float
    sizing: str

    @property
    def opens(self) -> bool:
        """Whether the fill step can open the pair on this bar (a hedge ratio that is a number > 0)."""
        return bool(np.isfinite(self.hedge_ratio) and self.hedge_ratio > 0)

    def units_b_per_a(self) -> float | None:
        """Units of the second leg per unit of the first, as the fill step sizes them on this bar."""
        if not self.opens:
            return None
        if self.sizing == "hedge_ratio_units":
            return self.hedge_ratio
        return self.hedge_ratio * self.closes[0] / self.closes[1] if self.closes[1] > 0 else None

    def legs(self, kind: str, side: Side) -> list[dict[str, Any]]:
        """Each leg's slot, symbol, side (of the pair position) and order for a signal of `kind` on `side`."""
        sides = (side, _OTHER[side])
        return [{"slot": slot, "symbol": sym, "side": leg_side, "action": action(kind, leg_side), "close": close}
                for slot, sym, leg_side, close in zip(self.slots, self.symbols, sides, self.closes, strict=True)]

    def snapshot(self, kind: str, side: Side) -> dict[str, Any]:
        """``data_snapshot["pair"]`` of a signal: the legs, the hedge ratio and the sizing."""
        ratio = self.units_b_per_a()
        return {"legs": self.legs(kind, side), "hedge_ratio": float(self.hedge_ratio), "sizing": self.sizing,
                "units_b_per_unit_a": None if ratio is None else float(ratio)}

    def note(self, kind: str, side: Side) -> str:
        """The reasoning's line naming both legs, e.g. ``pair: buy XLE (asset_a) at 60.1 and sell short XLF
        (asset_b) at 24.3; hedge ratio 1 (dollar_neutral: ...)``."""
        a, b = self.legs(kind, side)
        orders = (f"{a['action']} {a['symbol']} ({a['slot']}) at {a['close']:.6g} and {b['action']} "
                  f"{b['symbol']} ({b['slot']}) at {b['close']:.6g}")
        if kind == "exit":
            return f"pair: close both legs: {orders}"
        ratio = self.units_b_per_a()
        how = (f"{self.hedge_ratio:.6g} units of {b['symbol']} per unit of {a['symbol']}"
               if self.sizing == "hedge_ratio_units"
               else f"{b['symbol']}'s value = {self.hedge_ratio:.6g} x {a['symbol']}'s"
               + (f", {ratio:.6g} {b['symbol']} per {a['symbol']} at these closes" if ratio is not None else ""))
        return f"pair: {orders}; hedge ratio {self.hedge_ratio:.6g} ({self.sizing}: {how})"


def pair_bars(strat: Any, md: Any, levels: Mapping[str, np.ndarray], r: int) -> list[PairBar]:
    """Each run's `PairBar` on row `r` of `md` (`levels`: the strategy's signal levels, e.g. an expression
    hedge ratio's values)."""
    from ..backtest.pairs import hedge_levels

    slots = (strat.pair.legs[0], strat.pair.legs[1])
    close_a, close_b = md.inputs[(slots[0], "close")], md.inputs[(slots[1], "close")]
    hedge = hedge_levels(strat.pair, levels, close_a.shape)
    return [PairBar(slots, (str(md.runs[j][slots[0]]), str(md.runs[j][slots[1]])),
                    (float(close_a[r, j]), float(close_b[r, j])), float(hedge[r, j]), strat.pair.sizing)
            for j in range(md.n_cols)]


def both_legs_have_a_bar(strat: Any, md: Any, r: int) -> np.ndarray:
    """(n_cols,) bool: both legs of each run have a close on row `r`."""
    a, b = strat.pair.legs
    return np.isfinite(md.inputs[(a, "close")][r]) & np.isfinite(md.inputs[(b, "close")][r])


def drop_entries_without_hedge(fired: dict[str, np.ndarray], entry_groups: list[str], bars: list[PairBar],
                               labels: list[Any], bar: Any, warnings: list[dict[str, Any]]) -> None:
    """Leave out the entries on runs whose hedge ratio opens no pair (the fill step's rule), with D148."""
    cannot = np.array([not p.opens for p in bars], dtype=bool)
    dropped: list[str] = []
    for group in entry_groups:
        hit = fired[group] & cannot
        dropped += [str(labels[int(j)]) for j in np.flatnonzero(hit)]
        fired[group] = fired[group] & ~cannot
    if dropped:
        names = list(dict.fromkeys(dropped))
        warnings.append(Diagnostic(
            "D148", f"{len(names)} pair(s) had an entry on {bar.date()} but no hedge ratio > 0 on that bar: "
            + ", ".join(names[:10]) + (" ..." if len(names) > 10 else "") + "; the fill step opens no pair "
            "there (as in a backtest), so no entry signal for them", severity="warning", path="pair.hedge_ratio",
            hint="the hedge ratio's expression needs its history (and a value > 0): ruleengine explain FILE "
                 "shows it").to_dict())


def refuse_universe(strat: Any, symbols: Any) -> None:
    """D146 when a pair strategy is given single symbols (a universe file, ``SPY,QQQ``, a list of tickers):
    they do not say which symbol is which leg."""
    if getattr(strat, "pair", None) is None:
        return
    named = isinstance(symbols, Mapping) or (
        isinstance(symbols, (list, tuple)) and bool(symbols) and all(isinstance(x, Mapping) for x in symbols)) or (
        isinstance(symbols, str) and "=" in symbols and not symbols.strip().startswith("@"))
    if named:
        return
    a, b = strat.pair.legs
    raise RuleEngineError([Diagnostic(
        "D146", f"a pair strategy trades two named legs ({a}, {b}); the symbols {str(symbols)[:60]!r} are single "
        "tickers that do not say which is which, so a scan over a universe of symbols does not apply to it",
        path="symbols", hint=f"name the legs: --symbols {a}=TICKER,{b}=TICKER (several pairs: ';' between runs, "
        f"--symbols \"{a}=TICKER,{b}=TICKER;{a}=TICKER,{b}=TICKER\", or through the API a list of such "
        f"mappings; a stored strategy: ruleengine strategies universe ID {a}=TICKER,{b}=TICKER)")])


__all__ = ["PairBar", "both_legs_have_a_bar", "drop_entries_without_hedge", "pair_bars", "refuse_universe"]
