"""Loading, validating and dumping strategy documents (the non-numeric half of the public API)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from .errors import Diagnostic, RuleEngineError
from .schema.load import StrategyInput, document_warnings, dump_json, dump_yaml, load_document
from .schema.strategy import TradingStrategy


def load_strategy(path_or_text: StrategyInput, *, allow_paths: bool = True) -> TradingStrategy:
    """Load a strategy from a YAML/JSON file path, YAML/JSON text, or a dict.

    `allow_paths=False` (what the agent tools pass): a string is always the document's text; no file is
    opened, nor tested for existence.

    Raises:
        RuleEngineError: with every diagnostic (codes R1xx, S1xx) and its position.

    Example:
        >>> load_strategy("name: x\\ndata: {prices: {}}\\nentry: [close > 1]\\n").name
        'x'
    """
    return load_document(path_or_text, allow_paths).strategy


def validate(path_or_text: StrategyInput, *, allow_paths: bool = True) -> list[Diagnostic]:
    """Every problem of a strategy document (load, parse and type check; for ``code:`` the sandbox's static
    check); [] when it is valid. Warnings (severity "warning") do not make it invalid. `allow_paths=False`: a
    string is the text, never a file name.

    Never raises for user errors: hostile input (huge, deeply nested, alias bombs, FIFOs, devices) ends in
    an R1xx diagnostic within the limits of `ruleengine.source_guard`.
    """
    try:
        loaded = load_document(path_or_text, allow_paths)
    except RuleEngineError as exc:
        return exc.diagnostics
    warnings = document_warnings(loaded.strategy, loaded.document)
    if loaded.strategy.code is not None:  # the sandbox's static check (the code is never run here)
        from .sandbox.static import check_code, locate

        code = loaded.strategy.code
        return locate(check_code(code), code, loaded.document) + warnings
    from .compile.frontend import analyze

    return analyze(loaded.strategy, loaded.document).diagnostics + warnings


def dump_strategy(strategy: TradingStrategy, fmt: Literal["yaml", "json"] = "yaml",
                  path: str | Path | None = None) -> str:
    """YAML or JSON text of a strategy (written to `path` when given); reloads to an equal strategy."""
    text = dump_yaml(strategy) if fmt == "yaml" else dump_json(strategy)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


__all__ = ["dump_strategy", "load_strategy", "validate"]
