"""HTTP plumbing shared by the remote providers: where a client library's requests go, and how they are retried.

Client libraries (fmpsdk, yfinance) build their URLs from constants of their own. Instead of rebinding those
globals, a provider gives the library a `RetryingSession` (both accept a ``session=``) whose `redirect`
rewrites the URL prefix, so pointing a provider at another server (a base-URL setting, a local stand-in)
touches nothing outside its own session.

Retries: 429, 5xx and connection errors are retried up to ``max_retries`` times, waiting ``Retry-After`` when
the server sends it (seconds or an HTTP date) and ``backoff * 2**n`` otherwise. A ``Retry-After`` longer than
``max_wait`` is not waited for: the response goes back at once, and the provider reports the wait. A library
that would start its own slower retries on the same failure (prawcore retries 5xx and connection errors) gets
`GaveUp` raised instead (``give_up="raise"``).
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any, Literal

import requests


def normalize_base_url(url: str) -> str:
    """The base URL without a trailing slash (``http://127.0.0.1:8000/stable``)."""
    return url.strip().rstrip("/")


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


def is_retryable(status: int) -> bool:
    """429 (rate limit) and 5xx (server trouble) are worth another try; other statuses are answers."""
    return status == 429 or status >= 500


class GaveUp(requests.RequestException):
    """The retry budget is spent (``give_up="raise"``): `status` is the last HTTP status (None: no connection),
    `retry_after` the last wait the server asked for, `attempts` the HTTP attempts made."""

    def __init__(self, status: int | None, attempts: int, retry_after: float | None, reason: str = "") -> None:
        super().__init__(f"gave up after {attempts} attempt(s): " + (f"HTTP {status}" if status else reason))
        self.status, self.attempts, self.retry_after = status, attempts, retry_after


class RetryingSession(requests.Session):
    """A `requests.Session` with base-URL redirection (`redirect`, identity here) and Retry-After-aware retries.

    Args:
        max_retries: retries after the first attempt for 429, 5xx and connection errors.
        backoff: first exponential wait in seconds (``backoff * 2**n`` before retry n+1).
        max_wait: the longest single wait; a longer ``Retry-After`` is not waited for.
        give_up: once the budget is spent, ``"return"`` the last response (or re-raise the connection error),
            or ``"raise"`` `GaveUp`.
        sleep: the sleep function (time.sleep).

    After each request, `attempts` is the number of HTTP attempts made, `last_status` the status of the last
    response (None when none arrived) and `retry_after` the last ``Retry-After`` wait the server asked for
    (None if none).
    """

    def __init__(self, *, max_retries: int = 4, backoff: float = 0.5, max_wait: float = 60.0,
                 give_up: Literal["return", "raise"] = "return",
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__()
        self.give_up = give_up
        self.max_retries = max(0, int(max_retries))
        self.backoff = max(0.0, float(backoff))
        self.max_wait = max_wait
        self._sleep = sleep
        self.attempts = 0
        self.last_status: int | None = None
        self.retry_after: float | None = None

    def redirect(self, url: str) -> str:
        """Where a request for `url` goes (subclasses replace the library's base URL by theirs)."""
        return url

    def request(self, method: str, url: str | bytes,  # type: ignore[override, unused-ignore]  # types-requests
                *args: Any, **kwargs: Any) -> requests.Response:
        target = self.redirect(url.decode() if isinstance(url, bytes) else url)
        self.attempts = 0
        self.last_status = None
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
            self.last_status = response.status_code
            if not is_retryable(response.status_code):
                return response
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            self.retry_after = wait
            if not retries_left or (wait is not None and wait > self.max_wait):
                if self.give_up == "raise":
                    raise GaveUp(response.status_code, self.attempts, wait)
                return response
            response.close()
            self._sleep(wait if wait is not None else self.backoff * 2 ** (self.attempts - 1))
