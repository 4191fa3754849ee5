"""The ``portfolio`` provider: the user's own fills from a broker's transaction export (CSV).

Serves the ``portfolio`` kind (``shares``, ``cost_basis``, ``unrealized_pct``): one record per fill of the
symbol, visible from when it happened (`ruleengine.data.broker_csv` reads the generic layout, Schwab's and
Fidelity's exports, and says which cell of which line it cannot read). On each bar the binder turns the fills that
happened up to that bar into the position (`ruleengine.data.align.aggregate_fills`): shares held, average
cost and the open gain at the bar's close. Every fill up to the range's end is returned, whatever the start,
because a position is the sum of all fills before it. A symbol the export never traded is held flat (0 shares):
that is an answer, not an error.

Configuration: ``RULEENGINE_PORTFOLIO`` (the CSV path) or ``PortfolioProvider(path)``; with it set,
``portfolio`` slots use this provider without naming it.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "fills.csv"
    >>> _ = path.write_text("date,symbol,action,quantity,price\\n2024-01-02,ACME,buy,40,10.5\\n")
    >>> PortfolioProvider(path).holdings()
    {'ACME': 40.0}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from .base import FetchRequest, KindInfo, Provider
from .frames import finish
from .pit import EXCHANGE_TZ

_KINDS: dict[str, KindInfo] = {
    "portfolio": KindInfo(
        ("shares", "cost_basis", "unrealized_pct"), ("event",),
        "your position from your own fills: each fill counts from when it happened (a date-only fill at that "
        "session's close), so shares on bar t = the sum of fills up to t; cost_basis = average cost per share "
        "(fees in); unrealized_pct = open gain at the bar's close, NaN when flat"),
}

_PATH_HINT = ("set RULEENGINE_PORTFOLIO to your broker's transactions CSV (generic layout: date, symbol, action, "
              "quantity, price, fees; Schwab's transactions export; or Fidelity's accounts history)")


class PortfolioProvider(Provider):
    """The user's fills from a broker CSV (``RULEENGINE_PORTFOLIO``, or `path`)."""

    name = "portfolio"
    default_rank = 40
    default_reason = "RULEENGINE_PORTFOLIO is set"
    cacheable = False  # a local file: reading it is faster than the cache
    credentials: ClassVar[tuple[str, ...]] = ("RULEENGINE_PORTFOLIO",)
    point_in_time = ("each fill from when it happened (a date-only fill at that session's close): shares on bar t "
                     "= the sum of the fills up to t")
    description = ("your own position from a broker's transactions CSV (generic layout, Schwab's or Fidelity's "
                   "export): shares, average cost and open gain per bar, from the fills up to that bar; needs "
                   "RULEENGINE_PORTFOLIO")

    def __init__(self, path: str | Path | None = None) -> None:
        given = path or os.environ.get("RULEENGINE_PORTFOLIO") or None
        self.path = Path(given).expanduser() if given else None
        self._fills: pd.DataFrame | None = None

    @classmethod
    def configured(cls, env: Mapping[str, str]) -> bool:
        return bool(env.get("RULEENGINE_PORTFOLIO"))

    @property
    def kinds(self) -> Mapping[str, KindInfo]:
        return _KINDS

    def cache_key(self) -> str:
        return f"portfolio:{self.path}"

    def fills(self) -> pd.DataFrame:
        """Every fill of the export (read once), indexed by when it happened."""
        if self._fills is None:
            from .broker_csv import read_fills

            if self.path is None:
                raise RuleEngineError([Diagnostic("D113", "no portfolio export configured", hint=_PATH_HINT)])
            if not self.path.is_file():
                raise RuleEngineError([Diagnostic("D114", f"the portfolio export {self.path} is not a file",
                                                  hint=_PATH_HINT)])
            self._fills = read_fills(self.path)
        return self._fills

    def holdings(self, at: Any = None) -> dict[str, float]:
        """symbol -> shares held after every fill up to `at` (default: all), flat symbols left out."""
        fills = self.fills()
        if at is not None:
            t = pd.Timestamp(at)
            fills = fills[fills.index <= (t.tz_localize("UTC") if t.tzinfo is None else t)]
        totals = fills.groupby("symbol", sort=True)["quantity"].sum()
        return {str(s): float(q) for s, q in totals.items() if abs(q) > 1e-9}

    def fetch(self, request: FetchRequest) -> pd.DataFrame:
        """The symbol's fills up to the end of ``request.end`` (all earlier ones too: see the module docstring)."""
        if request.kind not in _KINDS:
            raise RuleEngineError([Diagnostic("D109", f"provider 'portfolio' does not serve kind '{request.kind}'",
                                              hint="portfolio serves: portfolio")])
        symbol = request.symbol.strip().upper()
        fills = self.fills()
        end = pd.Timestamp(request.end)
        if end.tzinfo is None:
            end = (end.normalize() + pd.Timedelta(days=1)).tz_localize(EXCHANGE_TZ).tz_convert("UTC")
        mine = fills[(fills["symbol"] == symbol) & (fills.index < end)].drop(columns="symbol")
        return finish(mine.copy(), kind=request.kind, frequency="event", provider=self.name, tz=EXCHANGE_TZ,
                      extra_attrs={"symbol": symbol, "path": str(self.path)})
