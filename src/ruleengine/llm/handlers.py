"""The agent tools' implementations (one function per tool, named like it), over the public API and the store.

`tools.call` validates arguments and turns every `RuleEngineError` into an ERROR_SCHEMA object; the functions
here raise them. Callers are untrusted: a `strategy` argument is document text and `symbols` are symbols
(files only from the operator's folders, `ruleengine.llm.files`); results say whether they were computed on
synthetic data, synthetic backtests are not stored (L117) and live signals need real data (L116). The store is
``ruleengine.store.open_store()`` (``$RULEENGINE_DB`` or the user data folder), opened once per process and
database URL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from .. import Diagnostic, RotationResult, RuleEngineError
from .tools import (
    BacktestArgs,
    CompareArgs,
    CreateArgs,
    ExplainArgs,
    ListArgs,
    NoArgs,
    ParamValue,
    RefineArgs,
    SignalsArgs,
    SweepArgs,
    ValidateArgs,
)

DEFAULT_CAPITAL = 100_000.0
MAX_RUNS = 20  # runs listed in a backtest answer (a universe can have hundreds; the rest is summarised)
_STORES: dict[str, Any] = {}


def store() -> Any:
    """The process's store for the current ``RULEENGINE_DB`` (opened and migrated on first use)."""
    key = os.environ.get("RULEENGINE_DB", "")
    if key not in _STORES:
        from .. import open_store

        _STORES[key] = open_store()
    return _STORES[key]


def _plain(value: Any) -> Any:
    """JSON-ready data (dates and other objects as text)."""
    return json.loads(json.dumps(value, default=str, allow_nan=False)) if value is not None else None


def symbols_text(spec: Any) -> str | None:
    """A symbols spec as one string: ``"SPY,QQQ"``, ``"asset_a=GLD,asset_b=SLV"`` or, for several runs of a
    pair, ``"asset_a=XLE,asset_b=XLF;asset_a=GLD,asset_b=GDX"`` (the spelling `parse_symbols` reads back)."""
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping):
        return ",".join(f"{k}={v}" for k, v in spec.items())
    if spec and all(isinstance(x, Mapping) for x in spec):
        return ";".join(",".join(f"{k}={v}" for k, v in x.items()) for x in spec)
    return ",".join(str(s) for s in spec)


def _strategy(strategy_id: int | None, text: str | None) -> tuple[Any, Any]:
    """(strategy, stored record or None) from exactly one of an ID and a document."""
    if (strategy_id is None) == (text is None):
        raise RuleEngineError([Diagnostic("L109", "give either strategy_id or strategy (a YAML/JSON document)",
                                          path="strategy_id", hint="list_user_strategies shows the IDs")])
    if strategy_id is not None:
        record = store().get_strategy(strategy_id)
        return record.strategy, record
    from .. import load_strategy

    return load_strategy(document_text(text or ""), allow_paths=False), None


def document_text(text: str) -> str:
    """A `strategy` argument as document text: the text itself, or a file of the operator's strategies folder
    when it is a file name (L112 when no folder is configured); no other file is ever opened."""
    from .files import looks_like_file_name, read_strategy_text

    return read_strategy_text(text) if looks_like_file_name(text) else text


def _symbols(given: str | None, record: Any, strategy: Any) -> str | list[str]:
    """The symbols to run on, checked against the strategy's slots; a universe file ('@name') is read from the
    operator's universes folder only and passed on as its symbols, so no library call ever sees a path."""
    from .. import parse_symbols
    from .files import read_universe

    symbols = given or (getattr(record, "universe", None) if record is not None else None)
    if not symbols:
        raise RuleEngineError([Diagnostic("L109", "no symbols to run on", path="symbols",
                                          hint="pass symbols, e.g. 'SPY', 'SPY,QQQ' or 'asset_a=GLD,asset_b=SLV'")])
    slots = list(strategy.data)
    runs = parse_symbols(symbols, slots, {n: s.kind for n, s in strategy.data.items()}, read_file=read_universe)
    return [run[slots[0]] for run in runs] if symbols.strip().startswith("@") else symbols


def _params(strategy: Any, values: list[ParamValue] | None) -> dict[str, Any]:
    from .. import parse_param_args

    args = []
    for p in values or []:
        v = p.value
        if isinstance(v, bool):
            text = "true" if v else "false"
        elif isinstance(v, float) and v.is_integer():
            text = str(int(v))
        else:
            text = str(v)
        args.append(f"{p.name}={text}")
    return parse_param_args(strategy, args)


def _author_model(record: Any) -> str | None:
    author = getattr(record, "author", None) or ""
    return author[4:] if author.startswith("llm:") else None


# ------------------------------------------------------------------------------------------- tools
def create_trading_strategy(args: CreateArgs) -> dict[str, Any]:
    from .author import author

    result = author(args.strategy_description, name=args.strategy_name)
    out = result.to_dict()
    out["attempts"] = len(result.attempts)
    out["strategy_id"] = out["version"] = None
    if args.save is not False:
        record = store().add_strategy(result.strategy, nl_input=args.strategy_description,
                                      author=f"llm:{result.model}", universe=symbols_text(result.symbols_spec))
        out["strategy_id"], out["version"] = record.id, record.version
    out["next"] = ("backtest_strategy with this strategy_id" + (f" and symbols {symbols_text(result.symbols_spec)!r}"
                                                                 if result.symbols else " and the symbols to test"))
    return out


def backtest_summary(result: Any, max_trades: int = 3) -> dict[str, Any]:
    """A compact answer for an agent: the strategy's direction, metrics per run (with the long/short split of a
    strategy that trades short), best/worst trades (each short one marked), exits, risk, fills, warnings."""
    runs = sorted(result.results, key=lambda r: r.metrics.total_return_pct, reverse=True)
    shown = runs if len(runs) <= MAX_RUNS else runs[:MAX_RUNS // 2] + runs[-MAX_RUNS // 2:]
    out_runs = []
    for r in shown:
        ranked = sorted(r.trades, key=lambda t: t.pnl_pct, reverse=True)
        out_runs.append({
            "label": r.label, "symbols": r.symbols, "params": _plain(r.params),
            "metrics": r.metrics.model_dump(mode="json"), "benchmark": r.benchmark.model_dump(mode="json"),
            "exit_reasons": r.exit_reasons(),
            **({} if r.sides is None else {"sides": {k: m.model_dump(mode="json") for k, m in r.sides.items()}}),
            "best_trades": [t.model_dump(mode="json") for t in ranked[:max_trades]],
            "worst_trades": [t.model_dump(mode="json") for t in ranked[::-1][:max_trades] if t.pnl_pct < 0],
        })
    first = result.results[0]
    p = result.provenance
    return {"success": True, "strategy_name": p.strategy_name, "synthetic": result.synthetic,
            "direction": first.risk.get("direction", "long"),
            "period": {"start": p.start, "end": p.end, "frequency": p.frequency}, "runs_total": len(runs),
            "runs": out_runs, "risk": _plain(first.risk), "fill_contract": result.fill_contract,
            "warnings": _plain(result.warnings), "provenance": p.model_dump(mode="json")}


def backtest_strategy(args: BacktestArgs) -> dict[str, Any]:
    from .. import backtest
    from .models import knowledge_cutoff_note

    strategy, record = _strategy(args.strategy_id, args.strategy)
    symbols = _symbols(args.symbols, record, strategy)
    result = backtest(strategy, symbols, args.start_date, args.end_date, params=_params(strategy, args.params),
                      init_cash=args.initial_capital or DEFAULT_CAPITAL, provider=args.provider)
    out = rotation_summary(result) if isinstance(result, RotationResult) else backtest_summary(result)
    out["strategy_id"] = record.id if record is not None else None
    out["run_id"] = None
    if record is not None and result.synthetic:  # a made-up run must never count next to real-data runs
        out["warnings"].append(Diagnostic(
            "L117", "this run is not stored: it was computed on synthetic data", severity="warning",
            hint="configure real data in the server's environment (RULEENGINE_DATA=PATH, RULEENGINE_PROVIDER=yahoo, "
                 "or FMP_API_KEY)").to_dict())
    elif record is not None:
        out["run_id"] = store().save_backtest(record.id, result, version=record.version)
    period = (result.start, result.end) if isinstance(result, RotationResult) else (result.provenance.start,
                                                                                    result.provenance.end)
    note = knowledge_cutoff_note(_author_model(record), *period)
    if note:
        out["warnings"].append(Diagnostic("L111", note, severity="warning").to_dict())
    return out


def rotation_summary(result: RotationResult, max_contributions: int = 5) -> dict[str, Any]:
    """A compact answer for an agent about a rotation portfolio: metrics with both benchmarks and the turnover,
    the latest holdings, the largest and smallest contributions, the order count, fills and warnings (the whole
    equity, orders and holdings are in the stored run: runs show N --json)."""
    latest = next((h for h in reversed(result.holdings) if h.weights), None)
    rows = result.contribution
    return {"success": True, "kind": "rotation", "strategy_name": result.strategy, "synthetic": result.synthetic,
            "period": {"start": result.start, "end": result.end,
                       "frequency": result.data.frequency if result.data is not None else None},
            "universe_size": len(result.symbols), "params": _plain(result.params), "costs": _plain(result.costs),
            "metrics": result.metrics.model_dump(mode="json"), "benchmark": result.benchmark.model_dump(mode="json"),
            "turnover_pct_per_year": result.turnover_pct_per_year, "orders": len(result.orders),
            "rebalances": len(result.holdings),
            "latest_holdings": None if latest is None else latest.model_dump(mode="json"),
            "best_contributions": [c.model_dump(mode="json") for c in rows[:max_contributions]],
            "worst_contributions": [c.model_dump(mode="json") for c in rows[::-1][:max_contributions] if c.pnl < 0],
            "fill_contract": result.fill_contract, "warnings": _plain(result.warnings)}


def get_strategy_signals(args: SignalsArgs) -> dict[str, Any]:
    from .. import live_scan

    st = store()
    record = st.get_strategy(args.strategy_id)
    symbols = _symbols(args.symbols, record, record.strategy)
    _require_real_data(record.strategy, args.provider)
    if record.strategy.rotation is not None:  # one account: its rebalance plan (not stored as signals)
        from .. import rotation_plan

        plan = rotation_plan(record, symbols, asof=args.asof, provider=args.provider)
        return {**plan.model_dump(mode="json"), "success": True, "strategy_id": record.id,
                "version": record.version, "symbols": symbols_text(symbols)}
    min_conf = 70.0 if args.min_confidence is None else args.min_confidence
    scan = live_scan(record, symbols, asof=args.asof, min_confidence=min_conf, provider=args.provider, store=st)
    if any(s.data_snapshot.get("synthetic") for s in scan.signals):  # the check above missed a provider
        raise _synthetic_signals()
    ids = st.save_signals(scan.signals) if scan.signals else []
    signals = [{"signal_id": i, **s.model_dump(mode="json")} for i, s in zip(ids, scan.signals, strict=True)]
    return {"success": True, "synthetic": False, "strategy_id": record.id, "version": record.version,
            "symbols": symbols_text(symbols), "bar_time": _plain(scan.bar_time), "min_confidence": min_conf,
            "signals": signals,
            "near_misses": [m.model_dump(mode="json") for m in scan.near_misses[:5]],
            "warnings": _plain(scan.warnings)}


def _synthetic_signals() -> RuleEngineError:
    return RuleEngineError([Diagnostic(
        "L116", "live signals need real market data; only the synthetic sample provider is available",
        path="provider", hint="configure real data in the server's environment: RULEENGINE_DATA=PATH (local files), "
                              "RULEENGINE_PROVIDER=yahoo (no key), ALPACA_API_KEY and ALPACA_SECRET_KEY, or "
                              "FMP_API_KEY (and RULEENGINE_PROVIDER if the default is 'sample')")])


def _require_real_data(strategy: Any, provider: str | None) -> None:
    """L116 before any work when a slot of the strategy would be served by a synthetic provider."""
    from .. import default_registry

    registry = default_registry()
    for name, slot in strategy.data.items():
        chosen, _, _ = registry.choose(slot.provider, slot.kind, slot.frequency, provider)
        if registry.get(chosen, path=f"data.{name}").synthetic:
            raise _synthetic_signals()


def compare_strategies(args: CompareArgs) -> dict[str, Any]:
    from .. import compare_strategies as leaderboard

    timeframe = args.timeframe or "all"
    return {"success": True, "timeframe": timeframe, "strategies": _plain(leaderboard(store(), timeframe))}


def refine_strategy(args: RefineArgs) -> dict[str, Any]:
    from .refine import refine

    if (args.strategy_id is None) == (args.strategy is None):
        raise RuleEngineError([Diagnostic("L109", "give either strategy_id or strategy (a YAML/JSON document)",
                                          path="strategy_id")])
    if args.strategy_id is not None:
        result = refine(args.strategy_id, args.refinement_description, store=store(), save=True)
    else:
        strategy, _ = _strategy(None, args.strategy)
        result = refine(strategy, args.refinement_description)
    out = result.to_dict()
    out["attempts"] = len(result.authored.attempts)
    return out


def list_user_strategies(args: ListArgs) -> dict[str, Any]:
    records = store().list_strategies(include_inactive=args.active_only is False)
    rows = [{"strategy_id": r.id, "name": r.name, "version": r.version, "active": r.active,
             "author": r.author, "created_at": _plain(r.created_at), "universe": r.universe,
             "timeframe": r.strategy.timeframe, "direction": r.strategy.direction,
             "description": r.strategy.description} for r in records]
    return {"success": True, "count": len(rows), "strategies": rows}


def validate_strategy(args: ValidateArgs) -> dict[str, Any]:
    from .. import validate

    diags = validate(document_text(args.strategy), allow_paths=False)
    errors = [d for d in diags if d.severity == "error"]
    return {"success": True, "valid": not errors, "diagnostics": [d.to_dict() for d in diags]}


def explain_strategy(args: ExplainArgs) -> dict[str, Any]:
    from .. import explain

    strategy, record = _strategy(args.strategy_id, args.strategy)
    if strategy.code is not None:
        return {"success": True, "name": strategy.name, "kind": "code", "direction": strategy.direction,
                "code": strategy.code,
                "data": _plain({k: v.model_dump(exclude_none=True) for k, v in strategy.data.items()}),
                "params": _plain({k: v.model_dump(exclude_none=True) for k, v in strategy.params.items()})}
    return {"success": True, "strategy_id": getattr(record, "id", None), "kind": "rules",
            **_plain(explain(strategy))}


def sweep_parameters(args: SweepArgs) -> dict[str, Any]:
    from .. import sweep

    strategy, record = _strategy(args.strategy_id, args.strategy)
    symbols = _symbols(args.symbols, record, strategy)
    top = args.top or 10
    result = sweep(strategy, symbols, args.start_date, args.end_date, grid=args.grid,
                   constraints=args.constraints or (), metric=args.metric or "sharpe_ratio", top=top,
                   provider=args.provider)
    out = result.to_dict(top)
    return {**out, "synthetic": any(w.get("code") == "D120" for w in out["warnings"]),
            "strategy_id": getattr(record, "id", None)}


def _positions() -> dict[str, Any]:
    """How a strategy may trade (the document's keys with their meanings, from the places that define them): its
    directions, entry and exit order types (an exit order: market is none), sizing methods, a pair's sizings, and
    the position variables of exit conditions."""
    from .. import DIRECTIONS, ORDER_TYPES, PAIR_SIZINGS, POSITION_VARIABLES, SIZING_METHODS

    return {"directions": dict(DIRECTIONS), "entry_order_types": list(ORDER_TYPES),
            "exit_order_types": list(ORDER_TYPES),
            "sizing_methods": list(SIZING_METHODS), "pair_sizings": list(PAIR_SIZINGS),
            "position_variables": dict(POSITION_VARIABLES),
            "position_variables_where": "exit conditions only (exit, and short_exit on a long_short strategy's "
                                        "shorts), outside functions over past bars"}


def list_capabilities(args: NoArgs) -> dict[str, Any]:
    from typing import get_args

    from .. import (
        EXECUTION_FREQUENCIES,
        FUNCTIONS,
        KIND_COLUMNS,
        OPERATOR_SYMBOLS,
        SOURCE_FREQUENCIES,
        Operator,
        default_registry,
    )
    from .client import LLMSettings
    from .tools import TOOLS

    settings = LLMSettings.from_env()
    functions = [{"name": f.name, "signature": f.signature, "returns": "bool" if f.returns == "bool" else "number",
                  "category": f.category, "doc": f.doc, "example": f.example} for f in FUNCTIONS.values()]
    return {
        "success": True, "functions": functions,
        "operators": {"arithmetic": ["+", "-", "*", "/"], "comparison": ["<", "<=", ">", ">=", "==", "!="],
                      "logical": ["and", "or", "not"], "lag": "x[n] (n bars ago, n >= 0)",
                      "structured": {op: OPERATOR_SYMBOLS.get(op, op) for op in get_args(Operator)}},
        "data_kinds": {k: list(v) for k, v in KIND_COLUMNS.items()},
        "frequencies": {"data": SOURCE_FREQUENCIES, "execution": EXECUTION_FREQUENCIES},
        "positions": _positions(),
        "providers": _plain(default_registry().describe()),
        "tools": [{"name": t.name, "calls_model": t.model_call} for t in TOOLS.values()],
        "llm": {"model": settings.model, "configured": bool(settings.api_key or settings.base_url)},
    }
