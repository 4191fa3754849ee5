"""Position variables: values of the trade being held, usable in exit conditions only.

They are known only inside the simulation (a trade's entry price exists once it filled), so they are never
precomputed as signals: the compiler splits an exit condition that uses them into per-bar series of its
position-independent parts and a small program over those series and these variables
(`ruleengine.compile.exit_program`), which the fill step evaluates for a held position
(`ruleengine.kernels.exit_program`). Their definitions at a bar's close, as the fill contract states them
(for a pair, the same of its combined value: entry_price is its value at entry, `PAIR_FILL_CONTRACT`):

Example:
    >>> sorted(POSITION_VARIABLES)[:2]
    ['bars_held', 'entry_price']
"""

from __future__ import annotations

from . import ast

#: name -> what it is at the close of a bar while a position is held (the order is the kernels' index)
POSITION_VARIABLES: dict[str, str] = {
    "entry_price": "the trade's entry price (after slippage)",
    "bars_held": "bars with a price since the entry bar (0 on the entry bar, 1 on the next)",
    "unrealized_pct": "open profit in percent at the bar's close: (close / entry_price - 1) x 100 long, "
                      "(1 - close / entry_price) x 100 short",
    "highest_since_entry": "the highest price since the entry fill (the entry price, then each bar's high)",
    "lowest_since_entry": "the lowest price since the entry fill (the entry price, then each bar's low)",
}
#: the kernels' index of each variable
POSITION_INDEX: dict[str, int] = {name: i for i, name in enumerate(POSITION_VARIABLES)}
#: functions that apply bar by bar (no window, no lag), so they may take a position variable (each is an
#: `ruleengine.kernels.enums.ExitOp` of the same name)
ELEMENTWISE_FUNCTIONS = ("abs", "min", "max", "sqrt", "exp", "log", "pow", "clip", "where")


def is_position_name(node: ast.Node) -> bool:
    """A name the checker resolved to a position variable."""
    return isinstance(node, ast.Name) and node.ref is not None and node.ref[0] == "position"


def position_dependent(root: ast.Node) -> set[int]:
    """The ids (``id(node)``) of the nodes of a checked tree whose value depends on a position variable."""
    out: set[int] = set()
    for node in reversed(list(root.walk())):  # children first
        if is_position_name(node) or any(id(c) in out for c in node.children()):
            out.add(id(node))
    return out
