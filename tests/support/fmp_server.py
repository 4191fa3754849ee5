"""A stand-in for FMP's stable API on 127.0.0.1: serves JSON fixtures and scripted replies to real fmpsdk calls.

The same server stands in for other HTTP APIs (Yahoo's chart API, Alpaca's market data): give it their
fixture folder and path prefix (``FmpServer(FIXTURES / "yahoo", prefix="/")``); every request's headers are
recorded (`Seen.headers`).

Usage::

    with FmpServer() as server:
        server.route("historical-price-eod/full", "eod_aapl.json", query={"symbol": "AAPL"})
        server.route("earnings", Reply(429, {"Error Message": "Limit Reach"}, {"Retry-After": "0.1"}),
                     "earnings_aapl.json")
        provider = FmpProvider(api_key="test", base_url=server.base_url)
        ...
        assert server.count("earnings") == 2

A route matches a path (without the ``/stable/`` prefix) and, optionally, a subset of the query; the most
specific route wins. Its replies are served in order and the last one repeats (so ``Reply(429), "x.json"``
is "429, then 200 with x.json for ever"). A reply is a `Reply`, or a fixture file name (200, its JSON). An
unmatched request gets a 404 ``{"Error Message": ...}`` and is recorded like every other request.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from support import paths
from support.stand_in import Reply, StandInServer

FIXTURES = paths.FIXTURES / "fmp"
PREFIX = "/stable/"


@dataclass(frozen=True)
class Seen:
    """One request the server received: monotonic arrival time, path (no prefix), query and API key header."""

    time: float
    path: str
    query: dict[str, str]
    apikey: str | None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Route:
    path: str
    query: dict[str, str]
    replies: list[Reply]
    served: int = 0


class FmpServer(StandInServer):
    """A threaded HTTP server on 127.0.0.1 (port chosen by the OS) that imitates FMP's stable API."""

    def __init__(self, fixtures: Path = FIXTURES, prefix: str = PREFIX) -> None:
        self.fixtures = fixtures
        self.prefix = prefix
        self.requests: list[Seen] = []
        self._routes: list[_Route] = []
        self._lock = threading.Lock()

    def answer(self, method: str, raw_path: str, headers: Any, body: bytes) -> Reply:
        return self._answer(raw_path, dict(headers.items()))

    @property
    def base_url(self) -> str:
        """The URL to give the provider (``FMP_BASE_URL``): ``http://127.0.0.1:PORT/stable`` (the prefix)."""
        return f"{self.url}{self.prefix.rstrip('/')}"

    # -- scripting ---------------------------------------------------------------------------------------

    def route(self, path: str, *replies: Reply | str, query: dict[str, str] | None = None) -> None:
        """Serve `replies` in order (the last repeats) for GET /stable/`path` with `query` among its params."""
        if not replies:
            raise ValueError("a route needs at least one reply")
        resolved = [r if isinstance(r, Reply) else Reply(200, self.load(r)) for r in replies]
        with self._lock:
            self._routes.append(_Route(path.strip("/"), dict(query or {}), resolved))

    def load(self, name: str) -> Any:
        """The parsed JSON of a fixture file."""
        return json.loads((self.fixtures / name).read_text())

    def count(self, path: str | None = None) -> int:
        """How many requests arrived (for one path, or in all)."""
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path.strip("/"))

    def seen(self, path: str) -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path == path.strip("/")]

    # -- serving -----------------------------------------------------------------------------------------

    def _answer(self, raw_path: str, headers: dict[str, str]) -> Reply:
        parts = urlsplit(raw_path)
        path = parts.path[len(self.prefix):] if parts.path.startswith(self.prefix) else parts.path.lstrip("/")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self._lock:
            self.requests.append(Seen(time.monotonic(), path, query, headers.get("apikey"), headers))
            matches = [r for r in self._routes
                       if r.path == path and all(query.get(k) == str(v) for k, v in r.query.items())]
            if not matches:
                return Reply(404, {"Error Message": f"no stub route for {path}?{parts.query}"})
            route = max(matches, key=lambda r: len(r.query))
            reply = route.replies[min(route.served, len(route.replies) - 1)]
            route.served += 1
            return reply
