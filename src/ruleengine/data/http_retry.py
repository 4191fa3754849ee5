"""Retries that honour ``Retry-After``: one `requests.Session` used under every HTTP client library we drive.

Client libraries retry on their own terms (fmpsdk: fixed ``2**n`` sleeps; prawcore: random sleeps, and no
retry at all for 429), none of them reads ``Retry-After``. Providers therefore switch those retries off (or
make them unreachable) and hand the library a `RetryingSession`: 429, 5xx and connection errors are retried
up to ``max_retries`` times, waiting ``Retry-After`` when the server sends it (seconds or an HTTP date) and
``backoff * 2**n`` otherwise. A ``Retry-After`` longer than ``max_wait`` is not waited for.

When the budget is spent the last response goes back to the library as it is (``give_up="return"``, fmpsdk
turns it into its own error), or `GaveUp` is raised (``give_up="raise"``), for a library that would
otherwise start its own slow retries on the same failure (prawcore retries 5xx and connection errors).
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any, Literal

import requests


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay seconds or an HTTP date); None when absent/invalid.

    Example:
        >>> retry_after_seconds("0.25")
        0.25
        >>> retry_after_seconds("soon") is None
        True
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)  # RFC 9110 says integer seconds; fractions are accepted (test servers use them)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


class GaveUp(requests.RequestException):
    """The retry budget is spent: `status` is the last HTTP status (None: no connection), `retry_after` the
    last wait the server asked for, `attempts` the HTTP attempts made, `body` the last response's text."""

    def __init__(self, status: int | None, attempts: int, retry_after: float | None, body: str = "",
                 reason: str = "") -> None:
        super().__init__(f"gave up after {attempts} attempt(s): " + (f"HTTP {status}" if status else reason))
        self.status, self.attempts, self.retry_after, self.body = status, attempts, retry_after, body


class RetryingSession(requests.Session):
    """A `requests.Session` that retries 429, 5xx and connection errors (see the module docstring).

    Args:
        max_retries: retries after the first attempt.
        backoff: first exponential wait in seconds (``backoff * 2**n`` before retry n+1).
        max_wait: the longest single wait; a longer ``Retry-After`` is not waited for.
        give_up: ``"return"`` the last response, or ``"raise"`` `GaveUp`, once the budget is spent.
        sleep: the sleep function (time.sleep).

    After each request, `attempts` is the number of HTTP attempts made and `retry_after` the last
    ``Retry-After`` wait the server asked for (None if none).
    """

    def __init__(self, *, max_retries: int = 4, backoff: float = 0.5, max_wait: float = 60.0,
                 give_up: Literal["return", "raise"] = "return",
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__()
        self.max_retries = max(0, int(max_retries))
        self.backoff = max(0.0, float(backoff))
        self.max_wait = max_wait
        self.give_up = give_up
        self._sleep = sleep
        self.attempts = 0
        self.retry_after: float | None = None

    def redirect(self, url: str) -> str:
        """Where a request for `url` goes (unchanged here; subclasses point a library elsewhere)."""
        return url

    def request(self, method: str, url: str | bytes,  # type: ignore[override, unused-ignore]  # types-requests
                *args: Any, **kwargs: Any) -> requests.Response:
        target = self.redirect(url.decode() if isinstance(url, bytes) else url)
        self.attempts = 0
        self.retry_after = None
        while True:
            self.attempts += 1
            retries_left = self.attempts <= self.max_retries
            try:
                response = super().request(method, target, *args, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not retries_left:
                    if self.give_up == "raise":
                        raise GaveUp(None, self.attempts, None, reason=str(exc)) from None
                    raise
                self._sleep(self.backoff * 2 ** (self.attempts - 1))
                continue
            if not (response.status_code == 429 or response.status_code >= 500):
                return response
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            self.retry_after = wait
            if not retries_left or (wait is not None and wait > self.max_wait):
                if self.give_up == "raise":
                    raise GaveUp(response.status_code, self.attempts, wait, response.text)
                return response
            response.close()
            self._sleep(wait if wait is not None else self.backoff * 2 ** (self.attempts - 1))
