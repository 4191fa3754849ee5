"""Price tables for tests: small synthetic ones, and readers of the real daily.parquet layout."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


def sine_prices(n: int, level: float, amplitude: float, period: float, start: str = "2020-01-02"):
    """A small deterministic OHLCV table (business days, a sine wave) for per-symbol CSV fixtures."""
    import numpy as np
    import pandas as pd

    idx = pd.bdate_range(start, periods=n)
    base = level + amplitude * np.sin(np.arange(n) / period)
    return pd.DataFrame({"date": idx.strftime("%Y-%m-%d"), "open": base, "high": base + 1, "low": base - 1,
                         "close": base, "volume": 1000})


def write_csvs(folder: Path, frames: dict) -> Path:
    """Write each date-indexed OHLCV frame as ``folder/SYMBOL.csv`` for the local provider; returns `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for symbol, df in frames.items():
        out = df.copy()
        out.index = out.index.strftime("%Y-%m-%d")
        out.index.name = "date"
        out.reset_index().to_csv(folder / f"{symbol}.csv", index=False)
    return folder


def read_daily(path: Path):
    """A daily.parquet (the shared layout) as long-format OHLCV with a datetime `date` column."""
    import pandas as pd

    df = pd.read_parquet(path)
    df["date"] = pd.to_datetime(df["date"])
    return df


def ohlcv_getter(daily, path: Path) -> Callable:
    """Function symbol -> that symbol's OHLCV from the long table `daily` (read from `path`), by date."""

    def get(symbol: str):
        sub = daily[daily["symbol"] == symbol]
        if sub.empty:
            pytest.fail(f"symbol {symbol} not in {path}")
        out = sub.set_index("date")[["open", "high", "low", "close", "volume"]].astype("float64")
        out.index.name = "date"
        return out.sort_index()

    return get
