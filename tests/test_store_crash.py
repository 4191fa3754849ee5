"""Crash safety and concurrency of the store on a real SQLite file with real processes.

A writer subprocess saves backtests and batches of signals in a loop through `ruleengine.store` and prints
each id only after its transaction committed. The test kills it with SIGKILL at random points, many times,
then checks: ``PRAGMA integrity_check`` is ok, every id the writer reported is there, and no batch is partial
(each batch of signals shares one bar and records its size). Two writers at once must both finish with
nothing lost (WAL, ``BEGIN IMMEDIATE``, busy timeout, retries). See docs/security-notes.md 6.2.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

LOOP = r"""
from datetime import datetime, timedelta

from ruleengine.live.models import Reasoning, StrategySignal
from ruleengine.store import open_store


def write_loop(url, strategy_id, tag, loops, emit):
    store = open_store(url)
    emit("ready\n")
    why = Reasoning(signal_type="entry", logic="all", margin_score=0.5, hit_rate=0.5, confidence=50.0, text="t")
    result = {"results": [{"label": "SPY", "metrics": {"total_trades": 3, "winning_trades": 2,
              "total_return_pct": 1.5, "max_drawdown_pct": 2.0, "sharpe_ratio": 0.5},
              "data": {"providers": {"prices": "local"}, "synthetic": False}}],
              "provenance": {"start": "2020-01-02", "end": "2020-12-31"}, "payload": "x" * 20000}
    base = datetime(2000, 1, 1) + timedelta(days={"a": 0, "b": 20000, "c": 40000}.get(tag, 60000))
    i = 0
    while loops <= 0 or i < loops:
        i += 1
        run_id = store.save_backtest(strategy_id, result)
        emit(f"run {run_id}\n")  # only after the commit returned
        n = 1 + (i * 7919) % 60
        bar = base + timedelta(days=i, microseconds=datetime.now().microsecond)
        sigs = [StrategySignal(strategy_id=strategy_id, strategy_version=1, ticker=f"T{k}", signal_type="entry",
                               generated_at=datetime.now(), bar_time=bar, price_at_signal=10.0 + k,
                               confidence_score=50.0, reasoning=why, data_snapshot={"batch_n": n, "tag": tag,
                                                                          "providers": {"prices": "local"},
                                                                          "synthetic": False})
                for k in range(n)]
        ids = store.save_signals(sigs)
        emit("signals " + " ".join(map(str, ids)) + "\n")
    emit("done\n")
"""

#: one writer per process: prints its acknowledgements on stdout
WRITER = LOOP + r"""
import sys
write_loop(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]),
           lambda s: (sys.stdout.write(s), sys.stdout.flush()))
"""

#: a fork server: imports once, then forks one writer per request; each writer appends its acknowledgements
#: to its own file with os.write (the page cache keeps them across SIGKILL). Forking skips the ~1 s
#: interpreter and import start-up per kill, so 25 kills fit in a few seconds.
ZYGOTE = LOOP + r"""
import os, signal, sys
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # killed writers are reaped at once
url, strategy_id = sys.argv[1], int(sys.argv[2])
print("ready", flush=True)
for line in sys.stdin:
    ack = line.strip()
    pid = os.fork()
    if pid == 0:
        fd = os.open(ack, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            write_loop(url, strategy_id, "a", 0, lambda s: os.write(fd, s.encode()))
        finally:
            os._exit(0)
    print(pid, flush=True)
"""


def _writer(tmp_path: Path, url: str, strategy_id: int, tag: str, loops: int) -> subprocess.Popen[str]:
    script = tmp_path / "writer.py"
    script.write_text(WRITER, encoding="utf-8")
    return subprocess.Popen([sys.executable, str(script), url, str(strategy_id), tag, str(loops)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _acked(lines: list[str]) -> tuple[set[int], set[int]]:
    runs: set[int] = set()
    sigs: set[int] = set()
    for line in lines:
        if not line.endswith("\n"):  # cut off by the kill: not a complete report
            continue
        kind, _, rest = line.strip().partition(" ")
        if kind == "run":
            runs.add(int(rest))
        elif kind == "signals":
            sigs.update(int(x) for x in rest.split())
    return runs, sigs


@pytest.fixture
def db(tmp_path: Path) -> tuple[str, int]:
    from ruleengine.store import open_store

    url = f"sqlite:///{tmp_path / 'crash.db'}"
    store = open_store(url)
    rec = store.add_strategy("name: crash\ndata: {prices: {kind: ohlcv}}\nentry: ['close > 1']\n")
    store.close()
    return url, rec.id


def _check(path: str, runs: set[int], sigs: set[int]) -> sqlite3.Connection:
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    have_runs = {r[0] for r in con.execute("SELECT backtest_id FROM strategy_backtests")}
    have_sigs = {r[0] for r in con.execute("SELECT signal_id FROM strategy_signals")}
    assert runs <= have_runs, f"acknowledged runs lost: {sorted(runs - have_runs)[:10]}"
    assert sigs <= have_sigs, f"acknowledged signals lost: {sorted(sigs - have_sigs)[:10]}"
    # no partial batch: every bar holds exactly the batch's size of signals
    rows = con.execute("SELECT bar_time, COUNT(*), MAX(json_extract(data_snapshot, '$.batch_n')) "
                       "FROM strategy_signals GROUP BY bar_time").fetchall()
    partial = [r for r in rows if r[1] != r[2]]
    assert not partial, f"partial batches: {partial[:5]}"
    return con


def _gone(pid: int, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.005)
    raise AssertionError(f"writer {pid} still running")


def test_sigkill_at_random_points_loses_no_committed_write(tmp_path: Path, db: tuple[str, int]) -> None:
    url, sid = db
    path = url.removeprefix("sqlite:///")
    script = tmp_path / "zygote.py"
    script.write_text(ZYGOTE, encoding="utf-8")
    zygote = subprocess.Popen([sys.executable, str(script), url, str(sid)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert zygote.stdin is not None and zygote.stdout is not None
    rng = random.Random(20261122)
    all_runs: set[int] = set()
    all_sigs: set[int] = set()
    kills = 0
    try:
        assert zygote.stdout.readline().strip() == "ready"
        for kills in range(1, 26):
            ack = tmp_path / f"ack{kills}.txt"
            zygote.stdin.write(f"{ack}\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline())
            time.sleep(rng.uniform(0.02, 0.4))  # opening the store, or anywhere in the write loop
            os.kill(pid, signal.SIGKILL)
            _gone(pid)
            runs, sigs = _acked(ack.read_text().splitlines(keepends=True) if ack.exists() else [])
            all_runs |= runs
            all_sigs |= sigs
    finally:
        zygote.kill()
        zygote.wait()
    assert kills == 25
    assert len(all_runs) > kills  # the writers got real work done between kills
    con = _check(path, all_runs, all_sigs)
    con.close()
    from ruleengine.store import open_store

    store = open_store(url)  # the store opens and works after all that
    assert store.get_run(max(all_runs)).total_trades == 3
    assert len(store.list_signals(sid, limit=5)) == 5


def test_two_writers_at_once_both_succeed(tmp_path: Path, db: tuple[str, int]) -> None:
    url, sid = db
    procs = [_writer(tmp_path, url, sid, tag, 15) for tag in ("b", "c")]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert out.strip().endswith("done")
    acked = [_acked(out.splitlines(keepends=True)) for out, _ in outs]
    runs = acked[0][0] | acked[1][0]
    sigs = acked[0][1] | acked[1][1]
    assert len(runs) == 30
    con = _check(url.removeprefix("sqlite:///"), runs, sigs)
    assert con.execute("SELECT COUNT(*) FROM strategy_backtests").fetchone()[0] == 30
    assert con.execute("SELECT COUNT(*) FROM strategy_signals").fetchone()[0] == len(sigs)
    con.close()


def test_a_writer_waits_for_a_lock_held_by_another_process_then_succeeds(tmp_path: Path,
                                                                          db: tuple[str, int]) -> None:
    """A connection holding the write lock for 1.5 s (less than the busy timeout): the store's write waits."""
    from ruleengine.store import open_store

    url, sid = db
    path = url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE trading_strategies SET description = 'held' WHERE id = ?", (sid,))
    released = threading.Event()

    def release() -> None:
        time.sleep(1.5)
        holder.execute("COMMIT")
        released.set()

    threading.Thread(target=release).start()
    store = open_store(url)
    t = time.monotonic()
    rec = store.deactivate(sid)
    waited = time.monotonic() - t
    assert released.is_set() and waited >= 1.0
    assert rec.active is False
    assert sqlite3.connect(path).execute("SELECT description FROM trading_strategies").fetchone()[0] == "held"
    holder.close()


def test_sqlite_settings_wal_foreign_keys_busy_timeout(db: tuple[str, int]) -> None:
    from ruleengine.store import open_store

    url, _ = db
    store = open_store(url)
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    assert os.path.exists(url.removeprefix("sqlite:///") + "-wal")
