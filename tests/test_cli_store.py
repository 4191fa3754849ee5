"""The store and live commands end to end: a real SQLite file, CSV data for the local provider, a real
webhook server on 127.0.0.1, the typer app in-process (CliRunner) and the console script as a subprocess."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest
from support.prices import sine_prices
from typer.testing import CliRunner

from ruleengine.cli import app

STRAT = """name: sine dip
timeframe: short_term
data: {prices: {kind: ohlcv}}
entry:
  - close < sma(close, 5)
  - rsi(close, 3) < 60
exit: ['crosses_above(close, sma(close, 5))']
risk: {stop_loss_pct: 5, take_profit_pct: 4}
"""
CLI = Path(sys.executable).parent / "ruleengine"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Any]:
    d = tmp_path / "px"
    d.mkdir()
    frames = {}
    for sym, (lvl, amp, per) in {"AAA": (100, 10, 9.0), "BBB": (50, 5, 7.0), "CCC": (80, 6, 5.0)}.items():
        df = sine_prices(300, lvl, amp, per)
        df.to_csv(d / f"{sym}.csv", index=False)
        frames[sym] = df.set_index(pd.to_datetime(df["date"]))
    rule = tmp_path / "dip.yaml"
    rule.write_text(STRAT, encoding="utf-8")
    db = str(tmp_path / "cli.db")
    # a bar where AAA has an entry signal (checked with pandas)
    a = frames["AAA"]["close"]
    sma = a.rolling(5).mean()
    import talib

    rsi = pd.Series(talib.RSI(a.to_numpy(dtype=float), 3), index=a.index)
    day = next(t for t in a.index[150:] if a[t] < sma[t] and rsi[t] < 60)
    return {"data": str(d), "rule": str(rule), "db": db, "day": str(day.date()), "tmp": tmp_path,
            "last": str(a.index[-1].date())}


def invoke(*args: str) -> Any:
    res = CliRunner().invoke(app, list(args))
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert "Traceback" not in res.output
    return res


def ok_json(*args: str) -> dict[str, Any]:
    res = invoke(*args, "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["success"] is True
    return out


def error(code: str, *args: str) -> str:
    res = invoke(*args)
    assert res.exit_code == 1, res.output
    assert f"error[{code}]" in res.output, res.output
    return res.output


def test_strategies_add_list_history_export_round_trip_deactivate(env: dict[str, Any]) -> None:
    db, rule = env["db"], env["rule"]
    res = invoke("strategies", "add", rule, "--db", db, "--nl", "buy dips on a sine")
    assert res.exit_code == 0 and res.output.startswith("saved: strategy 1 'sine dip' version 1")
    listed = ok_json("strategies", "list", "--db", db)["strategies"]
    assert [(s["id"], s["version"], s["nl_input"]) for s in listed] == [(1, 1, "buy dips on a sine")]
    # a change -> version 2; history shows who, why and what changed
    Path(rule).write_text(STRAT.replace("take_profit_pct: 4", "take_profit_pct: 6"), encoding="utf-8")
    res = invoke("strategies", "add", rule, "--id", "1", "--db", db, "--author", "llm", "--nl", "wider target")
    assert "version 2" in res.output
    hist = ok_json("strategies", "history", "1", "--db", db)["versions"]
    assert [(v["version"], v["author"], v["strategy"]["risk"]["take_profit_pct"]) for v in hist] == [
        (1, "user", 4.0), (2, "llm", 6.0)]
    text = invoke("strategies", "history", "1", "--db", db).output
    assert "risk.take_profit_pct" in text and "wider target" in text
    # export -> add as a version again: unchanged (the export reloads to the same content)
    out = env["tmp"] / "export.yaml"
    assert invoke("strategies", "export", "1", "--db", db, "-o", str(out)).exit_code == 0
    res = invoke("strategies", "add", str(out), "--id", "1", "--db", db)
    assert res.output.startswith("unchanged: strategy 1 'sine dip' is still version 2"), res.output
    assert "take_profit_pct: 4" in invoke("strategies", "export", "1", "--version", "1", "--db", db).output
    shown = invoke("strategies", "show", "1", "--db", db).output
    assert "version 2 of 2, active" in shown and "name: sine dip" in shown
    # deactivate: gone from the list, still there with --all
    assert ok_json("strategies", "deactivate", "1", "--db", db)["strategy"]["active"] is False
    assert ok_json("strategies", "list", "--db", db)["strategies"] == []
    assert [s["status"] for s in ok_json("strategies", "list", "--all", "--db", db)["strategies"]] == ["inactive"]


def test_unknown_ids_and_bad_files_are_clear_errors(env: dict[str, Any]) -> None:
    db = env["db"]
    assert "no strategy with id 42" in error("T101", "strategies", "show", "42", "--db", db)
    error("T101", "strategies", "history", "42", "--db", db)
    error("T102", "runs", "show", "9", "--db", db)
    error("T103", "signals", "act", "99", "--db", db)
    error("T103", "signals", "close", "99", "--price", "5", "--db", db)
    bad = env["tmp"] / "bad.yaml"
    bad.write_text(STRAT.replace("sma(close, 5)", "smaa(close, 5)"), encoding="utf-8")
    assert "did you mean 'sma'" in error("C101", "strategies", "add", str(bad), "--db", db)
    res = invoke("strategies", "show", "42", "--db", db, "--json")
    payload = json.loads(res.output)
    assert res.exit_code == 1 and payload["success"] is False and payload["error"]["details"][0]["code"] == "T101"
    error("T107", "compare", "--timeframe", "2w", "--db", db)


def test_backtest_save_then_runs_list_and_show(env: dict[str, Any]) -> None:
    db, rule, data = env["db"], env["rule"], env["data"]
    res = invoke("backtest", rule, "--symbols", "AAA,BBB", "--data", data, "--start", "2020-03-02", "--save",
                 "--db", db)
    assert res.exit_code == 0, res.output
    assert "saved: run 1 (strategy 1 version 1); see: ruleengine runs show 1" in res.output
    again = ok_json("backtest", rule, "--symbols", "AAA", "--data", data, "--save", "--db", db)
    assert again["saved"] == {"run_id": 2, "strategy_id": 1, "strategy_version": 1}  # found by content
    runs = ok_json("runs", "list", "--db", db)["runs"]
    assert [(r["id"], r["strategy_id"], r["symbols"]) for r in runs] == [(2, 1, "AAA"), (1, 1, "AAA,BBB")]
    shown = ok_json("runs", "show", "1", "--db", db)
    assert shown["run"]["runs"] == 2 and shown["result"]["provenance"]["strategy_name"] == "sine dip"
    assert shown["run"]["total_trades"] == sum(r["metrics"]["total_trades"] for r in shown["result"]["results"])
    text = invoke("runs", "show", "1", "--db", db).output
    assert "run 1: strategy 1 version 1" in text and "2 runs" in text


def test_signals_save_act_twice_close_track_compare(env: dict[str, Any]) -> None:
    db, rule, data, day = env["db"], env["rule"], env["data"], env["day"]
    out = ok_json("signals", rule, "--symbols", "AAA,BBB,CCC", "--asof", day, "--data", data, "--save",
                  "--db", db)
    assert out["strategy"] == {"id": 1, "version": 1, "name": "sine dip"} and out["bar_time"].startswith(day)
    entries = [s for s in out["signals"] if s["signal_type"] == "entry"]
    assert "AAA" in {s["ticker"] for s in entries} and all(s["id"] for s in out["signals"])
    aaa = next(s for s in entries if s["ticker"] == "AAA")
    assert aaa["reasoning"]["conditions"][0]["op"] == "<" and 0 <= aaa["confidence_score"] <= 100
    # text output of the same evaluation, by the stored strategy's id (no --save: nothing new stored)
    text = invoke("signals", "1", "--symbols", "AAA,BBB,CCC", "--asof", day, "--data", data, "--db", db).output
    assert f"sine dip (strategy 1 v1): bar {day}" in text and "ENTRY AAA" in text and "[+] prices.close" in text
    sid = str(aaa["id"])
    acted = ok_json("signals", "act", sid, "--price", "95.5", "--db", db)["signal"]
    assert acted["user_acted"] is True and acted["acted_price"] == 95.5
    msg = error("T104", "signals", "act", sid, "--db", db)
    assert "already acted on at 95.5" in msg and f"ruleengine signals close {sid} --price P" in msg
    closed = ok_json("signals", "close", sid, "--price", "100.275", "--db", db)["signal"]
    assert closed["outcome"]["return_pct"] == pytest.approx(5.0)
    listed = ok_json("signals", "list", "1", "--db", db)["signals"]
    assert len(listed) == len(out["signals"])
    assert "entry AAA" in invoke("signals", "show", sid, "--db", db).output
    perf = ok_json("track", "--asof", env["last"], "--data", data, "--db", db)["performance"]
    assert perf[0]["actual_trades"] == 1 and perf[0]["actual_wins"] == 1
    assert perf[0]["actual_return_pct"] == pytest.approx(5.0)
    assert perf[0]["hypothetical_trades"] + perf[0]["hypothetical_open"] == len(entries)
    board = ok_json("compare", "--timeframe", "1y", "--asof", env["last"], "--db", db)
    [row] = board["leaderboard"]
    assert (row["rank"], row["strategy_id"], row["win_rate"], row["acted"]) == (1, 1, 100.0, 1)
    assert row["actual_return_pct"] == pytest.approx(5.0) and row["signals"] == len(out["signals"])
    assert ok_json("compare", "--timeframe", "7d", "--asof", env["last"], "--db", db)["leaderboard"][0]["signals"] == 0
    assert "strategy leaderboard (all)" in invoke("compare", "--db", db).output


def test_stored_strategy_that_no_longer_compiles_is_a_clear_error(env: dict[str, Any]) -> None:
    db, rule, data = env["db"], env["rule"], env["data"]
    invoke("strategies", "add", rule, "--db", db, "--universe", "AAA")
    con = sqlite3.connect(db)
    con.execute("UPDATE strategy_versions SET strategy_definition = replace(strategy_definition, 'sma(', 'smaa(')")
    con.commit()
    con.close()
    msg = error("T105", "signals", "1", "--symbols", "AAA", "--data", data, "--db", db)
    assert "stored strategy 1 (version 1, 'sine dip') no longer compiles: C101" in msg
    res = invoke("scan", "--data", data, "--db", db, "--json")
    assert res.exit_code == 1  # a failing strategy makes the cron job fail, after the others ran
    summary = json.loads(res.output)
    assert summary["strategies"][0]["status"] == "error" and "T105" in summary["strategies"][0]["error"]


class _Hook(BaseHTTPRequestHandler):
    """Answers 500 to the first `failures` POSTs, then 200; records every body (set per server)."""

    failures: ClassVar[int] = 0
    seen: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(body)
        code = 500 if type(self).failures > 0 else 200
        type(self).failures -= 1
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"ok": true}' if code == 200 else b'{"error": "down"}')

    def log_message(self, *args: Any) -> None:
        pass


def _server(failures: int) -> tuple[ThreadingHTTPServer, type[_Hook]]:
    handler = type("Hook", (_Hook,), {"failures": failures, "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, handler


def test_scan_posts_to_a_webhook_that_fails_twice_then_accepts(env: dict[str, Any]) -> None:
    db, rule, data, day = env["db"], env["rule"], env["data"], env["day"]
    invoke("strategies", "add", rule, "--db", db, "--universe", "AAA,BBB,CCC")
    invoke("strategies", "add", rule, "--db", db)  # the same file as a second strategy, no universe: skipped
    server, hook = _server(failures=2)
    url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        summary = ok_json("scan", "--webhook", url, "--asof", day, "--data", data, "--db", db)
        s1, s2 = summary["strategies"]
        assert s1["status"] == "ok" and s1["new"] == s1["signals"] >= 1 and s2["status"] == "skipped"
        n = s1["new"]
        assert summary["notifications"] == {"sent": n, "failed": 0, "pending": 0, "errors": []}
        assert len(hook.seen) == n + 2  # the first message was posted three times
        assert hook.seen[0] == hook.seen[1] == hook.seen[2]
        first = hook.seen[0]
        assert first["event"] == "signal" and first["strategy_id"] == 1 and first["ticker"] in {"AAA", "BBB", "CCC"}
        assert first["reasoning"].startswith(first["signal_type"])
        # the same day again: nothing new stored or sent
        again = ok_json("scan", "--webhook", url, "--asof", day, "--data", data, "--db", db)
        assert again["new"] == 0 and again["notifications"]["sent"] == 0 and len(hook.seen) == n + 2
    finally:
        server.shutdown()


def test_unsent_notifications_stay_in_the_outbox_until_a_later_scan(env: dict[str, Any]) -> None:
    db, rule, data, day = env["db"], env["rule"], env["data"], env["day"]
    invoke("strategies", "add", rule, "--db", db, "--universe", "AAA,BBB,CCC")
    server, hook = _server(failures=2)
    url = f"http://127.0.0.1:{server.server_port}/hook"
    try:
        first = ok_json("scan", "--webhook", url, "--asof", day, "--data", data, "--db", db, "--retries", "1")
        n = first["new"]
        assert first["notifications"]["sent"] == 0 and first["notifications"]["pending"] == n
        assert "HTTP 500" in first["notifications"]["errors"][0]["error"]
        second = ok_json("scan", "--asof", day, "--data", data, "--db", db, "--retries", "1")  # no --webhook
        assert second["notifications"]["pending"] == n
        third = ok_json("scan", "--asof", day, "--data", data, "--db", db, "--retries", "1")
        assert third["notifications"] == {"sent": n, "failed": 0, "pending": 0, "errors": []}
        assert len({m["signal_id"] for m in hook.seen}) == n  # every stored signal was delivered at last
    finally:
        server.shutdown()
    error("T107", "scan", "--webhook", "ftp://x", "--db", db)


def test_console_script_signals_default_command_and_act(env: dict[str, Any]) -> None:
    """`ruleengine signals FILE ...` and `ruleengine signals act ID` through the real entry point."""
    db, rule, data, day = env["db"], env["rule"], env["data"], env["day"]
    proc = subprocess.run([str(CLI), "signals", rule, "--symbols", "AAA", "--asof", day, "--data", data, "--save",
                           "--db", db, "--type", "entry"], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ENTRY AAA" in proc.stdout and "signal 1" in proc.stdout
    proc = subprocess.run([str(CLI), "signals", "act", "1", "--db", db], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("acted: signal 1 entry AAA"), proc.stdout + proc.stderr
    proc = subprocess.run([str(CLI), "signals", "act", "1", "--db", db], capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 1 and "error[T104]" in proc.stdout and "Traceback" not in proc.stderr


def test_a_relative_universe_file_scans_from_another_folder(env: dict[str, Any],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13 item 7: `--universe @universe.txt` typed in one folder; `scan` (a cron job) runs elsewhere."""
    db, rule, data, tmp = env["db"], env["rule"], env["data"], env["tmp"]
    (tmp / "lists").mkdir()
    (tmp / "lists" / "universe.txt").write_text("AAA\nBBB\n")
    (tmp / "elsewhere").mkdir()
    monkeypatch.chdir(tmp / "lists")
    rec = ok_json("strategies", "add", rule, "--universe", "@universe.txt", "--db", db)["strategy"]
    assert rec["universe"] == f"@{tmp / 'lists' / 'universe.txt'}"
    monkeypatch.chdir(tmp / "elsewhere")
    summary = ok_json("scan", "--asof", env["day"], "--data", data, "--db", db)
    assert summary["strategies"][0]["status"] == "ok" and summary["strategies"][0]["evaluated"] == 2
    error("T107", "strategies", "universe", "1", "@nowhere.txt", "--db", db)
