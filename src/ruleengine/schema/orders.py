"""The entry and exit orders of a strategy document: market (the default), limit or stop at an expression price.

A market order fills at ``execution_price`` (the signal bar's close or the next bar's open). A limit or stop
order is placed at the close of the bar whose entry conditions fire, at the level ``price`` has on that bar
(``short_price`` for the short side of a long_short strategy), and worked from the next bar on for
``valid_bars`` bars (whatever ``execution_price`` says: it applies to market orders only). The fill rules are
in ``ruleengine.backtest.risk.ORDER_FILL_CONTRACT`` (and ``LONG_SHORT_ORDER_FILL_CONTRACT``). A code strategy's
order has no price: its ``generate_signals`` returns the levels (``entry_price``).

An exit order (`ExitOrder`) is a stop or limit re-placed on every bar of a held position at the level its price
expression had at the previous close (``EXIT_ORDER_FILL_CONTRACT``).

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
#: the key `ruleengine.schema.strategy.TradingStrategy` adds to the entry_order mapping before it is validated
#: (and this model removes), so that its errors stand at entry_order: {"code": a code strategy (its levels come
#: from the code's ``entry_price``, not from price expressions), "direction": the document's direction}
DOCUMENT = "\x00document"


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
                          "its numbers may be parameters (swept like any other); with direction long_short the "
                          "long side's (short_entry's is short_price); null for a code strategy, whose "
                          "generate_signals returns the levels (entry_price)")
    short_price: str | None = Field(
        None, description="direction long_short with a limit or stop order only (and required there): the "
                          "price of the short side's orders (short_entry), e.g. \"lowest(low, 20)\"; an order "
                          "of the side not held reverses the position at its fill")
    valid_bars: int = Field(
        1, ge=1, le=MAX_VALID_BARS,
        description="limit and stop only: bars the order is worked, from the bar after the signal on; it "
                    "expires unfilled after them")

    @model_validator(mode="before")
    @classmethod
    def _market_takes_no_price(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        from_code, direction, value = _in_document(value)
        kind = value.get("type", "market")
        if kind == "market":
            _market_takes_none(value, ("price", "short_price", "valid_bars"), "order",
                               "a market order fills at execution_price; for a price write type: limit or type: stop")
        elif from_code and kind in ("limit", "stop"):
            if given := _given(value, ("price", "short_price")):
                raise _err("S127", f"a code strategy's {kind} order takes no {' or '.join(given)}: its levels are "
                           "the entry_price series generate_signals returns",
                           f"remove {' and '.join(given)}; return (entries, exits, entry_price) (long_short: "
                           "the four signals, then entry_price and short_entry_price)")
        else:
            _check_prices(value, kind, direction, "order", "short side's orders (price is the long side's)",
                          _EXAMPLES, _SHORT_EXAMPLES)
        _short_price_is_long_short(value, direction, "orders")
        return value

    def is_market(self) -> bool:
        return self.type == "market"


class ExitOrder(Closed):
    """An exit order re-placed on every bar while a position is held: a stop or a limit at an expression price
    (a moving stop such as a chandelier stop, or a limit at a band), beside the fixed stops and the exit
    conditions. The level its expression has at a bar's close is the order resting during the next bar; the
    fill rules are ``ruleengine.backtest.risk.EXIT_ORDER_FILL_CONTRACT``. Market (the default): none.

    Example:
        >>> ExitOrder.model_validate({"type": "stop", "price": "highest(high, 22) - 3 * atr(high, low, close, 22)"}
        ...                          ).type
        'stop'
    """

    type: Literal["market", "limit", "stop"] = Field(
        "market", description="market (default): no exit order, exits by the exit conditions and the fixed "
                              "stops and targets only; stop: sell when the price trades down to price (buy back "
                              "when it trades up to it for a short), e.g. a chandelier stop; limit: sell when the "
                              "price trades up to price (buy back when it trades down to it for a short)")
    price: str | None = Field(
        None, description="limit and stop only: an expression in price units re-evaluated at every close; the "
                          "level it has at a bar's close is the order resting during the next bar for the position "
                          "held (NaN: no order that bar), e.g. \"highest(high, 22) - 3 * atr(high, low, close, "
                          "22)\"; its numbers may be parameters (swept like any other); with direction long_short "
                          "the long positions' level (short positions': short_price), with direction short the "
                          "short positions'")
    short_price: str | None = Field(
        None, description="direction long_short with a limit or stop exit order only (and required there): the "
                          "level of the exit order of short positions, e.g. \"lowest(low, 22) + 3 * atr(high, "
                          "low, close, 22)\"")

    @model_validator(mode="before")
    @classmethod
    def _market_takes_no_price(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        from_code, direction, value = _in_document(value)
        kind = value.get("type", "market")
        if kind == "market":
            _market_takes_none(value, ("price", "short_price"), "exit order",
                               "without an exit order the position exits by its exit conditions and stops; for an "
                               "order at a price write type: stop or type: limit")
            return value
        if from_code:
            if given := _given(value, ("price", "short_price")):
                raise _err("S144", f"a code strategy's {kind} exit order takes no {' or '.join(given)}: its levels "
                           "are the exit_price series generate_signals returns",
                           f"remove {' and '.join(given)}; return the signals, then (entry_price with a limit or "
                           "stop entry order,) exit_price (long_short: exit_price and short_exit_price)")
            return value
        _check_prices(value, kind, direction, "exit order", "short positions' exit order (price is the long "
                      "positions')", _EXIT_EXAMPLES, _SHORT_EXIT_EXAMPLES)
        _short_price_is_long_short(value, direction, "exit orders")
        return value

    def is_market(self) -> bool:
        return self.type == "market"


def _in_document(value: dict[str, Any]) -> tuple[bool, str, dict[str, Any]]:
    """(a code strategy, the document's direction, the order's own keys) of an order mapping that
    `ruleengine.schema.strategy.TradingStrategy` tagged with `DOCUMENT`."""
    document = value.get(DOCUMENT) or {}
    return (bool(document.get("code")), document.get("direction", "long"),
            {k: v for k, v in value.items() if k != DOCUMENT})


def _given(value: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    """The `keys` an order block gives a value (not null)."""
    return [k for k in keys if value.get(k) is not None]


def _market_takes_none(value: dict[str, Any], keys: tuple[str, ...], what: str, hint: str) -> None:
    """S126 for a market `what` (an order, an exit order) given any of `keys`."""
    if given := _given(value, keys):
        raise _err("S126", f"a market {what} has no {' or '.join(given)}", f"{hint}, or remove {' and '.join(given)}")


def _check_prices(value: dict[str, Any], kind: str, direction: str, what: str, short_level: str,
                  examples: dict[str, str], short_examples: dict[str, str]) -> None:
    """S125 for a limit or stop `what` (an order, an exit order) without its price, or a long_short one without
    short_price (`short_level`: what short_price is the level of)."""
    if kind not in ("limit", "stop"):
        return
    if value.get("price") is None or not str(value["price"]).strip():
        raise _err("S125", f"a {kind} {what} needs a price",
                   f"add price: an expression in price units, e.g. price: \"{examples[kind]}\"")
    if direction == "long_short" and not str(value.get("short_price") or "").strip():
        raise _err("S125", f"a long_short strategy's {kind} {what} needs short_price: the level of its "
                   f"{short_level}", f"add short_price, e.g. short_price: \"{short_examples[kind]}\"")


def _short_price_is_long_short(value: dict[str, Any], direction: str, what: str) -> None:
    """S128 for short_price outside direction long_short (`what`: orders, exit orders)."""
    if value.get("short_price") is not None and direction != "long_short":
        raise _err("S128", f"short_price is for direction long_short (a {direction} strategy's {what} are all at "
                   "price)", "remove short_price, or trade both sides (direction: long_short)")


_EXAMPLES = {"limit": "close - 0.5 * atr(high, low, close, 14)", "stop": "highest(high, 20)"}
_SHORT_EXAMPLES = {"limit": "close + 0.5 * atr(high, low, close, 14)", "stop": "lowest(low, 20)"}
_EXIT_EXAMPLES = {"stop": "highest(high, 22) - 3 * atr(high, low, close, 22)",
                  "limit": "sma(close, 20) + 2 * stddev(close, 20)"}
_SHORT_EXIT_EXAMPLES = {"stop": "lowest(low, 22) + 3 * atr(high, low, close, 22)",
                        "limit": "sma(close, 20) - 2 * stddev(close, 20)"}
