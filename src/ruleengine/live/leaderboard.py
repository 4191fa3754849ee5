"""The strategy leaderboard of seed 003: signals, win rate, actual and hypothetical return, last signal, status.

Computed from the stored signals whose bar lies in the timeframe (``7d``, ``30d``, ``90d``, ``1y`` before
`now`, or ``all``), with the per-signal results `ruleengine.live.track` stored (run ``track`` first for fresh
numbers). Ranked like the seed: by actual return when the strategy has actual trades (closed or open), else by
hypothetical return, best first; strategies without signals in the timeframe come last.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import Diagnostic, RuleEngineError
from .tracking import aggregate

TIMEFRAMES: dict[str, int | None] = {"7d": 7, "30d": 30, "90d": 90, "1y": 365, "all": None}


def compare_strategies(store: Any, timeframe: str = "all", *, now: Any = None,
                       include_inactive: bool = True) -> list[dict[str, Any]]:
    """Leaderboard rows, best first.

    Each row: rank, strategy_id, name, version, status, timeframe (the strategy's), signals, acted,
    actual_trades, actual_open, win_rate (actual, closed trades, %), actual_return_pct, hypothetical_trades,
    hypothetical_open, hypothetical_win_rate, hypothetical_return_pct, last_signal (ISO bar time or None).

    Example:
        >>> rows = compare_strategies(open_store(), "90d")  # doctest: +SKIP
    """
    if timeframe not in TIMEFRAMES:
        raise RuleEngineError([Diagnostic("T107", f"unknown timeframe '{timeframe}'", path="timeframe",
                                          hint="one of: " + ", ".join(TIMEFRAMES))])
    days = TIMEFRAMES[timeframe]
    clock = _naive(now) if now is not None else datetime.now(UTC).replace(tzinfo=None)
    since = clock - timedelta(days=days) if days is not None else None
    rows: list[dict[str, Any]] = []
    for rec in store.list_strategies(include_inactive=include_inactive):
        signals = [s for s in store.list_signals(rec.id, since=since) if s.bar_time <= clock]
        if not signals and not rec.active:
            continue
        v = aggregate(signals)
        a_n, h_n = v["actual_trades"], v["hypothetical_trades"]
        rows.append({
            "strategy_id": rec.id, "name": rec.name, "version": rec.version, "status": rec.status,
            "timeframe": rec.definition.get("timeframe"), "signals": v["signals_generated"],
            "acted": v["signals_acted_on"], "actual_trades": a_n, "actual_open": v["actual_open"],
            "win_rate": 100.0 * v["actual_wins"] / a_n if a_n else None,
            "actual_return_pct": v["actual_return_pct"] if a_n or v["actual_open"] else None,
            "hypothetical_trades": h_n, "hypothetical_open": v["hypothetical_open"],
            "hypothetical_win_rate": 100.0 * v["hypothetical_wins"] / h_n if h_n else None,
            "hypothetical_return_pct": v["hypothetical_return_pct"] if h_n or v["hypothetical_open"] else None,
            "last_signal": v["last_signal_date"].isoformat() if v["last_signal_date"] else None})

    def key(r: dict[str, Any]) -> tuple[int, float]:
        ret = r["actual_return_pct"] if r["actual_return_pct"] is not None else r["hypothetical_return_pct"]
        return (0 if r["signals"] else 1, -(ret if ret is not None else float("-inf")))

    rows.sort(key=key)
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return [{"rank": r.pop("rank"), **r} for r in rows]


def _naive(value: Any) -> datetime:
    import pandas as pd

    ts = pd.Timestamp(value)
    if ts.tz is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    if len(str(value)) <= 10:  # a date: the whole day counts
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return ts.to_pydatetime()
