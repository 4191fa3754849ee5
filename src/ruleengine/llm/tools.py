"""Agent tools: OpenAI function definitions generated from pydantic argument models, and one dispatcher.

The tools of seed 003 (create_trading_strategy, backtest_strategy, get_strategy_signals, compare_strategies,
refine_strategy, list_user_strategies) plus validate_strategy, explain_strategy, sweep_parameters and
list_capabilities. Only create_trading_strategy and refine_strategy call the language model: trying other
symbols or parameter values is another backtest_strategy call with the same strategy (seed 000's
conversation reuse, made explicit in the descriptions).

`definitions()` gives OpenAI function-calling tools in strict mode (closed objects, every property required,
optional ones nullable, no defaults). `call(name, arguments)` validates the arguments and returns the tool's
result (``{"success": true, ...}``) or an ERROR_SCHEMA object; it never raises for user errors (unknown tool
L108, bad arguments L109, arguments too large L115, busy L114, and every `RuleEngineError` of the engine become
error objects). Callers are untrusted: documents are text and symbols are symbols, never paths
(`ruleengine.llm.files`: only the operator's allowed folders), and heavy tools run on a bounded worker pool
(`ruleengine.llm.pool`).

Example:
    >>> [d["function"]["name"] for d in definitions()][:2]
    ['create_trading_strategy', 'backtest_strategy']
    >>> call("no_such_tool", {})["error"]["details"][0]["code"]
    'L108'
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from .. import Diagnostic, RuleEngineError, did_you_mean

_STRATEGY_TEXT = "the strategy document as YAML or JSON text (instead of strategy_id)"
_MAX_ID = 2**63 - 1  # store IDs are SQL integers


def _id_in_range(value: int) -> int:
    # a validator, not `ge`/`le`: the schema stays what strict function calling accepts
    if not 1 <= value <= _MAX_ID:
        raise ValueError(f"a strategy ID is a whole number from 1 to {_MAX_ID}")
    return value


def _top_in_range(value: int) -> int:
    if not 1 <= value <= 1000:
        raise ValueError("top is a whole number from 1 to 1000")
    return value


StrategyId = Annotated[int, AfterValidator(_id_in_range)]
Top = Annotated[int, AfterValidator(_top_in_range)]
_ID = "ID of a stored strategy (from create_trading_strategy or list_user_strategies)"
_SYMBOLS = ("symbols to run on, given at run time: 'SPY', a universe 'SPY,QQQ,IWM', or a pair mapping "
            "'asset_a=GLD,asset_b=SLV'; null: the symbols stored with the strategy")


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParamValue(_Args):
    """One parameter value or risk override for a run."""

    name: str = Field(description="a parameter of the strategy or a risk field (stop_loss_pct, ...)")
    value: bool | float | str = Field(description="its value")


class CreateArgs(_Args):
    strategy_description: str = Field(description=(
        "Natural language description of the trading strategy: entry conditions, exit conditions, risk. "
        "Example: 'Buy when RSI(14) is under 30 and price is above the 200-day average; sell when RSI is "
        "above 70; 7% stop loss.' Symbols named here are returned separately, never written into the strategy."))
    strategy_name: str | None = Field(None, description="short, descriptive name for the strategy")
    save: bool | None = Field(None, description="store the strategy and return its ID (default true)")


class BacktestArgs(_Args):
    strategy_id: StrategyId | None = Field(None, description=_ID)
    strategy: str | None = Field(None, description=_STRATEGY_TEXT)
    symbols: str | None = Field(None, description=_SYMBOLS)
    start_date: str | None = Field(None, description="start date YYYY-MM-DD (default: 10 years before the end)")
    end_date: str | None = Field(None, description="end date YYYY-MM-DD (default: the latest data)")
    initial_capital: float | None = Field(None, description="starting capital (default 100000)")
    params: list[ParamValue] | None = Field(None, description="parameter values / risk overrides for this run")
    provider: str | None = Field(None, description="data provider name (default: the configured one)")


class SignalsArgs(_Args):
    strategy_id: StrategyId = Field(description="ID of the strategy to generate signals for")
    symbols: str | None = Field(None, description=_SYMBOLS)
    min_confidence: float | None = Field(None, description="minimum confidence 0-100 (default 70)")
    asof: str | None = Field(None, description="date YYYY-MM-DD of the bar to evaluate (default: the latest)")
    provider: str | None = Field(None, description="data provider name (default: the configured one)")


class CompareArgs(_Args):
    timeframe: Literal["7d", "30d", "90d", "1y", "all"] | None = Field(
        None, description="timeframe for the comparison (default all)")


class RefineArgs(_Args):
    strategy_id: StrategyId | None = Field(None, description=_ID + "; the result is stored as its new version")
    strategy: str | None = Field(None, description=_STRATEGY_TEXT)
    refinement_description: str = Field(description=(
        "How to change the logic, e.g. 'add a condition that volume is above its 20-day average' or "
        "'tighten the stop loss to 5%'. Not for other symbols or parameter values: use backtest_strategy."))


class ListArgs(_Args):
    active_only: bool | None = Field(None, description="only active strategies (default true)")


class ValidateArgs(_Args):
    strategy: str = Field(description="the strategy document as YAML or JSON text")


class ExplainArgs(_Args):
    strategy_id: StrategyId | None = Field(None, description=_ID)
    strategy: str | None = Field(None, description=_STRATEGY_TEXT)


class SweepArgs(_Args):
    strategy_id: StrategyId | None = Field(None, description=_ID)
    strategy: str | None = Field(None, description=_STRATEGY_TEXT)
    symbols: str | None = Field(None, description=_SYMBOLS)
    grid: list[str] | None = Field(None, description=(
        "axes as 'name=start:stop:step' or 'name=a,b,c' (parameters or risk fields, e.g. 'stop_loss_pct=2:10:2'); "
        "null: every bounded parameter"))
    constraints: list[str] | None = Field(
        None, description="expressions each combination satisfies, e.g. 'fast < slow'")
    metric: str | None = Field(None, description="ranking metric (default sharpe_ratio; a strategy that trades "
                               "short also has long_trades, long_win_rate, long_pnl and the short_ ones)")
    start_date: str | None = Field(None, description="start date YYYY-MM-DD")
    end_date: str | None = Field(None, description="end date YYYY-MM-DD")
    top: Top | None = Field(None, description="rows returned (default 10, at most 1000)")
    provider: str | None = Field(None, description="data provider name (default: the configured one)")


class NoArgs(_Args):
    pass


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    args: type[_Args]
    model_call: bool = False
    heavy: bool = True  # runs on the bounded worker pool (ruleengine.llm.pool); light ones only read a little


TOOLS: dict[str, Tool] = {t.name: t for t in [
    Tool("create_trading_strategy",
         "Create a trading strategy from a natural-language description: the language model writes a strategy "
         "document, which is validated and compiled before it is returned (and stored). Calls the model; use it "
         "for new logic only.", CreateArgs, True),
    Tool("backtest_strategy",
         "Backtest a strategy on historical data: win rate, total return, profit factor, max drawdown, Sharpe, "
         "best and worst trades (a strategy that trades short: its direction, each trade's side and the long/short "
         "split of the trade statistics; a rotation portfolio: its metrics beside the index and equal-weight universe "
         "benchmarks, turnover, latest holdings and per-symbol contributions). Does not call the language model: to "
         "try other symbols or parameter values, call it again with the same strategy_id and different "
         "symbols/params.", BacktestArgs),
    Tool("get_strategy_signals",
         "Current entry/exit signals of a stored strategy on the latest completed bar, each with its side and the "
         "order to place (direction long: buy / sell; short: sell short / buy to cover), confidence scores "
         "and the reasoning (each condition's value). Stored for performance tracking. A rotation portfolio "
         "answers with its rebalance plan instead (the names and weights to hold, what to buy and sell, each "
         "name's ranked value and rank; not stored).", SignalsArgs),
    Tool("compare_strategies",
         "Compare the stored strategies side by side: signals, acted trades, win rate and returns "
         "(actual and hypothetical) over a timeframe.", CompareArgs),
    Tool("refine_strategy",
         "Change the logic of a strategy from a description (e.g. add a condition, change the stop). Calls the "
         "language model; returns the new version and a unified diff; what the request does not touch is kept.",
         RefineArgs, True),
    Tool("list_user_strategies", "List the stored strategies with their ID, name, version and status.", ListArgs,
         heavy=False),
    Tool("validate_strategy",
         "Check a strategy document without running it: every problem with its code, position and a hint.",
         ValidateArgs),
    Tool("explain_strategy",
         "Explain a strategy: each condition in canonical form, parameters, data used and warm-up bars.",
         ExplainArgs),
    Tool("sweep_parameters",
         "Sweep a parameter grid of a strategy and rank the combinations by a metric, with overfitting "
         "statistics (deflated Sharpe ratio). Does not call the language model.", SweepArgs),
    Tool("list_capabilities",
         "What strategies may use: the functions of the expression language, operators, data kinds and their "
         "columns, frequencies, the data providers, and how positions trade (directions, entry order types, "
         "sizing methods, a pair's sizings, the position variables of exit conditions).", NoArgs, heavy=False),
]}


def _clean(node: Any, strict: bool) -> Any:
    if isinstance(node, list):
        return [_clean(n, strict) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _clean(v, strict) for k, v in node.items() if k != "title" and not (strict and k == "default")}
    if out.get("type") == "object" or "properties" in out:
        out["additionalProperties"] = False
        if strict:
            out["required"] = list(out.get("properties", {}))
    return out


def input_schema(name: str, strict: bool = True) -> dict[str, Any]:
    """A tool's argument schema: OpenAI strict form, or plain (optional arguments not required) for MCP."""
    schema = copy.deepcopy(TOOLS[name].args.model_json_schema())
    out = _clean(schema, strict)
    out.setdefault("properties", {})
    if strict:
        out.setdefault("required", [])
    return out


def definitions(strict: bool = True) -> list[dict[str, Any]]:
    """Every tool as an OpenAI function-calling tool (``{"type": "function", "function": {...}}``)."""
    out = []
    for tool in TOOLS.values():
        fn: dict[str, Any] = {"name": tool.name, "description": tool.description,
                              "parameters": input_schema(tool.name, strict)}
        if strict:
            fn["strict"] = True
        out.append({"type": "function", "function": fn})
    return out


def call(name: str, arguments: dict[str, Any] | str | None = None) -> dict[str, Any]:
    """Run a tool: its result (``success: true``) or an ERROR_SCHEMA object for any user error.

    Args:
        name: the tool's name.
        arguments: a dict, or the JSON text of one (what OpenAI's tool calls carry); nulls mean "default".
    """
    tool = TOOLS.get(name)
    if tool is None:
        return RuleEngineError([Diagnostic("L108", f"unknown tool '{name}'",
                                           hint=did_you_mean(name, TOOLS) or "tools: " + ", ".join(TOOLS))
                                ]).to_error_schema()
    try:
        from .pool import shared_pool

        pool = shared_pool()
        _check_size(arguments, pool.limits.max_argument_bytes)
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments or "{}")
            except (ValueError, RecursionError) as exc:
                raise RuleEngineError([Diagnostic("L109", f"arguments are not valid JSON: {exc}")]) from None
        if arguments is not None and not isinstance(arguments, dict):
            raise RuleEngineError([Diagnostic("L109", "arguments must be a JSON object")])
        args = _parse(tool, arguments or {})
        from . import handlers

        handler = getattr(handlers, tool.name)
        return pool.run(lambda: handler(args)) if tool.heavy else handler(args)
    except RuleEngineError as exc:
        return exc.to_error_schema()


def _check_size(arguments: Any, limit: int) -> None:
    """L115 when the arguments, as JSON, are larger than `limit` bytes (or nested past what JSON can say)."""
    try:
        size = len(arguments.encode("utf-8", "replace")) if isinstance(arguments, str) else \
            len(json.dumps(arguments, default=str).encode("utf-8", "replace"))
    except (RecursionError, ValueError):
        raise RuleEngineError([Diagnostic("L115", "the arguments are nested too deeply")]) from None
    if size > limit:
        raise RuleEngineError([Diagnostic("L115", f"the arguments are {size:,} bytes long; the limit is {limit:,}",
                                          hint="a strategy document is a few KB; the operator sets "
                                               "RULEENGINE_TOOLS_MAX_ARGUMENT_BYTES")])


def _parse(tool: Tool, arguments: dict[str, Any]) -> Any:
    try:
        return tool.args.model_validate(arguments)
    except ValidationError as exc:
        diags = []
        for e in exc.errors():
            path = ".".join(str(p) for p in e["loc"]) or None
            hint = None
            if e["type"] == "extra_forbidden" and path:
                hint = did_you_mean(str(e["loc"][-1]), tool.args.model_fields) or \
                    "arguments: " + ", ".join(tool.args.model_fields)
            diags.append(Diagnostic("L109", f"{tool.name}: {path or 'arguments'}: {e['msg']}", path=path,
                                    hint=hint))
        raise RuleEngineError(diags) from None
