"""Shared fixtures: the real market data in ../shared/data (skipped with a message where absent)."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
RULES = ROOT / "rules"
GOLDEN = Path(__file__).resolve().parent / "golden"


def _require_shared(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real market data not found at {path} (tests marked 'realdata' need ../shared/data)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder (the test is skipped with a message where it is absent)."""
    return _require_shared("daily.parquet").parent


@pytest.fixture(scope="session")
def daily_prices():
    """Long-format daily OHLCV from ../shared/data/daily.parquet with a datetime `date` column."""
    import pandas as pd

    df = pd.read_parquet(_require_shared("daily.parquet"))
    df["date"] = pd.to_datetime(df["date"])
    return df


@pytest.fixture(scope="session")
def ohlcv_of(daily_prices):
    """Function symbol -> single-symbol OHLCV DataFrame indexed by date."""

    def get(symbol: str):
        sub = daily_prices[daily_prices["symbol"] == symbol]
        if sub.empty:
            pytest.fail(f"symbol {symbol} not in daily.parquet")
        out = sub.set_index("date")[["open", "high", "low", "close", "volume"]].astype("float64")
        out.index.name = "date"
        return out.sort_index()

    return get


@pytest.fixture
def provider_env_cleared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No provider defaults from the environment (an FMP key, RULEENGINE_PROVIDER, a data path) and a
    private data cache: runs see only what the test passes. Returns the cache folder."""
    for var in ("RULEENGINE_PROVIDER", "RULEENGINE_DATA", "FMP_API_KEY", "FMP_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RULEENGINE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def sine_prices(n: int, level: float, amplitude: float, period: float, start: str = "2020-01-02"):
    """A small deterministic OHLCV table (business days, a sine wave) for per-symbol CSV fixtures."""
    import numpy as np
    import pandas as pd

    idx = pd.bdate_range(start, periods=n)
    base = level + amplitude * np.sin(np.arange(n) / period)
    return pd.DataFrame({"date": idx.strftime("%Y-%m-%d"), "open": base, "high": base + 1, "low": base - 1,
                         "close": base, "volume": 1000})
