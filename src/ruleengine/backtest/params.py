"""Run parameters in one place: ``--param`` parsing, the strategy/risk split, fixed sweep values, run options.

A run's ``params`` mixes two kinds of names: the document's declared parameters (they change the signals)
and the risk fields plus ``execution_price`` (they change the fills, `resolve_risk`). Every entry point
(`backtest`, `sweep`, `walk_forward`, `live_signals`, the CLI and the agent tools) splits and checks them
here, so an unknown or mistyped name gives the same diagnostic whichever command received it.

Example:
    >>> from ruleengine import load_strategy
    >>> s = load_strategy("rules/golden_cross.yaml")  # doctest: +SKIP
    >>> split_params(s, parse_param_args(s, ["fast=20", "stop_loss_pct=4"]))  # doctest: +SKIP
    ({'fast': 20}, {'stop_loss_pct': 4.0})
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic, RuleEngineError, did_you_mean
from ..schema.strategy import FLAG_RISK_FIELDS, INTEGER_RISK_FIELDS, RISK_FIELDS, RISK_RULE_FIELDS, TradingStrategy
from .risk import RISK_PARAM_NAMES

#: run-time overrides that go to the risk layer, not to the signals (``execution_price`` goes to both)
RISK_KEYS: tuple[str, ...] = RISK_FIELDS
#: the names `resolve_risk` reads from a run's values: the risk fields and ``execution_price``
FILL_NAMES: tuple[str, ...] = RISK_PARAM_NAMES
_INT_RISK = set(INTEGER_RISK_FIELDS)


@dataclass(frozen=True)
class RunRequest:
    """What to run on: the arguments `backtest`, `sweep`, `walk_forward` and `live_signals` share.

    `symbols` is anything the data layer parses (``"SPY"``, ``"asset_a=GLD,asset_b=SLV"``, ``"@file"``, a
    list or mapping); `start`/`end` the requested range; `provider`/`data` the data layer's choice;
    `params` the run's parameter values and risk overrides (split by `split_params`).
    """

    symbols: Any
    start: Any = None
    end: Any = None
    provider: str | None = None
    data: str | None = None
    init_cash: float = 10_000
    params: Mapping[str, Any] = field(default_factory=dict)


def _unknown(strategy: TradingStrategy, name: str) -> Diagnostic:
    candidates = [*strategy.params, *RISK_KEYS]
    if name in RISK_RULE_FIELDS:  # compiled with the document (an expression or a table), not a run-time value
        inside = ", ".join(strategy.params) or "none yet"
        return Diagnostic("D104", f"'{name}' is part of the document (compiled with it), not a run-time "
                          "parameter", path=f"params.{name}",
                          hint=f"change risk.{name} in the document, or write a parameter into it (e.g. "
                          "'atr_multiple * atr(high, low, close, 14)' with a parameter atr_multiple) and set or "
                          f"sweep that parameter; this strategy's parameters: {inside}")
    return Diagnostic("D104", f"unknown parameter '{name}'", path=f"params.{name}",
                      hint=did_you_mean(name, candidates) or "parameters: " + ", ".join(candidates))


def _several(value: Any) -> bool:
    """True for a list, tuple, range or array: several values where a run takes one."""
    return isinstance(value, (list, tuple, range)) or bool(getattr(value, "ndim", 0))


# ------------------------------------------------------------------------------------------ parsing


def parse_param_args(strategy: TradingStrategy, args: Sequence[str]) -> dict[str, Any]:
    """``["fast=20", "stop_loss_pct=4", "execution_price=open"]`` -> typed values (by each declared type).

    Risk overrides are numbers (``max_hold_days``/``max_hold_bars`` whole numbers); ``none`` removes one.
    """
    out: dict[str, Any] = {}
    problems: list[Diagnostic] = []
    for arg in args:
        name, eq, text = arg.partition("=")
        name, text = name.strip(), text.strip()
        if not eq or not name:
            problems.append(Diagnostic("D103", f"--param expects name=value, got '{arg}'", path="params",
                                       hint="e.g. --param fast=20 --param stop_loss_pct=4"))
            continue
        try:
            out[name] = _typed(strategy, name, text)
        except ValueError as exc:
            problems.append(Diagnostic("D103", str(exc), path=f"params.{name}"))
        except KeyError:
            problems.append(_unknown(strategy, name))
    if problems:
        raise RuleEngineError(problems)
    return out


def _typed(strategy: TradingStrategy, name: str, text: str) -> Any:
    p = strategy.params.get(name)
    kind = p.type if p is not None else ("int" if name in _INT_RISK else "bool" if name in FLAG_RISK_FIELDS
                                         else "float" if name in RISK_KEYS else None)
    if kind is None:
        raise KeyError(name)
    if p is None and text.lower() in ("none", "null", "off"):
        return None
    if kind == "enum":
        return text
    if kind == "bool":
        low = text.lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
        raise ValueError(f"parameter '{name}' is true/false, got '{text}'")
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"parameter '{name}' is a number, got '{text}'") from None
    if kind == "int":
        if not number.is_integer():
            raise ValueError(f"parameter '{name}' is a whole number, got '{text}'")
        return int(number)
    return number


# ------------------------------------------------------------------------------------------ splitting


def split_params(strategy: TradingStrategy, params: Mapping[str, Any] | None) -> tuple[dict[str, Any],
                                                                                     dict[str, Any]]:
    """(strategy parameters, risk overrides). ``execution_price`` is both; unknown names raise D104."""
    strat_params: dict[str, Any] = {}
    risk: dict[str, Any] = {}
    problems: list[Diagnostic] = []
    for name, value in dict(params or {}).items():
        known = False
        if name in strategy.params:
            strat_params[name] = value
            known = True
        if name in FILL_NAMES:
            known = True
            if _several(value):
                problems.append(Diagnostic("D103", f"'{name}' takes one value in a backtest, got {value!r}",
                                           path=f"risk.{name}", hint="run one backtest per value"))
            else:
                risk[name] = value
        if not known:
            problems.append(_unknown(strategy, name))
    if isinstance(strat_params.get("execution_frequency"), (list, tuple, range)):
        problems.append(Diagnostic("D103", "execution_frequency takes one value in a backtest",
                                   path="params.execution_frequency"))
    if problems:
        raise RuleEngineError(problems)
    return strat_params, risk


def split_names(strategy: TradingStrategy, names: Sequence[str]) -> tuple[list[str], list[str]]:
    """(signal parameters, fill-contract names): risk fields and ``execution_price`` do not change signals."""
    signal = [n for n in names if n in strategy.params and n != "execution_price"]
    fill = [n for n in names if n in FILL_NAMES]
    return signal, fill


def fill_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of `values` that `resolve_risk` reads (risk fields and ``execution_price``)."""
    return {k: v for k, v in values.items() if k in FILL_NAMES}


def fixed_params(strategy: TradingStrategy, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The fixed values of a sweep's `params`, typed and checked (lists belong in the grid)."""
    from ..schema.params import check_value
    from .risk import resolve_risk

    out: dict[str, Any] = {}
    problems: list[Diagnostic] = []
    for name, value in dict(params or {}).items():
        if _several(value):
            problems.append(Diagnostic("D103", f"'{name}' has several values in params", path=f"params.{name}",
                                       hint=f"sweep it with grid={{'{name}': [...]}} / --grid {name}=a,b"))
        elif name in strategy.params:
            checked = check_value(name, strategy.params[name], value)
            if isinstance(checked, Diagnostic):
                problems.append(checked)
            else:
                out[name] = checked
        elif name in RISK_KEYS:
            try:
                resolve_risk(strategy, {name: value})
                out[name] = value
            except RuleEngineError as exc:
                problems += exc.diagnostics
        else:
            problems.append(_unknown(strategy, name))
    if problems:
        raise RuleEngineError(problems)
    return out


# ------------------------------------------------------------------------------------------ run options


def check_init_cash(init_cash: Any) -> Diagnostic | None:
    """D103 unless `init_cash` is a positive finite amount (a bool is not an amount)."""
    if isinstance(init_cash, bool) or not isinstance(init_cash, (int, float)) or not math.isfinite(init_cash) \
            or init_cash <= 0:
        return Diagnostic("D103", f"init_cash must be a positive amount, got {init_cash!r}",
                          path="init_cash", hint="e.g. --init-cash 10000")
    return None


def check_whole(name: str, value: Any, least: int, hint: str | None = None) -> Diagnostic | None:
    """D122 unless `value` is a whole number >= `least` (a bool is not a number)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        return Diagnostic("D122", f"{name} must be a whole number >= {least}, got {value!r}", path=name,
                          hint=hint)
    return None


__all__ = ["FILL_NAMES", "RISK_KEYS", "RunRequest", "check_init_cash", "check_whole", "fill_values",
           "fixed_params", "parse_param_args", "split_names", "split_params"]
