"""`ruleengine create`, `ruleengine refine` and `ruleengine mcp`: LLM authoring and the MCP tool server.

Only typer and the standard library are imported here: the CLI registers these commands at import, and
`ruleengine validate` must start without numpy, pandas, openai or mcp.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from .common import check_output_path, or_exit, write_text


def register(app: typer.Typer) -> None:
    """Add the create, refine and mcp commands to `app`."""
    app.command("create")(create_command)
    app.command("refine")(refine_command)
    app.command("mcp")(mcp_command)


def create_command(
    prompt: str = typer.Argument(..., help="the idea, e.g. \"Buy when RSI(14) is under 30 and price is above the "
                                           "200-day average; 7% stop\""),
    name: str | None = typer.Option(None, "--name", help="the strategy's name"),
    out: str | None = typer.Option(None, "--out", help="write the document here (.yaml or .json)"),
    save: bool = typer.Option(False, "--save", help="store the strategy (RULEENGINE_DB) and print its ID"),
    attempts: int = typer.Option(3, "--attempts", min=1, help="model calls allowed (first + repairs)"),
    model: str | None = typer.Option(None, "--model", help="model name (default: $RULEENGINE_MODEL)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object (the result or the error)"),
) -> None:
    """Write a validated strategy from a natural-language idea with an LLM (repairs until it compiles)."""

    def go() -> tuple[Any, Any]:
        check_output_path(out, "--out")  # before the model is called
        from ruleengine import LLMSettings, author

        result = author(prompt, name=name, attempts=attempts, settings=LLMSettings.from_env(model=model))
        record = None
        if out:
            write_text(out, result.document("json" if out.endswith(".json") else "yaml"), "--out")
        if save:
            from ruleengine import open_store, symbols_text

            record = open_store().add_strategy(result.strategy, nl_input=prompt, author=f"llm:{result.model}",
                                               universe=symbols_text(result.symbols_spec))
        return result, record

    result, record = or_exit(go, as_json)
    if as_json:
        payload = result.to_dict()
        payload["strategy_id"] = record.id if record else None
        payload["version"] = record.version if record else None
        payload["out"] = out
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
        return
    if not out:
        sys.stdout.write(result.document("yaml"))
    _summary(result, out, record)


def _summary(result: Any, out: str | None, record: Any) -> None:
    lines = []
    if out:
        lines.append(f"wrote {out}")
    if record is not None:
        lines.append(f"stored as strategy {record.id} (version {record.version})")
    if result.kind == "code":
        lines.append(f"code strategy (sandboxed): {result.code_reason or 'the rules could not express it'}")
    if result.symbols:
        from ruleengine import symbols_text

        lines.append(f"symbols (not in the document; pass them at run time): --symbols "
                     f"{symbols_text(result.symbols_spec)}")
    if result.explanation:
        lines.append(f"explanation: {result.explanation}")
    u = result.usage
    cost = "unknown cost" if u.cost_usd is None else f"~${u.cost_usd:.4f}"
    lines.append(f"{result.model}: {len(result.attempts)} attempt(s), {u.prompt_tokens:,} + "
                 f"{u.completion_tokens:,} tokens, {cost}")
    sys.stderr.write("\n".join(lines) + "\n")


def refine_command(
    target: str = typer.Argument(..., help="a stored strategy ID or a strategy file"),
    request: str = typer.Argument(..., help="what to change, e.g. \"tighten the stop to 5%\""),
    out: str | None = typer.Option(None, "--out", help="write the new document here"),
    save: bool = typer.Option(False, "--save", help="store it (a new version of the ID; a new strategy for a file)"),
    attempts: int = typer.Option(3, "--attempts", min=1, help="model calls allowed (first + repairs)"),
    model: str | None = typer.Option(None, "--model", help="model name (default: $RULEENGINE_MODEL)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object (the result or the error)"),
) -> None:
    """Change a strategy with an LLM; prints the unified diff (what the request does not touch is kept)."""

    def go() -> Any:
        check_output_path(out, "--out")  # before the model is called
        from ruleengine import LLMSettings, refine

        result = refine(target, request, save=save, attempts=attempts, settings=LLMSettings.from_env(model=model))
        if out:
            from ruleengine import dump_strategy

            write_text(out, dump_strategy(result.strategy, "json" if out.endswith(".json") else "yaml"), "--out")
        return result

    result = or_exit(go, as_json)
    if as_json:
        sys.stdout.write(json.dumps({**result.to_dict(), "out": out}, indent=2, default=str) + "\n")
        return
    sys.stdout.write(result.diff or "no change: the refined strategy is identical\n")
    notes = [f"wrote {out}"] if out else []
    if result.version is not None:
        notes.append(f"stored as strategy {result.strategy_id} version {result.version}")
    u = result.authored.usage
    cost = "unknown cost" if u.cost_usd is None else f"~${u.cost_usd:.4f}"
    notes.append(f"{result.authored.model}: {len(result.authored.attempts)} attempt(s), {cost}")
    sys.stderr.write("\n".join(notes) + "\n")


def mcp_command() -> None:
    """Serve the agent tools over the Model Context Protocol on stdin/stdout (for desktop assistants)."""
    from ruleengine import serve_mcp

    serve_mcp()


__all__ = ["register"]
