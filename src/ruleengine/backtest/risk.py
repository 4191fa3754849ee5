"""The risk of one run: the document's ``risk:`` block + overrides + timeframe defaults -> `RiskSpec`.

This is the one place risk is resolved: backtests, sweeps, walk-forward, live tracking all call
`resolve_risk`. Percent values stay in the document's unit (5 means 5 %); the engines divide by 100.

Exits (stop loss, take profit, trailing stop, max hold): a document gives a number, switches the exit off
(``off``, YAML ``false`` or ``none``), or leaves it out. Left-out exits are filled from the document's
``timeframe`` with seed 003's defaults (short_term 7 % / 15 % / 30 days, medium_term 10 % / 25 % / 90 days,
long_term 15 % / 50 % / 180 days); a document without a timeframe gets no default exit at all. Every field
filled from the timeframe is named in ``RiskSpec.from_timeframe`` (and `RiskSpec.sources` says
"timeframe medium_term") so that every output can say so. The timeframe defaults look at neighbour fields,
because the author already chose that kind of exit: the stop-loss default is not applied when the document
sets a trailing stop (or ``stop_loss_distance``), the take-profit default not when it sets
``take_profit_distance`` or ``take_profit_by_bars``, and the max-hold-days default not when it sets
``max_hold_bars``. Those three (`RISK_RULE_FIELDS`) are taken from the document as they are (the distances'
expressions are computed by the compiler); a run parameter cannot set the percent form beside them (D103).

The other fields default to all-in sizing (``position_size_pct`` 100, the architecture's sizing rule, unless
the document or a run gives another sizing method: at most one, `SIZING_METHODS`; a run's replaces the
document's; risk_per_trade_pct needs a stop loss, D103 otherwise) and no fees or slippage;
``RiskSpec.defaults_used`` lists every field filled by a default (timeframe or not).

Overrides come from run parameters (``--param stop_loss_pct=4``, ``--param execution_price=open``): only the
names in `RISK_PARAM_NAMES` are read, numbers may be given as strings. ``None`` / ``"none"`` / ``"off"``
switch an optional exit off. Bad values raise `RuleEngineError` D103 with the path ``risk.<field>``
(``params.execution_price`` for the fill price).

This module imports neither numpy nor pandas (it is read by ``validate``-time code paths).

Example:
    >>> from ruleengine.schema.strategy import TradingStrategy
    >>> s = TradingStrategy.model_validate({"name": "x", "timeframe": "short_term",
    ...     "data": {"prices": {"kind": "ohlcv"}}, "entry": ["close > 1"],
    ...     "risk": {"stop_loss_pct": 5, "max_hold_days": "off"}})
    >>> r = resolve_risk(s, {"execution_price": "open"})
    >>> (r.stop_loss_pct, r.take_profit_pct, r.max_hold_days, r.execution_price)
    (5.0, 15.0, None, 'open')
    >>> r.from_timeframe, r.describe_defaults()
    (('take_profit_pct',), ['take_profit_pct 15 (from timeframe short_term)'])
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import annotated_types

from ..errors import Diagnostic, RuleEngineError
from ..kernels.enums import EXIT_REASON_NAMES, ExitReason
from ..schema.strategy import (
    EXIT_BOUNDS,
    EXIT_FIELDS,
    FLAG_RISK_FIELDS,
    INTEGER_RISK_FIELDS,
    OFF,
    RISK_FIELDS,
    RISK_RULE_FIELDS,
    SIZING_METHODS,
    UNSET_RISK_FIELDS,
    VOLATILITY_EXAMPLE,
    RiskParameters,
)

#: seed 003: (stop loss %, take profit %, max hold days) per timeframe
TIMEFRAME_DEFAULTS: dict[str, tuple[float, float, int]] = {
    "short_term": (7.0, 15.0, 30),
    "medium_term": (10.0, 25.0, 90),
    "long_term": (15.0, 50.0, 180),
}
#: defaults of the fields the timeframe does not decide (position_size_pct: only when no sizing method is given)
OTHER_DEFAULTS: dict[str, float] = {"position_size_pct": 100.0, "fees_pct": 0.0, "slippage_pct": 0.0,
                                     "borrow_cost_pct": 0.0}
#: fields only a strategy that sells short uses: a long run's risk leaves them out (reads as before they existed)
SHORT_ONLY_FIELDS = ("borrow_cost_pct",)

#: run parameters `resolve_risk` reads (everything else in ``params`` belongs to the strategy)
RISK_PARAM_NAMES = (*RISK_FIELDS, "execution_price")

_OFF = {"none", "off", "null"}
_OPTIONAL = {*EXIT_FIELDS, "max_open_positions", "max_gross_exposure_pct"}  # the fields that can be switched off
#: the fields a `RiskSpec` holds as None when not used (exits off, sizing methods and caps not given)
_NULLABLE = {*_OPTIONAL, *SIZING_METHODS, *UNSET_RISK_FIELDS}
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", "none"}
#: risk fields added after results were first stored: left out of `RiskSpec.to_dict` while not set, so that a
#: run without them reads (and its golden files compare) as before they existed
LATER_RISK_FIELDS = ("trailing_stop_activation_pct", *RISK_RULE_FIELDS)
#: the percent exit each distance form replaces (the timeframe's default for it is not applied either)
DISTANCE_OF = {"stop_loss_pct": "stop_loss_distance", "take_profit_pct": "take_profit_distance"}


def _document_bounds(field: str) -> tuple[float, bool, float, bool, bool]:
    """(lower, lower inclusive, upper, upper inclusive, whole number) of a risk field, as the document model
    checks it: an exit's from `EXIT_BOUNDS` (its upper bound is inclusive for whole numbers, exclusive for
    percentages, as `exit_value` reads it), any other field's from its pydantic constraints."""
    if field in EXIT_BOUNDS:
        lo, lo_open, hi, integer, _ = EXIT_BOUNDS[field]
        return lo, not lo_open, math.inf if hi is None else hi, integer, integer
    lo, lo_inc, hi, hi_inc = -math.inf, False, math.inf, False
    integer = field in INTEGER_RISK_FIELDS
    for c in RiskParameters.model_fields[field].metadata:
        if isinstance(c, annotated_types.Gt):
            lo, lo_inc = float(c.gt), False  # type: ignore[arg-type]
        elif isinstance(c, annotated_types.Ge):
            lo, lo_inc = float(c.ge), True  # type: ignore[arg-type]
        elif isinstance(c, annotated_types.Lt):
            hi, hi_inc = float(c.lt), False  # type: ignore[arg-type]
        elif isinstance(c, annotated_types.Le):
            hi, hi_inc = float(c.le), True  # type: ignore[arg-type]
    return lo, lo_inc, hi, hi_inc, integer


#: field -> (lower, lower inclusive, upper, upper inclusive, whole number): run parameters get the bounds
#: of the document
_BOUNDS = {field: _document_bounds(field) for field in RISK_FIELDS if field not in FLAG_RISK_FIELDS}


def _with_risk_fields(cls: type) -> type:
    """Put the document's risk fields (`RISK_FIELDS`, in its order) before the class's own fields, for
    `dataclass`: an exit, a sizing method or a cap is a number or None (off or not given, the default), a flag
    a bool (False by default), every other field a number (required). So a new risk field of the document
    model is a field of `RiskSpec` without a change here; the short-only fields (`SHORT_ONLY_FIELDS`) default
    to no cost."""
    own = inspect.get_annotations(cls)
    kinds = {f: "bool" if f in FLAG_RISK_FIELDS else "float | int | None" if f in _NULLABLE else "float"
             for f in RISK_FIELDS}
    cls.__annotations__ = {**kinds, **own}
    for f in _NULLABLE:
        setattr(cls, f, None)
    for f in FLAG_RISK_FIELDS:
        setattr(cls, f, False)
    for f in SHORT_ONLY_FIELDS:  # no cost unless given: a spec built without them (a long run) needs none
        setattr(cls, f, OTHER_DEFAULTS[f])
    return cls


@dataclass(frozen=True, kw_only=True)
@_with_risk_fields
class RiskSpec:
    """Resolved risk for one run (percent values as in the document: 5 = 5 %; None = no such exit).

    Its first fields are the document's risk fields (`RISK_FIELDS`, added by `_with_risk_fields`), built and
    read by name (``RiskSpec(stop_loss_pct=5, position_size_pct=100, ...)``, ``spec.stop_loss_pct``); the
    kernels receive it as records through `ruleengine.backtest.simulation.risk_arrays`.
    """

    execution_price: str  # "close" | "open" (market orders)
    direction: str = "long"  # "long" | "short" | "long_short"
    entry_order: str = "market"  # "market" | "limit" | "stop" (the document's entry_order.type)
    order_valid_bars: int = 1  # bars a limit or stop entry order is worked
    exit_order: str = "market"  # "market" (none) | "limit" | "stop" (the document's exit_order.type)
    #: a distance from the entry price in price units: a number, or the expression the compiler turns into a
    #: per-bar series (the kernels read it as a row of their ``levels``); None: no such exit
    stop_loss_distance: float | str | None = None
    take_profit_distance: float | str | None = None
    #: ((bars held, take profit %), ...) by bars; None: no table
    take_profit_by_bars: tuple[tuple[int, float], ...] | None = None
    #: what volatility_target_pct sizes on (a fraction of price a year): a number or the expression the compiler
    #: turns into a per-bar series (the kernels' ``volatility`` level); None: not sized on a volatility
    volatility: float | str | None = None
    defaults_used: tuple[str, ...] = ()  # fields filled from defaults (timeframe or OTHER_DEFAULTS)
    timeframe: str | None = None  # the document's timeframe (None: no default exits)
    from_timeframe: tuple[str, ...] = ()  # the exits filled from the timeframe's defaults

    if TYPE_CHECKING:  # the risk fields, to a type checker (the class gets them from `_with_risk_fields`)
        def __init__(self, *, execution_price: str, direction: str = "long", entry_order: str = "market",
                     order_valid_bars: int = 1, exit_order: str = "market", defaults_used: tuple[str, ...] = (),
                     timeframe: str | None = None,
                     from_timeframe: tuple[str, ...] = (),
                     stop_loss_distance: float | str | None = None, take_profit_distance: float | str | None = None,
                     take_profit_by_bars: tuple[tuple[int, float], ...] | None = None,
                     volatility: float | str | None = None, **risk: float | int | None) -> None: ...

        def __getattr__(self, field: str) -> Any: ...

    def sources(self) -> dict[str, str]:
        """Where each defaulted field's value came from: ``timeframe medium_term`` or ``default``."""
        return {f: f"timeframe {self.timeframe}" if f in self.from_timeframe else "default"
                for f in self.defaults_used}

    def describe_defaults(self) -> list[str]:
        """One phrase per exit filled from the timeframe, e.g. ``stop_loss_pct 10 (from timeframe medium_term)``."""
        return [f"{f} {getattr(self, f):g} (from timeframe {self.timeframe})" for f in self.from_timeframe]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (tuples as lists; ``sources`` and the phrases of `describe_defaults`)."""
        out = asdict(self)
        if self.direction == "long":  # the default: a long run's risk reads as before direction existed
            del out["direction"]
            for f in SHORT_ONLY_FIELDS:
                if not out[f]:
                    del out[f]
        if self.entry_order == "market":  # the default: its risk reads as before entry orders existed
            del out["entry_order"], out["order_valid_bars"]
        if self.exit_order == "market":  # the default: no exit order, its risk reads as before they existed
            del out["exit_order"]
        for f in UNSET_RISK_FIELDS:  # not used: a run without them reads as before they existed
            if out[f] is None:
                del out[f]
        for f in FLAG_RISK_FIELDS:
            if not out[f]:
                del out[f]
        for f in LATER_RISK_FIELDS:
            if f in out and out[f] is None:
                del out[f]
        if self.take_profit_by_bars is not None:
            out["take_profit_by_bars"] = {str(bars): pct for bars, pct in self.take_profit_by_bars}
        out["defaults_used"] = list(self.defaults_used)
        out["from_timeframe"] = list(self.from_timeframe)
        out["sources"] = self.sources()
        out["notes"] = self.describe_defaults()
        return out


#: keys of `RiskSpec.to_dict` that describe the values rather than being one
RISK_META_KEYS = ("defaults_used", "timeframe", "from_timeframe", "sources", "notes")


#: how the run trades beside its risk fields, listed by a report when they are not the default (a long run at
#: market orders has none of them in `RiskSpec.to_dict`: it prints as before)
SHOWN_TRADING_FIELDS = ("direction", "entry_order", "order_valid_bars", "exit_order")


def shown_risk_fields(risk: Mapping[str, Any]) -> list[str]:
    """The risk fields a report lists for a run's risk (`RiskSpec.to_dict`): those it has (the fields of
    `LATER_RISK_FIELDS` and a long run's short-only fields are left out while unset: it prints as before), then
    its direction, its limit or stop entry order and its exit order (`SHOWN_TRADING_FIELDS`) when it has them."""
    return [f for f in (*RISK_FIELDS, *RISK_RULE_FIELDS, *SHOWN_TRADING_FIELDS) if f in risk]


def risk_label(risk: Mapping[str, Any], field: str) -> str:
    """How a report shows one risk field: ``10.0 (from timeframe medium_term)``, ``off``, ``100.0 (default)``."""
    v = risk.get(field)
    text = "off" if v is None else ", ".join(f"{k} bars: {p:g} %" for k, p in v.items()) if isinstance(v, dict) \
        else str(v)
    source = (risk.get("sources") or {}).get(field)
    if source is None and field in (risk.get("defaults_used") or ()):
        source = "default"
    if source is not None:
        text += f" (from {source})" if source.startswith("timeframe") else f" ({source})"
    return text


#: the fill contract, printed in reports (its exit reasons are `ruleengine.kernels.enums.ExitReason`'s names, up
#: to exit_order, which `EXIT_ORDER_FILL_CONTRACT` adds: the base text of every result stays as it was)
FILL_CONTRACT = f"""\
Fill contract (ruleengine; a bar's events in time order, plus a time stop)
- Signals are computed at the close of bar t. execution_price=close fills at close[t];
  execution_price=open fills at the open of the next bar the symbol has (t+1). A signal whose next bar
  does not exist (the last bar) is ignored; rows before the requested start are history, never traded.
- Prices: entry = fill x (1 + slippage); exit = fill x (1 - slippage), stop exits included.
- Size: units = (cash x position_size_pct/100) / (entry price x (1 + fees)); an exit returns
  units x exit price x (1 - fees). Long only, one position per symbol, no pyramiding.
- Inside a bar, in time order: (1) the open: an order pending since the previous close (open fills)
  fills at the open; (2) the rest of the bar: stops and targets on its high and low, also for a
  position entered at that open; (3) the close: signal exits (close fills), max hold, entries (close
  fills). An entry at the close has no stop check on its bar (nothing happens after the close).
- Stop loss level = entry x (1 - sl); take profit level = entry x (1 + tp); trailing level =
  peak x (1 - tsl), peak = max(entry, the highs since the entry fill), a bar's high counting after
  that bar was checked. With both a stop loss and a trailing stop the higher level is the stop (stop_loss on a
  tie). If the open is already through a level the exit fills at the open (gap), else at the level.
  When the stop and the take profit are both inside one bar, the stop wins (conservative).
- At most one exit per bar and symbol, and no re-entry on the bar of an exit. An entry signal while in
  a position and an exit signal while flat are ignored. Entry and exit signals on the same bar cancel
  each other (no entry when flat, no signal exit when in a position; stops still apply).
- Max hold: exit at the close of the first bar whose time is >= entry bar time + max_hold_days calendar
  days (a limit falling on a non-trading day exits at the next bar's close), or of the max_hold_bars-th
  bar after the entry bar, unless an earlier event of that bar closed the position.
- Missing bars (NaN prices for a symbol): no fill, no stop check; pending open-fill orders wait for the
  symbol's next bar; max_hold_bars counts the bars that exist; equity marks the last known close.
- A position still open at the end is marked at its last close (exit reason end_of_data, no exit fee or
  slippage). Exit reasons: {", ".join(EXIT_REASON_NAMES[:ExitReason.exit_order])}.
- Portfolio (--portfolio): one cash account; each step of a bar (open, rest, close) runs over all
  symbols in column order, exits before entries. An entry takes position_size_pct of the equity at its
  fill (cash + positions at that price or their last close, before the step's entries; 5 % when the
  document sets no position_size_pct); it is skipped, and reported, when the cash left is short.
- vectorbt's from_signals (engine="vectorbt") differs with open fills: a stop reached inside a bar wins
  over the exit order pending at its open, and the bar of an entry at the open is not checked.
"""

#: what changes for a strategy with ``direction: short`` (appended to `FILL_CONTRACT` by `fill_contract`)
SHORT_FILL_CONTRACT = """\
Short positions (direction: short; the same signals, events and order of events as above, mirrored)
- An entry sells short, an exit buys back. Prices: entry = fill x (1 - slippage); exit = fill x
  (1 + slippage), stop exits included. Fees: fees of each side's value (units x price), as for a long.
- Size: the cash set aside (collateral) is cash x position_size_pct/100; units = collateral /
  (entry price x (1 + fees)). Equity = cash + collateral + (entry price - price) x units; the exit
  returns collateral + (entry - exit price) x units - exit fee; pnl = units x (entry - exit) - fees.
- Stop loss level = entry x (1 + sl), above the entry; take profit level = entry x (1 - tp), below;
  trailing level = trough x (1 + tsl), trough = min(entry, the lows since the entry fill), a bar's low
  counting after that bar was checked. With both a stop loss and a trailing stop the lower level is the
  stop (stop_loss on a tie). An open at or above a stop level (at or below the target) fills at the
  open (gap); the stop wins over the target inside one bar.
- No margin call: a short whose price rises by more than its collateral takes the equity to or below
  zero and is not closed for it; the exit can leave the cash negative (owed), after which no entry is
  made (entries need cash > 0). The run then carries warning D131.
- Borrow cost (borrow_cost_pct, annual %): a short accrues units x entry price x borrow_cost_pct/100 x
  the calendar time since its entry bar in years of 365 days (bar timestamps: a position opened and closed
  on one bar pays none). The equity deducts what has accrued; the exit, or the mark at the end, pays it
  with the exit fee (it is in the trade's fees and lowers its pnl). engine="vectorbt" has no borrow cost.
"""

#: what ``direction: long_short`` adds (appended after `SHORT_FILL_CONTRACT` by `fill_contract`)
LONG_SHORT_FILL_CONTRACT = """\
Long/short (direction: long_short; entry/exit are the long side, short_entry/short_exit the short side)
- A bar's signals (those of its close; with open fills those of the previous close, acting at the open):
  an entry and an exit of one side cancel (neither acts); then a long and a short entry cancel (neither
  acts, whatever is held). What is left acts as follows:
    held, signal    long entry           long exit   short entry          short exit
    flat            open long            -           open short           -
    long            -                    close       close, open short    -
    short           close, open long     -           -                    close
- A reversal (close, open the other side) closes and opens at the same fill: two trade records, the
  closed one with exit reason signal. The new side is sized like any entry (position_size_pct of the
  cash after the close, the whole equity at 100 %) and pays its own fee and slippage.
- With open fills the reversal is at the open, and the new position's stops and targets act on the rest
  of that bar (a second exit on the bar is then possible); with close fills it is at the close, after
  the bar's stops. A stop, target or max hold exit on a bar cancels that bar's reversal (no entry on
  the bar of such an exit). A long's stops and targets are those above, a short's are mirrored.
- engine="vectorbt" runs from_signals(direction="both", short_entries, short_exits) with
  upon_long_conflict, upon_short_conflict and upon_dir_conflict "ignore" and upon_opposite_entry
  "reverse" (the rules above), lock_cash=True and size=inf (the whole cash: a reversal is one order
  there, split into the two trades); it needs position_size_pct 100 and no borrow cost, and it parts
  from the kernel after a short lost more than its collateral (it cannot buy it back: see D131).
"""


#: what exits that know the trade add (appended to `FILL_CONTRACT` by `fill_contract` when a run uses one)
EXITS_FILL_CONTRACT = """\
Exits that know the trade (distances, trailing activation, take-profit table, position variables)
- stop_loss_distance / take_profit_distance are price units, the value at the entry signal's bar (open
  fills: the bar before the fill, what was known when the order was placed), fixed for the trade: stop
  = entry - distance, target = entry + distance (short: entry + / - distance), entry after slippage.
  They replace stop_loss_pct / take_profit_pct (never both) in the order of checks above. A distance
  <= 0 or missing (NaN) at that bar gives the trade no such exit; the run carries warning L123.
- trailing_stop_activation_pct: the trail acts only once the peak (as the trail reads it, before the
  bar) reached entry x (1 + activation) (short: the trough entry x (1 - activation)); then it stays on.
- take_profit_by_bars {bars: pct}: on each bar the row with the largest bars <= bars held sets the
  target entry x (1 + pct) (short: 1 - pct), checked as take_profit (an open through it fills at the
  open); none before the first row. Bars held: 0 on the bar of an entry at its open, then the bars
  after the entry bar up to this one.
- Position variables at the close of bar t of a held trade: entry_price, bars_held (as above),
  unrealized_pct = (close / entry - 1) x 100 (short: (1 - close / entry) x 100), highest_since_entry
  and lowest_since_entry (the entry price, then each bar's high / low, bar t's included). An exit
  condition that uses them is false while flat (it never cancels an entry); while a trade is held its
  truth is the exit signal of bar t: close fills exit at close[t] (after the bar's stops, before max
  hold), open fills at the next open, and an entry signal on bar t cancels it like any exit signal.
  With logic any, the conditions without position variables stay ordinary exit signals. A long_short
  strategy's exit block acts on its longs and its short_exit block on its shorts: the held side's
  conditions on position variables join that side's exit signal (short_exit's: the short exit).
"""


#: what changes for a strategy with a ``pair`` block (appended to `FILL_CONTRACT` by `fill_contract`, with
#: `SHORT_FILL_CONTRACT`: one leg is always short)
PAIR_FILL_CONTRACT = """\
Pairs (a pair block: legs [a, b]; each leg filled as above, a long leg as a long, a short leg as a short)
- Long the pair (entry) buys leg a and sells leg b short; short the pair (direction short, or short_entry
  with direction long_short) sells a short and buys b. Both legs open and close together, on the same bar,
  each at its own fill price (open or close) with its own slippage and fees. Entries, exits, opposite
  signals and reversals act as for one position; exit conditions close both legs.
- Size: the cash of the entry (fees included) is the sizing method's for a position whose price is its
  value: position_size_pct of the cash, position_size_cash, risk_per_trade_pct (cash x pct / sl: a stop
  loss at V0 x (1 - sl) loses pct of the cash, plus fees and slippage; no stop_loss_pct: no entry) or
  volatility_target_pct (V0 = cash x pct / volatility, the volatility of the pair's value as a fraction of
  it, read at the signal bar); cut down to the cash. It is split at the hedge ratio read at the signal bar
  and fixed for the trade: dollar_neutral, leg b's cash = hedge_ratio x leg a's (1: equal dollars);
  hedge_ratio_units, units of b = hedge_ratio x units of a. whole_units: leg a's units rounded down, leg b's
  from them (hedge_ratio x units of a, or x leg a's value / leg b's price) rounded down; 0 units in a leg:
  no entry. A signal bar whose hedge ratio is missing, not a number or not above 0 opens no pair.
- Stops and targets act on the pair's combined value V (both legs marked at the same prices) against its
  value at entry V0 (units x entry price of each leg, after slippage, before fees): stop loss when
  V <= V0 x (1 - sl), take profit when V >= V0 x (1 + tp) (or the take_profit_by_bars row of the bars held,
  this bar included), trailing stop when V <= peak x (1 - tsl), peak = the highest V at an open or close
  since the entry (with trailing_stop_activation_pct only once peak >= V0 x (1 + activation)); the loss
  side first, the higher level acts, stop loss on a tie. They are checked at each bar's open (a value
  already through a level fills both legs at their opens: a gap) and at its close (fills at the closes),
  never inside the bar: the legs' highs and lows need not happen at the same time; the short leg's accrued
  borrow cost (borrow_cost_pct) counts in V and is paid at the exit. Max hold as above, at the close.
  Distances (stop_loss_distance, take_profit_distance) are one instrument's price units: not for a pair.
- Position variables of a pair (exit conditions) are those of its value: entry_price = V0, bars_held,
  unrealized_pct = (V / V0 - 1) x 100 at the close, highest_since_entry / lowest_since_entry = the
  highest / lowest V at an open or close since the entry (V0 included). Read as for one position: at the
  close (close fills: on the pair as it stands at that close) or, with open fills, exiting at the next open;
  on a long_short strategy's long pairs only.
- A bar where either leg has no price: nothing happens (no fill, no stop check, its signals are dropped,
  pending open-fill orders wait); an open pair is marked at each leg's last close. A pair still open at the
  end is marked at each leg's last close (end_of_data).
- The trade record is one row per pair: entry/exit price and size of leg a, pnl, pnl_pct (of the cash both
  legs took) and fees of both legs, and each leg (symbol, side, prices, size, pnl, fees) in legs.
- A portfolio of pairs shares one cash account as the portfolio above: each phase of a bar over all pairs,
  entries sized on the portfolio's equity before the phase's entries (pairs marked at both legs' prices),
  never cut to the cash; max_open_positions counts a pair as one position, max_gross_exposure_pct both
  legs (units x price of each).
"""


#: how entries are sized beyond position_size_pct (appended to `FILL_CONTRACT` by `fill_contract`)
SIZING_FILL_CONTRACT = """\
Sizing (risk: position_size_cash, risk_per_trade_pct, volatility_target_pct, whole_units, portfolio caps)
- One method per strategy sets the cash an entry spends, fee included (spend = units x entry price x
  (1 + fees)), from the equity at its fill (a single run's cash: the symbol is flat; a portfolio's
  equity before the step's entries): position_size_pct: pct/100 x equity; position_size_cash: that
  amount; risk_per_trade_pct: units = equity x pct/100 / d, d = entry price - stop loss level at the
  fill (entry x stop_loss_pct/100, or the stop_loss_distance of the entry signal's bar; above it for a
  short): a stop hit at its level loses pct of the
  equity plus fees and slippage (a gap through it loses more); volatility_target_pct: a position worth
  equity x pct/100 / volatility, volatility (risk.volatility: a fraction of price a year, 0.25 = 25 %)
  read at the entry signal's bar (open fills: the bar before the fill; a limit or stop order: the bar
  that placed it). No stop, or a volatility that is NaN or <= 0 there: the entry is skipped.
- Never borrowing: a spend above the cash is cut down to the cash in a single run (reported, D136) and
  skipped in a portfolio (reported, D130).
- whole_units: true rounds the units down to a whole number (the rest stays cash); an entry of 0 units
  is skipped.
- Portfolio caps: an entry is skipped when max_open_positions positions are open, or when units x
  price of every open position (at this open or close; those entered in this step at their entry
  price) plus its own would pass max_gross_exposure_pct of the equity before the step's entries.
  Entries skipped by a cap or a sizing rule are reported with their reason (D135).
"""


#: what changes for a strategy whose ``entry_order`` is a limit or a stop (appended by `fill_contract`)
ORDER_FILL_CONTRACT = """\
Limit and stop entry orders (entry_order: limit | stop; exits and all else as above)
- An entry signal at the close of bar t, while flat, places an order at the level its price expression
  has at that close (a NaN or infinite level places none). It is worked from the symbol's next bar on,
  for valid_bars of its bars, whatever execution_price says (execution_price is for market orders: the
  signal exits). A new entry signal while it is pending replaces it (its level; its validity
  restarts); an exit signal cancels it; it expires unfilled after valid_bars bars. One order per
  symbol, none while a position is held.
- Long: a limit buys when the low reaches the level, at min(open, level) (an open already below it
  fills at the open); a stop (breakout) buys when the high reaches the level, at max(open, level) (a
  gap over it fills at the open). Short, mirrored: a limit sells at max(open, level) when the high
  reaches it, a stop sells at min(open, level) when the low reaches it. Slippage, fees and size as for
  a market entry at that price (portfolio: the equity counts the open positions at the bar's open);
  the levels the entry reads (stop_loss_distance, take_profit_distance: the stop that
  risk_per_trade_pct sizes on) are those of the signal bar that placed the order.
- The fill bar: after a fill at the open the whole bar follows, as for a market entry at the open.
  After a fill at the level inside the bar only what certainly came after it counts for its stops,
  targets and trailing peak: the range from the level to the bar's extreme beyond it, and to the
  close (after a long limit: low .. max(level, close); after a long stop: min(level, close) .. high).
  So a long limit's stop loss can act on its fill bar, its take profit only if the close reached it.
  Max hold counts from the fill bar; an exit signal at its close exits at that close (close fills)
  or at the next open. An exit condition on position variables is first read at the fill bar's
  close with open fills (exiting at the next open); with close fills at the close of the bar after
  the fill bar (it is read before a bar's events, on the position held when the bar opened).
- backtesting.py (simulate's fill_order="backtesting") checks no stop or target on an order's fill bar.
"""

#: what a long_short strategy's limit and stop orders add (appended after `ORDER_FILL_CONTRACT`)
LONG_SHORT_ORDER_FILL_CONTRACT = """\
Long/short limit and stop orders (direction long_short with entry_order limit | stop)
- Both sides enter by orders of the one type: entry places a long order at price, short_entry a short
  order at short_price; no entry acts at market, and an opposite entry signal does not close a position
  at market: it places a reversal order. At a close, each side's exit signal cancels a pending order of
  its side; an entry of a side (without its own exit) places that side's order unless that side is
  held, replacing a pending order of either side (one order per symbol); a long and a short entry on
  one bar place nothing (a pending order stays).
- A reversal order (of the side not held) fills by the rules above; at its fill it closes the held
  position (exit reason signal) and opens its own side at the same price, sized as any entry on the
  cash after the close, each with its own slippage and fees; what follows the fill on that bar is the
  new position's (as after an entry fill). At the open (the open through its level) it comes before
  the held position's stops. Inside the bar it is one more exit level of the held position: a stop
  order on the loss side, a limit order on the profit side. The held position's own stop or target
  comes first, and the order waits (the bar counts to its validity; no entry on the bar of that exit),
  when it fills at the open, when it is on the loss side and the order on the profit side, or when
  both are on one side and its level is as near to the open as the order's or nearer.
- An exit of the held position at the open (open fills) leaves the symbol flat; a pending order of the
  other side is then worked on the rest of that bar as an entry order.
"""


#: what an exit order adds (appended by `fill_contract` when a run has one)
EXIT_ORDER_FILL_CONTRACT = """\
Exit orders (exit_order: stop | limit at an expression re-evaluated every bar; all else as above)
- The level the price expression has at the close of a symbol's bar is the exit order resting during
  its next bar, for the position held at that bar's open: a moving stop (e.g. a chandelier stop) or
  limit re-placed every bar. A position's first exit order rests during the bar after its entry bar
  (close fills: the bar after the entry close; open fills and limit/stop entries: the bar after the
  fill bar), never on the bar it opened. A NaN or infinite level places no order for that bar.
  direction short: price is the shorts' level; long_short: price for longs, short_price for shorts.
- Long: a stop sells when the low reaches the level, at min(open, level) (an open already below it
  fills at the open); a limit sells when the high reaches the level, at max(open, level). Short,
  mirrored: a stop buys back at max(open, level) when the high reaches it, a limit at min(open, level)
  when the low reaches it. Exit reason exit_order; slippage and fees as for any exit.
- Order of a bar's events: an exit pending at the open (open fills: the exit signal) comes first, then
  the exit order and the fixed stops and targets on the rest of the bar, then the close (the exit
  signal with close fills, max hold). Against the position's fixed stop, trailing stop or target on one
  bar, the rule of a reversal order applies: an exit order through the open fills at the open first;
  inside the bar the position's own exit comes first when it fills at the open, when it is on the loss
  side and the order is a limit (profit side), or when both are on one side (a stop order and a stop;
  a limit order and the target) and its level is as near to the open as the order's or nearer (a tie
  goes to the position's own exit); else the exit order fills. Against a long_short reversal order
  it is one of the held position's own exits (a stop exit order on the loss side, a limit on the
  profit side).
- Exit conditions keep working beside it (at market, by execution_price). engine="vectorbt" refuses
  an exit order (D103); a pair and a rotation cannot have one; a code strategy returns its levels
  (exit_price, short_exit_price).
"""


def uses_sizing(risk: RiskSpec) -> bool:
    """Whether a run sizes by more than position_size_pct (another method, whole units or a cap)."""
    return any(getattr(risk, f) for f in (*UNSET_RISK_FIELDS, *FLAG_RISK_FIELDS))


#: every part of the contract in the order `fill_contract` appends them (what ``ruleengine contract`` prints)
FILL_CONTRACT_PARTS: tuple[str, ...] = (
    FILL_CONTRACT, SHORT_FILL_CONTRACT, LONG_SHORT_FILL_CONTRACT, PAIR_FILL_CONTRACT, SIZING_FILL_CONTRACT,
    EXITS_FILL_CONTRACT, ORDER_FILL_CONTRACT, LONG_SHORT_ORDER_FILL_CONTRACT, EXIT_ORDER_FILL_CONTRACT)


def fill_contract(directions: Iterable[str], pair: bool = False, sized: bool = False,
                  knows_the_trade: bool = False, entry_orders: Iterable[str] = (),
                  exit_orders: Iterable[str] = ()) -> str:
    """The fill contract a result followed: `FILL_CONTRACT`, plus `SHORT_FILL_CONTRACT` when a run sells short,
    plus `LONG_SHORT_FILL_CONTRACT` when it trades both sides, plus `PAIR_FILL_CONTRACT` for a pair (whose second
    leg sells short: the short addendum too), plus `SIZING_FILL_CONTRACT` when `sized` (`uses_sizing`), plus
    `EXITS_FILL_CONTRACT` when its exits know the trade (`uses_trade_exits`), plus `ORDER_FILL_CONTRACT` when its
    entries are limit or stop orders (and `LONG_SHORT_ORDER_FILL_CONTRACT` when it trades both sides), plus
    `EXIT_ORDER_FILL_CONTRACT` when it has a limit or stop exit order. A long-only, position_size_pct,
    market-order result's text is unchanged."""
    found = set(directions)
    text = FILL_CONTRACT
    if pair or found & {"short", "long_short"}:
        text += SHORT_FILL_CONTRACT
    if "long_short" in found:
        text += LONG_SHORT_FILL_CONTRACT
    if pair:
        text += PAIR_FILL_CONTRACT
    if sized:
        text += SIZING_FILL_CONTRACT
    if knows_the_trade:
        text += EXITS_FILL_CONTRACT
    if set(entry_orders) - {"market"}:
        text += ORDER_FILL_CONTRACT
        if "long_short" in found:
            text += LONG_SHORT_ORDER_FILL_CONTRACT
    if set(exit_orders) - {"market"}:
        text += EXIT_ORDER_FILL_CONTRACT
    return text


def uses_trade_exits(risks: Iterable[RiskSpec], exit_program: Any) -> bool:
    """True when a run uses an exit of `EXITS_FILL_CONTRACT`: a distance, the activation, the take-profit
    table (in any of `risks`), or an exit program on position variables."""
    return exit_program is not None or any(getattr(r, f) is not None for r in risks for f in LATER_RISK_FIELDS)


def _err(field: str, message: str, hint: str) -> RuleEngineError:
    path = "params.execution_price" if field == "execution_price" else f"risk.{field}"
    return RuleEngineError([Diagnostic("D103", message, path=path, hint=hint)])


def _flag(field: str, value: Any) -> bool:
    """A validated value of an on/off risk field (`FLAG_RISK_FIELDS`): a bool or its usual spellings."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise _err(field, f"{field} must be true or false, got {value!r}", f"e.g. {field}=true")


def _number(field: str, value: Any) -> float | int | None:
    """A validated value of a numeric risk field; None when switched off."""
    if value is None or (isinstance(value, str) and value.strip().lower() in _OFF):
        if field in _OPTIONAL:
            return None
        raise _err(field, f"{field} cannot be switched off", f"give a number, e.g. {field}="
                   f"{int(OTHER_DEFAULTS.get(field, 0))}")
    raw = value
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _err(field, f"{field} must be a number, got {raw!r}", f"e.g. {field}=5") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _err(field, f"{field} must be a number, got {raw!r}", f"e.g. {field}=5")
    lo, lo_inc, hi, hi_inc, integer = _BOUNDS[field]
    v = float(value)
    if integer and (not math.isfinite(v) or not v.is_integer()):
        raise _err(field, f"{field} must be a whole number, got {raw!r}", f"e.g. {field}=30")
    ok = math.isfinite(v) and (v >= lo if lo_inc else v > lo) and (v <= hi if hi_inc else v < hi)
    if not ok:
        lo_s = f"{'>=' if lo_inc else '>'} {lo:g}"
        hi_s = "" if math.isinf(hi) else f" and {'<=' if hi_inc else '<'} {hi:g}"
        unit = "" if integer else " (percent: 5 means 5 %)"
        off = f", or {field}=off for no such exit" if field in _OPTIONAL else ""
        raise _err(field, f"{field} must be {lo_s}{hi_s}, got {raw!r}", f"use a value {lo_s}{hi_s}{unit}{off}")
    return int(v) if integer else v


def risk_value(field: str, value: Any) -> float | int | bool | None:
    """One risk field's value checked on its own (type and bounds, D103), as a run parameter gives it: None
    when switched off. Rules between fields (one sizing method, a stop for risk_per_trade_pct) are
    `resolve_risk`'s."""
    return _flag(field, value) if field in FLAG_RISK_FIELDS else _number(field, value)


def _override_sizing(given: dict[str, Any], params: Mapping[str, Any]) -> None:
    """A sizing method among the run's `params` replaces the document's (one method per run: D103 for two)."""
    wanted = [m for m in SIZING_METHODS if m in params]
    if len(wanted) > 1:
        raise _err(wanted[1], f"more than one sizing method in the run's parameters: {', '.join(wanted)}",
                   f"give one of {', '.join(SIZING_METHODS)}")
    if wanted:
        for m in SIZING_METHODS:
            given.pop(m, None)


def resolve_risk(strategy: Any, params: Mapping[str, Any] | None = None) -> RiskSpec:
    """The run's risk: the document's ``risk:`` block, overridden by `params`, completed with defaults.

    Args:
        strategy: a `TradingStrategy` (or a `CompiledStrategy`, whose ``.strategy`` is used).
        params: run parameters; only the names in `RISK_PARAM_NAMES` are read.

    Raises:
        RuleEngineError: D103 for a value of the wrong type or outside its bounds.
    """
    strat = getattr(strategy, "strategy", strategy)
    params = dict(params or {})
    given: dict[str, Any] = {}  # a value, or None for an exit switched off
    doc = strat.risk
    for f in RISK_FIELDS:
        v = getattr(doc, f, None)
        if v == OFF:
            given[f] = None
        elif v is not None:
            given[f] = risk_value(f, v)
    _override_sizing(given, params)
    for f in RISK_FIELDS:
        if f in params:
            given[f] = risk_value(f, params[f])  # None here means "off", not "default"
    rules = {f: getattr(doc, f, None) for f in RISK_RULE_FIELDS}
    for pct, distance in DISTANCE_OF.items():  # an override of the percent form, where the document has the other
        if rules[distance] is not None and given.get(pct) is not None:
            raise _err(pct, f"{pct} cannot be set: the document gives this exit as {distance}",
                       f"change {distance} in the document (its parameters sweep), or remove it there")
    if rules["take_profit_by_bars"] is not None and given.get("take_profit_pct") is not None:
        raise _err("take_profit_pct", "take_profit_pct cannot be set: the document gives take_profit_by_bars",
                   "change the table in the document, or remove it there")
    timeframe = getattr(strat, "timeframe", None)
    from_tf: dict[str, Any] = {}
    if timeframe is not None:
        sl_d, tp_d, days_d = TIMEFRAME_DEFAULTS[timeframe]
        if rules["take_profit_distance"] is None and rules["take_profit_by_bars"] is None:
            from_tf["take_profit_pct"] = tp_d
        if "trailing_stop_pct" not in given and rules["stop_loss_distance"] is None:
            from_tf["stop_loss_pct"] = sl_d
        if "max_hold_bars" not in given:
            from_tf["max_hold_days"] = days_d
    defaults: dict[str, Any] = {**from_tf, **OTHER_DEFAULTS}
    if any(given.get(m) is not None for m in SIZING_METHODS):  # sized by the method given, not the default
        del defaults["position_size_pct"]
    never_short = strat.direction == "long"  # a long run's defaults read as before the short-only fields
    used = tuple(f for f in RISK_FIELDS if f not in given and f in defaults
                 and not (never_short and f in SHORT_ONLY_FIELDS))
    values = {f: given.get(f, defaults.get(f)) for f in RISK_FIELDS}

    exec_param = strat.params.get("execution_price")
    execution_price = params.get("execution_price", exec_param.default if exec_param else "close")
    allowed = list(exec_param.values or ["open", "close"]) if exec_param else ["open", "close"]
    if execution_price not in allowed:
        raise _err("execution_price", f"execution_price must be one of {allowed}, got {execution_price!r}",
                   "close fills at the signal bar's close, open at the next bar's open")
    # exits stay None when off, sizing methods and caps when not given; the other fields have a number
    fields: dict[str, Any] = {f: bool(values[f]) if f in FLAG_RISK_FIELDS else values[f] if f in _NULLABLE
                              else float(values[f] or 0.0) for f in RISK_FIELDS}
    if fields["volatility_target_pct"] is not None and rules["volatility"] is None:  # a run's target (S132)
        raise _err("volatility_target_pct", "volatility_target_pct sizes on the document's volatility, and it "
                   "gives none", f"add risk.volatility (e.g. \"{VOLATILITY_EXAMPLE}\") to the document, or size "
                   "with position_size_pct")
    if fields["risk_per_trade_pct"] is not None and fields["stop_loss_pct"] is None \
            and getattr(doc, "stop_loss_distance", None) is None:  # sized on the stop known at entry
        raise _err("risk_per_trade_pct", "risk_per_trade_pct sizes on the distance to the stop loss, and this run "
                   "has no stop loss", "give a stop_loss_pct (e.g. --param stop_loss_pct=5) or a stop_loss_distance "
                   "in the document, or size with position_size_pct")
    if fields["trailing_stop_activation_pct"] is not None and fields["trailing_stop_pct"] is None:
        raise _err("trailing_stop_activation_pct", "trailing_stop_activation_pct needs a trailing stop",
                   "give trailing_stop_pct too, or trailing_stop_activation_pct=off")
    table = rules["take_profit_by_bars"]
    order = strat.entry_order
    return RiskSpec(**fields, execution_price=str(execution_price), direction=strat.direction,
                    entry_order=order.type, order_valid_bars=order.valid_bars, exit_order=strat.exit_order.type,
                    defaults_used=used,
                    timeframe=timeframe, from_timeframe=tuple(f for f in used if f in from_tf),
                    stop_loss_distance=rules["stop_loss_distance"], take_profit_distance=rules["take_profit_distance"],
                    take_profit_by_bars=None if table is None else tuple(table.items()),
                    # the volatility sizes only with its target (a run's other sizing method replaces both)
                    volatility=None if fields["volatility_target_pct"] is None else rules["volatility"])
