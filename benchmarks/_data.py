"""Benchmark inputs built from the real daily bars in ../shared/data/daily.parquet (no synthetic prices).

Universe panel (workload A): no symbol set has 500 aligned columns x 1,260 bars, so the panel is made of
*segments*: 1,260 consecutive bars (positional, whatever their dates) of one symbol's OHLCV history.
Segments start at bar 0, 630, 1260, ... of each symbol with at least 1,260 bars (stride 630, so neighbouring
segments of one symbol overlap by half). They are taken round-robin over the symbols ordered by history
length (longest first): first segment of every symbol, then the second of every symbol that has one, and
so on, which uses as many distinct symbols as possible. If the stride-630 segments are not enough, the
remaining columns are "tail" segments (the last 1,260 bars of a symbol, start = length - 1,260) of the
longest histories whose tail is not already a stride segment. The panel index is a synthetic business-day
calendar (segments come from different dates).

Grid series (workload B): the last 2,520 bars of SPY (Stooq split+dividend adjusted close), real dates.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "data"
DAILY = SHARED_DATA / "daily.parquet"
OHLCV = ["open", "high", "low", "close", "volume"]


def require_daily() -> Path:
    if not DAILY.is_file():
        sys.stderr.write(
            f"error: real market data not found: {DAILY}\n"
            "The benchmark needs ../shared/data/daily.parquet next to the project (see "
            "../shared/data/README.md); nothing was measured.\n")
        raise SystemExit(2)
    return DAILY


def load_daily() -> pd.DataFrame:
    px = pd.read_parquet(require_daily(), columns=["symbol", "date", *OHLCV, "source"])
    return px.sort_values(["symbol", "date"], kind="stable").reset_index(drop=True)


@dataclass
class Panel:
    """(T, S) float64 arrays per OHLCV column, Fortran-ordered (each column contiguous)."""

    arrays: dict[str, np.ndarray]
    columns: list[str]  # segment labels "SYMBOL@start"
    index: pd.DatetimeIndex
    segments: list[dict] = field(default_factory=list)  # symbol, source, start, first_date, last_date, kind
    description: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.arrays["close"].shape

    def frame(self, col: str) -> pd.DataFrame:
        """One OHLCV field as a (T, S) DataFrame with segment-label columns (vectorbt's input)."""
        return pd.DataFrame(self.arrays[col], index=self.index,
                            columns=pd.Index(self.columns, name="symbol"), copy=False)

    def wide(self) -> pd.DataFrame:
        """All fields as one DataFrame with (symbol, column) MultiIndex columns (ruleengine's pandas input),
        one float64 block, symbol-major column order."""
        T, S = self.shape
        block = np.empty((T, S * len(OHLCV)), dtype=np.float64, order="F")
        for j, col in enumerate(OHLCV):
            block[:, j::len(OHLCV)] = self.arrays[col]
        columns = pd.MultiIndex.from_product([self.columns, OHLCV], names=["symbol", "column"])
        return pd.DataFrame(block, index=self.index, columns=columns, copy=False)


def build_universe(px: pd.DataFrame, n_cols: int = 500, n_bars: int = 1260, stride: int = 630) -> Panel:
    groups = {sym: g for sym, g in px.groupby("symbol", sort=True)}  # noqa: C416 - dict(groupby) calls its .keys attribute (a str)
    lengths = pd.Series({s: len(g) for s, g in groups.items()})
    eligible = lengths[lengths >= n_bars]
    # longest first, ties by name: deterministic
    order = sorted(eligible.index, key=lambda s: (-int(eligible[s]), s))
    starts = {s: list(range(0, int(eligible[s]) - n_bars + 1, stride)) for s in order}
    picks: list[tuple[str, int, str]] = []
    rnd = 0
    while len(picks) < n_cols and any(len(v) > rnd for v in starts.values()):
        for s in order:
            if len(starts[s]) > rnd and len(picks) < n_cols:
                picks.append((s, starts[s][rnd], "stride"))
        rnd += 1
    n_stride_available = sum(len(v) for v in starts.values())
    if len(picks) < n_cols:
        for s in order:
            tail = int(eligible[s]) - n_bars
            if tail not in starts[s] and len(picks) < n_cols:
                picks.append((s, tail, "tail"))
    if len(picks) < n_cols:
        sys.stderr.write(f"error: only {len(picks)} segments of {n_bars} bars available, need {n_cols}\n")
        raise SystemExit(2)
    arrays = {c: np.empty((n_bars, n_cols), dtype=np.float64, order="F") for c in OHLCV}
    labels: list[str] = []
    segs: list[dict] = []
    for j, (s, start, kind) in enumerate(picks):
        g = groups[s].iloc[start:start + n_bars]
        for c in OHLCV:
            arrays[c][:, j] = g[c].to_numpy(dtype=np.float64)
        labels.append(f"{s}@{start}")
        segs.append({"symbol": s, "source": g["source"].iloc[0], "start": start, "kind": kind,
                     "first_date": str(pd.Timestamp(g["date"].iloc[0]).date()),
                     "last_date": str(pd.Timestamp(g["date"].iloc[-1]).date())})
    index = pd.bdate_range("2000-01-03", periods=n_bars, name="date")
    used = [p[0] for p in picks]
    per_symbol = pd.Series(used).value_counts()
    desc = {
        "n_cols": n_cols, "n_bars": n_bars, "stride": stride,
        "symbols_in_file": len(lengths),
        "symbols_with_enough_bars": len(eligible),
        "distinct_symbols_used": int(per_symbol.size),
        "stride_segments_available": int(n_stride_available),
        "stride_segments_used": int(sum(1 for p in picks if p[2] == "stride")),
        "tail_segments_used": int(sum(1 for p in picks if p[2] == "tail")),
        "tail_segments": [f"{s}@{st}" for s, st, k in picks if k == "tail"],
        "segments_per_symbol": {str(k): int(v) for k, v in per_symbol.value_counts().sort_index().items()},
        "by_source": {str(k): int(v) for k, v in pd.Series([x["source"] for x in segs]).value_counts().items()},
        "zero_volume_bars": int((arrays["volume"] == 0).sum()),
        "nan_values": int(sum(np.isnan(a).sum() for a in arrays.values())),
    }
    return Panel(arrays, labels, index, segs, desc)


def spy_close(px: pd.DataFrame, n_bars: int = 2520, symbol: str = "SPY") -> pd.Series:
    g = px[px.symbol == symbol]
    if len(g) < n_bars:  # fall back to the longest series
        lengths = px.groupby("symbol").size()
        symbol = str(lengths.idxmax())
        g = px[px.symbol == symbol]
    g = g.iloc[-n_bars:]
    return pd.Series(g["close"].to_numpy(dtype=np.float64), index=pd.DatetimeIndex(pd.to_datetime(g["date"]),
                                                                                 name="date"), name=symbol)
