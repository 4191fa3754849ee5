"""ruleengine: trading-strategy documents compiled into fast, causal, vectorized signals.

The public API is imported lazily so that `ruleengine validate` starts without numpy, pandas or numba.

Example:
    >>> import ruleengine
    >>> ruleengine.validate("name: x\\ndata: {prices: {kind: ohlcv}}\\nentry: [\"close > sma(close, 20)\"]\\n")
    []
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "BUILTIN_PARAMS",
    "CODE_ALLOWED_MODULES",
    "CODE_DEFAULT_WARMUP_BARS",
    "CODE_MAX_BYTES",
    "CODE_WARMUP_NAME",
    "DIRECTIONS",
    "EXECUTION_FREQUENCIES",
    "FILL_CONTRACT",
    "FILL_CONTRACT_PARTS",
    "FUNCTIONS",
    "FUNCTION_CATEGORIES",
    "KIND_COLUMNS",
    "LONG_SHORT_FILL_CONTRACT",
    "OPERATOR_SYMBOLS",
    "ORDER_TYPES",
    "PAIR_SIZINGS",
    "POSITION_VARIABLES",
    "RISK_FIELDS",
    "RISK_PARAM_NAMES",
    "SHORT_FILL_CONTRACT",
    "SIZING_METHODS",
    "SOURCE_FREQUENCIES",
    "SWEEP_SIDE_COLUMNS",
    "TIMEFRAME_DEFAULTS",
    "VOLATILITY_EXAMPLE",
    "BacktestResult",
    "CompiledStrategy",
    "DataPreview",
    "DataRequest",
    "Diagnostic",
    "LLMSettings",
    "MarketData",
    "Operator",
    "Param",
    "ProviderRegistry",
    "RotationPlan",
    "RotationResult",
    "RuleEngineError",
    "SignalSet",
    "SignalSource",
    "SourceText",
    "Span",
    "Store",
    "StrategySignal",
    "SweepResult",
    "TradingStrategy",
    "__version__",
    "author",
    "backtest",
    "compare_strategies",
    "compile_strategy",
    "default_registry",
    "describe_providers",
    "did_you_mean",
    "dump_strategy",
    "evaluate",
    "expand_params",
    "explain",
    "explain_text",
    "format_metric",
    "functions_markdown",
    "live_scan",
    "live_signals",
    "live_target",
    "load_data",
    "load_strategy",
    "open_store",
    "parse_param_args",
    "parse_symbols",
    "preview_data",
    "refine",
    "render_diagnostics",
    "risk_label",
    "rotation_plan",
    "scan_strategies",
    "serve_mcp",
    "shown_risk_fields",
    "split_params",
    "store_backtest",
    "strict_json_schema",
    "sweep",
    "sweep_runner",
    "symbols_text",
    "track_signals",
    "universe_symbols",
    "validate",
    "walk_forward",
]

_LAZY = {
    "CompiledStrategy": ("ruleengine.compile.compiled", "CompiledStrategy"),
    "compile_strategy": ("ruleengine.strategies", "signal_source"),
    "SignalSource": ("ruleengine.strategies", "SignalSource"),
    "SignalSet": ("ruleengine.signal_set", "SignalSet"),
    "DataRequest": ("ruleengine.data.request", "DataRequest"),
    "evaluate": ("ruleengine.compile.evaluate", "evaluate"),
    "TradingStrategy": ("ruleengine.schema.strategy", "TradingStrategy"),
    "Diagnostic": ("ruleengine.errors", "Diagnostic"),
    "RuleEngineError": ("ruleengine.errors", "RuleEngineError"),
    "load_strategy": ("ruleengine.api", "load_strategy"),
    "validate": ("ruleengine.api", "validate"),
    "dump_strategy": ("ruleengine.api", "dump_strategy"),
    "strict_json_schema": ("ruleengine.schema.jsonschema", "strict_json_schema"),
    "load_data": ("ruleengine.strategies", "load_data"),
    "MarketData": ("ruleengine.data.market", "MarketData"),
    "ProviderRegistry": ("ruleengine.data.registry", "ProviderRegistry"),
    "default_registry": ("ruleengine.data.registry", "default_registry"),
    "backtest": ("ruleengine.backtest.run", "backtest"),
    "parse_param_args": ("ruleengine.backtest.params", "parse_param_args"),
    "split_params": ("ruleengine.backtest.params", "split_params"),
    "BacktestResult": ("ruleengine.backtest.result", "BacktestResult"),
    "RotationResult": ("ruleengine.backtest.rotation", "RotationResult"),
    "sweep": ("ruleengine.sweep.run", "sweep"),
    "SweepResult": ("ruleengine.sweep.result", "SweepResult"),
    "walk_forward": ("ruleengine.sweep.walkforward", "walk_forward"),
    "Store": ("ruleengine.store", "Store"),
    "open_store": ("ruleengine.store", "open_store"),
    "StrategySignal": ("ruleengine.live.models", "StrategySignal"),
    "live_signals": ("ruleengine.live.signals", "live_signals"),
    "compare_strategies": ("ruleengine.live.leaderboard", "compare_strategies"),
    "author": ("ruleengine.llm.author", "author"),
    "Span": ("ruleengine.errors", "Span"),
    "did_you_mean": ("ruleengine.errors", "did_you_mean"),
    "SourceText": ("ruleengine.source", "SourceText"),
    "explain": ("ruleengine.api", "explain"),
    "explain_text": ("ruleengine.api", "explain_text"),
    "render_diagnostics": ("ruleengine.api", "render_diagnostics"),
    "Param": ("ruleengine.schema.strategy", "Param"),
    "Operator": ("ruleengine.schema.strategy", "Operator"),
    "BUILTIN_PARAMS": ("ruleengine.schema.strategy", "BUILTIN_PARAMS"),
    "EXECUTION_FREQUENCIES": ("ruleengine.schema.strategy", "EXECUTION_FREQUENCIES"),
    "SOURCE_FREQUENCIES": ("ruleengine.schema.strategy", "SOURCE_FREQUENCIES"),
    "OPERATOR_SYMBOLS": ("ruleengine.schema.strategy", "OPERATOR_SYMBOLS"),
    "RISK_FIELDS": ("ruleengine.schema.strategy", "RISK_FIELDS"),
    "POSITION_VARIABLES": ("ruleengine.lang.position", "POSITION_VARIABLES"),
    "SWEEP_SIDE_COLUMNS": ("ruleengine.sweep.stats", "SIDE_COLUMNS"),
    "SIZING_METHODS": ("ruleengine.schema.strategy", "SIZING_METHODS"),
    "PAIR_SIZINGS": ("ruleengine.schema.strategy", "PAIR_SIZINGS"),
    "ORDER_TYPES": ("ruleengine.schema.orders", "ORDER_TYPES"),
    "DIRECTIONS": ("ruleengine.sides", "DIRECTIONS"),
    "VOLATILITY_EXAMPLE": ("ruleengine.schema.strategy", "VOLATILITY_EXAMPLE"),
    "KIND_COLUMNS": ("ruleengine.schema.kinds", "KIND_COLUMNS"),
    "FUNCTIONS": ("ruleengine.lang.functions", "FUNCTIONS"),
    "FUNCTION_CATEGORIES": ("ruleengine.lang.functions", "CATEGORIES"),
    "functions_markdown": ("ruleengine.lang.functions", "markdown_table"),
    "expand_params": ("ruleengine.schema.params", "expand"),
    "CODE_ALLOWED_MODULES": ("ruleengine.sandbox.static", "ALLOWED_MODULES"),
    "CODE_MAX_BYTES": ("ruleengine.sandbox.static", "MAX_CODE_BYTES"),
    "CODE_WARMUP_NAME": ("ruleengine.sandbox.static", "WARMUP_NAME"),
    "CODE_DEFAULT_WARMUP_BARS": ("ruleengine.sandbox.strategy", "DEFAULT_WARMUP_BARS"),
    "describe_providers": ("ruleengine.data.overview", "describe_providers"),
    "preview_data": ("ruleengine.data.overview", "preview_data"),
    "DataPreview": ("ruleengine.data.overview", "DataPreview"),
    "parse_symbols": ("ruleengine.data.symbols", "parse_symbols"),
    "universe_symbols": ("ruleengine.data.symbols", "universe_symbols"),
    "FILL_CONTRACT": ("ruleengine.backtest.risk", "FILL_CONTRACT"),
    "FILL_CONTRACT_PARTS": ("ruleengine.backtest.risk", "FILL_CONTRACT_PARTS"),
    "SHORT_FILL_CONTRACT": ("ruleengine.backtest.risk", "SHORT_FILL_CONTRACT"),
    "LONG_SHORT_FILL_CONTRACT": ("ruleengine.backtest.risk", "LONG_SHORT_FILL_CONTRACT"),
    "RISK_PARAM_NAMES": ("ruleengine.backtest.risk", "RISK_PARAM_NAMES"),
    "TIMEFRAME_DEFAULTS": ("ruleengine.backtest.risk", "TIMEFRAME_DEFAULTS"),
    "risk_label": ("ruleengine.backtest.risk", "risk_label"),
    "shown_risk_fields": ("ruleengine.backtest.risk", "shown_risk_fields"),
    "format_metric": ("ruleengine.backtest.report", "fmt"),
    "sweep_runner": ("ruleengine.sweep.executors", "make_runner"),
    "live_scan": ("ruleengine.live.signals", "live_scan"),
    "rotation_plan": ("ruleengine.live.rotation", "rotation_plan"),
    "RotationPlan": ("ruleengine.live.rotation", "RotationPlan"),
    "live_target": ("ruleengine.live.signals", "resolve_target"),
    "track_signals": ("ruleengine.live.tracking", "track"),
    "scan_strategies": ("ruleengine.live.scan", "scan"),
    "store_backtest": ("ruleengine.store", "store_backtest"),
    "LLMSettings": ("ruleengine.llm.client", "LLMSettings"),
    "refine": ("ruleengine.llm.refine", "refine"),
    "serve_mcp": ("ruleengine.llm.mcp_server", "main"),
    "symbols_text": ("ruleengine.llm.handlers", "symbols_text"),
}

if TYPE_CHECKING:
    from .api import dump_strategy, explain, explain_text, load_strategy, render_diagnostics, validate
    from .backtest.params import parse_param_args, split_params
    from .backtest.report import fmt as format_metric
    from .backtest.result import BacktestResult
    from .backtest.risk import (
        FILL_CONTRACT,
        FILL_CONTRACT_PARTS,
        LONG_SHORT_FILL_CONTRACT,
        RISK_PARAM_NAMES,
        SHORT_FILL_CONTRACT,
        TIMEFRAME_DEFAULTS,
        risk_label,
        shown_risk_fields,
    )
    from .backtest.rotation import RotationResult
    from .backtest.run import backtest
    from .compile.compiled import CompiledStrategy
    from .compile.evaluate import evaluate
    from .data.market import MarketData
    from .data.overview import DataPreview, describe_providers, preview_data
    from .data.registry import ProviderRegistry, default_registry
    from .data.request import DataRequest
    from .data.symbols import parse_symbols, universe_symbols
    from .errors import Diagnostic, RuleEngineError, Span, did_you_mean
    from .lang.functions import CATEGORIES as FUNCTION_CATEGORIES
    from .lang.functions import FUNCTIONS
    from .lang.functions import markdown_table as functions_markdown
    from .lang.position import POSITION_VARIABLES
    from .live.leaderboard import compare_strategies
    from .live.models import StrategySignal
    from .live.rotation import RotationPlan, rotation_plan
    from .live.scan import scan as scan_strategies
    from .live.signals import live_scan, live_signals
    from .live.signals import resolve_target as live_target
    from .live.tracking import track as track_signals
    from .llm.author import author
    from .llm.client import LLMSettings
    from .llm.handlers import symbols_text
    from .llm.mcp_server import main as serve_mcp
    from .llm.refine import refine
    from .sandbox.static import ALLOWED_MODULES as CODE_ALLOWED_MODULES
    from .sandbox.static import MAX_CODE_BYTES as CODE_MAX_BYTES
    from .sandbox.static import WARMUP_NAME as CODE_WARMUP_NAME
    from .sandbox.strategy import DEFAULT_WARMUP_BARS as CODE_DEFAULT_WARMUP_BARS
    from .schema.jsonschema import strict_json_schema
    from .schema.kinds import KIND_COLUMNS
    from .schema.orders import ORDER_TYPES
    from .schema.params import expand as expand_params
    from .schema.strategy import (
        BUILTIN_PARAMS,
        EXECUTION_FREQUENCIES,
        OPERATOR_SYMBOLS,
        PAIR_SIZINGS,
        RISK_FIELDS,
        SIZING_METHODS,
        SOURCE_FREQUENCIES,
        VOLATILITY_EXAMPLE,
        Operator,
        Param,
        TradingStrategy,
    )
    from .sides import DIRECTIONS
    from .signal_set import SignalSet
    from .source import SourceText
    from .store import Store, open_store, store_backtest
    from .strategies import SignalSource, load_data
    from .strategies import signal_source as compile_strategy
    from .sweep.executors import make_runner as sweep_runner
    from .sweep.result import SweepResult
    from .sweep.run import sweep
    from .sweep.stats import SIDE_COLUMNS as SWEEP_SIDE_COLUMNS
    from .sweep.walkforward import walk_forward


def __getattr__(name: str) -> Any:
    if name == "tools":  # a module (agent tools): `ruleengine.tools.call(...)` without importing it first
        import importlib

        return importlib.import_module("ruleengine.tools")
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ruleengine' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


class _PublicNamesFirst(types.ModuleType):
    """The package module: a public function named like a subpackage (`backtest`, `sweep`) stays the function.

    Importing ``ruleengine.backtest.<module>`` for the first time binds the attribute ``backtest`` of this
    package to the subpackage; that binding is skipped for public names, which `__getattr__` then resolves to
    the function (the subpackage stays reachable through ``sys.modules`` and ``from ... import``).
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _PublicNamesFirst
