"""Pydantic models of live signals: `StrategySignal` (seed 003) with a structured `Reasoning` tree."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

from ..sides import Side, action

NodeKind = Literal["compare", "cross", "and", "or", "not", "bool", "const"]


class Operand(BaseModel):
    """One side of a comparison (or a crossing) on the signal's bar."""

    text: str
    value: float | bool | None = Field(description="value on the bar (None: missing / warm-up)")
    previous: float | None = Field(default=None, description="value on the bar before (crossings only)")


class ConditionNode(BaseModel):
    """A condition (or a part of one) evaluated on the signal's bar.

    ``margin`` is the signed distance to flipping in the operands' own units (> 0: holds by that much,
    < 0: fails by that much); ``scale`` is the typical one-bar move of ``left - right`` (mean absolute change
    over the last 20 bars); ``norm_margin = margin / scale``; ``strength = norm / (1 + norm)`` for a holding
    condition (0 on the boundary, 0.5 one typical move away), 0 for a failing one. ``and`` / ``or`` / ``not``
    combine their children's normalised margins (min / max / negation).
    """

    text: str
    kind: NodeKind
    result: bool | None = Field(description="True/False on the bar; None when undefined (warm-up, no data)")
    op: str | None = None
    left: Operand | None = None
    right: Operand | None = None
    margin: float | None = None
    scale: float | None = None
    norm_margin: float | None = None
    strength: float | None = None
    note: str | None = None
    children: list[ConditionNode] = Field(default_factory=list)
    line: str = Field("", description="one readable line, e.g. 'rsi(close, 14) = 28.4 < 30 (margin 1.6)'")


class Reasoning(BaseModel):
    """Why a signal fired (or nearly did): every condition of its group on the bar, and the confidence terms."""

    signal_type: Literal["entry", "exit"]
    direction: Side = Field("long", description="the side of the position the signal opens or closes")
    logic: Literal["all", "any", "code"]
    conditions: list[ConditionNode] = Field(default_factory=list)
    held: int = Field(0, description="conditions that held on the bar")
    total: int = Field(0, description="conditions in the group")
    margin_score: float = Field(description="M: mean strength (all) / best strength of a holding one (any)")
    hit_rate: float = Field(description="H = (wins + 1) / (trades + 2) of the newest stored backtest")
    backtest_trades: int = 0
    backtest_wins: int = 0
    confidence: float = Field(description="100 x (0.6 M + 0.4 H)")
    text: str = Field("", description="the readable form: one line per condition")


class StrategySignal(BaseModel):
    """A trade signal of a strategy on the latest completed bar (seed 003), explained.

    Example:
        >>> sigs = ruleengine.live_signals("rules/golden_cross.yaml", "SPY,QQQ")  # doctest: +SKIP
        >>> print(sigs[0].reasoning.text)  # doctest: +SKIP
    """

    id: int | None = Field(default=None, description="the stored signal's id (after --save / scan)")
    strategy_id: int | None = None
    strategy_version: int | None = None
    strategy_name: str = ""
    ticker: str = Field(description="the symbol; a pair strategy's run of two legs as XLE/XLF (its legs, orders "
                                    "and hedge ratio in data_snapshot['pair'])")
    signal_type: Literal["entry", "exit"]
    direction: Side = Field("long", description="the side of the position it opens (entry) or closes (exit): "
                            "long (buy, then sell) or short (sell short, then buy to cover)")
    generated_at: datetime = Field(description="when the signal was computed (UTC)")
    bar_time: datetime = Field(description="the bar it was computed on (daily: the session date, 00:00 UTC)")
    price_at_signal: float = Field(description="the bar's close")
    confidence_score: float = Field(ge=0, le=100)
    reasoning: Reasoning
    data_snapshot: dict[str, Any] = Field(default_factory=dict)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def action(self) -> str:
        """The order to place: buy, sell (a long's exit), sell short or buy to cover (a short's exit)."""
        return action(self.signal_type, self.direction)

    @property
    def reasoning_text(self) -> str:
        return self.reasoning.text


class NearMiss(BaseModel):
    """A symbol where all but one condition of an ``all`` group held on the bar."""

    ticker: str
    signal_type: Literal["entry", "exit"]
    direction: Side = "long"
    bar_time: datetime
    price: float
    failed: ConditionNode
    reasoning: Reasoning


class LiveScan(BaseModel):
    """Everything one evaluation of a strategy over symbols produced."""

    strategy_name: str
    bar_time: datetime | None
    signals: list[StrategySignal] = Field(default_factory=list)
    near_misses: list[NearMiss] = Field(default_factory=list)
    evaluated: int = 0
    warnings: list[dict[str, Any]] = Field(default_factory=list)
    #: the data's provenance: slot -> provider, and whether any was synthetic (never, through `live_scan`)
    providers: dict[str, str] = Field(default_factory=dict)
    synthetic: bool = False
