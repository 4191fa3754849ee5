"""The kernels' plumbing for levels (per-bar numeric series beside the signals) and position fields."""
import numpy as np
import pandas as pd
import pytest

from ruleengine.backtest.risk import RiskSpec
from ruleengine.backtest.simulation import level_array, risk_arrays
from ruleengine.kernels.enums import LEVEL_KINDS
from ruleengine.kernels.simulate import LV_ENTRY_ORDER_PRICE, N_LEVELS, flat_nb, levels_nb, set_nb
from ruleengine.signal_set import SignalSet

_RISK = RiskSpec(position_size_pct=100.0, fees_pct=0.0, slippage_pct=0.0, execution_price="close")


def test_level_array_puts_the_given_kinds_in_rows_and_names_them_in_the_risk_records() -> None:
    risk = risk_arrays([_RISK] * 2)
    price = np.array([[10.0, 20.0], [11.0, 21.0], [12.0, 22.0]])  # (T, N)
    levels = level_array({"entry_order_price": price}, (3, 2), risk)
    assert levels.shape == (1, 2, 3) and levels.flags.c_contiguous
    assert levels[0].tolist() == price.T.tolist()
    assert [int(r["entry_order_price_row"]) for r in risk] == [0, 0]
    assert all(int(r[f"{k}_row"]) == -1 for k in LEVEL_KINDS if k != "entry_order_price" for r in risk)
    # a kind's value at a bar, NaN for the kinds not given
    lv = levels_nb(levels, risk[1], 1, 2)
    assert len(lv) == N_LEVELS and lv[LV_ENTRY_ORDER_PRICE] == 22.0
    assert sum(np.isnan(v) for v in lv) == N_LEVELS - 1


def test_level_array_refuses_unknown_kinds_and_wrong_shapes() -> None:
    risk = risk_arrays([_RISK])
    with pytest.raises(ValueError, match="unknown level kinds"):
        level_array({"order_price": np.zeros((3, 1))}, (3, 1), risk)
    with pytest.raises(ValueError, match="expected"):
        level_array({"volatility": np.zeros((2, 1))}, (3, 1), risk)


def test_set_nb_replaces_one_position_field() -> None:
    pos = set_nb(flat_nb(), 2, 12.5)
    assert pos[2] == 12.5 and pos[:2] == flat_nb()[:2] and pos[3:] == flat_nb()[3:]


def test_signal_set_columns_takes_every_field_of_the_chosen_columns() -> None:
    idx = pd.date_range("2024-01-01", periods=3, tz="UTC")
    ent = np.array([[True, False], [False, True], [False, False]])
    sig = SignalSet(ent, ~ent, [{}], idx, ["A", "B"], short_entries=ent.copy(),
                    levels={"volatility": np.arange(6.0).reshape(3, 2)})
    cols = sig.columns([1], stop=2)
    assert cols["entries"].tolist() == [[False], [True]] and cols["exits"].tolist() == [[True], [False]]
    assert cols["short_entries"].tolist() == [[False], [True]] and cols["short_exits"] is None
    assert cols["levels"]["volatility"].tolist() == [[1.0], [3.0]]
