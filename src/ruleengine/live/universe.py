"""Live signals over a point-in-time universe (``--symbols @sp500``): membership on the evaluated bar, said aloud.

A backtest over such a universe (`ruleengine.data.universe`) enters a symbol only on bars where it is a member
and exits a held position on its first bar outside (exit reason ``left_universe``; `compile.cross.
restrict_to_members` puts the exit signal there). Live signals read the same signals, and this module makes the
membership visible instead of a silent absence:

- **No entry for a non-member**: the symbols loaded that are not members on the evaluated bar are listed in
  warning D158 ("not a member of sp500 on 2012-03-22 (left it on 2012-03-16)"), naming those whose entry
  conditions held (an entry the membership blocks).
- **The exit of a position that left**: an exit signal on a non-member says why in its reasoning and carries
  ``data_snapshot["exit_reason"] = "left_universe"`` (and ``["universe"]``), the backtest's exit. A position the
  user holds (their fills, the store's acted entries, ``--position``) in a symbol that left the universe before
  the few bars live signals load is loaded too (`held_symbols`), so it gets that exit.
- **A held position whose prices ended** (delisted, acquired): no bar on the evaluated bar, so no signal;
  warning D165 names its last close and date, the price at which the backtest closed it (exit reason
  ``delisted``), read from the bars up to the evaluated one only (`delisted`).
- **Tracking**: every signal of such a run records the universe (``data_snapshot["universe"]``: spec, name, member
  on the bar); `signals_universe` gives it back to tracking, which simulates the hypothetical trade with the
  same membership (exit reasons ``left_universe``, ``delisted``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.universe import Membership, load_membership, universe_name
from ..errors import Diagnostic
from .reasoning import condition_held


@dataclass(frozen=True)
class LiveUniverse:
    """The membership table of the universe a live scan runs on."""

    membership: Membership
    spec: str  # ``@sp500`` or ``@sp500:/absolute/table.csv``: recorded with each signal (tracking reads it)

    @property
    def name(self) -> str:
        return self.membership.name

    def held_symbols(self, tickers: Iterable[str]) -> list[str]:
        """The held tickers that were members at some time: loaded beside the range's members."""
        return sorted(t for t in tickers if t in self.membership.spells)

    def describe(self, symbol: str, day: pd.Timestamp) -> str:
        """``not a member of sp500 on 2012-03-22 (left it on 2012-03-16)``; the removal day is the end of its
        last spell before `day` (none: never a member until then)."""
        ends = [b for a, b in self.membership.spells.get(symbol, []) if b is not None and b <= day]
        left = f" (left it on {max(ends).date()})" if ends else " (not a member before)"
        return f"not a member of {self.name} on {day.date()}{left}"

    def outside(self, md: Any, r: int, has_bar: np.ndarray) -> dict[int, str]:
        """Column -> `describe` for the columns with a bar on row `r` that are not members on it."""
        day = _day(md.index[r])
        cols = np.flatnonzero(has_bar & ~np.asarray(md.members[r], dtype=bool))
        return {int(j): self.describe(str(md.labels[j]), day) for j in cols}

    def warning(self, outside: Mapping[int, str], labels: Any, blocked: Iterable[int], day: pd.Timestamp
                ) -> dict[str, Any]:
        """D158: the symbols that get no entry because they are not members on the bar; `blocked` the columns
        whose entry conditions held."""
        names = [f"{labels[j]}: {why}" for j, why in outside.items()]
        held = [str(labels[j]) for j in blocked]
        return Diagnostic(
            "D158", f"{len(names)} symbol(s) not members of {self.name} on {day.date()} get no entry signal: "
            + "; ".join(names[:10]) + (" ..." if len(names) > 10 else "")
            + (f"; their entry conditions held for: {', '.join(held[:10])}" if held else ""),
            severity="warning", path="symbols",
            hint="a backtest over the universe enters only members and exits a held position on its first bar "
                 "outside (exit reason left_universe)").to_dict()

    def delisted(self, md: Any, close: np.ndarray, r: int, has_bar: np.ndarray, held: Iterable[str]
                 ) -> dict[int, tuple[pd.Timestamp, float]]:
        """Column -> (the day, the close) of its last bar, for the held symbols without a bar on row `r` whose
        prices end before it: the backtest closes such a position at that close (exit reason ``delisted``,
        `backtest.build.universe_exit_reasons`). Only rows up to `r` are read (point in time)."""
        tickers = {str(t).upper() for t in held}
        out: dict[int, tuple[pd.Timestamp, float]] = {}
        for j in np.flatnonzero(~has_bar):
            if str(md.labels[j]).upper() not in tickers:
                continue
            rows = np.flatnonzero(np.isfinite(close[: r + 1, j]))
            if len(rows):
                out[int(j)] = (_day(md.index[rows[-1]]), float(close[rows[-1], j]))
        return out

    def delisted_warning(self, ended: Mapping[int, tuple[pd.Timestamp, float]], labels: Any, day: pd.Timestamp
                         ) -> dict[str, Any]:
        """D165: the held positions whose symbol's prices ended before the bar, with their last close and date
        (a halt that resumes reads the same until its next bar: the words say "no bar since")."""
        names = [f"{labels[j]}: last close {close:g} on {last.date()}, no bar since"
                 for j, (last, close) in ended.items()]
        return Diagnostic(
            "D165", f"{len(names)} held position(s) in symbols whose prices ended before {day.date()}: "
            + "; ".join(names[:10]) + (" ..." if len(names) > 10 else "")
            + "; a backtest over the universe closes such a position at its last close (exit reason delisted)",
            severity="warning", path="positions",
            hint="no signal can come for a symbol without bars: close the position with your broker; its last "
                 "close is the backtest's exit price").to_dict()

    def snapshot(self, member: bool, why: str | None) -> dict[str, Any]:
        """``data_snapshot["universe"]`` of a signal of a universe run: its spec, name, membership on the bar
        (and, for a non-member, `describe`'s words)."""
        return {"spec": self.spec, "name": self.name, "member": member} | ({"note": why} if why else {})

    def exit_note(self, why: str) -> str:
        """The reasoning's line of an exit on a non-member: the backtest's exit (left_universe)."""
        return f"{why}: a position held exits on its first bar outside the universe (exit reason left_universe)"


def live_universe(symbols: Any, data: str | None) -> LiveUniverse | None:
    """The universe `symbols` names (``@sp500``, ``@sp500:PATH``), None for other symbols."""
    named = universe_name(symbols)
    if named is None:
        return None
    spec = f"@{named[0]}" + (f":{Path(named[1]).expanduser().resolve()}" if named[1] else "")
    return LiveUniverse(load_membership(named[0], named[1], data), spec)


def signals_universe(signals: Iterable[Any], data: str | None) -> LiveUniverse | None:
    """The universe stored signals were computed over (``data_snapshot["universe"]["spec"]``), None when they
    were not: tracking applies its membership as the backtest does."""
    specs = {str(spec) for s in signals if (spec := ((s.data_snapshot or {}).get("universe") or {}).get("spec"))}
    return live_universe(min(specs), data) if specs else None


def entries_held(inspected: list[Any], groups: Iterable[tuple[str, str]], cols: Iterable[int]) -> list[int]:
    """The columns among `cols` whose entry conditions held on the last inspected bar (`groups`: each entry
    group's name and logic, all / any); none for a strategy without conditions (code)."""
    out: list[int] = []
    for j in cols:
        for group, logic in groups:
            truths = [condition_held(c, j) for c in inspected if c.group == group]
            if truths and (all(truths) if logic == "all" else any(truths)):
                out.append(j)
                break
    return out


def _day(t: Any) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return (ts.tz_localize(None) if ts.tz is not None else ts).normalize()


__all__ = ["LiveUniverse", "entries_held", "live_universe", "signals_universe"]
