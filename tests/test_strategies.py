"""One strategy interface (ruleengine.strategies) and the data request the data layer receives instead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ruleengine
from ruleengine.data.market import MarketData, load_market_data
from ruleengine.data.request import DataRequest
from ruleengine.errors import RuleEngineError
from ruleengine.schema.strategy import DataSlot
from ruleengine.signal_set import SignalSet
from ruleengine.strategies import SignalSource, load_data, signal_source

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"


def _inputs(path: Path) -> list[object]:
    text = path.read_text(encoding="utf-8")
    strategy = ruleengine.load_strategy(text)
    return [path, str(path), text, strategy.to_dict(), strategy]


@pytest.mark.parametrize("name", ["golden_cross", "code_rsi_mean_reversion"])
def test_every_input_kind_gives_a_signal_source(name: str) -> None:
    path = RULES / f"{name}.yaml"
    sources = [signal_source(obj) for obj in _inputs(path)]
    for src in sources:
        assert isinstance(src, SignalSource)
        assert src.strategy.name == sources[0].strategy.name
        assert src.runs_in_process is (not name.startswith("code_"))
        assert signal_source(src) is src  # an existing source is returned as it is
        assert ruleengine.compile_strategy(src) is src
    req = sources[0].data_request()
    assert isinstance(req, DataRequest) and req.warmup_bars == sources[0].converge_bars()
    assert req.columns[req.price_slot] >= {"open", "high", "low", "close"}  # the bars the simulation reads
    assert sources[0].explain()["name"] == sources[0].strategy.name
    assert sources[0].strategy.name in sources[0].explain_text()


def test_text_is_never_a_path_without_allow_paths(tmp_path: Path) -> None:
    with pytest.raises(RuleEngineError):
        signal_source(str(RULES / "golden_cross.yaml"), allow_paths=False)


def test_code_strategy_shows_no_conditions_and_rules_do() -> None:
    rules = signal_source(RULES / "golden_cross.yaml")
    code = signal_source(RULES / "code_rsi_mean_reversion.yaml")
    md = MarketData.from_frames(pd.DataFrame({c: np.linspace(1, 2, 60) for c in ("open", "high", "low", "close")},
                                             index=pd.date_range("2024-01-01", periods=60, tz="UTC")),
                                rules.data_request().with_overrides(columns=rules.required_columns()))
    assert code.inspect(md) == [] and code.path_dependent() is False
    assert [c.group for c in rules.inspect(md, tail=3)] == ["entry", "entry", "exit"]


def test_data_layer_loads_a_request_built_by_hand(provider_env_cleared) -> None:
    """No strategy: slots, columns, history and frequency are all the data layer gets; the result equals
    what `load_data` gives for a strategy whose request this is."""
    request = DataRequest({"prices": DataSlot(kind="ohlcv")},
                          {"prices": frozenset({"open", "high", "low", "close"})},
                          warmup_bars=30, frequency="1Day", price_slot="prices")
    md = load_market_data(request, "SPY,QQQ", "2020-01-01", "2020-06-30", provider="sample")
    assert md.labels == ["SPY", "QQQ"] and md.start >= 30 and md.synthetic
    assert set(md.inputs) == {("prices", c) for c in ("open", "high", "low", "close")}
    doc = {"name": "x", "data": {"prices": {"kind": "ohlcv"}}, "entry": ["close > 0"]}
    same = load_data(doc, "SPY,QQQ", "2020-01-01", "2020-06-30", provider="sample", warmup_bars=30)
    assert same.index.equals(md.index) and same.start == md.start
    for key, values in md.inputs.items():
        np.testing.assert_array_equal(same.inputs[key], values)


def test_frames_become_market_data_and_signals_name_their_fields() -> None:
    src = signal_source("name: t\ndata: {prices: {}}\nparams: {n: {type: int, default: 3}}\n"
                        "entry: ['close > sma(close, n)']\n")
    idx = pd.date_range("2024-01-01", periods=8, tz="UTC")
    frame = pd.DataFrame({"close": [1.0, 2, 3, 2, 1, 2, 3, 4]}, index=idx)
    md = MarketData.from_frames(frame, src.data_request().with_overrides(columns=src.required_columns()))
    assert md.start == 0 and md.unnamed and md.labels == ["data"]
    sig = src.signals(md, {"n": [2, 3]})
    assert isinstance(sig, SignalSet) and sig.entries.shape == (8, 2) and sig.n_sets == 2
    assert [p["n"] for p in sig.param_sets] == [2, 3] and sig.index.equals(idx)
    view = sig.to_pandas()
    assert list(view.entries.columns) == [2, 3] and view.exits.shape == (8, 2)
    assert src.signals(frame).to_pandas().entries.equals(src.signals(md).to_pandas().entries)
