"""Stage 3 for an entry order's price: parse it, check it, and refuse what is not a price.

The price of a limit or stop order (``entry_order.price`` / ``exit_order.price``, and a long_short strategy's
``short_price``) is an expression evaluated at the close of the signal bar (an exit order's: of every bar). It
must be a number series or a number in the price units
of the traded instrument (`ruleengine.lang.units`): a true/false expression is L125, anything else that is not
a price level (an oscillator, volume, an ATR alone, another instrument's close) L126, each with its place in the
document.
"""

from __future__ import annotations

from ..errors import Diagnostic, RuleEngineError, Span
from ..lang.check import Env, check_expression
from ..lang.parse import parse
from ..lang.units import price_unit
from ..schema.strategy import TradingStrategy
from ..source import Loaded
from .frontend import CheckedCondition, ConditionSource, Fragment, locate

_LEVEL_COLUMNS = ("open", "high", "low", "close")


def price_columns(strategy: TradingStrategy) -> set[tuple[str, str]]:
    """(slot, column) pairs that are price levels of the traded instrument: open/high/low/close of every ohlcv
    slot that reads the price slot's symbol (the slot itself, or another frequency of it via symbol_from)."""
    traded = strategy.price_slot()
    if traded is None:
        return set()
    source = strategy.symbol_source(traded)
    return {(name, col) for name, slot in strategy.data.items()
            if slot.kind == "ohlcv" and strategy.symbol_source(name) == source
            for col in _LEVEL_COLUMNS if col in slot.available_columns()}


def check_order_price(strategy: TradingStrategy, env: Env, doc: Loaded | None, field: str = "price",
                      block: str = "entry_order") -> tuple[CheckedCondition | None, list[Diagnostic]]:
    """The checked price expression `field` (``price``, or ``short_price``) of a limit or stop order of `block`
    (``entry_order`` or ``exit_order``; None for a market order, or a field not given) and its diagnostics,
    located in the document. An exit order's price takes no position variables either (L120): it is computed
    per bar, like an entry order's."""
    order = getattr(strategy, block)
    text = getattr(order, field)
    if order.is_market() or text is None:
        return None, []
    src = ConditionSource(block, 0, text, [Fragment(0, len(text), (block, field))], text)
    whole = Span(1, 1, 1, len(text) + 1)
    try:
        tree = parse(text)
    except RuleEngineError as exc:
        return None, [locate(d, src, doc) for d in exc.diagnostics]
    ty, diags = check_expression(tree, env, "exit_order" if block == "exit_order" else "entry_order")
    if not diags:
        if ty.is_bool:
            what = f"{order.type} {'exit order ' if block == 'exit_order' else ''}{field.replace('_', ' ')}"
            diags = [Diagnostic("L125", f"the {what} is a {ty}, not a price", whole, None,
                                "write the price level itself, e.g. price: \"highest(high, 20)\"; the entry "
                                "conditions say when to place the order", stage="check")]
        else:
            unit = price_unit(tree, price_columns(strategy))
            if not unit.is_level and not (unit.exponent == 0 and not ty.is_series):  # a fixed number is a price
                what = f"{order.type} {'exit order ' if block == 'exit_order' else ''}{field.replace('_', ' ')}"
                diags = [_not_a_price(what, unit, text, whole)]
    located = [locate(d, src, doc) for d in diags]
    if any(d.severity == "error" for d in located):
        return None, located
    return CheckedCondition(src, tree), located


def _not_a_price(kind: str, unit: object, text: str, whole: Span) -> Diagnostic:
    """L126 for the order level `kind` (e.g. "limit price", "stop short price")."""
    from ..lang.units import Unit

    assert isinstance(unit, Unit)
    if unit.exponent == 1:  # a distance
        what, hint = "a price distance, not a price level", f"add it to a price, e.g. price: \"close - {text}\""
    elif unit.exponent == 0:
        what, hint = "a number without price units (a ratio)", "multiply a price by it, e.g. price: \"close * (...)\""
    elif unit.exponent is not None:
        what, hint = "a product of prices", "a price is a price column, an average or band of one, " \
                                            "or a price plus or minus a distance"
    else:
        what = f"not a price: {unit.why}"
        hint = ("a price is open, high, low or close of the traded instrument, an average, band or highest/lowest "
                "of them, or a price plus or minus a distance (e.g. an ATR)")
    span = whole
    if unit.culprit is not None:
        span = Span(1, unit.culprit.start + 1, 1, unit.culprit.end + 1)
    return Diagnostic("L126", f"the {kind} is {what}", span, None, hint, stage="check")
