"""Live signals that explain themselves, performance tracking, the leaderboard and the scheduled scan.

- `live_signals` / `live_scan`: a strategy on the latest completed bar of each symbol (`signals.py`), with a
  reasoning tree (`reasoning.py`) and a confidence score (`confidence.py`: the formula).
- `track`: hypothetical and actual performance of stored signals (`tracking.py`).
- `compare_strategies`: the leaderboard (`leaderboard.py`).
- `scan`: every active strategy over its universe, with webhook notifications (`scan.py`, `notify.py`).

Names are imported on first use: the models need only pydantic, the rest numpy and pandas.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

_LAZY = {
    "ConditionNode": "models", "LiveScan": "models", "NearMiss": "models", "Operand": "models",
    "Reasoning": "models", "StrategySignal": "models", "compare_strategies": "leaderboard", "scan": "scan",
    "HeldPair": "held_pairs", "HeldPosition": "positions",
    "live_scan": "signals", "live_signals": "signals", "track": "tracking",
}

if TYPE_CHECKING:
    from .leaderboard import compare_strategies
    from .models import ConditionNode, LiveScan, NearMiss, Operand, Reasoning, StrategySignal
    from .scan import scan
    from .signals import live_scan, live_signals
    from .tracking import track


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f"ruleengine.live.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ruleengine.live' has no attribute {name!r}")


__all__ = ["ConditionNode", "LiveScan", "NearMiss", "Operand", "Reasoning", "StrategySignal", "compare_strategies",
           "live_scan", "live_signals", "scan", "track"]
