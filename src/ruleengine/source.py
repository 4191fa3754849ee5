"""Source text and positions: read YAML/JSON into plain Python objects plus a map from field path to span.

Paths are tuples of keys and list indices, e.g. ``("entry", "conditions", 0)``, the same shape as pydantic's
error ``loc``, so validation errors map back to ``file:line:col``. Positions inside a scalar (an expression
string) are mapped to file positions by aligning the parsed value with the raw source slice, which handles
plain, quoted, literal and folded scalars alike.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import Diagnostic, RuleEngineError, Span
from .source_guard import (
    check_int_digits,
    check_json_text,
    check_text,
    check_yaml_graph,
    over_limit,
    read_regular_file,
    scan_yaml_events,
)

try:  # the C loader is several times faster; positions are the same
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _Loader  # type: ignore[assignment, unused-ignore]  # with PyYAML's stubs

PathKey = tuple[str | int, ...]


@dataclass
class SourceText:
    """Text plus where it came from (a file name, or None for inline text)."""

    text: str
    origin: str | None = None


@dataclass(frozen=True)
class NodePos:
    """Where a value (and, for mapping entries, its key) stands in the source."""

    start: int  # character offset of the value node in the text
    end: int
    line: int  # 1-based
    col: int  # 1-based
    end_line: int
    end_col: int
    key_line: int | None = None
    key_col: int | None = None
    key_len: int | None = None


@dataclass
class Loaded:
    """A document read from YAML or JSON: the plain value and the positions of every node."""

    value: Any
    source: SourceText
    positions: dict[PathKey, NodePos] = field(default_factory=dict)

    def span_of(self, path: PathKey, key: bool = False) -> Span | None:
        """Span of the value at `path` (or of its key), walking up to the nearest known ancestor."""
        p = tuple(path)
        while p not in self.positions and p:
            p = p[:-1]
        pos = self.positions.get(p)
        if pos is None:
            return None
        if key and pos.key_line is not None and p == tuple(path):
            return Span(pos.key_line, pos.key_col or 1, pos.key_line,
                        (pos.key_col or 1) + (pos.key_len or 1), self.source.origin)
        end_line, end_col = pos.end_line, pos.end_col
        if end_line != pos.line:  # a multi-line node: underline to the end of its first line
            end_line, end_col = pos.line, pos.col + 1
        return Span(pos.line, pos.col, end_line, end_col, self.source.origin)

    def span_in_scalar(self, path: PathKey, start: int, end: int) -> Span | None:
        """Map a [start, end) range inside the string value at `path` to a span in the file."""
        pos = self.positions.get(tuple(path))
        value = _get(self.value, path)
        if pos is None or not isinstance(value, str):
            return self.span_of(path)
        raw = self.source.text[pos.start:pos.end]
        offsets = _align(value, raw)
        s = pos.start + offsets[min(start, len(offsets) - 1)]
        e = pos.start + offsets[min(max(end - 1, start), len(offsets) - 1)] + 1
        line, col = _line_col(self.source.text, s)
        eline, ecol = _line_col(self.source.text, e)
        return Span(line, col, eline, ecol, self.source.origin)


def _get(value: Any, path: PathKey) -> Any:
    for k in path:
        try:
            value = value[k]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    col = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, col


def _align(value: str, raw: str) -> list[int]:
    """For each character of `value`, its offset in `raw` (the scalar as written).

    Walks both strings; characters equal in both advance together, a run of white space in the value
    matches a run of white space (including line breaks and indentation) in the raw text, and anything
    else in the raw text (quotes, block indicators, escapes) is skipped.
    """
    out: list[int] = []
    j = 0
    n = len(raw)
    for ch in value:
        if ch.isspace():
            out.append(min(j, max(n - 1, 0)))
            while j < n and raw[j].isspace():  # a run in the raw text absorbs this white space
                j += 1
            continue
        k = j
        while k < n and raw[k] != ch:
            k += 1
        if k >= n:  # not found (an escape sequence): stay where we are
            out.append(min(j, max(n - 1, 0)))
            continue
        out.append(k)
        j = k + 1
    out.append(min(j, n))  # one past the end, for empty or end-anchored ranges
    return out


def read_source(path_or_text: str | Path, allow_paths: bool = True) -> SourceText:
    """Read a file when given an existing path (or a name that looks like one), else treat as text.

    Files must be regular files within the size limit of `ruleengine.source_guard` (R114, R106); text is
    held to the same limit. With `allow_paths` false (callers that must not reach the machine's files: the
    agent tools) a string is always the document's text and the file system is never touched, not even to
    test whether a file exists.
    """
    if not allow_paths and isinstance(path_or_text, Path):
        raise RuleEngineError([Diagnostic("R105", "a file path is not accepted here",
                                          hint="pass the document's YAML/JSON text")])
    if allow_paths and (isinstance(path_or_text, Path) or _looks_like_path(path_or_text)):
        name = str(path_or_text)
        try:
            data = read_regular_file(name)
        except FileNotFoundError:
            raise RuleEngineError([Diagnostic("R101", f"file not found: {path_or_text}",
                                              hint="check the path; inline YAML must contain a newline")]) from None
        except OSError as exc:
            raise RuleEngineError([Diagnostic("R101", f"cannot read {path_or_text}: {exc.strerror or exc}")]) from None
        try:
            return SourceText(data.decode("utf-8"), name)
        except UnicodeDecodeError as exc:
            raise RuleEngineError([Diagnostic("R101", f"cannot read {path_or_text}: not UTF-8 text "
                                              f"(byte {exc.start:,})", hint="save the file as UTF-8")]) from None
    text = str(path_or_text)  # a Path was read or refused above
    check_text(text, None)
    return SourceText(text, None)


def _looks_like_path(s: str) -> bool:
    if "\n" in s or s.lstrip().startswith(("{", "[")) or len(s) > 4096:
        return False
    # exists, not is_file: a FIFO or a device named as a document must be refused, not parsed as YAML text
    return s.endswith((".yaml", ".yml", ".json")) or os.path.lexists(s)


def parse_document(source: SourceText) -> Loaded:
    """Parse YAML, or JSON as JSON (a ``.json`` file), keeping positions; bad input becomes an R1xx diagnostic.

    The limits of `ruleengine.source_guard` are checked before each step that could be made expensive:
    nesting, aliases and tags on the event stream, recursion and alias expansion on the composed graph.
    """
    check_text(source.text, source.origin)
    if source.origin is not None and source.origin.lower().endswith(".json"):
        return _parse_json(source)
    try:
        scan_yaml_events(source.text, _Loader, source.origin)
        node = yaml.compose(source.text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = Span(mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 2, source.origin) \
            if mark is not None else None
        problem = exc.problem or exc.context or "malformed document"
        if "maximum nesting depth" in problem:  # libyaml's own limit (1,000), above ours
            raise RuleEngineError(over_limit("R107", span).diagnostics, source) from None
        hint = "check indentation and that every 'key: value' pair has a space after the colon"
        if mark is not None and _tab_at(source.text, mark.line, mark.column):
            hint = "YAML does not allow tabs for indentation; use spaces"
        raise RuleEngineError([Diagnostic("R102", f"malformed YAML: {problem}", span, hint=hint)], source) from None
    except RuleEngineError as exc:
        raise RuleEngineError(exc.diagnostics, source) from None
    except yaml.YAMLError as exc:
        if source.text.lstrip().startswith("{"):
            return _parse_json(source)
        raise RuleEngineError([Diagnostic("R102", f"malformed YAML: {exc}")], source) from None
    if node is None:
        raise RuleEngineError([Diagnostic("R103", "the document is empty",
                                          Span(1, 1, 1, 2, source.origin),
                                          hint="a strategy needs at least name, data, entry and exit")],
                              source)
    try:
        check_yaml_graph(node, source.origin)
    except RuleEngineError as exc:
        raise RuleEngineError(exc.diagnostics, source) from None
    positions: dict[PathKey, NodePos] = {}
    errors: list[Diagnostic] = []
    value = _construct(node, (), positions, errors, source)
    if errors:
        raise RuleEngineError(errors, source)
    if not isinstance(value, dict):
        raise RuleEngineError([Diagnostic("R103", "the document is not a mapping of fields",
                                          Span(node.start_mark.line + 1, node.start_mark.column + 1,
                                               node.start_mark.line + 1, node.start_mark.column + 2,
                                               source.origin),
                                          hint="start with 'name: ...' at the beginning of a line")],
                              source)
    return Loaded(value, source, positions)


def _tab_at(text: str, line: int, column: int) -> bool:
    """Whether the error mark (0-based line/column) is at a tab or on a line indented with tabs.

    (libyaml reports a tab as "found character that cannot start any token", without naming it.)
    """
    lines = text.splitlines()
    if not 0 <= line < len(lines):
        return False
    row = lines[line]
    indent = row[:len(row) - len(row.lstrip(" \t"))]
    return "\t" in indent or row[column:column + 1] == "\t"


def _parse_json(source: SourceText) -> Loaded:
    """Strict JSON (no trailing commas, no NaN/Infinity, no duplicate keys), positions from the YAML composer.

    JSON's values are taken from the JSON decoder (YAML 1.1 would read ``1e3`` as a string); the positions
    come from composing the same text as YAML (JSON is YAML's flow syntax), when that works.
    """
    try:
        check_json_text(source.text, source.origin)
        value = json.loads(source.text, object_pairs_hook=_json_object, parse_constant=_json_constant,
                           parse_int=_json_int)
    except json.JSONDecodeError as exc:
        span = Span(exc.lineno, exc.colno, exc.lineno, exc.colno + 1, source.origin)
        hint = None
        if exc.msg.startswith(("Expecting property name", "Expecting value")) and _trailing_comma(source.text,
                                                                                                   exc.pos):
            hint = "JSON allows no comma after the last entry: remove it"
        elif exc.msg == "Expecting ',' delimiter":
            hint = "a comma is missing after the previous entry"
        raise RuleEngineError([Diagnostic("R102", f"malformed JSON: {exc.msg}", span, hint=hint)], source) from None
    except _JsonProblem as exc:
        raise RuleEngineError([exc.diagnostic], source) from None
    except RuleEngineError as exc:
        raise RuleEngineError(exc.diagnostics, source) from None
    if not isinstance(value, dict):
        raise RuleEngineError([Diagnostic("R103", "the document is not an object",
                                          Span(1, 1, 1, 2, source.origin),
                                          hint='start with {"name": ...}')], source)
    positions: dict[PathKey, NodePos] = {}
    try:
        node = yaml.compose(source.text, Loader=_Loader)
        if node is not None:
            _positions(node, (), positions)
    except yaml.YAMLError:  # JSON that YAML 1.1 reads differently: no positions, the values stand
        positions = {}
    return Loaded(value, source, positions)


class _JsonProblem(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _JsonProblem(Diagnostic("R104", f"duplicate key '{k}'",
                                          hint="each key may appear once; the second would silently win"))
        out[k] = v
    return out


def _json_constant(name: str) -> Any:
    raise _JsonProblem(Diagnostic("R102", f"malformed JSON: {name} is not a JSON number",
                                  hint="JSON has no NaN or Infinity; give a finite number"))


def _json_int(digits: str) -> int:
    problem = check_int_digits(digits, None)
    if problem is not None:
        raise _JsonProblem(problem)
    return int(digits)


def _trailing_comma(text: str, pos: int) -> bool:
    before = text[:pos].rstrip()
    return before.endswith(",")


def _positions(node: yaml.Node, path: PathKey, out: dict[PathKey, NodePos],
               key: yaml.Node | None = None) -> None:
    """Positions of a composed JSON document (no aliases in JSON: a plain walk, depth already checked)."""
    out[path] = _pos(node, key)
    if isinstance(node, yaml.MappingNode):
        for k_node, v_node in node.value:
            if isinstance(k_node, yaml.ScalarNode):
                _positions(v_node, (*path, k_node.value), out, k_node)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _positions(v, (*path, i), out)


def _pos(node: yaml.Node, key: yaml.Node | None = None) -> NodePos:
    s, e = node.start_mark, node.end_mark
    kl = kc = klen = None
    if key is not None:
        kl, kc = key.start_mark.line + 1, key.start_mark.column + 1
        klen = max(1, key.end_mark.index - key.start_mark.index)
    return NodePos(s.index, e.index, s.line + 1, s.column + 1, e.line + 1, e.column + 1, kl, kc, klen)


def _construct(node: yaml.Node, path: PathKey, positions: dict[PathKey, NodePos],
               errors: list[Diagnostic], source: SourceText, key: yaml.Node | None = None) -> Any:
    positions[path] = _pos(node, key)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for k_node, v_node in node.value:
            if k_node.tag == _MERGE_TAG:
                errors.append(Diagnostic("R111", "merge keys (<<) are not supported", _node_span(k_node, source),
                                         _fmt_path(path) or None,
                                         hint="write the keys out: a merge would hide which value applies"))
                continue
            k = _scalar(k_node, errors, source) if isinstance(k_node, yaml.ScalarNode) else None
            if not isinstance(k, (str, int, float, bool)) or k is None:
                errors.append(Diagnostic("R102", "mapping keys must be plain names",
                                         _node_span(k_node, source)))
                continue
            k = str(k) if not isinstance(k, str) else k
            if k in out:
                errors.append(Diagnostic("R104", f"duplicate key '{k}'", _node_span(k_node, source),
                                         _fmt_path((*path, k)),
                                         hint="each key may appear once; the second would silently win"))
                continue
            out[k] = _construct(v_node, (*path, k), positions, errors, source, k_node)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, (*path, i), positions, errors, source) for i, v in enumerate(node.value)]
    return _scalar(node, errors, source)


def _scalar(node: yaml.Node, errors: list[Diagnostic], source: SourceText) -> Any:
    if node.tag == _INT_TAG:
        problem = check_int_digits(str(node.value), _node_span(node, source))
        if problem is not None:
            errors.append(problem)
            return None
    try:
        return _SCALAR_LOADER.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # e.g. a date like 2020-13-45
        errors.append(Diagnostic("R102", f"unreadable value {str(node.value)[:40]!r}: {exc}",
                                 _node_span(node, source), hint="quote it to keep it as text"))
        return None
    finally:
        _SCALAR_LOADER.constructed_objects.clear()


_MERGE_TAG = "tag:yaml.org,2002:merge"
_INT_TAG = "tag:yaml.org,2002:int"


_SCALAR_LOADER = yaml.SafeLoader("")


def _node_span(node: yaml.Node, source: SourceText) -> Span:
    s, e = node.start_mark, node.end_mark
    return Span(s.line + 1, s.column + 1, e.line + 1, e.column + 1, source.origin)


def _fmt_path(path: PathKey) -> str:
    """Render a path like pydantic's loc: ``entry.conditions[0].field``."""
    out = ""
    for k in path:
        if isinstance(k, int):
            out += f"[{k}]"
        else:
            out += ("." if out else "") + str(k)
    return out


fmt_path = _fmt_path
