"""The rotation block of a strategy document: a portfolio over a universe, rebalanced on a calendar.

On the last bar of each ``rebalance`` period (at its close), the portfolio holds the symbols for which the
``hold`` expression (a cross-sectional selection such as ``top(roc(close, 126), 10)``) is true, weighted
``equal``, ``inverse_volatility`` (1 / the ``volatility`` expression) or by a number expression, normalised
to 1 over the held names. Entry and exit conditions, when the document has them, are filters: a symbol is
held only where its entry conditions are true and its exit conditions false on the rebalance bar. A held
name whose drifted weight (at the fill price, before the bar's orders) is less than ``min_weight_change_pct``
percentage points from its target above 0 is not traded (turnover control); a target of 0 always sells and a
name not held is always bought.

This module stores expression strings; the compiler checks them.

Example:
    >>> r = Rotation.model_validate({"rebalance": "1Month", "hold": "top(roc(close, 126), 10)"})
    >>> r.weights, r.min_weight_change_pct
    ('equal', 0.0)
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from .base import Closed, one_of
from .kinds import BAR_FREQUENCIES

#: calendar periods a rotation rebalances on: the execution frequencies
REBALANCE_FREQUENCIES = BAR_FREQUENCIES
#: the weighting schemes that are words; anything else is a number expression
WEIGHT_SCHEMES = ("equal", "inverse_volatility")
ROTATION_VOLATILITY_EXAMPLE = "stddev(log_return(close, 1), 60)"


def _err(code: str, message: str, hint: str) -> PydanticCustomError:
    return PydanticCustomError(code, message, {"hint": hint})


class Rotation(Closed):
    """A rotation portfolio: one shared-cash account over the universe, rebalanced to target weights."""

    rebalance: str = Field(
        description="the period rebalanced on: at the close of the last bar of each period (1Month: the last "
                    "session of each month; 1Week: of each week; the execution frequency: every bar); or the name "
                    "of an enum parameter whose values are such periods (a sweep can then vary it)",
        json_schema_extra={"anyOf": [{"enum": list(REBALANCE_FREQUENCIES)}, {"type": "string"}]})
    hold: str | None = Field(
        None, description="a true/false expression selecting the symbols held from the rebalance bar on, usually a "
                          "cross-sectional selection, e.g. \"top(roc(close, 126), 10)\"; its numbers may be "
                          "parameters; null only for code whose generate_weights(data, params) returns the weights")
    weights: str = Field(
        "equal", description="equal: 1/n each; inverse_volatility: 1 / volatility, normalised; or a number "
                             "expression (e.g. \"roc(close, 126)\") normalised to 1 over the held names (a held "
                             "name whose value is not a number > 0 gets no weight)")
    volatility: str | None = Field(
        None, description="inverse_volatility only: the volatility expression, e.g. "
                          f"\"{ROTATION_VOLATILITY_EXAMPLE}\" (a held name without a value > 0 gets no weight)")
    min_weight_change_pct: float | str = Field(
        0.0, description="turnover control: on a rebalance bar, a held name with a target above 0 whose drifted "
                         "weight (at the fill price, before the bar's orders) is less than this many percentage points "
                         "from its target is not traded (0: always rebalanced; a target of 0 always sells, a name "
                         "not held is always bought); a number in [0, 100) or the name of a number parameter",
        json_schema_extra={"anyOf": [{"type": "number", "minimum": 0, "exclusiveMaximum": 100},
                                     {"type": "string"}]})

    @field_validator("min_weight_change_pct")
    @classmethod
    def _band(cls, v: float | str) -> float | str:
        if isinstance(v, str) or (0 <= v < 100):
            return v
        raise _err("S142", f"min_weight_change_pct must be in [0, 100) or a parameter name, got {v!r}",
                   "percentage points, e.g. 2 (a name whose weight is within 2 points of its target is not traded)")

    def weight_band(self, params: dict[str, Any]) -> float:
        """min_weight_change_pct for one parameter set (a parameter's value where it names one)."""
        return float(params[self.min_weight_change_pct] if isinstance(self.min_weight_change_pct, str)
                     else self.min_weight_change_pct)

    def rebalance_period(self, params: dict[str, Any]) -> str:
        """The rebalance period for one parameter set (a parameter's value where `rebalance` names one)."""
        return self.rebalance if self.rebalance in REBALANCE_FREQUENCIES else str(params[self.rebalance])

    def rebalance_bars(self, market: Any, params: dict[str, Any], rebalance: str | None = None,
                       bars: Any = None) -> Any:
        """The (T,) bool rebalance bars of `market` (a `MarketData`) for one parameter set (`rebalance`: that
        period instead; `bars`: already known); S142 when the period cannot be cut from its bars."""
        period = rebalance or self.rebalance_period(params)
        bars = market.period_ends(period) if bars is None else bars
        if bars is None:
            from ..errors import Diagnostic, RuleEngineError

            raise RuleEngineError([Diagnostic(
                "S142", f"cannot rebalance every {period} on {market.frequency} bars", path="rotation.rebalance",
                hint="rebalance on the execution frequency, or 1Week / 1Month on daily or weekly bars")])
        return bars

    @field_validator("rebalance")
    @classmethod
    def _frequency(cls, v: str) -> str:
        if v.isidentifier() and v not in REBALANCE_FREQUENCIES and not v[:1].isdigit():
            return v  # a parameter's name: `TradingStrategy` checks that it is an enum of periods
        return one_of(v, REBALANCE_FREQUENCIES, "S142", "rebalance frequency")

    @field_validator("hold", "weights")
    @classmethod
    def _not_empty(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise _err("S142", "an empty expression", "e.g. hold: \"top(roc(close, 126), 10)\", weights: equal")
        return v

    @model_validator(mode="after")
    def _volatility_with_its_scheme(self) -> Rotation:
        if (self.weights == "inverse_volatility") != (self.volatility is not None):
            if self.volatility is None:
                raise _err("S142", "weights: inverse_volatility needs a volatility expression",
                           f"add volatility: \"{ROTATION_VOLATILITY_EXAMPLE}\"")
            raise _err("S142", "volatility is for weights: inverse_volatility only",
                       "remove volatility, or write weights: inverse_volatility")
        return self

    def weight_field(self) -> str | None:
        """The field whose expression weights the held names: ``volatility`` (inverted), ``weights`` (an
        expression), or None (equal weights)."""
        if self.weights == "equal":
            return None
        return "volatility" if self.weights == "inverse_volatility" else "weights"


def refuse_rotation(what: str, hint: str) -> Any:
    """S143: a rotation cannot be combined with `what`."""
    return _err("S143", f"a rotation portfolio cannot be combined with {what}", hint)
