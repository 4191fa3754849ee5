"""Point-in-time universes: a constituents table with membership intervals (``--symbols @sp500``).

Today's index list applied to the past drops every company that left it (acquired, bankrupt, demoted): the
survivorship bias. A membership table says when each symbol belonged: rows ``symbol, start_date, end_date``
(end_date empty = still a member), several rows for a symbol that left and came back; the layout of
``constituents.parquet`` in the shared data folder (its ``list`` column picks one table of several).

Spelling: ``@sp500`` reads ``constituents.parquet`` of the data folder (``--data FOLDER`` or
``RULEENGINE_DATA``), list ``sp500_membership_intervals``; ``@sp500:PATH`` reads that table from PATH (a
Parquet or CSV file). The run covers every symbol that was a member at some time in the requested range, and
a symbol is a member on the days ``start_date <= day < end_date`` (the end date is the day of its removal).
``@path/file`` without a name stays a plain list of symbols (`symbols.read_universe`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError

#: universe name -> the `list` of constituents.parquet that holds its membership intervals
NAMED_UNIVERSES = {"sp500": "sp500_membership_intervals"}
TABLE_FILE = "constituents.parquet"


@dataclass(frozen=True)
class Membership:
    """Membership spells of one universe: symbol -> [(first day, day of removal or None)]."""

    name: str
    spells: dict[str, list[tuple[pd.Timestamp, pd.Timestamp | None]]]

    def symbols(self, lo: pd.Timestamp | None = None, hi: pd.Timestamp | None = None) -> list[str]:
        """Every symbol that was a member on some day of [lo, hi] (all bounds inclusive), in name order."""
        out = []
        for sym, spells in self.spells.items():
            if any((hi is None or a <= hi) and (lo is None or b is None or b > lo) for a, b in spells):
                out.append(sym)
        return sorted(out)

    def mask(self, index: pd.DatetimeIndex, symbols: list[str]) -> np.ndarray:
        """(T, S) bool, F-ordered: symbols[s] is a member on the day of bar t (bar labels' dates)."""
        days = index.tz_localize(None) if index.tz is not None else index
        days = days.normalize()
        out = np.zeros((len(symbols), len(days)), dtype=np.bool_).T
        for s, sym in enumerate(symbols):
            for a, b in self.spells.get(sym, []):
                out[:, s] |= (days >= a) & ((days < b) if b is not None else True)
        return out


def universe_name(spec: Any) -> tuple[str, str | None] | None:
    """(name, table path or None) when `spec` names a point-in-time universe (``@sp500``, ``@sp500:PATH``)."""
    if not isinstance(spec, str) or not spec.strip().startswith("@"):
        return None
    name, _, path = spec.strip()[1:].partition(":")
    if name.lower() not in NAMED_UNIVERSES:
        return None
    return name.lower(), (path.strip() or None)


def load_membership(name: str, path: str | None, data: str | None) -> Membership:
    """The membership table of universe `name`: from `path`, else constituents.parquet of the data folder."""
    if path is None:
        folder = data
        if folder is None:
            import os

            folder = os.environ.get("RULEENGINE_DATA") or None
        if folder is None:
            raise _bad(f"@{name} reads its membership table ({TABLE_FILE}) from the data folder, and none is given",
                       f"give --data FOLDER (holding {TABLE_FILE}) or the table itself: --symbols @{name}:PATH")
        p = Path(folder)
        p = p / TABLE_FILE if p.is_dir() else p.parent / TABLE_FILE
    else:
        p = Path(path)
    if not p.is_file():
        raise _bad(f"membership table '{p}' not found", f"give --symbols @{name}:PATH with a Parquet/CSV file of "
                   "columns symbol, start_date, end_date")
    try:
        df = pd.read_parquet(p) if p.suffix.lower() == ".parquet" else pd.read_csv(p)
    except Exception as exc:  # noqa: BLE001 - any reader failure is the user's file
        raise _bad(f"cannot read membership table '{p}': {exc}") from None
    return membership_from_frame(name, df, str(p))


def membership_from_frame(name: str, df: pd.DataFrame, where: str = "the table") -> Membership:
    """Spells from rows (symbol, start_date, end_date[, list]); a `list` column selects the universe's list."""
    cols = {str(c).lower(): c for c in df.columns}
    missing = [c for c in ("symbol", "start_date", "end_date") if c not in cols]
    if missing:
        raise _bad(f"membership table {where} has no column {', '.join(missing)}",
                   "columns: symbol, start_date, end_date (empty = still a member)")
    if "list" in cols:
        wanted = NAMED_UNIVERSES.get(name, name)
        lists = set(df[cols["list"]].astype(str))
        if wanted not in lists:
            raise _bad(f"membership table {where} has no list '{wanted}'", "lists: " + ", ".join(sorted(lists)))
        df = df[df[cols["list"]].astype(str) == wanted]
    start = pd.to_datetime(df[cols["start_date"]], errors="coerce")
    end = pd.to_datetime(df[cols["end_date"]], errors="coerce")
    spells: dict[str, list[tuple[pd.Timestamp, pd.Timestamp | None]]] = {}
    for sym, a, b in zip(df[cols["symbol"]].astype(str), start, end, strict=True):
        if pd.isna(a):
            raise _bad(f"membership table {where}: {sym} has a spell without a start_date")
        spells.setdefault(sym.strip(), []).append((pd.Timestamp(a), None if pd.isna(b) else pd.Timestamp(b)))
    if not spells:
        raise _bad(f"membership table {where} lists no symbol")
    return Membership(name, spells)


def _bad(message: str, hint: str | None = None) -> RuleEngineError:
    return RuleEngineError([Diagnostic("D117", message, path="symbols", hint=hint)])
