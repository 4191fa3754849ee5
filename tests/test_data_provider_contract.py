"""The provider contract: the optional methods' defaults, their forwarding through the cache, and the default
order that providers declare (`Provider.default_rank` ...) instead of names in the registry."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ruleengine.data.base import FetchRequest, KindInfo, Provider
from ruleengine.data.cache import CachedProvider
from ruleengine.data.local import LocalProvider
from ruleengine.data.registry import ProviderRegistry, default_registry
from ruleengine.errors import RuleEngineError
from ruleengine.strategies import load_data

GOLDEN = str(Path(__file__).resolve().parents[1] / "rules" / "golden_cross.yaml")


class FetchOnly(Provider):
    """The least a provider can be: `kinds` and `fetch` (real daily bars, read through a LocalProvider)."""

    name = "fetch_only"

    def __init__(self, source: LocalProvider) -> None:
        self.source = source

    @property
    def kinds(self) -> Mapping[str, KindInfo]:
        return {"ohlcv": self.source.kinds["ohlcv"]}

    def fetch(self, request: FetchRequest) -> pd.DataFrame:
        return self.source.fetch(request)


class Vendor(Provider):
    """A new data vendor serving real earnings, a default when ``VENDOR_KEY`` is set, ahead of fmp."""

    name = "vendor"
    default_rank = 15
    default_reason = "VENDOR_KEY is set"

    def __init__(self, source: LocalProvider) -> None:
        self.source = source

    @classmethod
    def configured(cls, env: Mapping[str, str]) -> bool:
        return bool(env.get("VENDOR_KEY"))

    @property
    def kinds(self) -> Mapping[str, KindInfo]:
        return self.source.kinds

    def fetch(self, request: FetchRequest) -> pd.DataFrame:
        return self.source.fetch(request)


@pytest.fixture
def daily(shared_data: Path) -> LocalProvider:
    return LocalProvider(shared_data / "daily.parquet")


@pytest.fixture
def earnings(shared_data: Path) -> LocalProvider:
    return LocalProvider(shared_data / "earnings_quarterly.parquet")


@pytest.mark.realdata
def test_defaults_of_a_provider_that_implements_only_fetch(daily):
    p = FetchOnly(daily)
    got = p.fetch_many(["SPY", "NOPE", "GLD"], "ohlcv", "2010-01-04", "2010-03-31", skip_missing=True)
    assert list(got) == ["SPY", "GLD"]
    want = daily.fetch_many(["SPY", "GLD"], "ohlcv", "2010-01-04", "2010-03-31")
    for symbol in want:
        pd.testing.assert_frame_equal(got[symbol], want[symbol])
    with pytest.raises(RuleEngineError) as exc:
        p.fetch_many(["SPY", "NOPE", "ZZZQ"], "ohlcv", "2010-01-04", "2010-03-31")
    assert [d.code for d in exc.value.diagnostics] == ["D110", "D110"]   # every failing symbol, together
    assert p.fetch_matrix(["SPY"], "2010-01-04", "2010-03-31") is None   # no fast path: frame by frame
    assert p.available_range("SPY") is None                              # unknown
    assert p.cannot_serve("earnings", "quarterly") is None               # nothing to add to D109
    assert p.quality_warnings(["SPY"]) == []
    assert p.default_rank is None and p.configured({}) and not p.blocks_synthetic   # used only when named


@pytest.mark.realdata
def test_a_fetch_only_provider_binds_the_same_data_through_the_cache(daily, tmp_path):
    reg = ProviderRegistry(cache_dir=tmp_path / "cache")
    reg.register(FetchOnly(daily))
    reg.register(daily)
    assert isinstance(reg.resolve("fetch_only", "ohlcv"), CachedProvider)   # cacheable: wrapped
    args = (GOLDEN, ["SPY", "GLD"], "2009-06-01", "2011-12-31")
    plain = load_data(*args, registry=reg, provider="fetch_only")
    fast = load_data(*args, registry=reg, provider="local")          # local's fetch_matrix path
    assert plain.index.equals(fast.index) and plain.inputs.keys() == fast.inputs.keys()
    for key in plain.inputs:
        np.testing.assert_array_equal(plain.inputs[key], fast.inputs[key], err_msg=str(key))
    assert plain.providers == {"prices": "fetch_only"}
    with pytest.raises(RuleEngineError) as exc:
        reg.resolve("fetch_only", "earnings", "quarterly", slot="eps")
    (d,) = exc.value.diagnostics   # the registry's own D109, without a provider explanation appended
    assert d.code == "D109"
    assert d.message == "provider 'fetch_only' (the slot's provider:) does not serve 'earnings'"
    assert d.hint == "no registered provider serves earnings at quarterly"


@pytest.mark.realdata
def test_the_cache_forwards_the_optional_methods(shared_data, tmp_path):
    local = LocalProvider(shared_data)
    cached = CachedProvider(local, cache_dir=tmp_path)
    assert cached.available_range("SPY") == local.available_range("SPY")
    earnings = ("AAPL", "earnings", "quarterly")
    assert cached.available_range(*earnings) == local.available_range(*earnings)
    missing = ("key_metrics", "quarterly", "metrics")
    assert cached.cannot_serve(*missing) == local.cannot_serve(*missing) is not None
    assert cached.quality_warnings(["SPY", "GLD"]) == local.quality_warnings(["SPY", "GLD"])
    # the wrapped provider's array path would bypass the cache: the binder goes frame by frame through it
    assert local.fetch_matrix(["SPY"], "2010-01-04", "2010-01-29") is not None
    assert cached.fetch_matrix(["SPY"], "2010-01-04", "2010-01-29") is None


@pytest.mark.realdata
def test_a_new_provider_with_a_rank_joins_the_default_order(earnings, shared_data, provider_env_cleared,
                                                            monkeypatch):
    built: list[str] = []

    def vendor() -> Provider:
        built.append("vendor")
        return Vendor(earnings)

    reg = default_registry(shared_data / "daily.parquet")   # the data path holds prices only
    reg.register(vendor, "vendor", cls=Vendor)
    monkeypatch.setenv("FMP_API_KEY", "k")
    assert reg.choose(None, "earnings", "quarterly")[:2] == ("fmp", "FMP_API_KEY is set")
    assert built == []                              # not configured: not even built
    monkeypatch.setenv("VENDOR_KEY", "v")
    # 15 comes before fmp's 20
    assert reg.choose(None, "earnings", "quarterly") == ("vendor", "VENDOR_KEY is set", False)
    assert reg.choose(None, "ohlcv", "1Day")[0] == "local"                                        # 10 < 15
    source = reg.resolve(None, "earnings", "quarterly", slot="eps")
    assert isinstance(source, CachedProvider) and source.provider.name == "vendor"
    request = FetchRequest("AAPL", "earnings", pd.Timestamp("2014-01-01"), pd.Timestamp("2014-12-31"),
                           "quarterly")
    pd.testing.assert_frame_equal(source.fetch(request), earnings.fetch(request))   # AAPL's real earnings
    assert reg.describe()[-1]["default_for"] == {"earnings": "VENDOR_KEY is set"}
    monkeypatch.delenv("FMP_API_KEY")
    assert reg.choose(None, "earnings", "quarterly")[0] == "vendor"

    class LateVendor(Vendor):
        default_rank = 25   # after fmp

    late = default_registry(shared_data / "daily.parquet")
    late.register(LateVendor(earnings))
    monkeypatch.setenv("FMP_API_KEY", "k")
    assert late.choose(None, "earnings", "quarterly")[0] == "fmp"
    monkeypatch.delenv("FMP_API_KEY")
    assert late.choose(None, "earnings", "quarterly")[0] == "vendor"


@pytest.mark.realdata
def test_a_data_path_still_never_falls_through_to_synthetic_data_past_a_new_provider(daily, shared_data,
                                                                                    provider_env_cleared,
                                                                                    monkeypatch):
    reg = default_registry(shared_data / "daily.parquet")
    reg.register(Vendor(daily))   # ranked, configured, but serves only prices
    monkeypatch.setenv("VENDOR_KEY", "v")
    with pytest.raises(RuleEngineError) as exc:
        reg.choose(None, "earnings", "quarterly", slot="eps")
    (d,) = exc.value.diagnostics
    assert d.code == "D109" and d.path == "data.eps" and "slot 'eps' needs earnings" in d.message


def test_without_any_default_provider_an_implicit_choice_is_d109(provider_env_cleared):
    reg = ProviderRegistry()
    with pytest.raises(RuleEngineError) as exc:
        reg.resolve(None, "ohlcv", "1Day", slot="prices")
    (d,) = exc.value.diagnostics
    assert (d.code, d.path) == ("D109", "data.prices")
    assert d.message == "no registered provider serves ohlcv at 1Day"
