"""Hints name only things that exist: every command and ``--option`` a diagnostic's hint (or message) names
is a command / an option of that command in the real typer app; unknown options suggest only options of the
command that was run (and risk fields point at ``--param``).

The hint texts are collected from the source (every ``hint=`` argument, positional hints of helpers whose
parameter is called ``hint``, and the messages of ``Diagnostic(...)``), so a new hint is checked as soon as
it is written.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from ruleengine.cli import app

SRC = Path(__file__).resolve().parents[1] / "src" / "ruleengine"
#: "ruleengine signals act" -> the command words (lowercase words only: ID, FILE, {} are placeholders)
COMMAND = re.compile(r"\bruleengine((?: [a-z][a-z_-]*(?=[\s),;:'\"`]|$))+)")
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
GLOBAL_OPTIONS = {"--help", "--version"}


# ------------------------------------------------------------------------------------------ the app


# typer vendors its own click: groups and options are recognised by what they have, not by click's classes
def _is_group(cmd: Any) -> bool:
    return isinstance(getattr(cmd, "commands", None), dict)


def _walk(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, cmd
    if _is_group(cmd):
        for name, sub in cmd.commands.items():
            yield from _walk(sub, (*path, name))


ROOT_COMMAND = typer.main.get_command(app)
COMMANDS = dict(_walk(ROOT_COMMAND))


def _options(cmd: Any) -> set[str]:
    return {o for p in cmd.params if p.param_type_name == "option" for o in (*p.opts, *p.secondary_opts)}


ALL_OPTIONS = set().union(*(_options(c) for c in COMMANDS.values()))


def _resolve(words: list[str]) -> tuple[tuple[str, ...], str | None]:
    """The command path named by `words` (after "ruleengine"), or an error text."""
    path: tuple[str, ...] = ()
    for word in words:
        cmd = COMMANDS[path]
        if not _is_group(cmd):
            return path, None  # the rest are arguments
        if word in cmd.commands:
            path = (*path, word)
            continue
        # a lowercase word reads as a command, also where a group would take it as `run`'s argument
        # (`signals history` is `signals run history`, a file named "history")
        return path, f"'ruleengine {' '.join((*path, word))}' is not a command"
    cmd = COMMANDS[path]
    if _is_group(cmd) and "run" in cmd.commands and path:  # `signals ID --symbols` is `signals run ...`
        path = (*path, "run")
    return path, None


# ------------------------------------------------------------------------------------------ the hints


def _text(node: ast.AST) -> Iterator[str]:
    """Every string an expression can produce (f-strings with "{}" for their values)."""
    if isinstance(node, ast.JoinedStr):
        yield "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
        return
    for child in ast.iter_child_nodes(node):
        yield from _text(child)


def _hint_params(trees: dict[Path, ast.Module]) -> dict[str, int]:
    """Functions of our source with a parameter named `hint`: name -> its position."""
    out: dict[str, int] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [a.arg for a in node.args.args]
                if "hint" in names:
                    out[node.name] = names.index("hint")
    return out


def collect_hints() -> list[tuple[str, str]]:
    """(where, text) of every hint and diagnostic message in src/ruleengine."""
    trees = {f: ast.parse(f.read_text(encoding="utf-8")) for f in sorted(SRC.rglob("*.py"))}
    positional = _hint_params(trees)
    found: list[tuple[str, str]] = []
    for f, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            values = [k.value for k in node.keywords if k.arg in ("hint", "message")]
            if name == "Diagnostic":
                values += node.args[1:2] + node.args[3:4] if len(node.args) > 3 else node.args[1:2]
            elif name in positional and len(node.args) > positional[name]:
                values.append(node.args[positional[name]])
            for value in values:
                found += [(f"{f.relative_to(SRC)}:{value.lineno}", text) for text in _text(value)]
    return found


def _is_command(text: str, m: re.Match[str]) -> bool:
    """A mention reads as a command when its first word is one, or where a command is written (after ':', '(',
    '`', 'run ', 'with ' or at the start); 'the newer ruleengine that wrote it' is prose."""
    if m.group(1).split()[0] in COMMANDS[()].commands:
        return True
    before = text[:m.start()].rstrip(" ")
    return not before or before.endswith((":", "(", "`", " run", " with", "try"))


def problems_of(text: str) -> list[str]:
    """What a hint names that the app does not have."""
    out: list[str] = []
    mentions = [m for m in COMMAND.finditer(text) if _is_command(text, m)]
    segments = [(None, text[:mentions[0].start()] if mentions else text)]
    for i, m in enumerate(mentions):
        end = mentions[i + 1].start() if i + 1 < len(mentions) else len(text)
        path, error = _resolve(m.group(1).split())
        if error:
            out.append(error)
        segments.append((path, text[m.end():end]))
    for path, segment in segments:
        for opt in OPTION.findall(segment):
            if opt in GLOBAL_OPTIONS:
                continue
            if path is None or not path:
                if opt not in ALL_OPTIONS:
                    out.append(f"no command has {opt}")
            elif opt not in _options(COMMANDS[path]):
                out.append(f"'ruleengine {' '.join(path)}' has no {opt}")
    return out


HINTS = collect_hints()


def test_the_collector_finds_the_hints() -> None:
    """The scan sees the kinds of hints it must check (a collector that finds nothing checks nothing)."""
    texts = [t for _, t in HINTS]
    assert len(texts) > 200
    assert any("--param" in t for t in texts) and any("ruleengine strategies" in t for t in texts)
    assert problems_of("see ruleengine signals history") == ["'ruleengine signals history' is not a command"]
    assert problems_of("CLI: --time-column") == ["no command has --time-column"]
    assert problems_of("ruleengine signals act {} --price P") == []
    assert problems_of("ruleengine strategies list --price 1") == ["'ruleengine strategies list' has no --price"]
    assert problems_of("see: ruleengine signal 3") == ["'ruleengine signal' is not a command"]
    assert problems_of("use the newer ruleengine that wrote it") == []


@pytest.mark.parametrize(("where", "text"), [h for h in HINTS if COMMAND.search(h[1]) or OPTION.search(h[1])],
                         ids=lambda v: v if ":" in v and v.endswith(tuple("0123456789")) else "")
def test_every_hint_names_existing_commands_and_options(where: str, text: str) -> None:
    assert problems_of(text) == [], f"{where}: {text!r}"


# ------------------------------------------------------------------------------------------ unknown options


@pytest.mark.parametrize(("args", "suggested"), [
    (["backtest", "rules/golden_cross.yaml", "--symbols", "SPY", "--stop-loss", "5"], "--param stop_loss_pct="),
    (["sweep", "rules/golden_cross.yaml", "--symbols", "SPY", "--take-profit", "5"], "--param take_profit_pct="),
    (["backtest", "rules/golden_cross.yaml", "--symbol", "SPY"], "--symbols"),
])
def test_unknown_option_suggests_what_the_command_has(args: list[str], suggested: str) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    out = " ".join(result.output.replace("│", " ").split())  # the error box wraps long lines
    assert suggested in out, out
    command = COMMANDS[(args[0],)]
    unknown = next(a for a in args if a.startswith("--") and a not in _options(command))
    for opt in OPTION.findall(out.split("No such option", 1)[1]):
        assert opt == unknown or opt in _options(command), f"{opt} is not an option of {args[0]}: {out}"


def test_unknown_option_without_a_close_match_suggests_nothing_foreign() -> None:
    result = CliRunner().invoke(app, ["validate", "rules/", "--stop-loss", "5"])
    assert result.exit_code == 2 and "No such option: --stop-loss" in result.output
    assert "--param" not in result.output and "--symbols" not in result.output
