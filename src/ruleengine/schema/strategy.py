"""The strategy document (pydantic v2): data slots, parameters, conditions, risk, optional code.

This module stores expression strings and never imports the expression language; checking expressions is
the compiler's job. Custom validation errors use `PydanticCustomError` with a diagnostic code as their type
so that `ruleengine.schema.load` can map them to `Diagnostic`s with file positions.

Example:
    >>> s = TradingStrategy.model_validate({
    ...     "name": "demo", "data": {"prices": {"kind": "ohlcv"}},
    ...     "entry": {"conditions": ["close > sma(close, 20)"]}})
    >>> sorted(s.params)
    ['execution_frequency', 'execution_price']
"""

from __future__ import annotations

import hashlib
import json
import keyword
import math
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, get_args

from pydantic import (
    BeforeValidator,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .base import Closed as _Closed
from .base import one_of
from .kinds import BAR_FREQUENCIES, KIND_COLUMNS
from .orders import DOCUMENT, EntryOrder, ExitOrder
from .rotation import REBALANCE_FREQUENCIES, Rotation, refuse_rotation

EXECUTION_FREQUENCIES = list(BAR_FREQUENCIES)
SOURCE_FREQUENCIES = [*EXECUTION_FREQUENCIES, "quarterly", "annual", "event"]
EXECUTION_PRICES = ["open", "close"]
RESERVED_NAMES = {"and", "or", "not", "true", "false", "True", "False"}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SYMBOL_KEYS = {"symbol", "symbols", "ticker", "tickers"}
#: conditions in one entry or exit block (a strategy needs a handful; checking each costs ~0.2 ms)
MAX_CONDITIONS = 1_000


def _err(code: str, message: str, hint: str | None = None, at: tuple[str, ...] = ()) -> PydanticCustomError:
    """A schema error; `at` is the document path it is about when a validator of the whole document raises it
    (its own location is the root: `diagnostics_from_validation` places it at `at` instead)."""
    ctx: dict[str, Any] = {"hint": hint} if hint else {}
    if at:
        ctx["at"] = at
    return PydanticCustomError(code, message, ctx)


def _check_name(name: str, what: str) -> None:
    if not _NAME_RE.match(name) or keyword.iskeyword(name) or name in RESERVED_NAMES:
        raise _err("S110", f"'{name}' is not a valid {what} name",
                   "use letters, digits and underscores, starting with a letter (e.g. fast_window)")


# ---------------------------------------------------------------------------------------------- data
class DataSlot(_Closed):
    """A named input the strategy needs (DATA_SCHEMA). Symbols are injected at run time, never here."""

    kind: str = Field("ohlcv", description="data kind", json_schema_extra={"enum": list(KIND_COLUMNS)})
    frequency: str = Field("1Day", description="frequency to fetch",
                           json_schema_extra={"enum": list(SOURCE_FREQUENCIES)})
    columns: list[str] | None = Field(None, description="columns used; default: all columns of the kind")
    description: str | None = Field(None, description="what this slot holds")
    provider: str | None = Field(None, description="provider name; default: the configured one for the kind")
    symbol_from: str | None = Field(
        None, description="another slot whose symbol this slot reads (the same instrument at another "
                          "frequency, e.g. a weekly view of 'prices'); it then needs no symbol of its own")

    @model_validator(mode="before")
    @classmethod
    def _no_symbols(cls, value: Any) -> Any:
        if isinstance(value, dict):
            found = _SYMBOL_KEYS.intersection(value)
            if found:
                raise _err("S109", f"a data slot does not name symbols ('{min(found)}')",
                           "symbols are given at run time, e.g. --symbols SPY or --symbols asset_a=GLD,asset_b=SLV")
        return value

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if v not in KIND_COLUMNS:
            from ..errors import did_you_mean
            raise _err("S104", f"unknown data kind '{v}'",
                       did_you_mean(v, KIND_COLUMNS) or "known kinds: " + ", ".join(KIND_COLUMNS))
        return v

    @field_validator("frequency")
    @classmethod
    def _freq(cls, v: str) -> str:
        return one_of(v, SOURCE_FREQUENCIES, "S104", "frequency")

    @model_validator(mode="after")
    def _columns(self) -> DataSlot:
        if self.columns is not None:
            known = KIND_COLUMNS[self.kind]
            if not self.columns:
                raise _err("S104", "columns is empty", "omit it to use all columns of the kind")
            for c in self.columns:
                _check_name(c, "column")
                if known and c not in known:
                    from ..errors import did_you_mean
                    raise _err("S104", f"kind '{self.kind}' has no column '{c}'",
                               did_you_mean(c, known) or "columns: " + ", ".join(known))
        return self

    def available_columns(self) -> list[str]:
        """Declared columns, else every column the kind provides."""
        return list(self.columns) if self.columns else list(KIND_COLUMNS[self.kind])


# ---------------------------------------------------------------------------------------------- params
def _scalar(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    raise _err("S103", f"expected a number, true/false or a string, got {type(value).__name__}")


Scalar = Annotated[Any, BeforeValidator(_scalar),
                   WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"}]})]
Number = Annotated[float | int, Field(union_mode="left_to_right")]


class Param(_Closed):
    """A typed strategy parameter (PARAM_SCHEMA entry)."""

    type: Literal["int", "float", "bool", "enum"]
    default: Scalar = Field(description="value used when none is given")
    min: float | None = Field(None, description="lower bound (int and float)")
    max: float | None = Field(None, description="upper bound (int and float)")
    values: list[str] | None = Field(None, description="allowed values (enum only)")
    description: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Param:
        t, d = self.type, self.default
        for what, v in (("default", d), ("min", self.min), ("max", self.max)):
            if isinstance(v, float) and not math.isfinite(v):
                raise _err("S115", f"{what} of a parameter must be a finite number, got {v}",
                           "a NaN or infinite bound or default makes every comparison false (the strategy would "
                           "never trade): give a number, or leave the bound out")
        if t in ("int", "float"):
            if self.values is not None:
                raise _err("S104", "'values' is only for enum parameters", "remove it or use type: enum")
            if isinstance(d, bool) or not isinstance(d, (int, float)):
                raise _err("S103", f"default of a {t} parameter must be a number, got {d!r}")
            if t == "int":
                if isinstance(d, float) and not d.is_integer():
                    raise _err("S103", f"default of an int parameter must be a whole number, got {d!r}",
                               "use type: float for fractional values")
                self.default = int(d)
                for b in ("min", "max"):
                    v = getattr(self, b)
                    if v is not None and not float(v).is_integer():
                        raise _err("S103", f"{b} of an int parameter must be a whole number, got {v!r}")
            else:
                self.default = float(d)
            for b in ("min", "max"):  # keep bounds in the parameter's own type: 5, not 5.0, for ints
                v = getattr(self, b)
                if v is not None:
                    setattr(self, b, int(v) if t == "int" else float(v))
            if self.min is not None and self.max is not None and self.min > self.max:
                raise _err("S106", f"min ({self.min}) is greater than max ({self.max})", "swap them")
            if (self.min is not None and self.default < self.min) or \
                    (self.max is not None and self.default > self.max):
                raise _err("S105", f"default {self.default} is outside [{self.min}, {self.max}]",
                           "move the default inside the bounds or widen them")
        elif t == "bool":
            if not isinstance(d, bool):
                raise _err("S103", f"default of a bool parameter must be true or false, got {d!r}")
            self._no_bounds()
        else:
            if not self.values:
                raise _err("S102", "an enum parameter needs 'values'", "e.g. values: [open, close]")
            if d not in self.values:
                raise _err("S105", f"default {d!r} is not one of {self.values}")
            self._no_bounds()
        return self

    def _no_bounds(self) -> None:
        if self.min is not None or self.max is not None:
            raise _err("S104", f"min/max do not apply to {self.type} parameters", "remove them")
        if self.type == "bool" and self.values is not None:
            raise _err("S104", "'values' is only for enum parameters")


BUILTIN_PARAMS: dict[str, dict[str, Any]] = {
    "execution_frequency": {"type": "enum", "values": EXECUTION_FREQUENCIES, "default": "1Day",
                            "description": "every data slot is resampled to this frequency"},
    "execution_price": {"type": "enum", "values": EXECUTION_PRICES, "default": "close",
                        "description": "close: fill at the signal bar's close; open: at the next bar's open"},
}


# ---------------------------------------------------------------------------------------------- conditions
Operator = Literal["gt", "lt", "gte", "lte", "eq", "neq", "between", "in", "crosses_above", "crosses_below"]
OPERATOR_SYMBOLS = {"gt": ">", "lt": "<", "gte": ">=", "lte": "<=", "eq": "==", "neq": "!="}


def _cond_value(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list) and all(isinstance(v, (int, float, str)) and not isinstance(v, bool)
                                       for v in value):
        return value
    raise _err("S103", "value must be a number, an expression string, or a list of them",
               "e.g. value: 30, value: \"sma(close, 50)\", value: [20, 80]")


CondValue = Annotated[Any, BeforeValidator(_cond_value),
                      WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "boolean"}, {"type": "string"},
                                                {"type": "array", "items": {"anyOf": [{"type": "number"},
                                                                                      {"type": "string"}]}}]})]


class StructuredCondition(_Closed):
    """The seeds' structured form: ``{field: "rsi(close, 14)", operator: lt, value: 30}``."""

    field: str = Field(description="an expression, e.g. close or rsi(close, 14)")
    operator: Operator
    value: CondValue = Field(description="number, parameter name, expression, or a list for between/in")

    @model_validator(mode="after")
    def _fits(self) -> StructuredCondition:
        op, v = self.operator, self.value
        if op == "between" and not (isinstance(v, list) and len(v) == 2):
            raise _err("S112", "'between' needs a list of two bounds", "e.g. value: [20, 80]")
        if op == "between" and all(isinstance(b, (int, float)) for b in v) and v[0] > v[1]:
            raise _err("S116", f"'between' bounds are reversed: [{v[0]}, {v[1]}] holds for no value",
                       f"write the lower bound first: [{v[1]}, {v[0]}]")
        for b in (v if isinstance(v, list) else [v]):
            if isinstance(b, float) and not math.isfinite(b):
                raise _err("S115", f"value must be a finite number, got {b}",
                           "a comparison with NaN is always false; give a number")
        if op == "in" and not (isinstance(v, list) and len(v) >= 1):
            raise _err("S112", "'in' needs a non-empty list of values", "e.g. value: [1, 2, 3]")
        if op not in ("between", "in") and isinstance(v, list):
            raise _err("S112", f"'{op}' compares with one value, not a list",
                       "use operator between or in for lists")
        return self


def _cond_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "expression"
    if isinstance(value, (dict, StructuredCondition)):
        return "structured"
    return None


Condition = Annotated[
    Annotated[str, Tag("expression")] | Annotated[StructuredCondition, Tag("structured")],
    Discriminator(_cond_tag, custom_error_type="S103",
                  custom_error_message="a condition is an expression string or a {field, operator, value} mapping"),
]


class ConditionGroup(_Closed):
    """Conditions combined with all (AND) or any (OR)."""

    logic: Literal["all", "any"] = "all"
    conditions: list[Condition]

    @field_validator("conditions")
    @classmethod
    def _non_empty(cls, v: list[Any]) -> list[Any]:
        if not v:
            raise _err("S107", "the condition list is empty",
                       "add at least one condition, or remove the block")
        if len(v) > MAX_CONDITIONS:
            raise _err("S113", f"{len(v):,} conditions in one block (limit {MAX_CONDITIONS:,})",
                       "combine them with parameters or functions; a strategy needs a handful of conditions")
        return v


# ---------------------------------------------------------------------------------------------- risk
#: the value that switches an exit off (YAML `false` and the word `none` mean the same)
OFF = "off"
_OFF_WORDS = {"off", "none"}
#: 100 years: longer is a mistake, and the time stop's arithmetic stays far from int64 nanoseconds
MAX_HOLD_DAYS = 36_500
MAX_HOLD_BARS = 100_000_000
#: exit fields: (lower bound, exclusive?, upper bound or None, whole number?, example)
EXIT_BOUNDS: dict[str, tuple[float, bool, float | None, bool, str]] = {
    "stop_loss_pct": (0.0, True, 100.0, False, "5"),
    "take_profit_pct": (0.0, True, None, False, "10"),
    "trailing_stop_pct": (0.0, True, 100.0, False, "8"),
    "max_hold_days": (1.0, False, float(MAX_HOLD_DAYS), True, "60"),
    "max_hold_bars": (1.0, False, float(MAX_HOLD_BARS), True, "20"),
    "trailing_stop_activation_pct": (0.0, True, None, False, "5"),
}
#: percentages an author may write as a fraction by mistake (0.07 for 7 %); fees of 0.1 % are normal
FRACTION_PRONE = ("stop_loss_pct", "take_profit_pct", "trailing_stop_pct", "position_size_pct")


def exit_value(name: str, value: Any) -> float | int | str | None:
    """An exit setting: a number within its bounds, `OFF`, or None ("not given").

    Raises `PydanticCustomError` (S103 / S104 / S117) for anything else.
    """
    if value is None:
        return None
    if value is False or (isinstance(value, str) and value.strip().lower() in _OFF_WORDS):
        return OFF
    lo, lo_open, hi, integer, example = EXIT_BOUNDS[name]
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _err("S103", f"{name} must be a number or off, got {value!r}",
                       f"e.g. {name}: {example}, or {name}: off to have no such exit") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _err("S103", f"{name} must be a number or off, got {value!r}",
                   f"e.g. {name}: {example}, or {name}: off to have no such exit")
    v = float(value)
    if v == 0:
        raise _err("S117", f"{name} 0 is not an exit", f"write {name}: off to have no such exit")
    if integer and not (math.isfinite(v) and v.is_integer()):
        raise _err("S103", f"{name} must be a whole number, got {value!r}", f"e.g. {name}: {example}")
    below = v <= lo if lo_open else v < lo
    if below or not math.isfinite(v) or (hi is not None and (v > hi if integer else v >= hi)):
        lo_s = f"{'>' if lo_open else '>='} {lo:g}"
        hi_s = "" if hi is None else f" and {'<=' if integer else '<'} {hi:,.0f}"
        why = " (100 years)" if name == "max_hold_days" else "" if integer else " (percent: 5 means 5 %)"
        raise _err("S104", f"{name} must be {lo_s}{hi_s}, got {value!r}", f"use a value {lo_s}{hi_s}{why}")
    return int(v) if integer else v


def _exit_field(name: str, description: str) -> Any:
    lo, lo_open, hi, integer, _ = EXIT_BOUNDS[name]
    number: dict[str, Any] = {"type": "integer" if integer else "number",
                              "exclusiveMinimum" if lo_open else "minimum": int(lo)}  # bounds are whole numbers
    if hi is not None:
        number["maximum" if integer else "exclusiveMaximum"] = int(hi)
    schema = {"anyOf": [number, {"type": "string", "enum": [OFF]}, {"type": "null"}],
              "description": description + "; off: no such exit; null: not given (the timeframe's default "
                                           "if it has one)"}
    return Annotated[float | int | str | None, BeforeValidator(lambda v: exit_value(name, v)),
                     WithJsonSchema(schema)]


#: rows of `take_profit_by_bars` the kernels hold (a table needs a handful; freqtrade's samples use 4)
MAX_TAKE_PROFIT_ROWS = 16
#: a volatility expression as the documentation shows it: the 20-bar standard deviation of daily log returns
#: (stddev is the population one) x sqrt(252): a fraction of price a year on daily bars
VOLATILITY_EXAMPLE = "stddev(log_return(close, 1), 20) * sqrt(252)"


def _given(value: Any) -> bool:
    """An exit set to a value (not left out, not `OFF`)."""
    return value is not None and value != OFF


def _number_or_expression(value: Any, code: str, what: str, example: str) -> float | str | None:
    """A positive finite number or a non-empty expression string (checked by the compiler); None when not
    given. Raises `PydanticCustomError` `code` for anything else."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    raise _err(code, f"{what} must be a positive number or an expression, got {value!r}", example)


def distance_value(value: Any) -> float | str | None:
    """A price-unit distance (S124 for anything but a number > 0 or an expression)."""
    return _number_or_expression(value, "S124", "a distance", "e.g. 2.5 (price units) or "
                                 "\"2 * atr(high, low, close, 14)\"; leave it out for no such exit")


def volatility_value(value: Any) -> float | str | None:
    """The volatility volatility_target_pct sizes on (S134 for anything but a number > 0 or an expression)."""
    return _number_or_expression(value, "S134", "volatility", f"e.g. \"{VOLATILITY_EXAMPLE}\" (a fraction of "
                                 "price a year) or a number such as 0.2")


def take_profit_table(value: Any) -> dict[int, float] | None:
    """`take_profit_by_bars` as {bars held: take profit %} sorted by bars, from a mapping or the LLM's list of
    {bars, take_profit_pct}. Raises `PydanticCustomError` S122 for anything else."""
    if value is None:
        return None
    example = "e.g. take_profit_by_bars: {0: 10, 20: 5, 40: 1}"
    if isinstance(value, list):
        if not all(isinstance(v, dict) and set(v) == {"bars", "take_profit_pct"} for v in value):
            raise _err("S122", "take_profit_by_bars as a list holds {bars, take_profit_pct} objects", example)
        if len({repr(v["bars"]) for v in value}) != len(value):
            raise _err("S122", "take_profit_by_bars names a number of bars twice", example)
        value = {v["bars"]: v["take_profit_pct"] for v in value}
    if not isinstance(value, dict) or not value:
        raise _err("S122", "take_profit_by_bars must be a non-empty mapping of bars held to a take profit %",
                   example)
    if len(value) > MAX_TAKE_PROFIT_ROWS:
        raise _err("S122", f"take_profit_by_bars has {len(value)} rows (at most {MAX_TAKE_PROFIT_ROWS})", example)
    out: dict[int, float] = {}
    for k, v in value.items():
        try:
            bars = int(k) if not isinstance(k, (bool, float)) else None
        except ValueError:
            bars = None
        if bars is None or bars < 0 or bars > MAX_HOLD_BARS:
            raise _err("S122", f"take_profit_by_bars key {k!r} is not a number of bars held (a whole number >= 0)",
                       example)
        if bars in out:
            raise _err("S122", f"take_profit_by_bars names {bars} bars twice", example)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise _err("S122", f"take_profit_by_bars at {bars} bars must be a take profit % > 0, got {v!r}",
                       "percent: 5 means 5 %; a row that ends the take profit is not possible: end the table "
                       "with a small %")
        out[bars] = float(v)
    return dict(sorted(out.items()))


if TYPE_CHECKING:  # to a type checker an exit is its value; pydantic reads the validator and schema below
    StopLoss: TypeAlias = float | int | str | None
    TakeProfit: TypeAlias = StopLoss
    TrailingStop: TypeAlias = StopLoss
    MaxHoldDays: TypeAlias = StopLoss
    MaxHoldBars: TypeAlias = StopLoss
    TrailingActivation: TypeAlias = StopLoss
    Distance: TypeAlias = float | str | None
    Volatility: TypeAlias = float | str | None
    TakeProfitTable: TypeAlias = dict[int, float] | None
else:
    StopLoss = _exit_field("stop_loss_pct", "exit when price falls this % below entry (short: rises this % "
                                            "above it)")
    TakeProfit = _exit_field("take_profit_pct", "exit when price rises this % above entry (short: falls this % "
                                                "below it)")
    TrailingStop = _exit_field("trailing_stop_pct", "exit this % below the highest price since entry (short: this "
                                                    "% above the lowest)")
    MaxHoldDays = _exit_field("max_hold_days", "exit after this many calendar days")
    MaxHoldBars = _exit_field("max_hold_bars", "exit after this many bars")
    TrailingActivation = _exit_field(
        "trailing_stop_activation_pct", "the trailing stop acts only once the position has gained this % (the "
        "highest price since entry reached entry x (1 + this %); short: the lowest fell to entry x (1 - this %)); "
        "needs trailing_stop_pct")
    Distance = Annotated[float | str | None, BeforeValidator(distance_value), WithJsonSchema(
        {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string"}, {"type": "null"}],
         "description": "a distance from the entry price in price units: a positive number or an expression "
                        "evaluated at the entry signal's bar and fixed for the trade, e.g. "
                        "\"2 * atr(high, low, close, 14)\"; null: not given"})]
    Volatility = Annotated[float | str | None, BeforeValidator(volatility_value), WithJsonSchema(
        {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string"}, {"type": "null"}],
         "description": "what volatility_target_pct sizes on (only with it): the volatility of the price as a "
                        "fraction a year (0.25 = 25 %), a number > 0 or an expression read at the entry signal's "
                        f"bar, e.g. \"{VOLATILITY_EXAMPLE}\" on daily bars, or "
                        "\"atr(high, low, close, 14) / close * sqrt(252)\"; an entry where it is not a "
                        "number > 0 (warm-up) is skipped; null: not given"})]
    TakeProfitTable = Annotated[dict[int, float] | None, BeforeValidator(take_profit_table), WithJsonSchema(
        {"anyOf": [{"type": "array", "items": {
            "type": "object", "properties": {
                "bars": {"type": "integer", "minimum": 0, "description": "bars held from which this row applies"},
                "take_profit_pct": {"type": "number", "exclusiveMinimum": 0,
                                    "description": "take profit % while this row applies"}},
            "required": ["bars", "take_profit_pct"], "additionalProperties": False}},
            {"type": "null"}],
         "description": "take profit % falling with holding time (freqtrade's minimal_roi): at each bar the row "
                        "with the largest bars <= bars held applies (none before the smallest); written as a "
                        "mapping {0: 10, 20: 5} or a list of {bars, take_profit_pct}; not with take_profit_pct "
                        "or take_profit_distance; null: not given"})]


#: exits that know the trade a pair strategy refuses (S140): a distance is in one instrument's price units, and a
#: pair's stops act on the value of both legs (its percentages, activation and take-profit table do)
PAIR_REFUSED_RISK_FIELDS = ("stop_loss_distance", "take_profit_distance")
#: the ways to size an entry (at most one per document, S130; none: position_size_pct's default)
SIZING_METHODS = ("position_size_pct", "position_size_cash", "risk_per_trade_pct", "volatility_target_pct")
#: the risk fields that are on/off flags (false, the default, is left out of `TradingStrategy.to_dict`)
FLAG_RISK_FIELDS = ("whole_units",)
#: the risk fields that are not given unless the document or a run sets them (no default, never 'off' needed)
UNSET_RISK_FIELDS = ("position_size_cash", "risk_per_trade_pct", "volatility_target_pct", "max_open_positions",
                     "max_gross_exposure_pct")


class RiskParameters(_Closed):
    """Risk settings. Exits: a number, `off`, or absent; absent exits take the timeframe's defaults if the
    document has a timeframe (see `ruleengine.backtest.risk.resolve_risk`), else there is no such exit."""

    stop_loss_pct: StopLoss = None
    take_profit_pct: TakeProfit = None
    trailing_stop_pct: TrailingStop = None
    max_hold_days: MaxHoldDays = None
    max_hold_bars: MaxHoldBars = None
    trailing_stop_activation_pct: TrailingActivation = None
    position_size_pct: float | None = Field(
        None, gt=0, le=100, description="sizing: % of the cash per entry (of the equity in a portfolio); the "
                                        "default method (100, 5 in a portfolio) when no other is given")
    fees_pct: float | None = Field(None, ge=0, lt=100, description="fees per order, % of its value")
    slippage_pct: float | None = Field(None, ge=0, lt=100, description="slippage per order, % of price")
    borrow_cost_pct: float | None = Field(
        None, ge=0, lt=100, description="annual % of a short's entry value (units x entry price), accrued by "
                                        "calendar time while the short is held; added to its fees")
    position_size_cash: float | None = Field(
        None, gt=0, lt=1e15, description="sizing: a fixed cash amount per entry, fee included (in the account's "
                                         "currency); capped by the cash available")
    risk_per_trade_pct: float | None = Field(
        None, gt=0, le=100, description="sizing: units such that the stop, if hit, loses this % of the equity: "
                                        "units = equity x pct/100 / (distance from the entry fill to the stop); "
                                        "needs a stop known at entry (stop_loss_pct or stop_loss_distance)")
    volatility_target_pct: float | None = Field(
        None, gt=0, le=1000, description="sizing: a position worth equity x pct/100 / volatility (the `volatility` "
                                         "key, needed with it) at the entry signal's bar, so that the position's "
                                         "volatility is this % of the equity a year (10 with a volatility of 0.2: "
                                         "half the equity); capped by the cash")
    max_open_positions: int | None = Field(
        None, ge=1, le=1_000_000, description="portfolio cap (--portfolio; a single run holds one position): an "
                                              "entry while this many positions are open is skipped (and reported)")
    max_gross_exposure_pct: float | None = Field(
        None, gt=0, le=100, description="portfolio cap (--portfolio): an entry that would take the open "
                                        "positions' value (units x price, long and short) above this % of the "
                                        "equity is skipped (and reported)")
    whole_units: bool | None = Field(
        None, description="true: units rounded down to whole units (an entry of 0 units is skipped and reported); "
                          "false or absent: fractional units")

    @model_validator(mode="after")
    def _one_sizing_method(self) -> RiskParameters:
        given = [name for name in SIZING_METHODS if getattr(self, name) is not None]
        if len(given) > 1:
            raise _err("S130", f"more than one sizing method: {', '.join(given)}",
                       f"keep one of {', '.join(SIZING_METHODS)}")
        if (self.volatility_target_pct is None) != (self.volatility is None):
            alone = "volatility_target_pct" if self.volatility is None else "volatility"
            raise _err("S132", f"{alone} without its partner: volatility_target_pct sizes on the volatility",
                       f"give both, e.g. volatility_target_pct: 10 and volatility: \"{VOLATILITY_EXAMPLE}\", or "
                       "neither")
        return self

    stop_loss_distance: Distance = None
    take_profit_distance: Distance = None
    take_profit_by_bars: TakeProfitTable = None
    volatility: Volatility = None

    @field_validator("stop_loss_distance", "take_profit_distance")
    @classmethod
    def _one_form_per_exit(cls, value: Any, info: ValidationInfo) -> Any:
        """An exit is given in one form: percent or distance (the percent field comes first in the model)."""
        pct = str(info.field_name).replace("_distance", "_pct")
        if value is not None and _given(info.data.get(pct)):
            raise _err("S120", f"{pct} and {info.field_name} are two forms of one exit: set one of them",
                       f"keep {info.field_name} (price units) or {pct} (percent of the entry price)")
        return value

    @field_validator("take_profit_by_bars")
    @classmethod
    def _one_take_profit(cls, value: Any, info: ValidationInfo) -> Any:
        other = [f for f in ("take_profit_pct", "take_profit_distance") if _given(info.data.get(f))]
        if value is not None and other:
            raise _err("S121", f"take_profit_by_bars and {other[0]} both set a take profit: set one of them",
                       "a table row {0: pct} gives a take profit from the first bar")
        return value

    @field_validator("trailing_stop_activation_pct")
    @classmethod
    def _activation_needs_trail(cls, value: Any, info: ValidationInfo) -> Any:
        if _given(value) and not _given(info.data.get("trailing_stop_pct")):
            raise _err("S123", "trailing_stop_activation_pct needs a trailing stop",
                       "set trailing_stop_pct (e.g. trailing_stop_pct: 8), or remove the activation")
        return value

    def fraction_warnings(self) -> list[tuple[str, float]]:
        """The percentages below 1 that look like a fraction (0.07 meant as 7 %): (field, value)."""
        out = []
        for name in FRACTION_PRONE:
            v = getattr(self, name)
            if isinstance(v, (int, float)) and 0 < v < 1:
                out.append((name, float(v)))
        return out


#: risk fields that are not one number: expressions compiled into per-bar series (the kernels read them as
#: rows of their ``levels``) and the take-profit table (the kernels' record holds it as arrays)
RISK_RULE_FIELDS: tuple[str, ...] = ("stop_loss_distance", "take_profit_distance", "take_profit_by_bars",
                                      "volatility")
#: the risk fields that are one number, in the document's order: the one list that risk resolution, sweep axes,
#: the kernels' risk arrays, reports and prompts use (a new numeric field of `RiskParameters` reaches all of them)
RISK_FIELDS: tuple[str, ...] = tuple(f for f in RiskParameters.model_fields if f not in RISK_RULE_FIELDS)
#: the exits among them (a number, `OFF` or not given)
EXIT_FIELDS: tuple[str, ...] = tuple(EXIT_BOUNDS)
#: the risk fields whose values are whole numbers
INTEGER_RISK_FIELDS: tuple[str, ...] = (*(name for name, bounds in EXIT_BOUNDS.items() if bounds[3]),
                                         "max_open_positions")


# ---------------------------------------------------------------------------------------------- strategy
def _named_list_to_dict(value: Any) -> Any:
    """Accept the LLM wire form (a list of objects with 'name') as well as the mapping form."""
    if isinstance(value, list) and all(isinstance(v, dict) and "name" in v for v in value):
        out: dict[str, Any] = {}
        for item in value:
            item = dict(item)
            name = item.pop("name")
            if name in out:
                raise _err("S111", f"'{name}' is defined twice")
            out[name] = {k: v for k, v in item.items() if v is not None}
        return out
    return value


Timeframe = Literal["short_term", "medium_term", "long_term"]
#: the condition groups of a document and the logic a plain list of conditions gets (entries all, exits any);
#: ``short_entry`` / ``short_exit`` only with ``direction: long_short``
SIGNAL_GROUPS: dict[str, str] = {"entry": "all", "exit": "any", "short_entry": "all", "short_exit": "any"}


# ---------------------------------------------------------------------------------------------- pairs
#: how a pair position splits its capital between its legs (`PairSpec.sizing`)
PairSizing = Literal["dollar_neutral", "hedge_ratio_units"]
PAIR_SIZINGS: tuple[str, ...] = get_args(PairSizing)


def _hedge_ratio(value: Any) -> Any:
    """A hedge ratio: a finite number > 0, or an expression string (checked by the compiler)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise _err("S135", f"hedge_ratio must be a number > 0 or an expression, got {value!r}",
                   "e.g. hedge_ratio: 1.5, or hedge_ratio: \"sma(asset_a.close, 60) / sma(asset_b.close, 60)\"")
    return float(value)


HedgeRatio = Annotated[Any, BeforeValidator(_hedge_ratio),
                       WithJsonSchema({"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "string"}]})]


class PairSpec(_Closed):
    """Two price slots traded as one position. Going long the pair (the ``entry`` conditions) buys the first
    leg and sells the second short; going short the pair (``short_entry`` with direction long_short, or
    ``entry`` with direction short) does the opposite; the exit conditions, stops and targets close both legs
    together, at the same bar, each at its own fill price with its own fees and slippage."""

    legs: list[str] = Field(description="the two ohlcv data slots traded, first leg first; each has its own "
                                        "symbol, e.g. --symbols asset_a=GLD,asset_b=SLV")
    hedge_ratio: HedgeRatio = Field(
        1.0, description="a number > 0 or an expression (e.g. a rolling regression beta) read at the signal bar "
                         "and fixed for the trade (a bar where it is not a number > 0 opens no pair): the second "
                         "leg's value per unit of the first's (dollar_neutral) or its units per unit of the "
                         "first's (hedge_ratio_units); default 1")
    sizing: PairSizing = Field(
        "dollar_neutral", description="dollar_neutral: the capital is split so that the second leg's value is "
                                      "hedge_ratio x the first's (1: equal dollars); hedge_ratio_units: units of "
                                      "the second leg = hedge_ratio x units of the first")

    @model_validator(mode="before")
    @classmethod
    def _legs_given(cls, data: Any) -> Any:
        """A pair block without legs (``pair: {hedge_ratio: 1.5}``, often on a strategy with one price slot)
        gets S135 with what legs are, rather than a bare 'missing required field'."""
        if isinstance(data, dict) and "legs" not in data:
            raise _err("S135", "a pair names the two price slots it trades: legs is missing",
                       "write legs: [asset_a, asset_b], two ohlcv data slots with their own symbols; a strategy "
                       "with one price slot has no pair: add a second ohlcv slot, or remove the pair block")
        return data

    @field_validator("legs")
    @classmethod
    def _two_legs(cls, v: list[str]) -> list[str]:
        if len(v) != 2 or v[0] == v[1]:
            raise _err("S135", f"a pair has two different legs, got {v}",
                       "name two ohlcv data slots, e.g. legs: [asset_a, asset_b]")
        return v

    def hedge_expression(self) -> str | None:
        """The hedge ratio's expression, or None for a fixed number."""
        return self.hedge_ratio if isinstance(self.hedge_ratio, str) else None


class TradingStrategy(_Closed):
    """A strategy document: a template that runs on any symbol, pair or universe."""

    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    timeframe: Timeframe | None = Field(
        None, description="short_term | medium_term | long_term: fills the exits the risk block leaves out "
                          "with seed 003's defaults (and says so in every result); absent: no default exits")
    data: Annotated[dict[str, DataSlot], BeforeValidator(_named_list_to_dict)] = Field(min_length=1)
    params: Annotated[dict[str, Param], BeforeValidator(_named_list_to_dict)] = Field(
        default_factory=dict, validate_default=True)
    entry: ConditionGroup | None = None
    exit: ConditionGroup | None = None
    risk: RiskParameters = Field(default_factory=RiskParameters)
    #: left out of `to_dict` (and so of `strategy_hash`) when long: a long document hashes as it did before
    #: the key existed, written or not
    direction: Literal["long", "short", "long_short"] = Field(
        "long", description="long: buy on entry, sell on exit; short: sell short on entry, buy back on exit; "
                            "long_short: entry/exit are the long side and short_entry/short_exit the short "
                            "side, an opposite entry while a position is open reverses it at the same fill")
    #: left out of `to_dict` (and so of `strategy_hash`) when it is the default market order: a document without
    #: the key hashes as it did before the key existed, written or not
    entry_order: EntryOrder = Field(
        default_factory=EntryOrder,
        description="how an entry signal is filled: a market order at execution_price (default), or a limit or "
                    "stop order at an expression price placed at the signal bar's close and worked from the "
                    "next bar on for valid_bars bars (direction long or short)")
    #: left out of `to_dict` (and so of `strategy_hash`) when it is the default market (no exit order)
    exit_order: ExitOrder = Field(
        default_factory=ExitOrder,
        description="an exit order re-placed on every bar while a position is held: a stop (e.g. a chandelier "
                    "stop) or a limit at an expression price re-evaluated at each close, the previous close's "
                    "level resting during the bar; market (default): none, exits by the exit conditions and "
                    "stops only")
    code: str | None = Field(None, description="generate_signals(data, params) source, only when rules cannot say "
                                               "it; with a rotation block, generate_weights(data, params) returning "
                                               "the target weights of the universe instead (rotation.hold null)")
    short_entry: ConditionGroup | None = Field(
        None, validate_default=True,
        description="direction long_short only (required there): when to sell short; a list means all")
    short_exit: ConditionGroup | None = Field(
        None, description="direction long_short only: when to buy a short back; a list means any")
    #: absent (None) for a one-instrument strategy: left out of `to_dict`, so documents without it hash as before
    pair: PairSpec | None = Field(
        None, description="trade two price slots as one position (long the first leg, short the second; the "
                          "opposite when short); absent: the strategy trades its first price slot only")
    #: absent (None) for a strategy that trades each symbol on its own signals: left out of `to_dict`
    rotation: Rotation | None = Field(
        None, description="a rotation portfolio over the universe: at the close of the last bar of each rebalance "
                          "period, hold the symbols `hold` selects with target weights (one shared cash account); "
                          "entry/exit conditions, when given, filter the held names; absent: signal trading")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """`entry: [..]` or `entry: "expr"` are shorthand for a group; exit defaults to logic any. A code
        The entry order learns what it depends on in the document (`DOCUMENT`: code, direction)."""
        if isinstance(value, dict):
            value = dict(value)
            for key in ("entry_order", "exit_order"):
                if isinstance(value.get(key), dict):
                    value[key] = {**value[key], DOCUMENT: {
                        "code": value.get("code") is not None, "direction": value.get("direction") or "long"}}
            for key, logic in SIGNAL_GROUPS.items():
                v = value.get(key)
                if isinstance(v, str):
                    v = [v]
                if isinstance(v, list):
                    value[key] = {"logic": logic, "conditions": v}
                elif isinstance(v, dict) and "logic" not in v and "conditions" in v:
                    value[key] = {"logic": logic, **v}
        return value

    @field_validator("short_entry", "short_exit", mode="after")
    @classmethod
    def _short_side(cls, v: ConditionGroup | None, info: ValidationInfo) -> ConditionGroup | None:
        """The short side's conditions belong to a long_short strategy, which needs its short entry."""
        direction = info.data.get("direction")
        if v is not None and direction in ("long", "short"):
            raise _err("S118", f"{info.field_name} is only for direction: long_short (this strategy is {direction})",
                       "write direction: long_short to trade both sides, or remove "
                       f"{info.field_name}" + (" (direction: short trades entry/exit short)"
                                               if direction == "short" else ""))
        if v is None and info.field_name == "short_entry" and direction == "long_short" \
                and info.data.get("code") is None:
            raise _err("S119", "direction: long_short needs short_entry conditions (when to sell short)",
                       "add short_entry: [...] (entry/exit are the long side), or write direction: long")
        return v

    @field_validator("data")
    @classmethod
    def _slot_names(cls, v: dict[str, DataSlot]) -> dict[str, DataSlot]:
        for name in v:
            _check_name(name, "data slot")
        for name, slot in v.items():  # symbol_from names another slot, and following it ends (no cycle)
            seen = [name]
            while slot.symbol_from is not None:
                target = slot.symbol_from
                if target not in v:
                    from ..errors import did_you_mean
                    others = [n for n in v if n != seen[-1]]
                    raise _err("D140", f"slot '{seen[-1]}' takes its symbol from '{target}', which is not a "
                               "data slot", did_you_mean(target, others) or "slots: " + ", ".join(others))
                if target in seen:
                    raise _err("D141", "data slots take their symbols from each other in a cycle: "
                               + " -> ".join([*seen[seen.index(target):], target]),
                               "one slot of the chain must have its own symbol: remove its symbol_from")
                seen.append(target)
                slot = v[target]
        return v

    @field_validator("params")
    @classmethod
    def _param_names(cls, v: dict[str, Param]) -> dict[str, Param]:
        for name, p in v.items():
            _check_name(name, "parameter")
            if name in BUILTIN_PARAMS:
                allowed = BUILTIN_PARAMS[name]["values"]
                if p.type != "enum" or not p.values or not set(p.values) <= set(allowed):
                    raise _err("S104", f"built-in parameter '{name}' must be an enum over {allowed}")
        out = dict(v)
        for name, spec in BUILTIN_PARAMS.items():
            out.setdefault(name, Param.model_validate(spec))
        return out

    @model_validator(mode="after")
    def _logic_or_code(self) -> TradingStrategy:
        if self.rotation is not None:
            self._rotation_fits()
        if self.code is None and self.entry is None and self.rotation is None:
            raise _err("S108", "the strategy has neither entry conditions nor code",
                       "add an entry block with conditions (code is the last resort)")
        if self.code is not None and any(getattr(self, g) is not None for g in SIGNAL_GROUPS):
            raise _err("S108", "a strategy has either entry/exit conditions or code, not both",
                       "remove code: conditions are checked and compiled; code runs sandboxed")
        if self.code is not None and self.risk.volatility is not None:
            raise _err("S133", "volatility needs rule conditions: code strategies return signals only (the "
                       "compiler computes the volatility series; a volatility nobody computes would skip every "
                       "entry)", "write the strategy as entry/exit conditions, or size it with position_size_pct, "
                       "position_size_cash or risk_per_trade_pct", at=("risk", "volatility"))
        if self.pair is not None and not self.entry_order.is_market():
            raise _err("S128", f"a {self.entry_order.type} entry order is for one instrument: a pair's legs open "
                       "together at market orders", "remove entry_order, or remove the pair block",
                       at=("entry_order",))
        if self.pair is not None and not self.exit_order.is_market():
            raise _err("S128", f"a {self.exit_order.type} exit order is in the price units of one instrument: a "
                       "pair's legs close together, by its exit conditions and the stops on its combined value",
                       "remove exit_order, or remove the pair block", at=("exit_order",))
        for slot in self.data:
            if slot in self.params:
                raise _err("S111", f"'{slot}' is both a data slot and a parameter", "rename one of them")
        if self.code is not None and self.pair is not None and self.pair.hedge_expression() is not None:
            raise _err("S139", "a code strategy's pair takes a hedge ratio that is a number, not an expression",
                       "write the number (e.g. hedge_ratio: 1.5), or express the strategy with conditions",
                       at=("pair", "hedge_ratio"))
        return self

    def _rotation_fits(self) -> None:
        """S143 for what a rotation cannot serve: it is long only, rebalanced at market orders on weights (no
        per-trade exits or sizing), over the symbols of one price slot, from rule expressions."""
        rot = self.rotation
        code_with_rules = self.code is not None and rot is not None and (
            rot.hold is not None or rot.weights != "equal" or self.entry is not None or self.exit is not None)
        refused = [
            (code_with_rules, "code and rule selections (hold, weights, entry/exit filters)",
             "either rules (rotation.hold, weights) or code whose generate_weights(data, params) returns the weights: "
             "with code, leave out hold, weights, volatility, entry and exit"),
            (self.pair is not None, "a pair", "remove the pair block: a rotation holds single symbols"),
            (self.direction != "long", f"direction: {self.direction}",
             "a rotation holds long positions only: remove direction"),
            (not self.entry_order.is_market(), f"a {self.entry_order.type} entry order",
             "a rotation trades at market orders at execution_price: remove entry_order"),
            (not self.exit_order.is_market(), f"a {self.exit_order.type} exit order",
             "a rotation trades at market orders at execution_price: remove exit_order"),
        ]
        risk_used = [f for f in (*EXIT_FIELDS, *SIZING_METHODS, "stop_loss_distance", "take_profit_distance",
                                 "take_profit_by_bars", "volatility", "max_open_positions",
                                 "max_gross_exposure_pct", "borrow_cost_pct")
                     if getattr(self.risk, f, None) not in (None, False)]
        refused.append((bool(risk_used), f"risk.{risk_used[0]}" if risk_used else "",
                        "a rotation is sized by its weights and has no per-trade exits: keep only fees_pct and "
                        "slippage_pct in risk"))
        refused.append((self.timeframe is not None, "a timeframe (its default stops)",
                        "remove timeframe: a rotation has no per-trade stops"))
        for bad, what, hint in refused:
            if bad:
                raise refuse_rotation(what, hint)
        if rot is not None and self.code is None and rot.hold is None:
            raise _err("S142", "rotation.hold is missing: which symbols to hold",
                       "e.g. hold: \"top(roc(close, 126), 10)\" (or code: with generate_weights(data, params))")
        period = self.rotation.rebalance if self.rotation is not None else None
        if period is not None and period not in REBALANCE_FREQUENCIES:
            p = self.params.get(period)
            values = list(p.values or []) if p is not None and p.type == "enum" else []
            if not values or any(v not in REBALANCE_FREQUENCIES for v in values):
                from ..errors import did_you_mean

                enums = [n for n, q in self.params.items() if q.type == "enum"]
                raise _err("S142", f"rotation.rebalance '{period}' is neither a rebalance frequency nor an enum "
                           "parameter whose values are rebalance frequencies",
                           did_you_mean(period, [*REBALANCE_FREQUENCIES, *enums]) or
                           "one of: " + ", ".join(REBALANCE_FREQUENCIES) + "; or declare e.g. params: {every: "
                           "{type: enum, values: [1Week, 1Month], default: 1Month}} and write rebalance: every")
        band = self.rotation.min_weight_change_pct if self.rotation is not None else None
        if isinstance(band, str):
            p = self.params.get(band)
            bounded = p is not None and p.min is not None and p.max is not None and 0 <= p.min and p.max < 100
            if p is None or p.type not in ("int", "float") or not bounded:
                from ..errors import did_you_mean

                numbers = [n for n, q in self.params.items() if q.type in ("int", "float")]
                raise _err("S142", f"rotation.min_weight_change_pct names '{band}', which is not a number parameter "
                           "bounded to [0, 100)", did_you_mean(band, numbers) or
                           "declare it, e.g. params: {band: {type: float, min: 0, max: 10, default: 2}}")

    @field_validator("pair", mode="after")
    @classmethod
    def _pair_legs(cls, pair: PairSpec | None, info: ValidationInfo) -> PairSpec | None:
        """Both legs are ohlcv slots with their own symbols (S136, S137), and the strategy has two (S138)."""
        data = info.data.get("data")
        if pair is not None and data is not None:  # (data invalid: reported on its own)
            _check_pair(pair, data)
        return pair

    @model_validator(mode="after")
    def _pair_exits_on_value(self) -> TradingStrategy:
        """A pair's stops act on the value of both legs (`PAIR_FILL_CONTRACT`): a distance in one instrument's
        price units has no meaning there (S140)."""
        used = [f for f in PAIR_REFUSED_RISK_FIELDS if _given(getattr(self.risk, f))] if self.pair else []
        if used:
            raise _err("S140", f"a pair strategy cannot use {', '.join(used)}: a distance is in one instrument's "
                       "price units, and a pair's stops act on the combined value of both legs",
                       "use stop_loss_pct / take_profit_pct (percent of the pair's value at entry), or remove the "
                       "pair block", at=("risk", used[0]))
        return self

    @model_validator(mode="after")
    def _risk_size_has_a_stop(self) -> TradingStrategy:
        """risk_per_trade_pct sizes on the distance to the stop: the document must have a stop loss, its own or
        its timeframe's (which a trailing stop or `off` replaces). `resolve_risk` checks the run's overrides."""
        risk = self.risk
        if risk.risk_per_trade_pct is None or getattr(risk, "stop_loss_distance", None) is not None:
            return self
        from_timeframe = self.timeframe is not None and risk.trailing_stop_pct is None
        if risk.stop_loss_pct == OFF or (risk.stop_loss_pct is None and not from_timeframe):
            raise _err("S131", "risk_per_trade_pct sizes on the distance to the stop loss, and this strategy has "
                       "no stop loss", "add risk.stop_loss_pct (e.g. 5) or risk.stop_loss_distance, or size with "
                       "position_size_pct", at=("risk", "risk_per_trade_pct"))
        return self

    # ------------------------------------------------------------------ helpers used by the compiler
    def price_slot(self) -> str | None:
        """The slot bare column names refer to: the only or first ohlcv slot that has its own symbol (a
        ``symbol_from`` slot is another view of an instrument, never the bars a strategy trades)."""
        prices = [name for name, slot in self.data.items() if slot.kind == "ohlcv"]
        own = [name for name in prices if self.data[name].symbol_from is None]
        candidates = own or prices
        return candidates[0] if candidates else None

    def symbol_source(self, slot: str) -> str:
        """The slot whose symbol `slot` reads: itself, or the end of its ``symbol_from`` chain."""
        while self.data[slot].symbol_from is not None:
            slot = str(self.data[slot].symbol_from)
        return slot

    def signal_groups(self) -> tuple[str, ...]:
        """The condition groups whose signals this strategy produces, in `SIGNAL_GROUPS` order: entry and exit,
        plus short_entry and short_exit for ``direction: long_short``."""
        return tuple(SIGNAL_GROUPS) if self.direction == "long_short" else ("entry", "exit")

    def traded_slot(self) -> str | None:
        """The slot whose bars a result is drawn and benchmarked on: a pair's first leg, else `price_slot`."""
        return self.pair.legs[0] if self.pair is not None else self.price_slot()

    def default_params(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.params.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain data for YAML/JSON: unset optional fields are left out, and the defaults direction (long) and
        entry_order and exit_order (market); reloads to an equal model."""
        out = self.model_dump(mode="json", exclude_none=True)
        if out.get("direction") == "long":
            del out["direction"]
        if self.entry_order.is_market():
            del out["entry_order"]
        if self.exit_order.is_market():
            del out["exit_order"]
        for flag in FLAG_RISK_FIELDS:  # false is the default: a document hashes as before the flag existed
            if out.get("risk", {}).get(flag) is False:
                del out["risk"][flag]
        return out

    def strategy_hash(self) -> str:
        """sha256 of the canonical JSON of the document (`to_dict` with sorted keys, no whitespace): the
        identity under which results and stored versions are filed (formatting and comments do not count)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_pair(pair: PairSpec, data: dict[str, DataSlot]) -> None:
    """S138 without two price slots, S136 for a leg that is not one, S137 for a leg without its own symbol."""
    prices = [n for n, slot in data.items() if slot.kind == "ohlcv" and slot.symbol_from is None]
    if len(prices) < 2:
        raise _err("S138", "a pair needs two price slots (ohlcv slots with their own symbols); this strategy "
                   f"has {len(prices)}" + (f" ({prices[0]})" if prices else ""),
                   "add a second ohlcv slot, e.g. data: {asset_a: {kind: ohlcv}, asset_b: {kind: ohlcv}}, "
                   "or remove the pair block")
    for leg in pair.legs:
        if leg not in data:
            from ..errors import did_you_mean
            raise _err("S136", f"pair leg '{leg}' is not a data slot",
                       did_you_mean(leg, prices) or "price slots: " + ", ".join(prices))
        if data[leg].kind != "ohlcv":
            raise _err("S136", f"pair leg '{leg}' is a {data[leg].kind} slot, not an ohlcv (price) slot",
                       "legs are traded instruments: price slots: " + ", ".join(prices))
        if data[leg].symbol_from is not None:
            raise _err("S137", f"pair leg '{leg}' takes its symbol from '{data[leg].symbol_from}': a leg "
                       "needs its own symbol", "legs are two instruments: price slots with their own "
                       "symbols: " + ", ".join(prices))
