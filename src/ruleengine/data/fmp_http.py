"""HTTP plumbing of the FMP provider: where fmpsdk's requests go, how they are retried, how failures read.

fmpsdk (``fmpsdk.client``) builds every URL from the module constant ``BASE_URL`` and sends the key in an
``apikey`` header. Instead of rebinding that global (shared by every thread and every client), each
`FmpSession` rewrites the URL prefix of the requests made through it, so pointing the provider at another
server (``FMP_BASE_URL``, a local test server) touches nothing outside its own session.

Retries: fmpsdk retries 429 and 5xx itself, but with fixed ``2**n + jitter`` second sleeps that ignore
``Retry-After``. The provider therefore creates its `fmpsdk.Client` with ``max_retries=0`` (no retries
there) and `FmpSession` does them instead (`ruleengine.data.http_session.RetryingSession`: Retry-After or
exponential backoff; a ``Retry-After`` longer than ``max_wait`` becomes a D112 error that names the wait).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

from .http_session import RetryingSession, normalize_base_url, retry_after_seconds

DEFAULT_BASE_URL = "https://financialmodelingprep.com/stable"

__all__ = ["DEFAULT_BASE_URL", "FmpSession", "body_message", "is_plan_or_key_message", "normalize_base_url",
           "retry_after_seconds"]


class FmpSession(RetryingSession):
    """A `RetryingSession` for one fmpsdk client: its requests go to `base_url` instead of fmpsdk's ``BASE_URL``.

    Args:
        base_url: where requests go instead of fmpsdk's ``BASE_URL``.
        max_retries, backoff, max_wait, sleep: see `RetryingSession`.
    """

    def __init__(self, base_url: str, *, max_retries: int = 4, backoff: float = 0.5, max_wait: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(max_retries=max_retries, backoff=backoff, max_wait=max_wait, sleep=sleep)
        self.base_url = normalize_base_url(base_url) + "/"

    def redirect(self, url: str) -> str:
        """fmpsdk's URL with its base replaced by ours (fmpsdk's constant is read at call time)."""
        from fmpsdk import client as fmp_client

        sdk_base = str(getattr(fmp_client, "BASE_URL", DEFAULT_BASE_URL + "/"))
        if url.startswith(sdk_base):
            return self.base_url + url[len(sdk_base):]
        return url


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

