"""The two sides of a position, in the words a trader acts on: what a signal asks for and what a price move earns.

A live signal opens (entry) or closes (exit) a position of one side. A long entry buys and its exit sells;
a short entry sells short and its exit buys to cover. A short gains when the price falls, so its price
return is ``(entry - exit) / entry``: the mirror of a long's ``(exit - entry) / entry`` (percent, no fees:
the user's own fills, as in `ruleengine.live.tracking`).

Example:
    >>> action("entry", "short"), action("exit", "short")
    ('sell short', 'buy to cover')
    >>> price_return_pct(100.0, 90.0, "short")
    10.0
"""

from __future__ import annotations

from typing import Literal

Side = Literal["long", "short"]
SIDES: tuple[Side, ...] = ("long", "short")

#: what a strategy's direction means, as `explain` says it ("direction: short: ...")
DIRECTIONS = {
    "long": "the entry conditions buy, the exit conditions sell",
    "short": "the entry conditions sell short, the exit conditions buy to cover (stops above the entry, targets "
             "below; see `ruleengine contract`)",
    "long_short": "entry/exit buy and sell the long side, short_entry/short_exit sell short and buy to cover; "
                  "an entry while the other side is held reverses the position at the same fill, a long and a "
                  "short entry on one bar cancel (see `ruleengine contract`)",
}

_ACTIONS = {("entry", "long"): "buy", ("exit", "long"): "sell",
            ("entry", "short"): "sell short", ("exit", "short"): "buy to cover"}


def action(signal_type: str, side: str) -> str:
    """The order a signal asks for: buy, sell, sell short or buy to cover."""
    return _ACTIONS[(signal_type, side)]


def group_order(group: str, direction: str) -> str:
    """The order a document's condition group places: ``entry`` of a short strategy sells short,
    ``short_exit`` buys to cover, ``entry`` of a long or long_short one buys."""
    kind = "entry" if group.endswith("entry") else "exit"
    return action(kind, group_side(group, direction))


def group_side(group: str, direction: str) -> Side:
    """The side a condition group trades: short for ``short_entry`` / ``short_exit`` and for every group of a
    ``direction: short`` strategy, else long."""
    return "short" if group.startswith("short_") or direction == "short" else "long"


def price_return_pct(entry: float, exit: float, side: str) -> float:
    """Percent earned by a position of `side` opened at `entry` and closed (or marked) at `exit`."""
    move = (exit / entry - 1.0) * 100.0
    return -move if side == "short" else move
