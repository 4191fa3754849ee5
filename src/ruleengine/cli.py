"""The `ruleengine` command: a thin layer over the public API.

User errors print structured diagnostics (or JSON with --json) and exit 1; they never show a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Trading-strategy documents compiled into fast, causal signals.")


def _expand(files: list[str]) -> list[str]:
    out: list[str] = []
    for f in files:
        p = Path(f)
        if p.is_dir():
            out += sorted(str(x) for x in p.iterdir() if x.suffix in (".yaml", ".yml", ".json"))
        else:
            out.append(f)
    return out


@app.command()
def validate(files: list[str] = typer.Argument(..., help="strategy files (YAML or JSON) or folders"),
             as_json: bool = typer.Option(False, "--json", help="print diagnostics as a JSON list")) -> None:
    """Check strategy documents: exit 0 when all are valid, 1 with the diagnostics otherwise."""
    from .api import validate as validate_doc
    from .errors import render
    from .source import SourceText

    all_diags: list[dict[str, Any]] = []
    failed = False
    paths = _expand(files)
    if not paths:
        sys.stdout.write("error: no strategy files (.yaml, .yml, .json) in " + ", ".join(files) + "\n")
        raise typer.Exit(1)
    for f in paths:
        diags = validate_doc(Path(f) if not f.endswith((".yaml", ".yml", ".json")) else f)
        errors = [d for d in diags if d.severity == "error"]
        failed |= bool(errors)
        if as_json:
            all_diags += [d.to_dict() | {"file": d.span.file if d.span and d.span.file else f} for d in diags]
            continue
        if diags:
            try:
                text = Path(f).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):  # already reported as R101
                text = ""
            sys.stdout.write(render(diags, SourceText(text, f)))
        else:
            sys.stdout.write(f"ok: {f}\n")
    if as_json:
        sys.stdout.write(json.dumps(all_diags, indent=2) + "\n")
    raise typer.Exit(1 if failed else 0)


@app.command()
def explain(file: str = typer.Argument(..., help="strategy file"),
            as_json: bool = typer.Option(False, "--json", help="print the explanation as JSON")) -> None:
    """Show the typed, canonical form of each condition, the parameters and the derived warm-up."""
    from .compile.compiled import compile_strategy
    from .compile.explain import explain_dict, explain_text

    compiled = _or_exit(lambda: compile_strategy(file), as_json)
    if as_json:
        sys.stdout.write(json.dumps(explain_dict(compiled), indent=2, default=str) + "\n")
    else:
        sys.stdout.write(explain_text(compiled))


@app.command()
def functions(markdown: bool = typer.Option(False, "--markdown", help="print the README table")) -> None:
    """List the functions of the expression language."""
    from .lang.functions import FUNCTIONS, markdown_table

    if markdown:
        sys.stdout.write(markdown_table())
        return
    for f in FUNCTIONS.values():
        sys.stdout.write(f"{f.signature:<45} {f.doc}\n{'':<45} e.g. {f.example}\n")


@app.command()
def schema() -> None:
    """Print the strict JSON Schema of a strategy document (for LLM structured outputs)."""
    from .schema.jsonschema import strict_json_schema

    sys.stdout.write(json.dumps(strict_json_schema(), indent=2) + "\n")


def _or_exit(fn: Any, as_json: bool = False) -> Any:
    from .errors import RuleEngineError

    try:
        return fn()
    except RuleEngineError as exc:
        if as_json:
            sys.stdout.write(json.dumps(exc.to_error_schema(), indent=2) + "\n")
        else:
            sys.stdout.write(exc.render())
        raise typer.Exit(1)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    app(args=argv, prog_name="ruleengine")


if __name__ == "__main__":  # pragma: no cover
    main()
