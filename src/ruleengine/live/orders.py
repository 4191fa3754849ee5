"""The order a live entry signal of a limit or stop strategy places: its side, type, level and lifetime.

A strategy with ``entry_order: {type: limit | stop}`` does not buy at market on its entry signal: the signal
places an order at the level its price expression has at the signal bar's close, worked from the next bar on
for ``valid_bars`` bars (the fill contract's "Limit and stop entry orders" addendum). A live signal that said
only "ENTRY SPY at 217.3" would have the user buy at the close; `entry_order_note` says which order to place
instead, with the level read from the same signal levels the backtest's fill step reads
(``SignalSet.levels``: ``entry_order_price``, and ``short_entry_order_price`` for a long_short strategy's
short side).

Example:
    >>> import numpy as np
    >>> from ruleengine.schema.strategy import TradingStrategy
    >>> s = TradingStrategy.model_validate({"name": "b", "data": {"prices": {"kind": "ohlcv"}},
    ...     "entry": ["close > 0"], "entry_order": {"type": "stop", "price": "highest(high, 20)"}})
    >>> note, order = entry_order_note(s, {"entry_order_price": np.array([[218.84]])}, 0, 0, "long")
    >>> note.split(" (")[0], note.endswith("worked for 1 bar from the next bar on")
    ('places a buy stop order at 218.84', True)
    >>> order["price"]
    218.84
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: (order type, side) -> what the order is and how it fills, as the fill contract says
_ORDER_TEXT = {
    ("stop", "long"): ("buy stop", "fills when the price trades up through it, at the open when it gaps over it"),
    ("stop", "short"): ("sell-short stop", "fills when the price trades down through it, at the open when it "
                                           "gaps under it"),
    ("limit", "long"): ("buy limit", "fills at or below it, at the open when it opens below it"),
    ("limit", "short"): ("sell-short limit", "fills at or above it, at the open when it opens above it"),
}


def entry_order_note(strat: Any, levels: Mapping[str, np.ndarray], r: int, j: int, side: str
                     ) -> tuple[str, dict[str, Any]] | None:
    """(reasoning note, snapshot ``order``) of the order an entry signal of `side` places on row `r` of run
    column `j`; None for a market order (the signal's close is its price, as before)."""
    order = strat.entry_order
    if order.is_market():
        return None
    key = "short_entry_order_price" if side == "short" and strat.direction == "long_short" else "entry_order_price"
    series = levels.get(key)
    price = float(series[r, j]) if series is not None else float("nan")
    what, fills = _ORDER_TEXT[(order.type, side)]
    bars = f"{order.valid_bars} bar" + ("s" if order.valid_bars != 1 else "")
    snapshot = {"type": order.type, "side": side, "price": price if np.isfinite(price) else None,
                "valid_bars": order.valid_bars}
    if snapshot["price"] is None:  # the fill step places no order at a NaN or infinite level
        return f"places no {what} order: its price has no value on this bar", snapshot
    return f"places a {what} order at {price:.6g} ({fills}), worked for {bars} from the next bar on", snapshot
