"""HTTP plumbing of the FMP provider: where fmpsdk's requests go, how they are retried, how failures read.

fmpsdk (``fmpsdk.client``) builds every URL from the module constant ``BASE_URL`` and sends the key in an
``apikey`` header. Instead of rebinding that global (shared by every thread and every client), each
`FmpSession` rewrites the URL prefix of the requests made through it, so pointing the provider at another
server (``FMP_BASE_URL``, a local test server) touches nothing outside its own session.

Retries: fmpsdk retries 429 and 5xx itself, but with fixed ``2**n + jitter`` second sleeps that ignore
``Retry-After``. The provider therefore creates its `fmpsdk.Client` with ``max_retries=0`` (no retries
there) and `FmpSession` does them instead: 429, 5xx and connection errors are retried up to ``max_retries``
times, waiting ``Retry-After`` when the server sends it (seconds or an HTTP date) and ``backoff * 2**n``
otherwise. A ``Retry-After`` longer than ``max_wait`` is not waited for: the response goes back at once
and becomes a D112 error that names the wait.
"""

from __future__ import annotations

import email.utils
import json
import math
import re
import time
from collections.abc import Callable
from datetime import UTC
from typing import Any

import requests

DEFAULT_BASE_URL = "https://financialmodelingprep.com/stable"


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


class FmpSession(requests.Session):
    """A `requests.Session` for one fmpsdk client: base-URL redirection and Retry-After-aware retries.

    Args:
        base_url: where requests go instead of fmpsdk's ``BASE_URL``.
        max_retries: retries after the first attempt for 429, 5xx and connection errors.
        backoff: first exponential wait in seconds (``backoff * 2**n`` before retry n+1).
        max_wait: the longest single wait; a longer ``Retry-After`` is not waited for.
        sleep: the sleep function (time.sleep).

    After each request, `attempts` is the number of HTTP attempts made and `retry_after` the last
    ``Retry-After`` wait the server asked for (None if none).
    """

    def __init__(self, base_url: str, *, max_retries: int = 4, backoff: float = 0.5, max_wait: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__()
        self.base_url = normalize_base_url(base_url) + "/"
        self.max_retries = max(0, int(max_retries))
        self.backoff = max(0.0, float(backoff))
        self.max_wait = max_wait
        self._sleep = sleep
        self.attempts = 0
        self.retry_after: float | None = None

    def redirect(self, url: str) -> str:
        """fmpsdk's URL with its base replaced by ours (fmpsdk's constant is read at call time)."""
        from fmpsdk import client as fmp_client

        sdk_base = str(getattr(fmp_client, "BASE_URL", DEFAULT_BASE_URL + "/"))
        if url.startswith(sdk_base):
            return self.base_url + url[len(sdk_base):]
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
            except (requests.ConnectionError, requests.Timeout):
                if not retries_left:
                    raise
                self._sleep(self.backoff * 2 ** (self.attempts - 1))
                continue
            if not (response.status_code == 429 or response.status_code >= 500):
                return response
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            self.retry_after = wait
            if not retries_left or (wait is not None and wait > self.max_wait):
                return response
            response.close()
            self._sleep(wait if wait is not None else self.backoff * 2 ** (self.attempts - 1))


#: FMP's own words for "your key or plan does not allow this" (200 or 4xx bodies with an "Error Message").
_PLAN_WORDS = re.compile(
    r"api ?key|apikey|limit reach|premium|subscription|\bplan\b|exclusive endpoint|special endpoint|"
    r"restricted endpoint|legacy endpoint|upgrade|unauthori[sz]ed|forbidden|credential",
    re.IGNORECASE,
)


def is_plan_or_key_message(message: str) -> bool:
    """True when an FMP error message is about the key, the plan or the quota (-> D113).

    Example:
        >>> is_plan_or_key_message("Invalid API KEY. Feel free to create a Free API Key")
        True
        >>> is_plan_or_key_message("Something went wrong")
        False
    """
    return bool(_PLAN_WORDS.search(message))


def body_message(text: str, limit: int = 300) -> str:
    """The human part of an error body: FMP's ``Error Message`` (or ``message``/``error``), else the text."""
    text = (text or "").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("Error Message", "message", "error", "detail"):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                text = value.strip()
                break
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

