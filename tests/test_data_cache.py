"""The on-disk cache: repeated fetches do not call the provider; TTL for the newest data; no_cache."""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import pytest

from ruleengine.data.base import FetchRequest, KindInfo, Provider
from ruleengine.data.cache import CachedProvider, default_cache_dir
from ruleengine.errors import Diagnostic, RuleEngineError

DAY = 86_400.0


class Counting(Provider):
    """A real provider that counts its calls (and fails for the symbol BAD)."""

    name = "counting"
    description = "test provider"

    def __init__(self, source: str = "src-a") -> None:
        self.calls = 0
        self.source = source

    @property
    def kinds(self) -> Mapping[str, KindInfo]:
        return {"ohlcv": KindInfo(("open", "high", "low", "close", "volume"), ("1Day",))}

    def cache_key(self) -> str:
        return f"counting:{self.source}"

    def fetch(self, request: FetchRequest) -> pd.DataFrame:
        self.calls += 1
        if request.symbol == "BAD":
            raise RuleEngineError([Diagnostic("D112", "request failed")])
        idx = pd.date_range(request.start, request.end, freq="D", tz="UTC", name="time").as_unit("ns")
        frame = pd.DataFrame({"close": [float(self.calls)] * len(idx)}, index=idx)
        frame.attrs = {"provider": self.name, "frequency": "1Day", "synthetic": False}
        return frame


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def req(symbol: str = "SPY", start: str = "2015-01-01", end: str = "2015-01-05") -> FetchRequest:
    return FetchRequest(symbol, "ohlcv", pd.Timestamp(start), pd.Timestamp(end), "1Day")


def test_repeated_fetch_reads_the_cache(tmp_path):
    inner = Counting()
    cached = CachedProvider(inner, cache_dir=tmp_path)
    first = cached.fetch(req())
    second = cached.fetch(req())
    assert inner.calls == 1 and (cached.hits, cached.misses) == (1, 1)
    pd.testing.assert_frame_equal(first, second, check_freq=False)
    assert second.attrs["provider"] == "counting" and second.index.tz is not None
    assert cached.path_for(req()).exists() and str(cached.path_for(req())).startswith(str(tmp_path))
    # A fresh wrapper (a new process) finds the entry on disk.
    again = CachedProvider(Counting(), cache_dir=tmp_path)
    assert again.fetch(req())["close"].iloc[0] == 1.0 and again.provider.calls == 0


def test_key_covers_symbol_range_and_source(tmp_path):
    inner = Counting()
    cached = CachedProvider(inner, cache_dir=tmp_path)
    cached.fetch(req())
    cached.fetch(req(symbol="QQQ"))
    cached.fetch(req(end="2015-01-06"))
    assert inner.calls == 3
    other = Counting(source="src-b")
    CachedProvider(other, cache_dir=tmp_path).fetch(req())
    assert other.calls == 1  # another base URL / file is another cache entry


def test_old_ranges_never_expire_but_the_newest_data_do(tmp_path):
    now = pd.Timestamp("2024-06-10 12:00", tz="UTC").timestamp()
    clock = Clock(now)
    inner = Counting()
    cached = CachedProvider(inner, cache_dir=tmp_path, ttl=DAY, clock=clock)
    old, recent = req(), req(start="2024-06-01", end="2024-06-10")
    cached.fetch(old)
    cached.fetch(recent)
    assert inner.calls == 2
    clock.now = now + 0.5 * DAY
    cached.fetch(old)
    cached.fetch(recent)
    assert inner.calls == 2          # both fresh
    clock.now = now + 1.5 * DAY
    cached.fetch(old)
    assert inner.calls == 2          # an old range never changes
    assert cached.fetch(recent)["close"].iloc[0] == 3.0 and inner.calls == 3  # refetched and rewritten
    cached.fetch(recent)
    assert inner.calls == 3


def test_no_cache_bypasses_reads_and_writes(tmp_path):
    inner = Counting()
    cached = CachedProvider(inner, cache_dir=tmp_path, no_cache=True)
    cached.fetch(req())
    cached.fetch(req())
    assert inner.calls == 2 and not any(tmp_path.rglob("*.parquet"))


def test_failures_are_not_cached_and_damaged_entries_are_refetched(tmp_path):
    inner = Counting()
    cached = CachedProvider(inner, cache_dir=tmp_path)
    for _ in range(2):
        with pytest.raises(RuleEngineError):
            cached.fetch(req("BAD"))
    assert inner.calls == 2
    cached.fetch(req())
    cached.path_for(req()).write_bytes(b"garbage")
    assert cached.fetch(req())["close"].iloc[0] == 4.0 and inner.calls == 4


def test_fetch_many_uses_per_symbol_entries(tmp_path):
    inner = Counting()
    cached = CachedProvider(inner, cache_dir=tmp_path)
    cached.fetch(req("AAA"))
    out = cached.fetch_many(["AAA", "BBB", "BAD"], "ohlcv", "2015-01-01", "2015-01-05", skip_missing=True)
    assert list(out) == ["AAA", "BBB"] and inner.calls == 3
    assert out["AAA"]["close"].iloc[0] == 1.0
    with pytest.raises(RuleEngineError) as exc:
        cached.fetch_many(["AAA", "BBB", "BAD"], "ohlcv", "2015-01-01", "2015-01-05")
    assert [d.code for d in exc.value.diagnostics] == ["D112"] and inner.calls == 4


def test_cache_dir_from_environment_and_clear(tmp_path, monkeypatch):
    monkeypatch.setenv("RULEENGINE_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    cached = CachedProvider(Counting())
    cached.fetch(req())
    cached.fetch(req("QQQ"))
    assert len(list((tmp_path / "c").rglob("*.parquet"))) == 2
    assert cached.clear() == 2 and not list((tmp_path / "c").rglob("*.parquet"))


def test_wrapper_delegates_the_description(tmp_path):
    cached = CachedProvider(Counting(), cache_dir=tmp_path)
    assert cached.name == "counting" and cached.serves("ohlcv", "1Day") and not cached.serves("earnings")
    assert cached.describe()["name"] == "counting" and cached.cache_key() == "counting:src-a"
