"""The scheduled scan: every active strategy over its universe, signals stored, webhook notified.

Meant for a daily cron job (``ruleengine scan --webhook URL``). A strategy without a universe is skipped
(set one with ``strategies add FILE --universe SPEC`` or ``strategies universe ID SPEC``); a strategy that
fails (it no longer compiles, its data cannot be loaded) is reported and the others go on. Entry signals are
always stored; an exit signal only where the strategy holds a position of its side (long or short) in that
ticker *as of the scanned bar*
(``--asof`` may scan a past bar after later scans): an entry signal on an earlier bar that was acted on and
not closed before that bar, or whose hypothetical trade was still open on that bar (open, pending, not tracked
yet, or closed on that bar or later). Old signals on synthetic data (migration 0003) hold nothing.
Over a point-in-time universe (``@sp500``) a strategy's row says which symbols were not members on the bar
(``not_members``, warning D158); a held position in a symbol that left gets its exit (``left_universe``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..errors import RuleEngineError
from .notify import deliver_pending
from .signals import live_scan


def scan(store: Any, *, webhook: str | None = None, asof: Any = None, provider: str | None = None,
         data: str | None = None, min_confidence: float = 0.0, now: Any = None, no_cache: bool = False,
         timeout: float = 5.0, retries: int = 3, backoff: float = 0.5) -> dict[str, Any]:
    """Scan every active strategy; store its signals; deliver new and earlier unsent notifications.

    Returns:
        ``{"strategies": [{strategy_id, name, status, signals, new, bar_time | error | reason}],
        "signals": n, "new": n, "notifications": {"sent", "failed", "pending", "errors"}}``

    Example:
        >>> summary = scan(open_store(), webhook="https://example.org/hook")  # doctest: +SKIP
    """
    rows: list[dict[str, Any]] = []
    total = new = 0
    for rec in store.list_strategies():
        row: dict[str, Any] = {"strategy_id": rec.id, "name": rec.name, "version": rec.version}
        if not rec.universe:
            rows.append(row | {"status": "skipped", "reason": "no universe: ruleengine strategies universe "
                                                              f"{rec.id} SPEC"})
            continue
        try:
            result = live_scan(rec, rec.universe, asof=asof, provider=provider, data=data, store=store,
                               min_confidence=min_confidence, now=now, no_cache=no_cache, near_misses=False)
        except RuleEngineError as exc:
            rows.append(row | {"status": "error", "error": str(exc),
                               "details": [d.to_dict() for d in exc.diagnostics]})
            continue
        held = _held_tickers(store, rec.id, result.bar_time)
        keep = [s for s in result.signals if s.signal_type == "entry" or (s.ticker, s.direction) in held]
        saved = store.save_signals_detailed(keep, notify_url=webhook) if keep else []
        fresh = sum(1 for _, is_new in saved if is_new)
        total += len(saved)
        new += fresh
        rows.append(row | {"status": "ok", "bar_time": result.bar_time.isoformat() if result.bar_time else None,
                           "evaluated": result.evaluated, "signals": len(saved), "new": fresh,
                           "signal_ids": [i for i, _ in saved], "warnings": len(result.warnings)}
                    | _not_members(result.warnings))
    notes = deliver_pending(store, timeout=timeout, retries=retries, backoff=backoff)
    return {"strategies": rows, "signals": total, "new": new, "notifications": notes}


def _not_members(warnings: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"not_members": message}`` when a point-in-time universe left symbols out of the entries on the bar
    (D158: not members then, `ruleengine.live.universe`); {} otherwise."""
    found = [w["message"] for w in warnings if w.get("code") == "D158"]
    return {"not_members": found[0]} if found else {}


def _held_tickers(store: Any, strategy_id: int, bar: datetime | None) -> set[tuple[str, str]]:
    """(ticker, side) of the positions open on `bar` (see the module doc); naive UTC times like the store's."""
    held: set[tuple[str, str]] = set()
    for s in store.list_signals(strategy_id, signal_type="entry"):
        if s.synthetic is True or (bar is not None and s.bar_time >= bar):
            continue  # a position opened on this bar or later is not held on it
        if s.user_acted and (s.outcome is None or _later(s.outcome.get("closed_at"), bar)):
            held.add((s.ticker, s.direction))
            continue
        h = s.hypothetical or {}
        if h.get("status") in (None, "open", "pending") or (h.get("status") == "closed"
                                                             and _later(h.get("exit_time"), bar)):
            held.add((s.ticker, s.direction))
    return held


def _later(when: Any, bar: datetime | None) -> bool:
    """True when the ISO time `when` is on or after `bar` (the position was still open on that bar)."""
    if bar is None or not when:
        return bar is None
    return datetime.fromisoformat(str(when)) >= bar
