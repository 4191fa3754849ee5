"""Loading, validating and dumping strategy documents (the non-numeric half of the public API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

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
    from .strategies import check_document

    return check_document(loaded.strategy, loaded.document) + document_warnings(loaded.strategy, loaded.document)


def dump_strategy(strategy: TradingStrategy, fmt: Literal["yaml", "json"] = "yaml",
                  path: str | Path | None = None) -> str:
    """YAML or JSON text of a strategy (written to `path` when given); reloads to an equal strategy."""
    text = dump_yaml(strategy) if fmt == "yaml" else dump_json(strategy)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def explain(strategy: Any) -> dict[str, Any]:
    """What a strategy does, as data: conditions in canonical form, parameters, data used and warm-up.

    Rule strategies list their typed conditions; a code strategy (``code:``) says what its code receives.
    This is what ``ruleengine explain --json`` prints.

    Args:
        strategy: a path, YAML/JSON text, dict, `TradingStrategy` or a `SignalSource` (``compile_strategy``).

    Raises:
        RuleEngineError: the document's diagnostics when it does not load or compile.

    Example:
        >>> explain("rules/golden_cross.yaml")["warmup_bars"]
        200
    """
    from .strategies import signal_source

    return signal_source(strategy).explain()


def explain_text(strategy: Any) -> str:
    """`explain` as the text ``ruleengine explain`` prints (one block, newline-terminated).

    Example:
        >>> explain_text("rules/golden_cross.yaml").splitlines()[0]
        'Golden cross with RSI filter  (medium_term)'
    """
    from .strategies import signal_source

    return signal_source(strategy).explain_text()


def render_diagnostics(diagnostics: list[Diagnostic], file: str | Path) -> str:
    """Diagnostics rendered for a terminal, with the lines of `file` under each position.

    The file is read through the same guarded read as `validate` (never a FIFO, device or oversized file);
    when it cannot be read the diagnostics are rendered without source lines.

    Example:
        >>> bad = "tests/golden/errors/several_errors.yaml"
        >>> render_diagnostics(validate(bad), bad).splitlines()[0]
        "error[C101]: unknown function 'smaa'"
    """
    from .errors import render
    from .source import SourceText, read_source

    try:
        text = read_source(Path(file)).text
    except RuleEngineError:  # already among the diagnostics (R101, R106, R114)
        text = ""
    return render(diagnostics, SourceText(text, str(file)))


__all__ = ["dump_strategy", "explain", "explain_text", "load_strategy", "render_diagnostics", "validate"]
