"""Price units of a checked expression: is it a price level of the traded instrument?

An order price must be a price: ``highest(high, 20)``, ``close - 2 * atr(high, low, close, 14)``,
``(high + low) / 2``, ``close * 0.98``, or a fixed number. This is dimensional analysis on the typed tree:
every value has a price exponent (a price 1, a number 0, an area of prices 2) and, at exponent 1, is either
a level (a price the market can trade at) or a distance (a difference of prices, such as an ATR). Numbers
adapt to what they are added to (``close + 1`` is a price one unit above the close). The columns open, high,
low and close of the traded instrument's ohlcv slots are levels; every other column (volume, another
instrument's close, a fundamental) has no price unit here, nor have oscillators, ratios and counts.

Example:
    >>> from ruleengine.lang.parse import parse
    >>> from ruleengine.lang.check import Env, check_expression
    >>> env = Env({"prices": ["open", "high", "low", "close", "volume"]}, "prices")
    >>> tree = parse("close - 2 * atr(high, low, close, 14)"); _ = check_expression(tree, env)
    >>> price_unit(tree, {("prices", c) for c in ("open", "high", "low", "close")}).is_level
    True
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from . import ast

#: functions whose value is in the unit of their first argument (a level stays a level)
_SAME = {"sma", "ema", "wma", "highest", "lowest", "shift", "mean", "bb_upper", "bb_middle", "bb_lower", "abs",
         "vwap"}
#: functions whose value is a difference of their first argument's values (a level becomes a distance)
_DIFFERENCE = {"mom", "stddev", "macd", "macd_signal", "macd_hist", "atr", "sum"}
#: functions of several price arguments that keep their unit (all must agree)
_ALL_SAME = {"min", "max"}


@dataclass(frozen=True)
class Unit:
    """Price exponent (None: not a unit this analysis knows) and, at exponent 1, whether it is a level.

    ``culprit`` is the node that made the value something other than a price, with why (for diagnostics).
    """

    exponent: int | None
    level: bool = False
    culprit: ast.Node | None = None
    why: str = ""

    @property
    def is_level(self) -> bool:
        return self.exponent == 1 and self.level


NUMBER = Unit(0)


def price_unit(tree: ast.Node, price_columns: Collection[tuple[str, str]]) -> Unit:
    """The unit of checked expression `tree`; `price_columns` are the (slot, column) pairs that are price levels
    of the traded instrument."""
    units: dict[int, Unit] = {}
    for node in reversed(list(tree.walk())):  # children first
        units[id(node)] = _unit_of(node, [units[id(c)] for c in node.children()], price_columns)
    return units[id(tree)]


def _unit_of(node: ast.Node, args: list[Unit], price_columns: Collection[tuple[str, str]]) -> Unit:
    if isinstance(node, (ast.Num, ast.Bool)):
        return NUMBER
    if isinstance(node, ast.Name):
        ref = node.ref or ()
        if ref[:1] == ("param",):
            return NUMBER
        if ref[:1] == ("column",) and (ref[1], ref[2]) in price_columns:
            return Unit(1, True)
        return Unit(None, culprit=node, why=f"'{node.text}' is not a price of the traded instrument")
    if isinstance(node, ast.Unary):
        (a,) = args
        return Unit(a.exponent, False) if a.level and node.op == "-" else a  # a negated level is no level
    if isinstance(node, ast.Binary):
        return _binary(node, args[0], args[1])
    if isinstance(node, ast.Call):
        return _call(node, args)
    return Unit(None, culprit=node, why="not a number")  # pragma: no cover


def _unknown(*units: Unit) -> Unit | None:
    return next((u for u in units if u.exponent is None), None)


def _binary(node: ast.Binary, a: Unit, b: Unit) -> Unit:
    bad = _unknown(a, b)
    if bad is not None:
        return bad
    assert a.exponent is not None and b.exponent is not None
    if node.op in ("+", "-"):
        if a.exponent != b.exponent and 0 not in (a.exponent, b.exponent):
            return Unit(None, culprit=node, why=f"'{node.op}' adds values of different units")
        exponent = max(a.exponent, b.exponent) if 0 in (a.exponent, b.exponent) else a.exponent
        level = (a.level or b.level) if node.op == "+" else (a.level != b.level)  # level - level: a distance
        return Unit(exponent, level)
    if node.op == "*":
        return Unit(a.exponent + b.exponent, (a.level and b.exponent == 0) or (b.level and a.exponent == 0))
    if node.op == "/":
        return Unit(a.exponent - b.exponent, a.level and b.exponent == 0)
    raise AssertionError(node.op)  # pragma: no cover - comparisons and logic are true/false, refused before


def _call(node: ast.Call, args: list[Unit]) -> Unit:
    name = node.func
    first = args[0] if args else NUMBER
    if name in _SAME:
        return first
    if name in _ALL_SAME:
        prices = [a for a in args if a.exponent != 0 or a.level]
        bad = _unknown(*prices)
        if bad is not None:
            return bad
        if len({(a.exponent, a.level) for a in prices}) > 1:
            return Unit(None, culprit=node, why=f"{name} mixes values of different units")
        return prices[0] if prices else NUMBER
    if name in _DIFFERENCE:
        if first.exponent is None:
            return first
        return Unit(first.exponent, False)
    return Unit(None, culprit=node, why=f"{name}(...) is not in price units (an oscillator, ratio or count)")
