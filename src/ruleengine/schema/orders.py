"""The entry order of a strategy document: market (the default), limit or stop at an expression price.

A market order fills at ``execution_price`` (the signal bar's close or the next bar's open). A limit or stop
order is placed at the close of the bar whose entry conditions fire, at the level ``price`` has on that bar,
and worked from the next bar on for ``valid_bars`` bars (whatever ``execution_price`` says: it applies to
market orders only). The fill rules are in ``ruleengine.backtest.risk.ORDER_FILL_CONTRACT``.

This module stores the price as an expression string; the compiler checks that it is a price.

Example:
    >>> EntryOrder.model_validate({"type": "stop", "price": "highest(high, 20)[1]"}).valid_bars
    1
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from .base import Closed

#: order types; the kernels' risk record stores the index (0 market, 1 limit, 2 stop)
ORDER_TYPES = ("market", "limit", "stop")
#: longer validity is a mistake (and stays far from any bar count's limits)
MAX_VALID_BARS = 100_000


def _err(code: str, message: str, hint: str) -> PydanticCustomError:
    return PydanticCustomError(code, message, {"hint": hint})


class EntryOrder(Closed):
    """How an entry signal becomes a position: a market order, or a limit or stop order at an expression price."""

    type: Literal["market", "limit", "stop"] = Field(
        "market", description="market: fill at execution_price (close of the signal bar, or next open); "
                              "limit: buy at or below price (sell at or above for a short); stop: buy when the "
                              "price trades up through price (sell when it trades down through it for a short)")
    price: str | None = Field(
        None, description="limit and stop only: an expression in price units evaluated at the close of the "
                          "signal bar, e.g. \"close - 0.5 * atr(high, low, close, 14)\" or \"highest(high, 20)\"; "
                          "its numbers may be parameters (swept like any other)")
    valid_bars: int = Field(
        1, ge=1, le=MAX_VALID_BARS,
        description="limit and stop only: bars the order is worked, from the bar after the signal on; it "
                    "expires unfilled after them")

    @model_validator(mode="before")
    @classmethod
    def _market_takes_no_price(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        kind = value.get("type", "market")
        if kind == "market":
            given = [k for k in ("price", "valid_bars") if value.get(k) is not None]
            if given:
                raise _err("S126", f"a market order has no {' or '.join(given)}",
                           "a market order fills at execution_price; for a price write type: limit or "
                           f"type: stop, or remove {' and '.join(given)}")
        elif kind in ("limit", "stop") and (value.get("price") is None or not str(value["price"]).strip()):
            raise _err("S125", f"a {kind} order needs a price",
                       f"add price: an expression in price units, e.g. price: \"{_EXAMPLES[kind]}\"")
        return value

    def is_market(self) -> bool:
        return self.type == "market"


_EXAMPLES = {"limit": "close - 0.5 * atr(high, low, close, 14)", "stop": "highest(high, 20)"}
