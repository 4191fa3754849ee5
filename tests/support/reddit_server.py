"""A stand-in for Reddit's OAuth API on 127.0.0.1, answering real praw calls with Reddit's listing JSON.

It serves the two endpoints a read-only praw client uses:

* ``POST /api/v1/access_token`` (``grant_type=client_credentials``, HTTP basic auth with the app's id and
  secret): ``{"access_token", "token_type": "bearer", "expires_in", "scope"}``, or 401 ``{"message":
  "Unauthorized", "error": 401}`` for other credentials;
* ``GET /r/{sub}/new?limit=&after=`` (``Authorization: bearer <token>``): a ``Listing`` of ``t3`` children,
  newest first, ``limit`` (at most `page_size`) per page, ``after`` = the last child's fullname, ``null``
  on the last page; at most `cap` posts in all (Reddit lists about 1000). A subreddit without posts
  added answers like Reddit does for one that does not exist: 302 to ``/subreddits/search``.

Posts are built from the recorded child in ``tests/fixtures/reddit/listing_stocks_new.json`` with their own id,
title, text and ``created_utc``. Scripted replies (`script`) are served before the normal answer of a path:
``server.script("/r/stocks/new", Reply(429, {...}, {"Retry-After": "0.05"}))``.

Usage::

    with RedditServer() as server:
        server.add_post("stocks", "$ACME to the moon", created_utc=1704297600)
        provider = RedditProvider(**server.credentials, subreddits="stocks")
"""

from __future__ import annotations

import base64
import copy
import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from support import paths
from support.stand_in import Reply, StandInServer

__all__ = ["RedditServer", "Reply", "Seen", "recorded_listing"]

FIXTURES = paths.FIXTURES / "reddit"
CLIENT_ID, CLIENT_SECRET, TOKEN = "test-client-id", "test-client-secret", "test-token-123"


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None


def recorded_listing() -> dict[str, Any]:
    """The recorded listing page (two posts of r/stocks)."""
    return json.loads((FIXTURES / "listing_stocks_new.json").read_text())


class RedditServer(StandInServer):
    """A threaded HTTP server on 127.0.0.1 imitating Reddit's token endpoint and subreddit listings."""

    content_type = "application/json; charset=UTF-8"

    def __init__(self, page_size: int = 100, cap: int = 1000) -> None:
        self.page_size, self.cap = page_size, cap
        self.requests: list[Seen] = []
        self._posts: dict[str, list[dict[str, Any]]] = {}
        self._scripts: dict[str, list[Reply]] = {}
        self._template = recorded_listing()["data"]["children"][0]
        self._lock = threading.Lock()

    def answer(self, method: str, raw_path: str, headers: Any, body: bytes) -> Reply:
        return self._answer(method, raw_path, headers.get("Authorization"), body)

    @property
    def credentials(self) -> dict[str, str]:
        """The provider arguments that reach this server with valid credentials."""
        return {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "user_agent": "ruleengine-tests by u/me",
                "oauth_url": self.url, "reddit_url": self.url}

    def environment(self) -> dict[str, str]:
        """The same as environment variables (for the CLI)."""
        return {"REDDIT_CLIENT_ID": CLIENT_ID, "REDDIT_CLIENT_SECRET": CLIENT_SECRET,
                "REDDIT_USER_AGENT": "ruleengine-tests by u/me", "REDDIT_OAUTH_URL": self.url,
                "REDDIT_URL": self.url}

    # -- scripting ---------------------------------------------------------------------------------------

    def add_post(self, subreddit: str, title: str, selftext: str = "", *, created_utc: float,
                 post_id: str | None = None) -> None:
        """A post in `subreddit`, shaped like the recorded one."""
        child = copy.deepcopy(self._template)
        data = child["data"]
        with self._lock:
            posts = self._posts.setdefault(subreddit, [])
            pid = post_id or f"{subreddit[:3]}{len(posts):05d}"
            data.update(id=pid, name=f"t3_{pid}", title=title, selftext=selftext, created_utc=float(created_utc),
                        created=float(created_utc), subreddit=subreddit, subreddit_name_prefixed=f"r/{subreddit}",
                        permalink=f"/r/{subreddit}/comments/{pid}/post/")
            posts.append(child)

    def script(self, path: str, *replies: Reply) -> None:
        """Serve `replies` (in order, once each) for `path` before its normal answer."""
        with self._lock:
            self._scripts.setdefault(path, []).extend(replies)

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path == path)

    # -- serving -----------------------------------------------------------------------------------------

    def _answer(self, method: str, raw: str, authorization: str | None, body: bytes) -> Reply:
        parts = urlsplit(raw)
        path, query = parts.path.rstrip("/"), dict(parse_qsl(parts.query, keep_blank_values=True))
        with self._lock:
            self.requests.append(Seen(method, path, query, authorization))
            scripted = self._scripts.get(path)
            if scripted:
                return scripted.pop(0)
        if method == "POST" and path == "/api/v1/access_token":
            return self._token(authorization, dict(parse_qsl(body.decode())))
        if method == "GET" and path.startswith("/r/") and path.endswith("/new"):
            if authorization != f"bearer {TOKEN}":
                return Reply(401, {"message": "Unauthorized", "error": 401})
            return self._listing(path.split("/")[2], query)
        return Reply(404, {"message": "Not Found", "error": 404})

    def _token(self, authorization: str | None, form: dict[str, str]) -> Reply:
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if authorization != expected or form.get("grant_type") != "client_credentials":
            return Reply(401, {"message": "Unauthorized", "error": 401})
        return Reply(200, {"access_token": TOKEN, "token_type": "bearer", "expires_in": 86400, "scope": "*"})

    def _listing(self, subreddit: str, query: dict[str, str]) -> Reply:
        with self._lock:
            posts = self._posts.get(subreddit)
        if posts is None:
            return Reply(302, "", {"Location": f"https://www.reddit.com/subreddits/search.json?q={subreddit}"})
        newest = sorted(posts, key=lambda c: c["data"]["created_utc"], reverse=True)[: self.cap]
        after = query.get("after")
        begin = 0
        if after:
            names = [c["data"]["name"] for c in newest]
            begin = names.index(after) + 1 if after in names else len(newest)
        size = min(int(query.get("limit") or 25), 100, self.page_size)
        page = newest[begin: begin + size]
        more = begin + size < len(newest)
        return Reply(200, {"kind": "Listing", "data": {
            "after": page[-1]["data"]["name"] if page and more else None, "dist": len(page), "modhash": "",
            "geo_filter": "", "children": page, "before": None}})
