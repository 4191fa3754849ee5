"""A new version of a strategy from a change request ("tighten the stop to 5%"), with a unified diff.

The model gets the current document in the reply's wire form and must return the complete new one (not a
patch): what the request does not touch is copied, and the diff shows exactly what changed. The result goes
through the same repair loop as `author` (parse -> validate -> compile, diagnostics back). A strategy given by
its store id becomes a new version of that id when saved; nothing is overwritten.

Example (needs a model; see tests/test_llm_author.py):
    >>> r = refine("rules/golden_cross.yaml", "tighten the stop to 5%")  # doctest: +SKIP
    >>> print(r.diff)  # doctest: +SKIP
    --- Golden cross with RSI filter (current)
    +++ Golden cross with RSI filter (refined)
    ...
    -  stop_loss_pct: 10.0
    +  stop_loss_pct: 5.0
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from typing import Any

from .. import Diagnostic, RuleEngineError
from .author import AuthorResult, run_loop
from .client import ChatClient, LLMSettings
from .symbols import extract_symbols
from .wire import wire_form


@dataclass
class RefineResult:
    """The refined strategy, the one it came from, their diff and the model loop's record."""

    strategy: Any
    previous: Any
    diff: str
    authored: AuthorResult
    strategy_id: int | None = None
    version: int | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.diff)

    def to_dict(self) -> dict[str, Any]:
        return {"success": True, "strategy_id": self.strategy_id, "version": self.version, "changed": self.changed,
                "diff": self.diff, "strategy": self.strategy.to_dict(),
                "explanation": self.authored.explanation, "model": self.authored.model,
                "symbols": list(self.authored.symbols), "usage": self.authored.usage.to_dict(),
                "attempts": [a.to_dict() for a in self.authored.attempts], "warnings": self.warnings}


def strategy_diff(old: Any, new: Any, old_label: str = "current", new_label: str = "refined") -> str:
    """Unified diff of two strategies' YAML documents ('' when they are equal)."""
    from .. import dump_strategy

    a = dump_strategy(old, "yaml").splitlines(keepends=True)
    b = dump_strategy(new, "yaml").splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, f"{old.name} ({old_label})", f"{new.name} ({new_label})"))


def resolve(strategy_or_id: Any, store: Any = None) -> tuple[Any, int | None, Any]:
    """(strategy, store id or None, store) for a strategy, a path/text/dict, or a store id (int or digits)."""
    from .. import load_strategy

    sid = strategy_or_id if isinstance(strategy_or_id, int) and not isinstance(strategy_or_id, bool) else None
    if isinstance(strategy_or_id, str) and strategy_or_id.strip().isdigit():
        sid = int(strategy_or_id.strip())
    if sid is None:
        return load_strategy(strategy_or_id), None, store  # a TradingStrategy passes through
    if store is None:
        from .. import open_store

        store = open_store()
    return store.get_strategy(sid).strategy, sid, store


def refine(strategy_or_id: Any, request: str, *, store: Any = None, save: bool = False, attempts: int = 3,
           client: ChatClient | None = None, settings: LLMSettings | None = None, registry: Any = None,
           system: str | None = None) -> RefineResult:
    """Apply a change request to a strategy through the model; unchanged parts are kept.

    Args:
        strategy_or_id: a `TradingStrategy`, a path/YAML/JSON text/dict, or a store id (int or "12").
        request: what to change, e.g. "tighten the stop to 5%" or "also require volume above its 20-day mean".
        store: the `Store` for ids and saving (default: `ruleengine.store.open_store()` when needed).
        save: store the result (a new version of the id; a new strategy for a document).
        attempts, client, settings, registry, system: as for `ruleengine.author`.

    Raises:
        AuthoringError: no valid document within the budget (L104) or the API failed (L105-L107).
        RuleEngineError: an unknown id (T101) or an unreadable document.
    """
    from .prompt import system_prompt

    if not request or not request.strip():
        raise RuleEngineError([Diagnostic("L109", "the change request is empty",
                                          hint="say what to change, e.g. 'tighten the stop to 5%'")])
    current, sid, store = resolve(strategy_or_id, store)
    extraction = extract_symbols(request)
    doc = wire_form(current)
    user = ("Current strategy (the `strategy` of the reply format):\n" + json.dumps(doc, ensure_ascii=False) +
            f"\n\nChange request: {extraction.text.strip()}\n\n"
            "Reply with the complete new document. Change only what the request asks for; copy every other "
            "field exactly as it is (name, description, data, params, conditions, risk).")
    messages = [{"role": "system", "content": system or system_prompt(registry)},
                {"role": "user", "content": user}]
    authored = run_loop(client or ChatClient(settings), messages, prompt=request, extraction=extraction,
                        name=None, attempts=attempts)
    new = authored.strategy
    diff = strategy_diff(current, new)
    warnings = [] if diff else [Diagnostic(
        "L110", "the refined strategy is identical to the current one", severity="warning",
        hint="be more specific about what to change").to_dict()]
    result = RefineResult(strategy=new, previous=current, diff=diff, authored=authored, strategy_id=sid,
                          warnings=warnings)
    if save:
        if store is None:
            from .. import open_store

            store = open_store()
        record = store.add_strategy(new, strategy_id=sid, nl_input=request, author=f"llm:{authored.model}")
        result.strategy_id, result.version = record.id, record.version
    return result
