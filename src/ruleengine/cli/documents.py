"""`ruleengine contract | validate | explain | functions | schema`: the documents and their language."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

from .common import emit, fail, or_exit


def register(app: typer.Typer) -> None:
    """Add contract, validate, explain, functions and schema to `app`."""
    app.command("contract")(contract)
    app.command("validate")(validate)
    app.command("explain")(explain)
    app.command("functions")(functions)
    app.command("schema")(schema)


def contract() -> None:
    """Print the fill contract every backtest and sweep follows, then each addendum: short positions, long_short
    strategies, pairs, sizing, exits that know the trade, limit/stop entry orders and their long_short rules
    (each result carries the parts its runs followed)."""
    from ruleengine import FILL_CONTRACT_PARTS

    sys.stdout.write("\n".join(part.rstrip("\n") + "\n" for part in FILL_CONTRACT_PARTS))


def _expand(files: list[str]) -> list[str]:
    out: list[str] = []
    for f in files:
        p = Path(f)
        if p.is_dir():
            out += sorted(str(x) for x in p.iterdir() if x.suffix in (".yaml", ".yml", ".json"))
        else:
            out.append(f)
    return out


def validate(files: list[str] = typer.Argument(..., help="strategy files (YAML or JSON) or folders"),
             as_json: bool = typer.Option(False, "--json", help="print one JSON object: {\"success\": true, "
                                          "\"files\", \"diagnostics\"} or the ERROR_SCHEMA")) -> None:
    """Check strategy documents: exit 0 when all are valid, 1 with the diagnostics otherwise."""
    from ruleengine import Diagnostic, RuleEngineError, render_diagnostics
    from ruleengine import validate as validate_doc

    all_diags: list[dict[str, Any]] = []
    found: list[Diagnostic] = []
    failed = False
    paths = _expand(files)
    if not paths:
        fail(RuleEngineError([Diagnostic(
            "R101", "no strategy files (.yaml, .yml, .json) in " + ", ".join(files), path="files",
            hint="give strategy files or a folder holding them, e.g. ruleengine validate rules/")]), as_json)
    for f in paths:
        diags = validate_doc(Path(f) if not f.endswith((".yaml", ".yml", ".json")) else f)
        errors = [d for d in diags if d.severity == "error"]
        failed |= bool(errors)
        found += diags
        if as_json:
            all_diags += [d.to_dict() | {"file": d.span.file if d.span and d.span.file else f} for d in diags]
            continue
        # the same guarded read as validate's: never a FIFO, a device or an oversized file
        sys.stdout.write(render_diagnostics(diags, f) if diags else f"ok: {f}\n")
    if as_json:  # the envelope of every --json output: {"success": true, ...} or the ERROR_SCHEMA
        if failed:
            first = RuleEngineError(sorted(found, key=lambda d: d.severity != "error"))
            payload: dict[str, Any] = {"success": False, "error": {"type": first.error_type, "message": str(first),
                                                                   "details": all_diags}}
        else:
            payload = {"success": True, "files": paths, "diagnostics": all_diags}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    raise typer.Exit(1 if failed else 0)


def explain(file: str = typer.Argument(..., help="strategy file"),
            as_json: bool = typer.Option(False, "--json", help="print the explanation as JSON")) -> None:
    """Show the typed, canonical form of each condition, the parameters and the derived warm-up."""
    import ruleengine

    if as_json:
        emit(or_exit(lambda: ruleengine.explain(file), as_json))
    else:
        sys.stdout.write(or_exit(lambda: ruleengine.explain_text(file)))


def functions(markdown: bool = typer.Option(False, "--markdown", help="print the README table")) -> None:
    """List the functions of the expression language, then the position variables of exit conditions."""
    from ruleengine import FUNCTIONS, POSITION_VARIABLES, functions_markdown

    if markdown:
        sys.stdout.write(functions_markdown())
        return
    for f in FUNCTIONS.values():
        sys.stdout.write(f"{f.signature:<45} {f.doc}\n{'':<45} e.g. {f.example}\n")

    # names, not functions, but what a user looks for here: exit conditions read them (L120 elsewhere)
    sys.stdout.write("\nposition variables (exit conditions only: exit, and short_exit on a long_short strategy's "
                     "shorts; not inside functions over past bars)\n")
    for name, doc in POSITION_VARIABLES.items():
        sys.stdout.write(f"{name:<45} {doc}\n")
    sys.stdout.write(f"{'':<45} e.g. bars_held >= 20 or close < highest_since_entry - 3 * atr(high, low, close, "
                     "14)\n")


def schema() -> None:
    """Print the strict JSON Schema of a strategy document (for LLM structured outputs)."""
    from ruleengine import strict_json_schema

    sys.stdout.write(json.dumps(strict_json_schema(), indent=2) + "\n")


__all__ = ["register"]
