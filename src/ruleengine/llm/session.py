"""Conversation reuse (seed 000): only a change of logic calls the model.

| request                         | model call | what changes                         |
|---------------------------------|------------|--------------------------------------|
| "Create X strategy with SPY"    | yes        | new strategy (`create`)              |
| "Try QQQ instead"               | no         | symbols only (`use_symbols`)         |
| "Use a 20-period fast MA"       | no         | parameter values only (`set_params`) |
| "Add a stop-loss"               | yes        | logic (`change_logic` -> refine)     |
| "Switch to an RSI strategy"     | yes        | logic                                |

A `Session` keeps the current strategy, symbols and parameter values. The explicit methods are the contract
(the agent tools make the same split: `backtest_strategy` takes symbols and parameter values and never calls
the model). `ask(text)` routes free text with `classify`, which is deliberately conservative: only a request
that names symbols and/or assigns values to existing parameters, and otherwise holds nothing but filler words,
is answered without the model; anything else is treated as a logic change.

Example:
    >>> from ruleengine import load_strategy
    >>> s = Session(strategy=load_strategy("rules/golden_cross.yaml"), symbols="SPY")
    >>> change = s.ask("Show me what this looks like with QQQ instead")
    >>> change.kind, s.symbols, s.model_calls
    ('symbols', 'QQQ', 0)
    >>> s.ask("Try with a 20-period fast MA instead").params, s.model_calls
    ({'fast': 20}, 0)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .. import Diagnostic, RuleEngineError
from .client import ChatClient, LLMSettings
from .symbols import extract_symbols, symbols_for

ChangeKind = Literal["symbols", "params", "both", "logic"]

#: words that carry no logic in a follow-up request ("show me what this looks like with QQQ instead")
_FILLER_TEXT = """
a an the this that it its these those same one ones strategy idea rules and but or also just only then now
please can could would you we i me us let lets let's see show try tried run rerun re-run again backtest test
tell what how about does do did looks look like with without on for in of as to instead rather use using
set change switch swap replace make put symbol symbols ticker tickers stock stocks etf etfs asset assets
pair pairs versus vs value values parameter parameters param params window period periods day days bar bars
week weeks month months year years ok okay actually what's is are be if other another different new
"""
FILLER = frozenset(_FILLER_TEXT.split())

_NUMBER = r"(-?\d+(?:\.\d+)?)"
_UNIT = r"(?:[- ]?(?:period|day|bar|week|month)s?)?"


@dataclass
class Change:
    """What a follow-up request changes: symbols, parameter values, or (anything else) the logic."""

    kind: ChangeKind
    symbols: tuple[str, ...] = ()
    slots: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    text: str = ""


def _param_assignments(text: str, strategy: Any) -> tuple[dict[str, Any], str]:
    """``fast=20``, ``fast: 20``, ``fast to 20``, ``a 20-period fast ...`` for existing parameter names."""
    from .. import RISK_PARAM_NAMES

    names = sorted({*strategy.params, *RISK_PARAM_NAMES}, key=len, reverse=True)
    found: dict[str, Any] = {}
    for name in names:
        word = re.escape(name)
        patterns = [rf"\b{word}\s*(?:=|:|\bto\b|\bof\b|\bat\b)\s*{_NUMBER}\b(?!\s*%)",
                    rf"\b{_NUMBER}{_UNIT}\s+{word}\b"]
        for pat in patterns:
            m = re.search(pat, text, flags=re.IGNORECASE)
            if m:
                found[name] = m.group(1)
                text = text[:m.start()] + " " + text[m.end():]
                break
    return found, text


def _typed(strategy: Any, values: Mapping[str, str]) -> dict[str, Any]:
    from .. import parse_param_args

    return parse_param_args(strategy, [f"{k}={v}" for k, v in values.items()])


def classify(text: str, strategy: Any) -> Change:
    """Decide whether a follow-up request needs the model (see the module docstring).

    Example:
        >>> from ruleengine import load_strategy
        >>> s = load_strategy("rules/golden_cross.yaml")
        >>> classify("Try QQQ instead", s).kind, classify("Add a volume filter", s).kind
        ('symbols', 'logic')
    """
    extraction = extract_symbols(text)
    values, rest = _param_assignments(extraction.text, strategy)
    rest = re.sub(r"<symbol \d+>", " ", rest)
    words = re.findall(r"[A-Za-z][A-Za-z'_-]*", rest.lower())
    allowed = set(FILLER)
    if values:  # "a 20-period fast MA": the indicator's own name is not new logic
        allowed |= {"ma", "moving", "average", "averages", "sma", "ema", "rsi", "macd", "lookback"}
        allowed |= {w for name in strategy.params for w in name.lower().split("_")}
    leftover = [w for w in words if w not in allowed]
    if leftover or not (extraction.symbols or values):
        return Change("logic", text=text)
    try:
        params = _typed(strategy, values) if values else {}
    except RuleEngineError:
        return Change("logic", text=text)  # a value the parameter cannot take: let the model read it
    kind: ChangeKind = "both" if extraction.symbols and params else ("symbols" if extraction.symbols else "params")
    return Change(kind, symbols=extraction.symbols, slots=dict(extraction.slots), params=params, text=text)


class Session:
    """One conversation: the current strategy, symbols and parameter values, and how many model calls it took.

    Args:
        strategy: a starting strategy (optional; `create` makes one).
        symbols: the starting symbols (``"SPY"``, ``"SPY,QQQ"`` or a slot mapping).
        client, settings, registry, attempts, system: as for `ruleengine.author`.
    """

    def __init__(self, strategy: Any = None, symbols: Any = None, *, client: ChatClient | None = None,
                 settings: LLMSettings | None = None, registry: Any = None, attempts: int = 3,
                 system: str | None = None) -> None:
        from .. import load_strategy

        self.strategy = load_strategy(strategy) if strategy is not None else None
        self.symbols = symbols
        self.params: dict[str, Any] = {}
        self.model: str | None = None  # the model that wrote the current strategy, if one did
        self.model_calls = 0
        self.history: list[dict[str, Any]] = []
        self._client, self._settings = client, settings
        self._registry, self._attempts, self._system = registry, attempts, system

    def _chat(self) -> ChatClient:
        if self._client is None:
            self._client = ChatClient(self._settings)
        return self._client

    def _need_strategy(self) -> Any:
        if self.strategy is None:
            raise RuleEngineError([Diagnostic("L109", "the session has no strategy yet",
                                              hint="create one first (Session.create)")])
        return self.strategy

    def create(self, prompt: str, name: str | None = None) -> Any:
        """A new strategy from the model (a model call); symbols named in the prompt become the session's."""
        from .author import author

        result = author(prompt, name=name, attempts=self._attempts, client=self._chat(),
                        registry=self._registry, system=self._system)
        self.model_calls += len(result.attempts)
        self.strategy, self.params, self.model = result.strategy, {}, result.model
        if result.symbols:
            self.symbols = result.symbols_spec
        self.history.append({"action": "create", "prompt": prompt, "model_calls": len(result.attempts)})
        return result

    def use_symbols(self, symbols: Any) -> None:
        """Run the same strategy on other symbols (never a model call)."""
        self.symbols = symbols
        self.history.append({"action": "symbols", "symbols": symbols, "model_calls": 0})

    def set_params(self, params: Mapping[str, Any]) -> None:
        """Change parameter values or risk overrides (never a model call); checked against PARAM_SCHEMA."""
        from .. import expand_params as expand
        from .. import split_params

        strategy = self._need_strategy()
        merged = {**self.params, **dict(params)}
        strat_params, _ = split_params(strategy, merged)
        expand(strategy.params, strat_params or None)  # D103/D104 now, not at the next backtest
        self.params = merged
        self.history.append({"action": "params", "params": dict(params), "model_calls": 0})

    def change_logic(self, request: str) -> Any:
        """Refine the strategy's logic through the model (a model call); parameter values are reset."""
        from .refine import refine

        result = refine(self._need_strategy(), request, attempts=self._attempts, client=self._chat(),
                        registry=self._registry, system=self._system)
        self.model_calls += len(result.authored.attempts)
        self.strategy, self.params, self.model = result.strategy, {}, result.authored.model
        if result.authored.symbols:
            self.symbols = symbols_for(result.strategy, result.authored.symbols, result.authored.slots)
        self.history.append({"action": "logic", "request": request,
                             "model_calls": len(result.authored.attempts)})
        return result

    def ask(self, text: str) -> Change:
        """Route a follow-up request: symbols and parameter values locally, anything else to the model."""
        if self.strategy is None:
            self.create(text)
            return Change("logic", text=text)
        change = classify(text, self.strategy)
        if change.kind == "logic":
            self.change_logic(text)
            return change
        if change.symbols:
            self.use_symbols(symbols_for(self.strategy, change.symbols, change.slots))
        if change.params:
            self.set_params(change.params)
        return change

    def backtest(self, start: Any = None, end: Any = None, **options: Any) -> Any:
        """`ruleengine.backtest` of the current strategy, symbols and parameter values (no model call).

        The result's warnings include the knowledge-cutoff note when a model wrote the strategy and the
        period starts before that model's cutoff.
        """
        from .. import RotationResult, backtest
        from .models import knowledge_cutoff_note

        if self.symbols is None:
            raise RuleEngineError([Diagnostic("L109", "the session has no symbols",
                                              hint="name them in the request or call use_symbols('SPY')")])
        result = backtest(self._need_strategy(), self.symbols, start, end, params=self.params or None, **options)
        span = ((result.start, result.end) if isinstance(result, RotationResult)
                else (result.provenance.start, result.provenance.end))
        note = knowledge_cutoff_note(self.model, *span)
        if note:
            result.warnings.append(Diagnostic("L111", note, severity="warning").to_dict())
        return result
