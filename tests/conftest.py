"""Shared fixtures: the real market data in ../shared/data (skipped with a message where absent), and the
store's databases (`database_url`: a SQLite file and a real PostgreSQL server, tests/support/postgres.py).

Only fixtures live here; helpers that tests import by name are in tests/support/."""
from __future__ import annotations

from pathlib import Path

import pytest
from support.daily_sample import SAMPLE
from support.paths import SHARED_DATA, require_shared
from support.postgres import database_url, postgres_server
from support.prices import ohlcv_getter, read_daily

#: Modules whose tests measure wall time or race a signal against a process (startup time, a kill at random
#: points, Ctrl-C during a sweep, the sandbox's CPU and wall-clock limits, busy answers under concurrent calls):
#: scripts/test.sh runs them alone, after the other tests ran on two workers (pytest-xdist), so that a test on
#: the other worker never takes their CPU.
SERIAL_MODULES = frozenset({
    "test_startup", "test_store_crash", "test_sweep_cli", "test_sweep_executors", "test_sandbox_run",
    "test_sandbox_attacks", "test_hostile_sandbox", "test_hostile_tools", "test_mcp",
})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.stem in SERIAL_MODULES:
            item.add_marker(pytest.mark.serial)


@pytest.fixture(autouse=True)
def _terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's tables take $COLUMNS when piped (cli/common.py::console); CI's shell sets it (to 80), a
    developer's may not: every test sees 200 unless it sets its own (tests/test_cli_width.py checks 80)."""
    monkeypatch.setenv("COLUMNS", "200")


def pytest_report_header() -> str:
    """Say which real prices the oracle tests use, so a run on the committed sample is never mistaken for one
    on the full data."""
    if (SHARED_DATA / "daily.parquet").exists():
        return f"real prices: {SHARED_DATA} (full data)"
    return (f"real prices: {SAMPLE} (../shared/data absent: the oracle tests run on the committed sample, "
            "the tests that need the full data skip)")


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


@pytest.fixture(scope="session")
def real_daily() -> Path:
    """A folder holding a real daily.parquet: ../shared/data where it exists, else the committed sample
    (tests/fixtures/daily_sample, a few symbols x 500 bars; see tests/support/daily_sample.py). For tests that
    need real prices but not the full history; tests that do need it use `shared_data`."""
    full = SHARED_DATA / "daily.parquet"
    return full.parent if full.exists() else SAMPLE


@pytest.fixture(scope="session")
def real_ohlcv_of(real_daily):
    """Function symbol -> single-symbol OHLCV DataFrame indexed by date, from `real_daily`."""
    return ohlcv_getter(read_daily(real_daily / "daily.parquet"), real_daily / "daily.parquet")


@pytest.fixture
def provider_env_cleared(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No provider defaults from the environment (an FMP key, RULEENGINE_PROVIDER, a data path) and a
    private data cache: runs see only what the test passes. Returns the cache folder."""
    for var in ("RULEENGINE_PROVIDER", "RULEENGINE_DATA", "FMP_API_KEY", "FMP_BASE_URL", "ALPACA_API_KEY",
                "ALPACA_SECRET_KEY", "ALPACA_DATA_URL", "ALPACA_FEED", "ALPACA_ADJUSTMENT", "YAHOO_BASE_URL",
                "YAHOO_ADJUSTMENT", "REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USER_AGENT",
                "REDDIT_SUBREDDITS", "REDDIT_SYMBOLS", "REDDIT_OAUTH_URL", "REDDIT_URL", "RULEENGINE_PORTFOLIO",
                "SNAPTRADE_CLIENT_ID", "SNAPTRADE_CONSUMER_KEY", "SNAPTRADE_USER_ID", "SNAPTRADE_USER_SECRET",
                "SNAPTRADE_HOST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RULEENGINE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


__all__ = ["database_url", "postgres_server"]  # fixtures defined in tests/support/postgres.py
