"""The provider contract: what every data source delivers, in one vocabulary.

A provider serves data *kinds* (``ohlcv``, ``earnings``, ``income_statement``, ``balance_sheet``,
``key_metrics``, ``fundamentals``, ``insider_trades``; columns in `ruleengine.schema.kinds.KIND_COLUMNS`) for
symbols given at run time. `Provider.fetch` returns one symbol's raw data for ``[start, end]`` in a
`pandas.DataFrame` that follows these conventions, so that alignment and resampling (``pit``, ``resample``)
never need to know where the data came from:

* **Prices** (kind ``ohlcv``): index named ``time``, tz-aware UTC, sorted, unique. Daily and coarser bars
  are labelled by their session date at 00:00 UTC (a date label, not an instant); intraday bars by their start
  instant converted to UTC. Columns ``open, high, low, close, volume`` as float64. The frame's
  ``attrs["frequency"]`` is the frequency actually delivered (``1Min`` ... ``1Day``), and
  ``attrs["timezone"]`` the exchange time zone (``America/New_York`` by default).
* **Events and fundamentals** (every other kind): one row per published record, index named
  ``available_at`` = the UTC instant from which the value may be used (announcement time, filing time,
  transaction date plus the reporting lag; see ``pit``), never the fiscal period end. The kind's columns as
  float64, plus optional informational columns (``period_end``, ``announce_time``, ``fiscal_year`` ...).
  Insider trades are one row per transaction with ``transaction_code``, ``shares``, ``price``; they are
  aggregated per bar to the kind's columns (``buy_count`` ...) when bound.
* ``attrs["provider"]`` names the provider; ``attrs["synthetic"] = True`` marks made-up data.

Failures raise `ruleengine.errors.RuleEngineError` with the D1xx codes (D110 symbol not found, D111 no data in
range, D112 request failed, D113 credentials/plan, D114 malformed payload); never a bare exception.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    import pandas as pd

#: Kinds whose rows are prices at a bar frequency; all other kinds are published events.
PRICE_KINDS = frozenset({"ohlcv"})


@dataclass(frozen=True)
class KindInfo:
    """What a provider serves for one kind: its columns and frequencies, with a line of documentation."""

    columns: tuple[str, ...]
    frequencies: tuple[str, ...]
    doc: str = ""


@dataclass(frozen=True)
class FetchRequest:
    """One provider call: a symbol's data of one kind between two dates (inclusive), at a frequency."""

    symbol: str
    kind: str
    start: pd.Timestamp
    end: pd.Timestamp
    frequency: str = "1Day"
    extra: Mapping[str, str] = field(default_factory=dict)


class Provider(ABC):
    """A source of market data. Subclasses set `name`, `description`, `kinds` and implement `fetch`."""

    name: str = ""
    description: str = ""
    synthetic: bool = False
    #: wrap in the on-disk cache when resolved (False for files and generated data: faster to redo)
    cacheable: bool = True

    @property
    @abstractmethod
    def kinds(self) -> Mapping[str, KindInfo]:
        """Kind name -> what this provider serves for it."""

    @abstractmethod
    def fetch(self, request: FetchRequest) -> pd.DataFrame:
        """One symbol's data for the request, following the module's conventions."""

    def serves(self, kind: str, frequency: str | None = None) -> bool:
        info = self.kinds.get(kind)
        return info is not None and (frequency is None or frequency in info.frequencies
                                     or kind not in PRICE_KINDS)

    def cache_key(self) -> str:
        """Identity of the underlying source for the on-disk cache (e.g. the file path or base URL)."""
        return self.name

    def describe(self) -> dict[str, object]:
        """A JSON-able description for `ruleengine providers` and the LLM system prompt."""
        return {"name": self.name, "description": self.description, "synthetic": self.synthetic,
                "kinds": {k: {"columns": list(v.columns), "frequencies": list(v.frequencies), "doc": v.doc}
                          for k, v in self.kinds.items()}}
