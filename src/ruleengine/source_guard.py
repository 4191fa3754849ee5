"""Limits on strategy documents, checked before anything is built from them (issue 14).

A document is small: a few kilobytes of YAML or JSON. Hostile or broken input must end in a diagnostic
within bounded time and memory, never in a MemoryError, a RecursionError or a blocked read. The checks run
in order of cost, each before the step it protects:

1. `check_file` (before opening): regular files only, at most `MAX_DOCUMENT_BYTES`; the file is opened
   non-blocking and read with a byte cap, so a FIFO, `/dev/zero` or a file that grows cannot hang or flood us.
2. `check_text`: the same byte limit for inline text.
3. `scan_yaml_events` (before composing): nesting depth, number of values and of aliases, tags other than the core
   schema's (``!foo``, ``!!python/...``). The event stream is linear in the text, so this pass is bounded.
4. `check_yaml_graph` (before constructing): recursive aliases and the size of the document once every
   alias is expanded (a 342-byte "billion laughs" expands to 10^9 nodes); computed on the composed graph
   with memoisation, never by expanding.
5. `check_json_text` (before `json.loads`): nesting depth of a JSON text (the decoder recurses).

Merge keys (``<<``) and over-long integers are reported while constructing (`ruleengine.source`).

Example:
    >>> check_text("name: x\\n", None)
"""

from __future__ import annotations

import os
import re
import stat
from typing import Any

import yaml

from .errors import Diagnostic, RuleEngineError, Span

#: bytes of a document (YAML or JSON, file or text); real strategies are a few KB
MAX_DOCUMENT_BYTES = 1_000_000
#: nesting of mappings and lists (a strategy needs about 5 levels)
MAX_DEPTH = 50
#: alias uses (``*name``) in one document
MAX_ALIASES = 100
#: mappings, lists and scalars, as written and once every alias is expanded (1,000 structured conditions
#: are about 7,000)
MAX_NODES = 20_000
#: digits of an integer (int64 has 19; Python refuses to convert more than 4,300)
MAX_INT_DIGITS = 40

_CORE_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "seq", "map")}


def _at(mark: Any, origin: str | None) -> Span | None:
    if mark is None:
        return None
    return Span(mark.line + 1, mark.column + 1, mark.line + 1, mark.column + 2, origin)


def _fail(code: str, message: str, hint: str, span: Span | None = None) -> RuleEngineError:
    return RuleEngineError([Diagnostic(code, message, span, hint=hint)])


def _too_large(size: int, what: str) -> RuleEngineError:
    return _fail("R106", f"{what} is {size:,} bytes (limit {MAX_DOCUMENT_BYTES:,})",
                 "a strategy document is a few KB: split the idea into parameters instead of repeated conditions")


def check_text(text: str, origin: str | None) -> None:
    """The byte limit for a document given as text."""
    if len(text) > MAX_DOCUMENT_BYTES // 4 and len(text.encode("utf-8", "surrogatepass")) > MAX_DOCUMENT_BYTES:
        raise _too_large(len(text.encode("utf-8", "surrogatepass")), "the document" if origin is None else origin)


def read_regular_file(path: str) -> bytes:
    """The bytes of a regular file of at most `MAX_DOCUMENT_BYTES` (R101 / R106 / R114 otherwise).

    `os.stat` decides before anything is opened: a FIFO would block `open`, a device such as /dev/zero never
    ends. The file is then opened non-blocking and checked again (it may have been replaced in between), and
    read with a cap in case it grew.
    """
    st = os.stat(path)  # FileNotFoundError / PermissionError: the caller reports R101
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(path, st.st_mode)
    if st.st_size > MAX_DOCUMENT_BYTES:
        raise _too_large(st.st_size, path)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(path, st.st_mode)
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_DOCUMENT_BYTES:
            chunk = os.read(fd, min(1 << 16, MAX_DOCUMENT_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_DOCUMENT_BYTES:
            raise _too_large(size, path)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _not_regular(path: str, mode: int) -> RuleEngineError:
    kind = "a directory" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else \
        "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else \
        "not a regular file"
    return _fail("R114", f"{path} is {kind}, not a regular file",
                 "give the path of a .yaml or .json file (strategies are read from regular files only)")


#: code -> (limit, message, hint) of the counted limits
_LIMITS: dict[str, tuple[int, str, str]] = {
    "R107": (MAX_DEPTH, "the document nests more than {:,} levels deep",
             "a strategy needs a handful of levels: flatten the lists and mappings"),
    "R108": (MAX_ALIASES, "the document uses more than {:,} aliases",
             "write the values out instead of repeating anchors (*name)"),
    "R109": (MAX_NODES, "the document has more than {:,} values",
             "a strategy needs a few hundred values: use parameters, not repeated conditions or anchors (*name)"),
}


def over_limit(code: str, span: Span | None, how: str = "") -> RuleEngineError:
    """The error of a counted limit (R107 nesting, R108 aliases, R109 values); `how` says e.g. "through aliases"."""
    limit, message, hint = _LIMITS[code]
    return _fail(code, message.format(limit) + (f" ({how})" if how else ""), hint, span)


def scan_yaml_events(text: str, loader: Any, origin: str | None) -> None:
    """Nesting depth, number of values, alias count and tags, from the parser's event stream (nothing is built)."""
    counts = {"R107": 0, "R108": 0, "R109": 0}  # depth, aliases, values
    for event in yaml.parse(text, Loader=loader):
        opens = isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent))
        if isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            counts["R107"] -= 1
        for code, counted in (("R107", opens), ("R108", isinstance(event, yaml.AliasEvent)),
                              ("R109", opens or isinstance(event, yaml.ScalarEvent))):
            if counted:
                counts[code] += 1
                if counts[code] > _LIMITS[code][0]:
                    raise over_limit(code, _at(event.start_mark, origin))
        tag = getattr(event, "tag", None)
        if tag is not None and tag not in _CORE_TAGS:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            raise _fail("R112", f"unsupported YAML tag '{shown}'",
                        "remove the tag: a strategy uses plain strings, numbers, true/false, lists and mappings",
                        _at(event.start_mark, origin))


def check_yaml_graph(root: yaml.Node, origin: str | None) -> None:
    """Reject recursive aliases and documents whose aliases expand to more than `MAX_NODES` nodes.

    Aliases share nodes in the composed graph, so the expanded size is computed per distinct node
    (memoised, iteratively: no recursion however the graph looks).
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            on_path.discard(key)
            size[key] = min(1 + sum(size[id(c)] for c in children), MAX_NODES + 1)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            for code, value in (("R109", size[key]), ("R107", depth[key])):
                if value > _LIMITS[code][0]:
                    raise over_limit(code, _at(node.start_mark, origin), "through aliases")
            continue
        if key in size:
            continue
        on_path.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                raise _fail("R110", "an alias refers to the node that contains it (a recursive document)",
                            "an anchor (&name) cannot be used inside its own value",
                            _at(child.start_mark, origin))
            if id(child) not in size:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


def check_json_text(text: str, origin: str | None) -> None:
    """Nesting depth of a JSON text, before the (recursive) decoder sees it."""
    depth = 0
    brackets = _JSON_STRING.sub("", text)
    for ch in re.findall(r"[\[\]{}]", brackets):
        depth += 1 if ch in "[{" else -1
        if depth > MAX_DEPTH:
            raise over_limit("R107", Span(1, 1, 1, 2, origin))


def check_int_digits(digits: str, span: Span | None) -> Diagnostic | None:
    """An integer too long to be a sensible number (and too long for Python to convert quickly)."""
    n = sum(ch.isdigit() for ch in digits)
    if n <= MAX_INT_DIGITS:
        return None
    return Diagnostic("R113", f"a number with {n:,} digits (limit {MAX_INT_DIGITS})", span,
                      hint="write a realistic number (or 1e30 style for a very large float)")
