"""The kernels' record dtypes and enums (`ruleengine.kernels.enums`) and the one risk-field list."""
from dataclasses import fields, replace

import numpy as np

from ruleengine.backtest.risk import FILL_CONTRACT, RISK_FIELDS, RISK_PARAM_NAMES, RiskSpec
from ruleengine.backtest.simulation import EXIT_REASONS, kernel_risk_name, risk_arrays, risk_dt
from ruleengine.kernels.enums import LEVEL_KINDS, ExitReason, skip_dt, trade_dt
from ruleengine.kernels.simulate import simulate_nb, simulate_portfolio_nb, stop_fill_nb
from ruleengine.schema.strategy import RISK_RULE_FIELDS, RiskParameters
from ruleengine.sweep.grid import RISK_AXES


def _kernel_args(close: np.ndarray, entries: np.ndarray, exits: np.ndarray, risk: RiskSpec) -> tuple:
    n, t = close.shape
    no_short = np.zeros((0, t), dtype=np.bool_)
    return (close, close, close, close, entries, exits, no_short, no_short, np.zeros((0, n, t)),
            np.zeros(0, dtype=np.int64), np.zeros(0), np.arange(t, dtype=np.int64) * 86_400_000_000_000, 0,
            risk_arrays([risk] * n))


def test_exit_reason_names_are_the_user_strings_in_code_order() -> None:
    assert EXIT_REASONS == ExitReason._fields
    assert [getattr(ExitReason, name) for name in EXIT_REASONS] == list(range(len(EXIT_REASONS)))
    assert EXIT_REASONS[ExitReason.end_of_data] == "end_of_data"


def test_kernel_writes_named_trade_fields() -> None:
    """A stop-loss trade, then one marked at the end: the kernel fills the `trade_dt` fields by name."""
    close = np.array([[100.0, 100.0, 90.0, 100.0, 100.0, 120.0]])
    entries = np.array([[True, False, False, True, False, False]])
    exits = np.zeros_like(entries)
    risk = RiskSpec(stop_loss_pct=5.0, position_size_pct=100.0, fees_pct=0.1, slippage_pct=0.0,
                    execution_price="close")
    records, n, *_ = simulate_nb(*_kernel_args(close, entries, exits, risk), False, 1000.0, 4)
    assert records.dtype == trade_dt and n == 2
    trades = records[:n]
    assert trades["exit_reason"].tolist() == [ExitReason.stop_loss, ExitReason.end_of_data]
    assert trades[["entry_bar", "exit_bar"]].tolist() == [(0, 2), (3, 5)]
    assert trades["exit_price"].tolist() == [90.0, 120.0]
    first = trades[0]
    spent = first["size"] * first["entry_price"] + first["fees"] - first["size"] * first["exit_price"] * 0.001
    assert np.isclose(spent, 1000.0)
    assert np.isclose(first["pnl"], first["size"] * 90.0 * 0.999 - 1000.0)
    assert np.isclose(first["pnl_pct"], first["pnl"] / 1000.0 * 100.0)


def test_portfolio_skips_are_named_records() -> None:
    """Two columns want all the equity on the same bar: the second is skipped, recorded as (bar, column)."""
    close = np.full((2, 3), 10.0)
    entries = np.array([[False, True, False], [False, True, False]])
    exits = np.zeros_like(entries)
    risk = RiskSpec(position_size_pct=100.0, fees_pct=0.0, slippage_pct=0.0, execution_price="close")
    *_, skip, n_skip = simulate_portfolio_nb(*_kernel_args(close, entries, exits, risk), False, 1000.0, 4)
    assert skip.dtype == skip_dt and n_skip == 1
    assert skip[["bar", "column"]].tolist() == [(1, 1)]


def test_risk_fields_are_the_document_models() -> None:
    """One list: the document model's risk fields, used by risk resolution, sweep axes and kernel arrays."""
    assert RISK_FIELDS == tuple(f for f in RiskParameters.model_fields if f not in RISK_RULE_FIELDS)
    assert RISK_AXES == RISK_FIELDS
    assert RISK_PARAM_NAMES == (*RISK_FIELDS, "execution_price")
    risk = RiskSpec(stop_loss_pct=5.0, take_profit_pct=10.0, max_hold_days=30, position_size_pct=50.0, fees_pct=0.1,
                    slippage_pct=0.2, execution_price="open")
    records = risk_arrays([risk])
    assert records.dtype == risk_dt
    assert risk_dt.names == (*(kernel_risk_name(f) for f in RISK_FIELDS), "exec_open", "short", "long_short",
                             "order_kind", "order_valid_bars", "fill_bar_stops", "exit_order_kind",
                             *(f"{kind}_row" for kind in LEVEL_KINDS), "exit_program_row", "exit_program_end",
                             "short_exit_program_row", "take_profit_rows",
                             "take_profit_row_bars", "take_profit_row_pct")
    assert all(r[f"{kind}_row"] == -1 for kind in LEVEL_KINDS for r in risk_arrays([risk]))  # no level: unread
    r = records[0]
    assert (r["stop_loss"], r["take_profit"], r["position_size"], r["fees"], r["slippage"]) == \
        (0.05, 0.1, 0.5, 0.001, 0.002)
    assert np.isnan(r["trailing_stop"]) and bool(r["exec_open"]) and not bool(r["short"])
    assert bool(risk_arrays([replace(risk, direction="short")])[0]["short"])
    assert (int(r["max_hold_days"]), int(r["max_hold_bars"])) == (30, 0) and risk_dt["max_hold_days"] == np.int64


def test_risk_spec_fields_and_the_contract_follow_the_lists() -> None:
    """`RiskSpec`'s risk fields are the document's; the fill contract names every `ExitReason` (exit_order in its
    own addendum: the base text of every result reads as before exit orders existed)."""
    from ruleengine.backtest.risk import EXIT_ORDER_FILL_CONTRACT

    assert tuple(f.name for f in fields(RiskSpec))[:len(RISK_FIELDS)] == RISK_FIELDS
    assert ExitReason._fields[-1] == "exit_order" and "Exit reason exit_order" in EXIT_ORDER_FILL_CONTRACT
    assert f"Exit reasons: {', '.join(ExitReason._fields[:-1])}." in " ".join(FILL_CONTRACT.split())


def test_stop_fill_reads_the_record_by_name() -> None:
    """The loss-side level is the higher of the stop loss and the trailing stop (from the peak)."""
    risk = RiskSpec(stop_loss_pct=10.0, trailing_stop_pct=5.0, take_profit_pct=20.0, position_size_pct=100.0,
                    fees_pct=0.0, slippage_pct=0.0, execution_price="close")
    record = risk_arrays([risk])[0]
    assert stop_fill_nb(100.0, 101.0, 94.0, 100.0, 100.0, 1.0, record) == (95.0, ExitReason.trailing_stop)
    assert stop_fill_nb(100.0, 121.0, 99.0, 100.0, 100.0, 1.0, record) == (120.0, ExitReason.take_profit)
    # a short (side -1.0): the lower of entry x 1.1 and trough x 1.05 above, the target entry x 0.8 below
    assert stop_fill_nb(100.0, 106.0, 99.0, 100.0, 100.0, -1.0, record) == (105.0, ExitReason.trailing_stop)
    assert stop_fill_nb(100.0, 101.0, 79.0, 100.0, 100.0, -1.0, record) == (80.0, ExitReason.take_profit)
