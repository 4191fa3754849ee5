"""The snaptrade provider through the real snaptrade-python-sdk against a stand-in of SnapTrade's API on
127.0.0.1 (tests/support/snaptrade_server.py): accounts and paged activities -> fills, every fault as a structured
error, and a CLI backtest on the stand-in that trades like the same fills read from a broker CSV."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from support import paths
from support.prices import sine_prices
from support.provider_errors import error_of
from support.snaptrade_server import SnapTradeServer
from support.stand_in import Reply
from typer.testing import CliRunner

from ruleengine.cli import app
from ruleengine.data.base import FetchRequest
from ruleengine.data.registry import default_registry
from ruleengine.data.snaptrade import SnapTradeProvider

ACTIVITIES = "/api/v1/accounts/917c8734-8470-4a3e-a18f-57c3f2ee6631/activities"


@pytest.fixture(autouse=True)
def _clean(provider_env_cleared, monkeypatch):
    for var in ("RULEENGINE_PORTFOLIO", "SNAPTRADE_CLIENT_ID", "SNAPTRADE_CONSUMER_KEY", "SNAPTRADE_USER_ID",
                "SNAPTRADE_USER_SECRET", "SNAPTRADE_HOST"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server():
    with SnapTradeServer() as s:
        yield s


def provider(server: SnapTradeServer, **kw) -> SnapTradeProvider:
    return SnapTradeProvider(**{**server.credentials, "backoff": 0.01, **kw})


def test_activities_become_fills(server):
    server.add_activity("ACME", "BUY", 40, 10.5, "2024-01-08T00:00:00Z", fee=1.0)
    server.add_activity("ACME", "DIVIDEND", 0, 0, "2024-01-09T00:00:00Z")    # moves no shares
    server.add_activity("ACME", "SELL", -15, 12.0, "2024-01-10T15:31:00Z")   # a time: that instant
    server.add_activity("ACME", "REI", 0.25, 12.0, "2024-01-12T00:00:00Z")   # dividend reinvestment
    server.add_activity("BETA", "BUY", 3, 99.0, "2024-01-11T00:00:00Z")
    fills = provider(server).fills()
    assert fills["symbol"].tolist() == ["ACME", "ACME", "BETA", "ACME"]
    assert fills["quantity"].tolist() == [40.0, -15.0, 3.0, 0.25]
    assert fills["fees"].tolist()[0] == 1.0
    # a date without a time: by that session's close (16:00 New York = 21:00 UTC)
    assert fills.index[:2].tolist() == [pd.Timestamp("2024-01-08 21:00", tz="UTC"),
                                        pd.Timestamp("2024-01-10 15:31", tz="UTC")]
    p = provider(server)
    assert p.holdings() == {"ACME": 25.25, "BETA": 3.0}
    acme = p.fetch(FetchRequest("ACME", "portfolio", pd.Timestamp("2024-01-09"), pd.Timestamp("2024-01-10")))
    assert acme["quantity"].tolist() == [40.0, -15.0]  # all fills up to the end, whatever the start
    query = server.requests[-1][1]
    assert (query["clientId"], query["userId"]) == ("TEST-CLIENT", "user-1") and "timestamp" in query


def test_pagination_reads_every_page(server):
    for i in range(5):
        server.add_activity("ACME", "BUY", 1, 10 + i, f"2024-01-{8 + i:02d}T00:00:00Z")
    fills = provider(server, page_size=2).fills()
    assert fills["price"].tolist() == [10.0, 11.0, 12.0, 13.0, 14.0]
    offsets = [q["offset"] for path, q in server.requests if path == ACTIVITIES]
    assert offsets == ["0", "2", "4"]


def test_missing_and_wrong_credentials(server):
    code, message, kind = error_of(lambda: SnapTradeProvider(client_id="x", host=server.host).fills())
    assert (code, kind) == ("D113", "data_fetch_error")
    assert "SNAPTRADE_CONSUMER_KEY, SNAPTRADE_USER_ID, SNAPTRADE_USER_SECRET not set" in message
    code, message, _ = error_of(lambda: provider(server, user_secret="wrong").fills())
    assert code == "D113" and "HTTP 401: Unable to verify signature sent" in message
    server.script("/api/v1/accounts", Reply(403, {"detail": "Forbidden", "status_code": 403, "code": "1020"}))
    code, message, _ = error_of(lambda: provider(server).fills())
    assert code == "D113" and "HTTP 403" in message


def test_429_with_retry_after_then_success_and_5xx_budget(server):
    server.add_activity("ACME", "BUY", 40, 10.5, "2024-01-08T00:00:00Z")
    server.script(ACTIVITIES, Reply(429, {"detail": "Too many requests"}, {"Retry-After": "0.3"}),
                  Reply(503, {"detail": "unavailable"}))
    began = time.monotonic()
    assert len(provider(server).fills()) == 1 and server.count(ACTIVITIES) == 3
    assert time.monotonic() - began >= 0.3  # the server's Retry-After was waited for
    server.script("/api/v1/accounts", *[Reply(500, {"detail": "boom"})] * 3)
    code, message, _ = error_of(lambda: provider(server, max_retries=2).fills())
    assert code == "D112" and "HTTP 500 after 2 retries" in message
    server.script("/api/v1/accounts", *[Reply(429, {"detail": "slow down"}, {"Retry-After": "0.01"})] * 2)
    code, message, _ = error_of(lambda: provider(server, max_retries=1).fills())
    assert code == "D112" and "rate limit (HTTP 429) for the accounts; the server asked to wait 0.01 s" in message
    server.script("/api/v1/accounts", Reply(429, {"detail": "slow down"}, {"Retry-After": "120"}))
    began = time.monotonic()
    code, message, _ = error_of(lambda: provider(server, max_wait=5).fills())
    assert code == "D112" and "wait 120 s" in message and time.monotonic() - began < 5  # not waited for


@pytest.mark.parametrize(("path", "body", "words"), [
    ("/api/v1/accounts", {"unexpected": 1}, "not a list of accounts"),
    (ACTIVITIES, [1, 2, 3], "not a page of data"),
    (ACTIVITIES, {"data": []}, "no pagination total"),
    (ACTIVITIES, {"data": [{"id": "x", "type": "BUY", "units": 1}], "pagination": {"total": 1}},
     "activity x of account"),
])
def test_malformed_bodies(server, path, body, words):
    server.script(path, Reply(200, body))
    code, message, kind = error_of(lambda: provider(server).fills())
    assert (code, kind) == ("D114", "data_fetch_error") and words in message


def test_unreachable_server():
    p = SnapTradeProvider(client_id="a", consumer_key="b", user_id="c", user_secret="d",
                          host="http://127.0.0.1:9/api/v1", max_retries=0)
    code, message, _ = error_of(p.fills)
    assert code == "D112" and "could not reach SnapTrade" in message


def test_registry_and_listing(server, monkeypatch):
    for key, value in server.environment().items():
        monkeypatch.setenv(key, value)
    assert default_registry().resolve(None, "portfolio", "event").name == "snaptrade"
    listed = json.loads(CliRunner().invoke(app, ["providers", "--json"]).stdout)["providers"]
    mine = next(p for p in listed if p["name"] == "snaptrade")
    assert "SNAPTRADE_CONSUMER_KEY" in mine["description"] and "portfolio" in mine["kinds"]


STRATEGY = (paths.FIXTURES / "strategies" / "own_position.yaml").read_text()


def test_cli_backtest_on_snaptrade_trades_like_the_same_fills_from_a_csv(server, tmp_path, monkeypatch):
    prices = sine_prices(60, 50, 5, 6.0, start="2024-01-02")
    (tmp_path / "data").mkdir()
    prices.to_csv(tmp_path / "data" / "ACME.csv", index=False)
    close = prices["close"].to_numpy()
    days = prices["date"].tolist()
    trades = [(int(np.argmin(close[:30])), "BUY", 40), (45, "SELL", 40), (50, "BUY", 10)]
    rows = ["date,symbol,action,quantity,price"]
    for i, kind, units in trades:
        server.add_activity("ACME", kind, units, float(close[i]), f"{days[i]}T00:00:00Z")
        rows.append(f"{days[i]},ACME,{kind.lower()},{units},{close[i]}")
    (tmp_path / "fills.csv").write_text("\n".join(rows) + "\n")
    server.add_position("ACME", 10)  # what the broker holds now: the fills add up to it (no D157 warning)
    doc = tmp_path / "own.yaml"
    doc.write_text(STRATEGY)
    args = ["backtest", str(doc), "--symbols", "ACME", "--start", "2024-01-02", "--end", "2024-03-22", "--data",
            str(tmp_path / "data"), "--json"]
    for key, value in server.environment().items():
        monkeypatch.setenv(key, value)
    on_snaptrade = json.loads(CliRunner().invoke(app, args).stdout)
    assert on_snaptrade["success"] is True, on_snaptrade
    assert on_snaptrade["results"][0]["trades"], "the position opened: at least one trade"
    assert not [w for w in on_snaptrade["warnings"] if w["code"] == "D157"]
    monkeypatch.setenv("RULEENGINE_PORTFOLIO", str(tmp_path / "fills.csv"))  # the file wins when both are set
    from_file = json.loads(CliRunner().invoke(app, args).stdout)
    assert from_file["success"] is True, from_file
    assert on_snaptrade["results"][0]["trades"] == from_file["results"][0]["trades"]
    providers = [r["results"][0]["data"]["providers"]["portfolio"] for r in (on_snaptrade, from_file)]
    assert providers == ["snaptrade", "portfolio"]  # two sources, one answer


def test_positions_that_disagree_with_the_fills_are_a_warning(server):
    server.add_activity("ACME", "BUY", 40, 10.5, "2024-01-08T00:00:00Z")
    server.add_activity("BETA", "BUY", 5, 99.0, "2024-01-08T00:00:00Z")
    server.add_position("ACME", 40)
    server.add_position("BETA", 12)  # 7 shares transferred in before SnapTrade's history
    p = provider(server)
    assert p.positions() == {"ACME": 40.0, "BETA": 12.0}
    [w] = p.quality_warnings(["ACME", "BETA"], "portfolio")
    assert (w.code, w.severity) == ("D157", "warning")
    assert w.message == "BETA: SnapTrade's positions hold 12 shares now, but your activities add up to 5"
    assert p.quality_warnings(["BETA"], "ohlcv") == []
    server.script("/api/v1/accounts/917c8734-8470-4a3e-a18f-57c3f2ee6631/positions", Reply(200, [{"units": 1}]))
    code, message, _ = error_of(provider(server).positions)
    assert code == "D114" and "lacks symbol.symbol.symbol" in message
