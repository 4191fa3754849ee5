"""The `ruleengine` command: typer commands over the public API (`ruleengine.__all__`) only.

One module per command group, each adding its commands with ``register(app)``: `documents` (contract,
validate, explain, functions, schema), `data` (providers, data show), `run` (backtest), `sweep`, `llm`
(create, refine, mcp), `store` (strategies, runs) and `live` (signals, track, compare, scan). `common` holds
what they share. Command modules import only typer and the standard library at module level, so that
``ruleengine validate`` starts without numpy, pandas or numba.

User errors print structured diagnostics (or JSON with --json) and exit 1; they never show a traceback.
"""

from __future__ import annotations

import sys

import typer

from . import data, documents, live, llm, run, store, sweep
from .common import mark_console_script

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Trading-strategy documents compiled into fast, causal signals.")


def _show_version(value: bool) -> None:
    if value:
        from ruleengine import __version__

        sys.stdout.write(f"ruleengine {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                       help="print the version and exit")) -> None:
    """Trading-strategy documents compiled into fast, causal signals."""


# The order of registration is the order of `ruleengine --help`.
for _group in (documents, data, run, sweep, llm, store, live):
    _group.register(app)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    mark_console_script()
    app(args=argv, prog_name="ruleengine")


__all__ = ["app", "main"]
