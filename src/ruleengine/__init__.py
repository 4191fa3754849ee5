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
    "BacktestResult",
    "CompiledStrategy",
    "Diagnostic",
    "MarketData",
    "ProviderRegistry",
    "RuleEngineError",
    "Store",
    "StrategySignal",
    "SweepResult",
    "TradingStrategy",
    "author",
    "backtest",
    "compare_strategies",
    "compile_strategy",
    "default_registry",
    "dump_strategy",
    "evaluate",
    "live_signals",
    "load_data",
    "load_strategy",
    "open_store",
    "parse_param_args",
    "split_params",
    "strict_json_schema",
    "sweep",
    "validate",
    "walk_forward",
]

_LAZY = {
    "CompiledStrategy": ("ruleengine.compile.compiled", "CompiledStrategy"),
    "compile_strategy": ("ruleengine.compile.compiled", "compile_strategy"),
    "evaluate": ("ruleengine.compile.evaluate", "evaluate"),
    "TradingStrategy": ("ruleengine.schema.strategy", "TradingStrategy"),
    "Diagnostic": ("ruleengine.errors", "Diagnostic"),
    "RuleEngineError": ("ruleengine.errors", "RuleEngineError"),
    "load_strategy": ("ruleengine.api", "load_strategy"),
    "validate": ("ruleengine.api", "validate"),
    "dump_strategy": ("ruleengine.api", "dump_strategy"),
    "strict_json_schema": ("ruleengine.schema.jsonschema", "strict_json_schema"),
    "load_data": ("ruleengine.data.market", "load_market_data"),
    "MarketData": ("ruleengine.data.market", "MarketData"),
    "ProviderRegistry": ("ruleengine.data.registry", "ProviderRegistry"),
    "default_registry": ("ruleengine.data.registry", "default_registry"),
    "backtest": ("ruleengine.backtest.run", "backtest"),
    "parse_param_args": ("ruleengine.backtest.params", "parse_param_args"),
    "split_params": ("ruleengine.backtest.params", "split_params"),
    "BacktestResult": ("ruleengine.backtest.result", "BacktestResult"),
    "sweep": ("ruleengine.sweep.run", "sweep"),
    "SweepResult": ("ruleengine.sweep.result", "SweepResult"),
    "walk_forward": ("ruleengine.sweep.walkforward", "walk_forward"),
    "Store": ("ruleengine.store", "Store"),
    "open_store": ("ruleengine.store", "open_store"),
    "StrategySignal": ("ruleengine.live.models", "StrategySignal"),
    "live_signals": ("ruleengine.live.signals", "live_signals"),
    "compare_strategies": ("ruleengine.live.leaderboard", "compare_strategies"),
    "author": ("ruleengine.llm.author", "author"),
}

if TYPE_CHECKING:
    from .api import dump_strategy, load_strategy, validate
    from .backtest.result import BacktestResult
    from .backtest.params import parse_param_args, split_params
    from .backtest.run import backtest
    from .compile.compiled import CompiledStrategy, compile_strategy
    from .compile.evaluate import evaluate
    from .data.market import MarketData
    from .data.market import load_market_data as load_data
    from .data.registry import ProviderRegistry, default_registry
    from .errors import Diagnostic, RuleEngineError
    from .live.leaderboard import compare_strategies
    from .live.models import StrategySignal
    from .live.signals import live_signals
    from .llm.author import author
    from .schema.jsonschema import strict_json_schema
    from .schema.strategy import TradingStrategy
    from .store import Store, open_store
    from .sweep.run import sweep
    from .sweep.result import SweepResult
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
