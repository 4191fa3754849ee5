"""A stand-in for SnapTrade's API on 127.0.0.1, answering the real snaptrade-python-sdk client.

It serves ``GET /api/v1/accounts`` (the recorded account of ``tests/fixtures/snaptrade/accounts.json``),
``GET /api/v1/accounts/{id}/positions`` (the recorded position shape) and
``GET /api/v1/accounts/{id}/activities`` (``{"data": [...], "pagination": {"offset", "limit", "total"}}``,
newest ``trade_date`` first, ``offset`` / ``limit`` paging). Every request must carry the SDK's ``clientId``,
``timestamp``, ``userId`` and ``userSecret`` query parameters and a ``Signature`` header; other credentials get
SnapTrade's 401 body. Activities are the recorded buy with their own symbol, type, units, price and date.
Scripted replies (`script`) come before a path's normal answer.
"""

from __future__ import annotations

import copy
import json
import threading
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from support import paths
from support.stand_in import Reply, StandInServer

FIXTURES = paths.FIXTURES / "snaptrade"
CLIENT_ID, CONSUMER_KEY, USER_ID, USER_SECRET = "TEST-CLIENT", "test-consumer-key", "user-1", "secret-1"
UNAUTHORIZED = {"detail": "Unable to verify signature sent", "status_code": 401, "code": "1076"}


class SnapTradeServer(StandInServer):
    """A threaded HTTP server on 127.0.0.1 imitating SnapTrade's accounts and activities endpoints."""

    def __init__(self) -> None:
        self.accounts = json.loads((FIXTURES / "accounts.json").read_text())
        self.account_id = self.accounts[0]["id"]
        self._template = json.loads((FIXTURES / "activity_buy.json").read_text())
        self._position = json.loads((FIXTURES / "position_acme.json").read_text())
        self.activities: list[dict[str, Any]] = []
        self.positions: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._scripts: dict[str, list[Reply]] = {}
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        return f"{self.url}/api/v1"

    @property
    def credentials(self) -> dict[str, str]:
        return {"client_id": CLIENT_ID, "consumer_key": CONSUMER_KEY, "user_id": USER_ID, "user_secret": USER_SECRET,
                "host": self.host}

    def environment(self) -> dict[str, str]:
        return {"SNAPTRADE_CLIENT_ID": CLIENT_ID, "SNAPTRADE_CONSUMER_KEY": CONSUMER_KEY,
                "SNAPTRADE_USER_ID": USER_ID, "SNAPTRADE_USER_SECRET": USER_SECRET, "SNAPTRADE_HOST": self.host}

    def add_activity(self, symbol: str, kind: str, units: float, price: float, trade_date: str,
                     fee: float = 0.0) -> None:
        act = copy.deepcopy(self._template)
        with self._lock:
            act.update(id=f"act-{len(self.activities)}", type=kind, units=units, price=price, fee=fee,
                       trade_date=trade_date, amount=-units * price if kind == "BUY" else units * price)
            act["symbol"].update(symbol=symbol, raw_symbol=symbol)
            self.activities.append(act)

    def add_position(self, symbol: str, units: float) -> None:
        """What the broker says the account holds now (``GET /accounts/{id}/positions``)."""
        pos = copy.deepcopy(self._position)
        pos["units"] = units
        pos["symbol"]["symbol"].update(symbol=symbol, raw_symbol=symbol)
        with self._lock:
            self.positions.append(pos)

    def script(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts.setdefault(path, []).extend(replies)

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for p, _ in self.requests if p == path)

    def answer(self, method: str, raw_path: str, headers: Any, body: bytes) -> Reply:
        parts = urlsplit(raw_path)
        path, query = parts.path.rstrip("/"), dict(parse_qsl(parts.query))
        with self._lock:
            self.requests.append((path, query))
            scripted = self._scripts.get(path)
            if scripted:
                return scripted.pop(0)
        signed = headers.get("Signature") and query.get("timestamp")
        if not signed or (query.get("clientId"), query.get("userId"), query.get("userSecret")) != (
                CLIENT_ID, USER_ID, USER_SECRET):
            return Reply(401, UNAUTHORIZED)
        if path == "/api/v1/accounts":
            return Reply(200, self.accounts)
        if path == f"/api/v1/accounts/{self.account_id}/activities":
            with self._lock:
                rows = sorted(self.activities, key=lambda a: a["trade_date"], reverse=True)
            offset, limit = int(query.get("offset") or 0), int(query.get("limit") or 1000)
            return Reply(200, {"data": rows[offset:offset + limit],
                               "pagination": {"offset": offset, "limit": limit, "total": len(rows)}})
        if path == f"/api/v1/accounts/{self.account_id}/positions":
            with self._lock:
                return Reply(200, list(self.positions))
        return Reply(404, {"detail": "Not found.", "status_code": 404, "code": "1012"})
