"""Load strategy documents from YAML/JSON text, files or dicts; map pydantic errors to positioned diagnostics."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from ..errors import Diagnostic, RuleEngineError, did_you_mean
from ..source import Loaded, PathKey, SourceText, fmt_path, parse_document, read_source
from .strategy import TradingStrategy

StrategyInput = str | Path | dict[str, Any] | TradingStrategy


@dataclass
class LoadedStrategy:
    """A validated strategy plus the parsed document it came from (for positions), if any."""

    strategy: TradingStrategy
    document: Loaded | None


def load_document(obj: StrategyInput, allow_paths: bool = True) -> LoadedStrategy:
    """Read and validate; raises `RuleEngineError` with every schema diagnostic.

    `allow_paths` false: a string is the document's text, never a file name (see `read_source`)."""
    if isinstance(obj, TradingStrategy):
        return LoadedStrategy(obj, None)
    if isinstance(obj, dict):
        doc = Loaded(obj, SourceText("", None), {})
    elif isinstance(obj, (str, Path)):
        doc = parse_document(read_source(obj, allow_paths))
    else:
        raise RuleEngineError([Diagnostic("R105", f"cannot load a strategy from {type(obj).__name__}",
                                          hint="pass a path, YAML/JSON text, a dict or a TradingStrategy")])
    try:
        strategy = TradingStrategy.model_validate(doc.value)
    except ValidationError as exc:
        raise RuleEngineError(diagnostics_from_validation(exc, doc), doc.source) from None
    return LoadedStrategy(strategy, doc)


def document_warnings(strategy: TradingStrategy, doc: Loaded | None = None) -> list[Diagnostic]:
    """Warnings about a valid document: risk percentages that look like fractions (S114), a borrow cost on a
    strategy that never sells short (D133).

    ``stop_loss_pct: 0.07`` is a 0.07 % stop, almost always meant as 7 %.
    """
    out: list[Diagnostic] = []
    for name, v in strategy.risk.fraction_warnings():
        path = ("risk", name)
        pct = round(v * 100, 6)
        out.append(Diagnostic("S114", f"{name} {v:g} means {v:g} %, not {pct:g} %",
                              doc.span_of(path) if doc is not None else None, fmt_path(path),
                              f"did you mean {pct:g} %? percentages are written in percent: {name}: {pct:g}",
                              severity="warning"))
    if strategy.risk.borrow_cost_pct and strategy.direction == "long" and strategy.pair is None:  # a pair's
        # second leg sells short whatever the direction
        path = ("risk", "borrow_cost_pct")
        out.append(Diagnostic("D133", "borrow_cost_pct has no effect: a long strategy never sells short",
                              doc.span_of(path) if doc is not None else None, fmt_path(path),
                              "write direction: short or long_short to trade the short side, or remove it",
                              severity="warning"))
    return out


_TYPE_CODES = {
    "extra_forbidden": "S101",
    "missing": "S102",
    "literal_error": "S104",
    "enum": "S104",
    "greater_than": "S104", "greater_than_equal": "S104", "less_than": "S104", "less_than_equal": "S104",
    "too_short": "S104", "too_long": "S104", "string_too_short": "S104", "string_too_long": "S104",
}


def diagnostics_from_validation(exc: ValidationError, doc: Loaded) -> list[Diagnostic]:
    """One diagnostic per pydantic error, at the YAML position of the offending key or value."""
    out: list[Diagnostic] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        ctx = err.get("ctx") or {}
        # a validator of the whole document names the field it is about (`at`): its own location is the root
        path = _data_path(err["loc"], doc.value) or tuple(ctx.get("at") or ())
        etype = err["type"]
        code = etype if etype[:1] in "SRCD" and etype[1:].isdigit() else _TYPE_CODES.get(etype, "S103")
        hint = ctx.get("hint")
        message = err["msg"]
        if etype == "extra_forbidden":
            key = path[-1] if path else "?"
            message = f"unknown key '{key}'"
            hint = did_you_mean(str(key), _known_keys(path[:-1], doc.value)) or \
                "known keys: " + ", ".join(sorted(_known_keys(path[:-1], doc.value)))
            span = doc.span_of(path, key=True)
            if any(c in str(key) for c in "()") and path[:1] in (("entry",), ("exit",)):
                message = f"unknown key '{key}' (an expression split by YAML at a comma?)"
                hint = "inside {...} YAML splits at commas: quote the expression, e.g. field: \"rsi(close, 14)\""
        elif etype == "missing":
            message = f"missing required field '{path[-1]}'" if path else "missing required field"
            span = doc.span_of(path[:-1], key=True) if len(path) > 1 else doc.span_of(())
        else:
            span = doc.span_of(path)
        if etype == "literal_error" and "expected" in ctx:
            message = f"{err.get('input')!r} is not allowed here"
            close = did_you_mean(str(err.get("input")), re.findall(r"'([^']*)'", str(ctx["expected"])))
            hint = hint or (f"{close} " if close else "") + f"expected {ctx['expected']}"
        p = fmt_path(path)
        if (code, p) in seen:
            continue
        seen.add((code, p))
        out.append(Diagnostic(code, message, span, p or None, hint))
    return out


def _data_path(loc: tuple[Any, ...], value: Any) -> PathKey:
    """Keep the parts of a pydantic loc that index the data (drop union tags such as 'structured')."""
    out: list[str | int] = []
    cur = value
    for k in loc:
        indexes_data = (isinstance(cur, dict) and k in cur) or (
            isinstance(cur, list) and isinstance(k, int) and 0 <= k < len(cur))
        if indexes_data:
            out.append(k)
            cur = cur[k]
        elif isinstance(cur, list) and isinstance(k, str):
            continue  # `entry: [...]` is shorthand for {conditions: [...]}: the loc has a level more
        elif not isinstance(cur, list) and isinstance(k, str) and k not in _UNION_TAGS:
            # a missing or unknown key (reported at its parent), or a union tag: keep names that
            # are not type tags so that 'missing' errors still say which field
            out.append(k)
            cur = None
    return tuple(out)


_UNION_TAGS = {"expression", "structured", "function-after", "function-before", "function-plain"}


def _known_keys(path: PathKey, value: Any) -> list[str]:
    model: type[BaseModel] | None = TradingStrategy
    from .strategy import ConditionGroup, DataSlot, Param, RiskParameters, StructuredCondition
    shape: dict[PathKey, type[BaseModel]] = {(): TradingStrategy, ("risk",): RiskParameters,
                                             ("entry",): ConditionGroup, ("exit",): ConditionGroup}
    if path in shape:
        model = shape[path]
    elif len(path) == 2 and path[0] == "data":
        model = DataSlot
    elif len(path) == 2 and path[0] == "params":
        model = Param
    elif len(path) >= 2 and path[0] in ("entry", "exit") and isinstance(path[-1], int):
        model = StructuredCondition
    else:
        model = None
    return list(model.model_fields) if model else []


def dump_yaml(strategy: TradingStrategy) -> str:
    """YAML text of a strategy, keys in document order; `load(dump_yaml(s)) == s`."""
    text: str = yaml.safe_dump(strategy.to_dict(), sort_keys=False, allow_unicode=True, width=110)
    return text


def dump_json(strategy: TradingStrategy, indent: int | None = 2) -> str:
    return json.dumps(strategy.to_dict(), indent=indent)
