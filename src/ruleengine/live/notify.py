"""Webhook notifications: POST JSON with retries and backoff; what cannot be sent stays in the outbox.

Every new signal of a scan gets an outbox row in the same transaction as the signal itself (see
`Store.save_signals`). `deliver_pending` then posts every unsent row to its URL: a 2xx answer marks it sent;
anything else (an error status, a refused connection, a timeout) is retried `retries` times with exponential
backoff, then logged and left unsent, and the next scan tries again. Delivery is at least once: a receiver
that answered 2xx after a timeout on our side may see a message twice (the payload carries ``signal_id`` to
deduplicate).
"""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("ruleengine.live")


def post_json(url: str, payload: dict[str, Any], *, timeout: float = 5.0, retries: int = 3,
              backoff: float = 0.5) -> tuple[bool, str | None, int]:
    """POST `payload` as JSON; returns (delivered, last error, attempts made).

    Example:
        >>> post_json("http://127.0.0.1:9/hook", {"x": 1}, retries=1, timeout=0.5)[0]  # doctest: +SKIP
        False
    """
    import requests

    error: str | None = None
    for attempt in range(1, max(1, retries) + 1):
        try:
            resp = requests.post(url, json=payload, timeout=timeout,
                                 headers={"User-Agent": "ruleengine-scan", "Content-Type": "application/json"})
            if 200 <= resp.status_code < 300:
                return True, None, attempt
            error = f"HTTP {resp.status_code}: {resp.text[:200]}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        if attempt < retries:
            time.sleep(backoff * 2 ** (attempt - 1))
    return False, error, max(1, retries)


def deliver_pending(store: Any, *, timeout: float = 5.0, retries: int = 3, backoff: float = 0.5) -> dict[str, Any]:
    """Send every unsent outbox message; returns counts and the errors of those left in the outbox."""
    sent = failed = 0
    errors: list[dict[str, Any]] = []
    dead: set[str] = set()  # a URL that failed every retry in this round is not hammered again now
    for note in store.pending_notifications():
        if note.url in dead:
            failed += 1
            continue
        ok, error, attempts = post_json(note.url, note.payload, timeout=timeout, retries=retries, backoff=backoff)
        store.mark_notification(note.id, sent=ok, error=error, attempts=attempts)
        if ok:
            sent += 1
            continue
        failed += 1
        dead.add(note.url)
        log.warning("webhook %s: notification %s not delivered after %d attempts: %s", note.url, note.id,
                    attempts, error)
        errors.append({"notification_id": note.id, "url": note.url, "error": error})
    return {"sent": sent, "failed": failed, "pending": len(store.pending_notifications()), "errors": errors}
