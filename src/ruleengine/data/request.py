"""`DataRequest`: what a strategy needs from the data layer, without the strategy (stage 5's input).

A strategy (rules or code) says which slots it reads, which of their columns, how many bars of history it
needs before the start date, and at which frequency it executes (`ruleengine.strategies.SignalSource
.data_request`). The data layer loads exactly that (`ruleengine.data.market.load_market_data`) and never
sees the strategy: like zipline's loaders, which see columns and dates, never the pipeline.

Example:
    >>> from ruleengine.schema.strategy import DataSlot
    >>> req = DataRequest({"prices": DataSlot(kind="ohlcv")}, {"prices": frozenset({"close"})}, price_slot="prices")
    >>> req.bars_slot(), req.frequency, req.warmup_bars
    ('prices', '1Day', 0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from ..errors import Diagnostic
from ..schema.strategy import DataSlot
from .base import PRICE_KINDS
from .frames import BAR_FREQUENCIES

#: the columns the simulation reads from every price slot
BAR_COLUMNS = frozenset({"open", "high", "low", "close"})


@dataclass(frozen=True)
class DataRequest:
    """Slots to load, the columns to bind of each, history before the start, and the execution frequency."""

    slots: Mapping[str, DataSlot]  # slot name -> its document model (kind, frequency, provider, symbol_from)
    columns: Mapping[str, frozenset[str]]  # slot -> columns to bind (a slot left out is not loaded)
    warmup_bars: int = 0  # bars of history before the start date, never traded
    frequency: str = "1Day"  # the execution frequency: the bars of the result
    price_slot: str | None = None  # the slot bare column names refer to (`TradingStrategy.price_slot`)
    #: what the strategy found about this request (e.g. D144: a window counted in bars over a coarser slot);
    #: the data layer passes them on with the result
    warnings: tuple[Diagnostic, ...] = field(default=())

    def with_overrides(self, columns: Mapping[str, set[str]] | None = None,
                       warmup_bars: int | None = None) -> DataRequest:
        """This request with other columns and/or another history length (None: keep)."""
        out = self
        if columns is not None:
            out = replace(out, columns={s: frozenset(c) for s, c in columns.items()})
        if warmup_bars is not None:
            out = replace(out, warmup_bars=int(warmup_bars))
        return out

    def bars_slot(self) -> str | None:
        """The price slot that defines the bars: the price slot when it is read, else the first price slot read."""
        if self.price_slot in self.columns:
            return self.price_slot
        return next((s for s in self.columns if self.slots[s].kind in PRICE_KINDS), None)

    def coarser_slots(self) -> list[str]:
        """Price slots read (other than the bars') whose frequency is coarser than the execution's: they are
        built at their own frequency and joined onto the bars like published records."""
        return coarser_slots(self.slots, self.columns, self.bars_slot(), self.frequency)


def coarser_slots(slots: Mapping[str, DataSlot], needed: Mapping[str, object], base: str | None,
                  execution: str) -> list[str]:
    """Price slots (other than the one defining the bars) whose frequency is coarser than the execution's."""
    rank = BAR_FREQUENCIES.index
    return [s for s in needed if s != base and slots[s].kind in PRICE_KINDS
            and slots[s].frequency in BAR_FREQUENCIES and rank(slots[s].frequency) > rank(execution)]


__all__ = ["BAR_COLUMNS", "DataRequest", "coarser_slots"]
