"""An on-disk Parquet cache in front of a (remote) provider, so a repeated backtest does not refetch.

Entries live under ``$RULEENGINE_CACHE_DIR`` (default: the platform's user cache dir, e.g.
``~/.cache/ruleengine/data``), one Parquet file per request, keyed by the provider's `cache_key` (its source,
e.g. the base URL), symbol, kind, frequency and range. Ranges that end long ago never change and never expire;
an entry whose range ends within the TTL window of now (default 1 day) holds the newest data and expires
``ttl`` after it was written. ``no_cache=True`` bypasses the cache (no reads, no writes). Failed fetches are
never cached. The local and sample providers are not wrapped: reading files or generating data is faster
than a cache lookup.

Example:
    >>> from ruleengine.data.sample import SampleProvider
    >>> import tempfile
    >>> cached = CachedProvider(SampleProvider(), cache_dir=tempfile.mkdtemp())
    >>> cached.name
    'sample'
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .base import FetchRequest, KindInfo, Provider

if TYPE_CHECKING:
    from ..errors import Diagnostic
    from .base import Matrix

DEFAULT_TTL = timedelta(days=1)


def default_cache_dir() -> Path:
    """``$RULEENGINE_CACHE_DIR`` or ``<user cache dir>/ruleengine/data``."""
    env = os.environ.get("RULEENGINE_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("ruleengine")) / "data"


def _seconds(ttl: timedelta | float) -> float:
    return ttl.total_seconds() if isinstance(ttl, timedelta) else float(ttl)


class CachedProvider(Provider):
    """`provider` with an on-disk cache (see the module docstring).

    Args:
        provider: the wrapped provider.
        ttl: lifetime of entries holding the newest data (a timedelta or seconds).
        cache_dir: where entries live (default `default_cache_dir()`).
        no_cache: bypass the cache entirely.
        clock: seconds since the epoch (tests pass a fake clock; default `time.time`).
    """

    def __init__(self, provider: Provider, *, ttl: timedelta | float = DEFAULT_TTL,
                 cache_dir: str | Path | None = None, no_cache: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.provider = provider
        self.name = provider.name
        self.description = provider.description
        self.synthetic = provider.synthetic
        self.price_basis = provider.price_basis
        self.ttl = _seconds(ttl)
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        self.no_cache = no_cache
        self._clock = clock
        self.hits = 0
        self.misses = 0

    @property
    def kinds(self) -> Mapping[str, KindInfo]:
        return self.provider.kinds

    def cache_key(self) -> str:
        return self.provider.cache_key()

    def describe(self) -> dict[str, object]:
        return self.provider.describe()

    # The optional methods of the contract answer for the wrapped provider (what it holds does not change by
    # being cached).
    def available_range(self, symbol: str, kind: str = "ohlcv",
                        frequency: str = "1Day") -> tuple[pd.Timestamp, pd.Timestamp] | None:
        return self.provider.available_range(symbol, kind, frequency)

    def cannot_serve(self, kind: str, frequency: str, slot: str | None = None) -> Diagnostic | None:
        return self.provider.cannot_serve(kind, frequency, slot)

    def quality_warnings(self, symbols: Iterable[str], kind: str = "ohlcv") -> list[Diagnostic]:
        return self.provider.quality_warnings(symbols, kind)

    def fetch_matrix(self, symbols: list[str], start: Any, end: Any, frequency: str = "1Day",
                     columns: Iterable[str] = ("open", "high", "low", "close", "volume")) -> Matrix | None:
        """None: the wrapped provider's array fast path would bypass the cache, so the binder fetches frame
        by frame, through it."""
        return None

    def path_for(self, request: FetchRequest) -> Path:
        """The cache file of a request."""
        key = json.dumps([self.provider.cache_key(), request.symbol, request.kind, request.frequency,
                          pd.Timestamp(request.start).isoformat(), pd.Timestamp(request.end).isoformat(),
                          sorted(dict(request.extra).items())])
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in self.name) or "provider"
        return self.cache_dir / safe / digest[:2] / f"{digest}.parquet"

    def _is_recent(self, request: FetchRequest) -> bool:
        """Whether the range ends inside the TTL window of now (its newest bars may still change)."""
        end = pd.Timestamp(request.end)
        end = end.tz_localize("UTC") if end.tz is None else end.tz_convert("UTC")
        end_of_day = end.normalize() + pd.Timedelta(days=1) if end == end.normalize() else end
        return end_of_day.timestamp() >= self._clock() - self.ttl

    def _read(self, request: FetchRequest) -> pd.DataFrame | None:
        path = self.path_for(request)
        try:
            written = path.stat().st_mtime
        except OSError:
            return None
        if self._is_recent(request) and self._clock() - written > self.ttl:
            return None
        try:
            frame = pd.read_parquet(path)
        except Exception:  # noqa: BLE001 - a damaged entry is refetched and overwritten, never fatal
            return None
        frame.index = pd.DatetimeIndex(frame.index).as_unit("ns")
        return frame

    def _write(self, request: FetchRequest, frame: pd.DataFrame) -> None:
        path = self.path_for(request)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            frame.to_parquet(tmp)
            os.replace(tmp, path)  # atomic: a concurrent reader sees the old entry or the new one
            os.utime(path, (self._clock(), self._clock()))
        except Exception:  # noqa: BLE001 - the cache is an optimisation: an unwritable dir must not fail a run
            tmp.unlink(missing_ok=True)

    def fetch(self, request: FetchRequest) -> pd.DataFrame:
        """The cached frame when fresh, else the provider's (then stored)."""
        if self.no_cache:
            return self.provider.fetch(request)
        frame = self._read(request)
        if frame is not None:
            self.hits += 1
            return frame
        self.misses += 1
        frame = self.provider.fetch(request)
        self._write(request, frame)
        return frame

    def fetch_many(self, symbols: Iterable[str], kind: str, start: Any, end: Any, frequency: str = "1Day",
                   *, skip_missing: bool = False) -> dict[str, pd.DataFrame]:
        """Per-symbol cache lookups; the misses go to the provider's `fetch_many`."""
        requests = {s: FetchRequest(s, kind, pd.Timestamp(start), pd.Timestamp(end), frequency)
                    for s in symbols}
        out: dict[str, pd.DataFrame] = {}
        missing: list[str] = []
        for symbol, request in requests.items():
            frame = None if self.no_cache else self._read(request)
            if frame is None:
                missing.append(symbol)
            else:
                self.hits += 1
                out[symbol] = frame
        if missing:
            self.misses += len(missing)
            fetched = self.provider.fetch_many(missing, kind, start, end, frequency,
                                               skip_missing=skip_missing)
            for symbol, frame in fetched.items():
                if not self.no_cache:
                    self._write(requests[symbol], frame)
                out[symbol] = frame
        return {s: out[s] for s in requests if s in out}

    def clear(self) -> int:
        """Delete this provider's entries; returns how many were removed."""
        removed = 0
        folder = self.path_for(FetchRequest("x", "ohlcv", pd.Timestamp(0), pd.Timestamp(0))).parents[1]
        for path in folder.rglob("*.parquet") if folder.exists() else []:
            path.unlink(missing_ok=True)
            removed += 1
        return removed
