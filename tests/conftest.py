"""Shared fixtures: the real market data in ../shared/data (skipped with a message where absent).

Only fixtures live here; helpers that tests import by name are in tests/support/."""
from __future__ import annotations

from pathlib import Path

import pytest
from support.paths import SHARED_DATA, require_shared
from support.prices import ohlcv_getter, read_daily


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ../shared/data folder (the test is skipped with a message where it is absent)."""
    return require_shared("daily.parquet").parent


@pytest.fixture(scope="session")
def daily_prices():
    """Long-format daily OHLCV from ../shared/data/daily.parquet with a datetime `date` column."""
    return read_daily(require_shared("daily.parquet"))


@pytest.fixture(scope="session")
def ohlcv_of(daily_prices):
    """Function symbol -> single-symbol OHLCV DataFrame indexed by date."""
    return ohlcv_getter(daily_prices, SHARED_DATA / "daily.parquet")


@pytest.fixture
def provider_env_cleared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No provider defaults from the environment (an FMP key, RULEENGINE_PROVIDER, a data path) and a
    private data cache: runs see only what the test passes. Returns the cache folder."""
    for var in ("RULEENGINE_PROVIDER", "RULEENGINE_DATA", "FMP_API_KEY", "FMP_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RULEENGINE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"

