"""The provider registry: resolution order, errors, self-documentation, cache wrapping."""
from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import pytest

from ruleengine.data.base import FetchRequest, KindInfo, Provider
from ruleengine.data.cache import CachedProvider
from ruleengine.data.local import LocalProvider
from ruleengine.data.registry import (
    ProviderRegistry,
    default_registry,
    fetch_many,
    parse_provider_setting,
)
from ruleengine.data.sample import SampleProvider
from ruleengine.errors import Diagnostic, RuleEngineError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ("RULEENGINE_PROVIDER", "RULEENGINE_DATA", "FMP_API_KEY", "FMP_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RULEENGINE_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    pd.DataFrame({"date": pd.bdate_range("2020-01-02", periods=3), "close": [1.0, 2.0, 3.0]}).to_csv(
        folder / "SPY.csv", index=False)
    return folder


class Remote(Provider):
    """A stand-in remote provider (cacheable), serving ohlcv 1Day and key_metrics."""

    name = "remote"

    @property
    def kinds(self) -> Mapping[str, KindInfo]:
        return {"ohlcv": KindInfo(("close",), ("1Day",)), "key_metrics": KindInfo(("pe_ratio",), ("quarterly",))}

    def fetch(self, request: FetchRequest) -> pd.DataFrame:
        if request.symbol == "NONE":
            raise RuleEngineError([Diagnostic("D110", "no such symbol")])
        return pd.DataFrame({"close": [1.0]}, index=pd.DatetimeIndex([request.start], tz="UTC", name="time"))


def names(reg: ProviderRegistry, kind: str = "ohlcv", frequency: str = "1Day",
          slot: str | None = None, cli: str | None = None) -> str:
    return reg.choose(slot, kind, frequency, cli)[0]


def test_default_is_sample_without_configuration():
    reg = default_registry()
    assert reg.names() == ["sample", "fmp", "yahoo", "alpaca", "reddit", "portfolio", "snaptrade"]
    p = reg.resolve(None, "ohlcv", "1Day")
    assert p.name == "sample" and p.synthetic and not isinstance(p, CachedProvider)
    assert "synthetic" in reg.choose(None, "ohlcv")[1]


def test_fmp_when_the_api_key_is_set(monkeypatch):
    monkeypatch.setenv("FMP_API_KEY", "k")
    reg = default_registry()
    assert names(reg) == "fmp" and reg.choose(None, "earnings")[1] == "FMP_API_KEY is set"
    p = reg.resolve(None, "earnings", "quarterly")
    assert isinstance(p, CachedProvider) and p.provider.name == "fmp"   # remote: behind the disk cache
    assert names(reg, "fundamentals") == "sample"   # fmp lacks the kind: the implicit choice falls through
    assert reg.resolve(None, "ohlcv", "1Day") is reg.resolve(None, "ohlcv", "1Day")
    assert not isinstance(default_registry(no_cache=True).resolve(None, "earnings"), CachedProvider)


def test_data_path_makes_local_the_default_for_its_kinds(monkeypatch, data_dir):
    monkeypatch.setenv("FMP_API_KEY", "k")
    reg = default_registry(data_dir)
    assert reg.names() == ["local", "sample", "fmp", "yahoo", "alpaca", "reddit", "portfolio", "snaptrade"]
    assert names(reg) == "local" and isinstance(reg.resolve(None, "ohlcv"), LocalProvider)
    assert names(reg, "earnings") == "fmp"     # local has no earnings here
    monkeypatch.setenv("RULEENGINE_DATA", str(data_dir))
    assert names(default_registry()) == "local"


def test_resolution_order(monkeypatch, data_dir):
    reg = default_registry(data_dir, defaults={"earnings": "fmp"})
    monkeypatch.setenv("FMP_API_KEY", "k")
    monkeypatch.setenv("RULEENGINE_PROVIDER", "sample,key_metrics=fmp")
    assert names(reg, slot="fmp", cli="local") == "fmp"                  # 1. the slot's provider
    assert names(reg, cli="local") == "local"                            # 2. --provider
    assert names(reg, "earnings") == "fmp"                               # 3a. the registry's mapping
    assert names(reg, "key_metrics") == "fmp"                            # 3b. env, per kind
    assert names(reg, "ohlcv") == "sample"                               # 3b. env, every kind
    monkeypatch.delenv("RULEENGINE_PROVIDER")
    assert names(reg, "ohlcv") == "local"                                # 4. the data path
    assert names(reg, "insider_trades") == "fmp"                         # 5. FMP_API_KEY
    monkeypatch.delenv("FMP_API_KEY")
    # 6. sample, but never in place of a data path: the path that cannot serve the slot is the error (issue 13)
    with pytest.raises(RuleEngineError) as exc:
        reg.resolve(None, "insider_trades", "event", slot="insiders")
    (d,) = exc.value.diagnostics
    assert d.code == "D109" and d.path == "data.insiders"
    assert "holds ohlcv (open, high, low, ...) at 1Day for 1 symbol; slot 'insiders' needs insider_trades" in d.message
    assert names(default_registry(), "insider_trades") == "sample"       # 6. no data path: sample


def test_parse_provider_setting():
    assert parse_provider_setting("fmp") == {"*": "fmp"}
    assert parse_provider_setting(" sample , earnings=fmp ") == {"*": "sample", "earnings": "fmp"}
    assert parse_provider_setting(None) == {}


def test_unknown_provider_did_you_mean():
    reg = default_registry()
    with pytest.raises(RuleEngineError) as exc:
        reg.resolve("smaple", "ohlcv", "1Day", slot="prices")
    d = exc.value.diagnostics[0]
    assert (d.code, d.hint, d.path) == ("D108", "did you mean 'sample'?", "data.prices.provider")
    assert exc.value.error_type == "validation_error"
    with pytest.raises(RuleEngineError) as exc:
        reg.get("zzz")
    assert exc.value.diagnostics[0].hint == \
        "known providers: sample, fmp, yahoo, alpaca, reddit, portfolio, snaptrade"


def test_explicit_provider_without_the_kind_is_d109_naming_who_serves_it(monkeypatch, data_dir):
    reg = default_registry(data_dir)
    with pytest.raises(RuleEngineError) as exc:
        reg.resolve(None, "key_metrics", "quarterly", cli_provider="sample")
    d = exc.value.diagnostics[0]
    assert d.code == "D109" and "--provider" in d.message
    assert d.hint == "providers serving key_metrics at quarterly: fmp"
    with pytest.raises(RuleEngineError) as exc:
        reg.resolve("local", "ohlcv", "1Min")   # local stores daily bars only: D118 naming what it holds
    assert exc.value.diagnostics[0].code == "D118" and "sample" in exc.value.diagnostics[0].hint
    assert "holds ohlcv at 1Day (SPY.csv): 1Min bars cannot be made from it" in exc.value.diagnostics[0].message
    monkeypatch.setenv("RULEENGINE_PROVIDER", "local")
    with pytest.raises(RuleEngineError) as exc:
        reg.resolve(None, "earnings", "quarterly")   # a configured default is explicit: no fall-through
    assert "RULEENGINE_PROVIDER=local" in exc.value.diagnostics[0].message
    with pytest.raises(RuleEngineError) as exc:
        reg.resolve(None, "earning", "quarterly")
    assert exc.value.diagnostics[0].code == "D109" and exc.value.diagnostics[0].hint == "did you mean 'earnings'?"


def test_bad_data_path_is_reported_not_skipped(tmp_path):
    reg = default_registry(tmp_path / "missing")
    with pytest.raises(RuleEngineError) as exc:
        reg.resolve(None, "ohlcv", "1Day")
    assert exc.value.diagnostics[0].code == "R101"


def test_lazy_factory_and_unavailable_provider():
    reg = ProviderRegistry()
    built: list[int] = []

    def factory() -> Provider:
        built.append(1)
        return Remote()

    def broken() -> Provider:
        raise ImportError("No module named 'nothing'")

    reg.register(factory, "remote")
    reg.register(broken, "broken")
    reg.register(SampleProvider())
    assert built == [] and reg.names() == ["remote", "broken", "sample"]
    assert isinstance(reg.resolve("remote", "ohlcv"), CachedProvider) and built == [1]
    with pytest.raises(RuleEngineError) as exc:
        reg.get("broken")
    assert exc.value.diagnostics[0].code == "D108" and "not available" in exc.value.diagnostics[0].message
    info = {d["name"]: d for d in reg.describe()}
    assert info["broken"]["available"] is False and info["remote"]["available"] is True
    assert reg.serving("key_metrics") == ["remote"]


def test_describe_and_describe_text(data_dir):
    reg = default_registry(data_dir)
    info = {d["name"]: d for d in reg.describe()}
    assert set(info) == {"local", "sample", "fmp", "yahoo", "alpaca", "reddit", "portfolio", "snaptrade"}
    assert info["sample"]["synthetic"] is True and info["local"]["synthetic"] is False
    assert info["local"]["default_for"] == {"ohlcv": "a data path is configured (--data / RULEENGINE_DATA)"}
    assert info["local"]["kinds"]["ohlcv"]["frequencies"] == ["1Day", "1Week", "1Month"]
    assert "eps" in info["fmp"]["kinds"]["earnings"]["columns"]
    text = reg.describe_text()
    assert "### sample (SYNTHETIC data, not real prices)" in text
    assert "| earnings | quarterly | eps, reported_eps, estimated_eps, surprise, surprise_percentage |" in text
    assert "### local" in text and "### fmp" in text


def test_fetch_many_helper_without_a_fast_path():
    p = Remote()
    out = fetch_many(p, ["A", "NONE", "B"], "ohlcv", "2020-01-02", "2020-01-03", skip_missing=True)
    assert list(out) == ["A", "B"]
    with pytest.raises(RuleEngineError) as exc:
        fetch_many(p, ["A", "NONE"], "ohlcv", "2020-01-02", "2020-01-03")
    assert [d.code for d in exc.value.diagnostics] == ["D110"]
