"""Plain records the store returns (detached from the database session, JSON-ready through `to_dict`).

Times are naive UTC datetimes (what SQLite stores); `to_dict` writes them as ISO text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ..sides import action


def iso(value: datetime | date | None) -> str | None:
    """ISO text of a datetime/date (None stays None)."""
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class StrategyRecord:
    """One version of a stored strategy (by default the current one).

    Example:
        >>> rec = store.add_strategy("rules/golden_cross.yaml")  # doctest: +SKIP
        >>> rec.id, rec.version, rec.strategy.name  # doctest: +SKIP
        (1, 1, 'Golden cross with RSI filter')
    """

    id: int
    name: str
    version: int
    content_hash: str
    active: bool
    created_at: datetime  # when this version was stored
    updated_at: datetime  # when the strategy last changed (a version, activation, universe)
    author: str
    nl_input: str
    definition: dict[str, Any] = field(repr=False)
    current_version: int
    description: str = ""
    universe: str | None = None

    @property
    def strategy(self) -> Any:
        """The `TradingStrategy` of this version, loaded again from the stored document.

        Raises:
            RuleEngineError: S1xx when the stored document no longer fits the schema.
        """
        from ..api import load_strategy

        return load_strategy(self.definition)

    @property
    def is_current(self) -> bool:
        return self.version == self.current_version

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "version": self.version, "current_version": self.current_version,
                "content_hash": self.content_hash, "active": self.active, "status": self.status,
                "created_at": iso(self.created_at), "updated_at": iso(self.updated_at), "author": self.author,
                "nl_input": self.nl_input, "description": self.description, "universe": self.universe,
                "strategy": self.definition}

    @property
    def status(self) -> str:
        return "active" if self.active else "inactive"


@dataclass(frozen=True)
class RunRecord:
    """A stored backtest: summary columns, and the full `BacktestResult` JSON in `result`."""

    id: int
    strategy_id: int
    strategy_version: int
    created_at: datetime
    start: date
    end: date
    symbols: str
    runs: int
    total_trades: int
    winning_trades: int
    win_rate: float | None
    total_return_pct: float | None
    max_drawdown_pct: float | None
    sharpe_ratio: float | None
    result: dict[str, Any] = field(repr=False)
    data_providers: dict[str, str] | None = None
    synthetic: bool | None = None  # None: an old row that did not record it
    direction: str = "long"  # the strategy's: long | short | long_short

    @property
    def kind(self) -> str:
        """``rotation`` for a rotation portfolio's result (`RotationResult`), else ``signals`` (runs of trades)."""
        return "rotation" if self.result.get("kind") == "rotation" else "signals"

    def backtest_result(self) -> Any:
        """The stored result as a `BacktestResult` (a rotation's: a `RotationResult`) again."""
        if self.kind == "rotation":
            from ..backtest.rotation import RotationResult

            return RotationResult.model_validate(self.result)
        from ..backtest.result import BacktestResult

        return BacktestResult.model_validate(self.result)

    def to_dict(self, full: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "strategy_id": self.strategy_id,
                               "strategy_version": self.strategy_version, "created_at": iso(self.created_at),
                               "start": iso(self.start), "end": iso(self.end),
               "symbols": self.symbols, "runs": self.runs, "total_trades": self.total_trades,
               "winning_trades": self.winning_trades, "win_rate": self.win_rate,
               "total_return_pct": self.total_return_pct, "max_drawdown_pct": self.max_drawdown_pct,
               "sharpe_ratio": self.sharpe_ratio, "data_providers": self.data_providers,
               "synthetic": self.synthetic, "direction": self.direction, "kind": self.kind}
        if full:
            out["result"] = self.result
        return out


@dataclass(frozen=True)
class SignalRecord:
    """A stored live signal and what happened to it (acted on, closed, its hypothetical trade)."""

    id: int
    strategy_id: int
    strategy_version: int
    ticker: str
    signal_type: str
    bar_time: datetime
    generated_at: datetime
    price_at_signal: float | None
    confidence_score: float | None
    reasoning: str | None
    reasoning_tree: dict[str, Any] | None
    data_snapshot: dict[str, Any] | None
    user_acted: bool
    acted_at: datetime | None
    acted_price: float | None
    outcome: dict[str, Any] | None
    hypothetical: dict[str, Any] | None
    data_providers: dict[str, str] | None = None
    synthetic: bool | None = None  # None: an old row that did not record it
    direction: str = "long"  # the side of the position the signal opens or closes: long | short
    acted_legs: dict[str, Any] | None = None  # a pair's fills: symbol -> {"price", "time"} (None: not a pair)

    @property
    def real(self) -> bool:
        """True when the signal is known to come from real data (not synthetic, not unknown)."""
        return self.synthetic is False

    @property
    def closed(self) -> bool:
        return self.outcome is not None

    @property
    def action(self) -> str:
        """The order the signal asked for: buy, sell, sell short or buy to cover."""
        return action(self.signal_type, self.direction)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "strategy_id": self.strategy_id, "strategy_version": self.strategy_version,
                "ticker": self.ticker, "signal_type": self.signal_type, "bar_time": iso(self.bar_time),
                "generated_at": iso(self.generated_at), "price_at_signal": self.price_at_signal,
                "confidence_score": self.confidence_score, "reasoning": self.reasoning,
                "reasoning_tree": self.reasoning_tree, "data_snapshot": self.data_snapshot,
                "user_acted": self.user_acted, "acted_at": iso(self.acted_at), "acted_price": self.acted_price,
                "outcome": self.outcome, "hypothetical": self.hypothetical,
                "data_providers": self.data_providers, "synthetic": self.synthetic, "direction": self.direction,
                "action": self.action, "acted_legs": self.acted_legs}


@dataclass(frozen=True)
class NotificationRecord:
    """One outbox message."""

    id: int
    signal_id: int | None
    url: str
    payload: dict[str, Any]
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
