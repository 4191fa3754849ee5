"""AST of the expression language. Every node carries its [start, end) offsets in the expression text.

`ty` and `ref` are filled in by the type checker (`ruleengine.lang.check`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .types import Type


@dataclass(eq=False)
class Node:
    start: int
    end: int
    ty: Type | None = field(default=None, init=False, repr=False)

    def children(self) -> list[Node]:
        return []

    def walk(self) -> Iterator[Node]:
        """All nodes, parents before children, without recursion."""
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children()))


@dataclass(eq=False)
class Num(Node):
    value: float | int = 0


@dataclass(eq=False)
class Bool(Node):
    value: bool = False


@dataclass(eq=False)
class Name(Node):
    parts: tuple[str, ...] = ()
    #: set by the checker: ("param", name) or ("column", slot, column)
    ref: tuple[Any, ...] | None = field(default=None, init=False, repr=False)

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(eq=False)
class Call(Node):
    func: str = ""
    args: list[Node] = field(default_factory=list)
    name_end: int = 0  # end offset of the function name, for diagnostics

    def children(self) -> list[Node]:
        return list(self.args)


@dataclass(eq=False)
class Unary(Node):
    op: str = "-"  # a symbol of `operators.UNARY`
    operand: Node | None = None

    def children(self) -> list[Node]:
        return [self.operand] if self.operand is not None else []


@dataclass(eq=False)
class Binary(Node):
    op: str = "+"  # a symbol of `operators.BINARY`
    left: Node | None = None
    right: Node | None = None

    def children(self) -> list[Node]:
        return [n for n in (self.left, self.right) if n is not None]
