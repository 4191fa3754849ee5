"""Live scans of a strategy with an exit order: the order to place for the next bar, said aloud.

An exit order (``exit_order: stop | limit``, `ruleengine.backtest.risk.EXIT_ORDER_FILL_CONTRACT`) is a level the
price expression has at a bar's close, resting during the next bar for a held position. A scan evaluates the
last completed bar, so the level of that bar is exactly the order to place (or move) for the next session: the
scan reports it for every symbol with a bar (warning D166, naming the held ones with their side), and puts it in
the data snapshot of each signal of the symbol (``exit_order``), so that it is never ignored silently. It is a
level to place, not a signal: whether it fills is the next bar's business (the backtest's exit reason
``exit_order``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import Diagnostic

#: the level kind of each side's exit order (`ruleengine.kernels.enums.LEVEL_KINDS`)
_KIND = {"long": "exit_order_price", "short": "short_exit_order_price"}


def _sides(direction: str) -> tuple[str, ...]:
    """The sides a strategy holds (a short strategy's exit order is at ``price``: the long kind's row)."""
    return {"long": ("long",), "short": ("short",), "long_short": ("long", "short")}[direction]


def _level(levels: Mapping[str, np.ndarray], direction: str, side: str, r: int, j: int) -> float | None:
    """The exit order level of `side` at bar r for column j (None: NaN or infinite, no order)."""
    kind = _KIND[side] if direction == "long_short" else _KIND["long"]
    v = float(levels[kind][r, j])
    return v if math.isfinite(v) else None


def next_bar_exit_orders(strat: Any, levels: Mapping[str, np.ndarray], r: int, labels: list[str],
                         has_bar: np.ndarray, held: Mapping[str, Any]
                         ) -> tuple[dict[int, dict[str, Any]], list[dict[str, Any]]]:
    """(column -> the snapshot entry ``{"type", "levels": {side: level}, "for", "held"}``, warnings): the exit
    orders of bar `r`'s close for the next bar, per symbol with a bar (both sides' levels for long_short; the
    held side's marked), and warning D166 listing them (held symbols first). Nothing without an exit order."""
    order = strat.exit_order
    if order.is_market():
        return {}, []
    out: dict[int, dict[str, Any]] = {}
    held_lines: list[str] = []
    other_lines: list[str] = []
    for j in np.flatnonzero(has_bar):
        label = str(labels[j])
        side_held = getattr(held.get(label.upper()), "side", None)  # a HeldPosition (a pair has no exit order)
        found = {side: _level(levels, strat.direction, side, r, int(j)) for side in _sides(strat.direction)}
        holding = side_held if side_held in found else None
        out[int(j)] = {"type": order.type, "levels": found, "for": "the next bar", "held": holding}
        text = ", ".join(f"{side} {'none (NaN level)' if v is None else f'{v:g}'}" for side, v in found.items())
        if holding is not None:
            v = found[holding]
            held_lines.append(f"{label} (held {holding}): {order.type} at "
                              f"{'none (NaN level: no order)' if v is None else f'{v:g}'}")
        else:
            other_lines.append(f"{label}: {text}")
    lines = held_lines + other_lines
    if not lines:
        return out, []
    shown = "; ".join(lines[:20]) + (f"; ... ({len(lines) - 20} more)" if len(lines) > 20 else "")
    warning = Diagnostic(
        "D166", f"exit orders for the next bar ({order.type} at the level of the evaluated bar's close, re-placed "
        f"every bar while a position is held): {shown}", severity="warning", path="exit_order",
        hint=f"place (or move) a {order.type} order at the level for each position you hold, valid for the next "
        "bar; run the scan again after each close for the new level")
    return out, [warning.to_dict()]
