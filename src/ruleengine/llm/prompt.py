"""The system prompt, generated (never hand-maintained) from what the engine actually supports.

Sections: the task and the reply format; the document format with an example; the expression language
(operators, structured operators, every function of the registry with its signature, doc and example); data
kinds with their columns and frequencies; the data providers (from the provider registry); the seed 003
guidelines (measurable conditions, risk defaults by timeframe from the backtester's table); symbols; and the
rule that code is the last resort, with the code contract. A golden test (tests/golden/llm_system_prompt.md)
keeps every change to it reviewed.

Example:
    >>> text = system_prompt(providers_text="## Data providers\\n\\n(none)\\n")
    >>> "`sma(x, n)`" in text and "code is the last resort" in text
    True
"""

from __future__ import annotations

import json
from typing import Any, get_args

from .. import (
    BUILTIN_PARAMS,
    EXECUTION_FREQUENCIES,
    FUNCTION_CATEGORIES,
    FUNCTIONS,
    KIND_COLUMNS,
    OPERATOR_SYMBOLS,
    POSITION_VARIABLES,
    RISK_FIELDS,
    SIZING_METHODS,
    SOURCE_FREQUENCIES,
    VOLATILITY_EXAMPLE,
    Operator,
)

#: the example document of the prompt (wire form is generated from it, so it always loads)
EXAMPLE: dict[str, Any] = {
    "name": "Golden cross with RSI filter",
    "description": "Buy when the 50-day average crosses above the 200-day one while RSI is not overbought.",
    "timeframe": "medium_term",
    "data": {"prices": {"kind": "ohlcv", "frequency": "1Day", "columns": ["close"]}},
    "params": {
        "fast": {"type": "int", "min": 5, "max": 100, "default": 50, "description": "fast average window"},
        "slow": {"type": "int", "min": 20, "max": 400, "default": 200, "description": "slow average window"},
        "rsi_max": {"type": "float", "min": 50, "max": 90, "default": 70, "description": "highest RSI to enter"},
    },
    "entry": {"logic": "all", "conditions": [
        "crosses_above(sma(close, fast), sma(close, slow))",
        {"field": "rsi(close, 14)", "operator": "lt", "value": "rsi_max"}]},
    "exit": {"logic": "any", "conditions": ["crosses_below(sma(close, fast), sma(close, slow))"]},
    "risk": {"stop_loss_pct": 10, "take_profit_pct": 25, "max_hold_days": 90},
}

_ARG_KINDS = {
    "series": "a number series (a column or an expression over columns)",
    "value": "a number series or a number",
    "cond": "a true/false series (a comparison or an event function)",
    "window": "a whole number >= its minimum: a constant or an int parameter (or an expression of them)",
    "number": "a number: a constant or a parameter",
    "lag": "a whole number >= 0",
}

def example_wire() -> dict[str, Any]:
    """`EXAMPLE` in the wire form the model writes (lists with names, every key present)."""
    from .. import TradingStrategy
    from .wire import wire_form

    return wire_form(TradingStrategy.model_validate(EXAMPLE))


def _compact(doc: dict[str, Any]) -> str:
    """JSON with one top-level key per line: readable without doubling the prompt's length."""
    return "{\n" + ",\n".join(f" {json.dumps(k)}: {json.dumps(v)}" for k, v in doc.items()) + "\n}"


def _functions() -> list[str]:
    lines: list[str] = []
    for cat in FUNCTION_CATEGORIES:
        lines.append(f"**{cat}**")
        for f in FUNCTIONS.values():
            if f.category != cat:
                continue
            args = ", ".join(f"{a.name}: {a.kind}" + (f" >= {a.minimum}" if a.kind == "window" and a.minimum > 1
                                                       else "") + (f" = {a.default:g} if left out"
                                                                   if a.default is not None else "")
                             for a in f.args)
            returns = "true/false" if f.returns == "bool" else "number"
            takes = f"Arguments: {args}" if args else "No arguments"
            lines.append(f"- `{f.signature}` -> {returns}: {f.doc}. {takes}. Example: `{f.example}`")
        lines.append("")
    return lines


def _risk_defaults() -> list[str]:
    from .. import TIMEFRAME_DEFAULTS  # no numpy: a plain table

    return [f"  - {tf}: stop_loss_pct {sl:g}, take_profit_pct {tp:g}, max_hold_days {days}"
            for tf, (sl, tp, days) in TIMEFRAME_DEFAULTS.items()]


def _code_contract() -> list[str]:
    """The `generate_signals` contract, with the limits taken from the sandbox's static check and runner."""
    from .. import CODE_ALLOWED_MODULES, CODE_DEFAULT_WARMUP_BARS, CODE_MAX_BYTES, CODE_WARMUP_NAME

    modules = ", ".join(f"`{m}`" for m in sorted(CODE_ALLOWED_MODULES))
    return [
        ("`strategy.code` is Python source defining `generate_signals(data, params)`; `entry` and `exit` are null "
         "and the document still declares `data` (with the columns the code reads) and `params`:"),
        ("- it is called once per symbol: `data` maps each data slot's name to a pandas DataFrame of that slot's "
         "declared columns, indexed by bar (every slot aligned to the execution frequency); `params` maps each "
         "parameter's name to its value;"),
        ("- it returns `(entries, exits)`: two boolean pandas Series on the same index as the data (no NaN: "
         "`.fillna(False)`), True on the bars where a position opens / closes; with direction long_short four, "
         "`(entries, exits, short_entries, short_exits)`; with an `entry_order` of type limit or stop (its "
         "`price` and `short_price` null) the order levels follow: `entry_price` (long_short: then "
         "`short_entry_price`), float Series of price levels, finite and > 0 on every bar of that side's entry "
         "signal (NaN elsewhere: no order), e.g. `data['prices']['high'].rolling(20).max()` for a breakout; "
         "with an `exit_order` of type stop or limit (its `price` and `short_price` null) its levels come last: "
         "`exit_price` (long_short: then `short_exit_price`), float Series, the level at each close of the "
         "order resting during the next bar for a held position (NaN: no order that bar), e.g. a chandelier "
         "stop `high.rolling(22).max() - 3 * atr`;"),
        (f"- imports: only {modules}; top level: imports, functions and constants; no classes, generators, "
         "`global` or async; no names or attributes starting with `_`;"),
        ("- no eval/exec/open/compile/getattr and other reflective builtins, no file, network or system access "
         "(no pandas/numpy I/O such as read_*/to_csv/load/save), no clocks or randomness;"),
        ("- causal: bar t uses data up to bar t only: no `shift(-k)`, no `bfill`, no centred windows, no "
         "statistics over the whole series (use `rolling`, `expanding` or `ewm`); the code is run on cut data to "
         "check this, and twice to check it is deterministic;"),
        (f"- declare the history it needs before the first traded bar as `{CODE_WARMUP_NAME} = n` (default "
         f"{CODE_DEFAULT_WARMUP_BARS} bars); at most {CODE_MAX_BYTES:,} bytes of code."),
        ("A rotation portfolio that rules cannot select (a `rotation` block with `hold`, `weights` and "
         "`volatility` null) defines `generate_weights(data, params)` instead: it is called once per parameter "
         "set with the whole universe, `data[slot][column]` a DataFrame of bars x symbols (e.g. "
         "`data[\"prices\"][\"close\"]`), and returns a DataFrame of target weights on that index with one "
         "column per symbol: numbers >= 0 (no NaN: `.fillna(0.0)`), each row summing to at most 1 (the rest is "
         "cash). The rows of the rebalance bars (`rotation.rebalance`) are traded by the rotation's rebalancing; "
         "the same rules apply (causal: a weight on bar t uses data up to t; checked on cut data)."),
    ]


def providers_section(registry: Any = None) -> str:
    """The providers section: `registry.describe_text()` (default: `default_registry()`)."""
    if registry is None:
        from .. import default_registry

        registry = default_registry()
    return str(registry.describe_text())


def system_prompt(registry: Any = None, *, providers_text: str | None = None) -> str:
    """The authoring system prompt.

    Args:
        registry: the `ProviderRegistry` whose providers are described (default: `default_registry()`).
        providers_text: the providers section as text (overrides `registry`; tests pin it).
    """
    structured = ", ".join(f"`{op}`" + (f" ({OPERATOR_SYMBOLS[op]})" if op in OPERATOR_SYMBOLS else "")
                           for op in get_args(Operator))
    kinds = [f"- `{kind}`: {', '.join(cols)}" for kind, cols in KIND_COLUMNS.items()]
    builtins = ", ".join(f"`{n}` ({', '.join(p['values'])}; default {p['default']})"
                         for n, p in BUILTIN_PARAMS.items())
    parts = [
        "# Role",
        "",
        ("You turn a trading idea written in natural language into a strategy document for ruleengine. The "
         "engine type-checks the document, compiles its conditions into causal, vectorized signals and backtests "
         "them. Your reply is checked: when it does not parse, validate or compile, you get the diagnostics "
         "(code, message, path, span, hint) and your previous reply back and must return a corrected one."),
        "",
        "# Reply format",
        "",
        "Reply with exactly one JSON object (no prose, no code fences):",
        ("- `kind`: `rules` when entry/exit conditions express the idea (almost always), `code` only when they "
         "cannot (code is the last resort, see below);"),
        "- `strategy`: the strategy document;",
        "- `code_reason`: null for rules; for code, what exactly the conditions cannot express;",
        ("- `explanation`: one or two plain sentences: what the strategy does and what you assumed (windows, "
         "thresholds the user did not give)."),
        "",
        "# The strategy document",
        "",
        ("- `name`, `description`, `timeframe` (short_term | medium_term | long_term: fills the exits `risk` "
         "leaves null with the defaults below; null: no default exits);"),
        ("- `data`: the data slots (DATA_SCHEMA): each has a `name`, a `kind`, a `frequency`, the `columns` "
         "used and a `description`; `provider` null unless the user names one. Slots never name symbols; "
         "`symbol_from` names another slot whose symbol this slot reads (the same instrument at another "
         "frequency: a weekly view of the daily `prices` is `{\"name\": \"weekly\", \"kind\": \"ohlcv\", "
         "\"frequency\": \"1Week\", \"symbol_from\": \"prices\"}`), else null;"),
        ("- `params`: tunable values (PARAM_SCHEMA): `name`, `type` (int | float | bool | enum), `default`, "
         "`min`/`max` (numbers), `values` (enum), `description`. Built in (add only to restrict them): "
         f"{builtins};"),
        "- `entry` / `exit`: `logic` (all = AND, any = OR; exit usually any) and `conditions`;",
        (f"- `risk`: {', '.join(RISK_FIELDS)} (percent numbers: 7 means 7 %, not 0.07); an exit is a number, "
         "\"off\" (no such exit) or null (not given: the timeframe's default, none without a timeframe); "
         "`trailing_stop_activation_pct` needs `trailing_stop_pct`; "
         f"size entries with at most one of {', '.join(SIZING_METHODS)} "
         "(null for all: position_size_pct's default; risk_per_trade_pct needs stop_loss_pct or "
         "stop_loss_distance; volatility_target_pct needs `risk.volatility`, the price's volatility as a fraction "
         f"a year read at the entry signal's bar, e.g. \"{VOLATILITY_EXAMPLE}\" on daily bars, and neither "
         "comes alone), "
         "whole_units true for whole shares, max_open_positions / max_gross_exposure_pct to cap a portfolio;"),
        ("- exits that know the trade: `risk.stop_loss_distance` / `take_profit_distance` in price units, a "
         "number or an expression fixed at the entry (\"2 * atr(high, low, close, 14)\"; instead of the _pct "
         "form, never both); `risk.take_profit_by_bars`: a list of {bars, take_profit_pct} (the row with the "
         "largest bars <= bars held applies; instead of take_profit_pct); exit conditions (only they) may use "
         f"{', '.join(POSITION_VARIABLES)} (not inside functions over past bars; in `exit`, and in a long_short "
         "strategy's `short_exit`, read on its shorts with unrealized_pct mirrored);"),
        ("- `direction`: long (null: buy on entry, sell on exit), short (sell short on entry, buy back on exit; "
         "stops above the entry, targets below: the same entry/exit conditions serve either side) or long_short "
         "(both sides: `entry`/`exit` buy and sell the long side, `short_entry`/`short_exit` sell short and buy "
         "back the short side; an entry while the other side is held closes it and opens the new side at the "
         "same fill, and a long and a short entry on one bar cancel). Use long_short when the idea trades both "
         "ways, e.g. \"long while the fast average is above the slow one, short while it is below\" (entry: the "
         "cross above, short_entry: the cross below, no exits: always in the market after the first cross); "
         "short when it only ever sells short; else long;"),
        ("- `short_entry` / `short_exit`: the short side's conditions (like `entry` / `exit`), only with direction "
         "long_short (`short_entry` is then required, `short_exit` optional); null otherwise;"),
        ("- `entry_order`: null (a market order at execution_price), or `{\"type\": \"limit\" | \"stop\", "
         "\"price\": an expression in price units evaluated at the signal bar's close, \"valid_bars\": bars the "
         "order is worked from the next bar on}`: a limit buys at or below the price (a pullback), a stop buys "
         "when the price trades up through it (a breakout, e.g. `highest(high, 20)`); mirrored for a short; "
         "\"short_price\": null, except with direction long_short, where it is required: the short side's "
         "price (e.g. `lowest(low, 20)`; an order of the side not held reverses the position at its fill); no "
         "pair;"),
        ("- `exit_order`: null (no exit order: exits by the exit conditions and the stops), or `{\"type\": "
         "\"stop\" | \"limit\", \"price\": an expression in price units re-evaluated at every close}`: while a "
         "position is held, the level at a bar's close is an order resting during the next bar, a stop that moves "
         "with the trade (a chandelier stop `highest(high, 22) - 3 * atr(high, low, close, 22)`, a trailing "
         "Donchian exit `lowest(low, 10)`) or a limit to take profit at a band (`bb_upper(close, 20, 2)`); no "
         "position variables in it (write the level from prices and indicators); \"short_price\": null, except "
         "with direction long_short, where it is required: the shorts' level (e.g. `lowest(low, 22) + 3 * "
         "atr(high, low, close, 22)`); direction short uses price; no pair; with code only the type (the code "
         "returns the levels, below);"),
        ("- `pair`: null unless the idea trades two instruments as one position (a spread): `legs` (two ohlcv "
         "slots, first leg first, e.g. [\"asset_a\", \"asset_b\"]), `hedge_ratio` (a number > 0 or an expression "
         "such as \"sma(asset_a.close, 60) / sma(asset_b.close, 60)\"; null: 1) and `sizing` (dollar_neutral: "
         "the second leg's value = hedge_ratio x the first's; hedge_ratio_units: its units = hedge_ratio x the "
         "first's; null: dollar_neutral). Entry goes long the pair (buys the first leg, sells the second short), "
         "exit closes both legs; stops, targets, take_profit_by_bars, the trailing activation and the sizing "
         "methods act on the pair's combined value (a pair takes no stop_loss_distance / take_profit_distance), "
         "and in its exit conditions entry_price is the pair's value at entry, unrealized_pct its change, "
         "highest/lowest_since_entry its extremes;"),
        ("- `rotation`: null unless the idea is a portfolio rebalanced on a calendar over a universe (\"each month "
         "hold the 10 stocks with the best 6-month momentum\"): `rebalance` (1Month, 1Week or the execution "
         "frequency), `hold` (a true/false selection such as `top(roc(close, 126), 10)`), `weights` (equal, "
         "inverse_volatility with `volatility` an expression, or a number expression normalised to 1) and "
         "`min_weight_change_pct` (0: always rebalance); entry/exit may then be null (given, they filter the "
         "held names); `rebalance` may name an enum parameter of those periods (to sweep it); risk only fees_pct / "
         "slippage_pct; no timeframe, pair, direction, entry_order or exit_order; code only with `hold` null "
         "(generate_weights, below);"),
        "- `code`: null for rules.",
        "Every key of the schema is present; use null for what is not given.",
        "",
        "Example (`kind`: rules):",
        "",
        "```json",
        _compact(example_wire()),
        "```",
        "",
        "# Conditions",
        "",
        ("A condition is an expression string, e.g. `rsi(close, 14) < 30`, or the structured form "
         "`{\"field\": \"rsi(close, 14)\", \"operator\": \"lt\", \"value\": 30}` with operators "
         f"{structured}; `value` is a number, a parameter name, an expression, or a list of two bounds "
         "for `between` / of values for `in`."),
        "",
        ("Expressions: numbers, `true`/`false`, names, `+ - * /`, comparisons `< <= > >= == !=` (they do not "
         "chain), `and`, `or`, `not`, parentheses, function calls and lags `x[n]` (the value n bars ago, n >= 0). "
         "Names: a bare column (`close`) is a column of the first ohlcv slot; `slot.column` reaches any slot "
         "(`earnings.eps`, `asset_b.close`); parameters by name. Windows may be int parameters "
         "(`sma(close, fast)`). Every function is causal: it uses bars up to the current one only."),
        "",
        "Argument kinds: " + "; ".join(f"{k}: {v}" for k, v in _ARG_KINDS.items()) + ".",
        "",
        "## Functions",
        "",
        *_functions(),
        "# Data kinds and their columns",
        "",
        *kinds,
        "",
        (f"Frequencies: {', '.join(SOURCE_FREQUENCIES)} (fetching); the execution frequency is one of "
         f"{', '.join(EXECUTION_FREQUENCIES)}, and every slot is aligned to it. A price slot coarser than the "
         "execution (a 1Week slot on 1Day bars) shows on each bar its last *completed* bar, never the forming one "
         "(a week from the close of its last session on); functions over its columns count execution bars. "
         "Fundamentals and insider trades become visible when they were published, never at the period end; "
         "social-media mentions (`social_mentions`, e.g. a `reddit` slot: `reddit.mention_volume > 3 * "
         "sma(reddit.mention_volume, 20)`) from the post's creation time, counted per bar; the user's own "
         "position (`portfolio`: `portfolio.shares`, `portfolio.cost_basis`, `portfolio.unrealized_pct`) from "
         "their fills up to the bar."),
        "",
        (providers_text if providers_text is not None else providers_section(registry)).rstrip(),
        "",
        "# Guidelines",
        "",
        ("- Define measurable conditions (`rsi(close, 14) < 30`, not \"oversold\"); turn vague words into "
         "explicit thresholds and say so in `explanation`."),
        ("- Every number a user may want to tune (windows, thresholds) becomes a parameter with a sensible "
         "default, bounds and a description; fixed conventions (RSI 14) may stay constants."),
        "- Declare only the data slots and columns the conditions use; use the kinds above, nothing else.",
        ("- Set realistic risk parameters for the timeframe. Use the user's numbers when given (\"7% stop\" -> "
         "stop_loss_pct 7; \"no stop\" -> stop_loss_pct \"off\"); exits left null take these defaults of the "
         "timeframe:"),
        *_risk_defaults(),
        ("- Symbols (tickers) never go into the document: they were taken out of the request (shown as "
         "`<symbol 1>`, ...) and are given when the strategy runs. One price slot (`prices`) runs the same rules "
         "on each symbol; a pair or spread idea declares one ohlcv slot per leg (`asset_a`, `asset_b`, in the "
         "order the symbols were mentioned)."),
        "- No look-ahead: conditions only look back (`x[n]`, windows); never use future values.",
        "- Keep names short and descriptive; the description says the idea in one sentence.",
        "",
        "# Code is the last resort",
        "",
        ("Use `kind` code only when the conditions and functions above cannot express the idea (for example a "
         "calculation none of the functions offers); say what in `code_reason`. Code runs sandboxed and is "
         "checked before it is accepted."),
        "",
        *_code_contract(),
        "",
    ]
    return "\n".join(parts)
