"""Issue 13 item 8: the local provider never coerces a user's file without a word.

Every bad file is a slice of ../shared/data/daily.parquet with one defect planted; each case checks the code,
that the message names the file, the rows (line numbers and dates) and what was done, and that warnings reach
the backtest's console output and JSON.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ruleengine.cli import app
from ruleengine.data.base import FetchRequest
from ruleengine.data.local import LocalProvider
from ruleengine.errors import RuleEngineError
from ruleengine.strategies import load_data

pytestmark = pytest.mark.realdata
ROOT = Path(__file__).resolve().parents[1]
GOLDEN = str(ROOT / "rules" / "golden_cross.yaml")


def real_bars(shared: Path, symbol: str = "SPY", n: int = 300) -> pd.DataFrame:
    """`n` real daily bars of `symbol` (2005-02-25 onwards for SPY) as a per-symbol CSV would hold them."""
    raw = pd.read_parquet(shared / "daily.parquet", filters=[("symbol", "==", symbol)])
    raw = raw.sort_values("date").head(n).reset_index(drop=True)
    out = raw[["date", "open", "high", "low", "close", "volume"]].copy()
    out["date"] = pd.to_datetime(out["date"]).dt.strftime("%Y-%m-%d")
    return out


def fetch(folder: Path, symbol: str = "SPY") -> pd.DataFrame:
    return LocalProvider(folder).fetch(FetchRequest(symbol, "ohlcv", pd.Timestamp("2005-01-01"),
                                                    pd.Timestamp("2006-12-31")))


def error_of(folder: Path, symbol: str = "SPY") -> RuleEngineError:
    with pytest.raises(RuleEngineError) as exc:
        fetch(folder, symbol)
    return exc.value


def test_a_value_that_is_not_a_number_is_an_error_naming_line_date_and_text(shared_data, tmp_path):
    bars = real_bars(shared_data).astype({"close": object})
    bars.loc[[4, 9], "close"] = ["1,234.50", "$95"]
    bars.loc[12, "close"] = None  # an empty cell is a missing value, not an error
    bars.to_csv(tmp_path / "SPY.csv", index=False)
    err = error_of(tmp_path)
    (d,) = err.diagnostics
    assert d.code == "D150" and d.severity == "error" and err.error_type == "data_fetch_error"
    assert "column 'close' is not a number at lines 6 (2005-03-03), 11 (2005-03-10)" in d.message
    assert "'1,234.50', '$95'" in d.message and str(tmp_path / "SPY.csv") in d.message
    assert "refused" in d.message


def test_an_infinite_price_or_a_400_digit_number_is_an_error(shared_data, tmp_path):
    bars = real_bars(shared_data).astype({"high": object})
    bars.loc[2, "high"] = "inf"
    bars.loc[7, "high"] = "9" * 400
    bars.to_csv(tmp_path / "SPY.csv", index=False)
    (d,) = error_of(tmp_path).diagnostics
    assert d.code == "D153" and "column 'high' is infinite" in d.message
    assert "lines 4 (2005-03-01), 9 (2005-03-08)" in d.message


def test_repeated_timestamps_identical_rows_warn_and_differing_rows_are_refused(shared_data, tmp_path):
    bars = real_bars(shared_data)
    with_copies = pd.concat([bars, bars.iloc[[20, 21]]]).sort_values("date", kind="stable")
    with_copies.to_csv(tmp_path / "SPY.csv", index=False)
    p = LocalProvider(tmp_path)
    out = p.fetch(FetchRequest("SPY", "ohlcv", pd.Timestamp("2005-01-01"), pd.Timestamp("2006-12-31")))
    assert out.index.is_unique and len(out) == len(bars)
    np.testing.assert_array_equal(out["close"].to_numpy(), bars["close"].to_numpy())
    (w,) = p.quality_warnings(["SPY"])
    assert w.code == "D151" and w.severity == "warning"
    assert "2 repeated rows (identical values) at lines 23 (2005-03-28), 25 (2005-03-29)" in w.message
    assert "one copy of each is kept" in w.message

    changed = bars.iloc[[20]].assign(close=bars["close"].iloc[20] + 1.0)
    pd.concat([bars, changed]).to_csv(tmp_path / "SPY.csv", index=False)
    (d,) = error_of(tmp_path).diagnostics
    assert d.code == "D151" and d.severity == "error"
    assert "different values at lines 22 (2005-03-28), 302 (2005-03-28)" in d.message


def test_a_repeated_column_is_an_error_not_the_first_one(shared_data, tmp_path):
    bars = real_bars(shared_data)
    text = bars.to_csv(index=False).splitlines()
    lines = [text[0] + ",Close"] + [f"{line},{float(line.split(',')[4]) * 2}" for line in text[1:]]
    (tmp_path / "SPY.csv").write_text("\n".join(lines) + "\n")
    (d,) = error_of(tmp_path).diagnostics
    assert d.code == "D152" and "'close' and 'Close'" in d.message and "nothing was read" in d.message


def test_high_below_low_is_a_warning_and_the_bar_is_kept_as_stored(shared_data, tmp_path):
    bars = real_bars(shared_data)
    high, low = bars.loc[10, "high"], bars.loc[10, "low"]
    bars.loc[10, "high"], bars.loc[10, "low"] = low, high
    bars.to_csv(tmp_path / "SPY.csv", index=False)
    p = LocalProvider(tmp_path)
    out = fetch(tmp_path)
    assert out["high"].iloc[10] == low and out["low"].iloc[10] == high  # kept as stored
    (w,) = p.quality_warnings(["SPY"])
    assert w.code == "D154" and w.severity == "warning"
    assert "1 bar with high below low at line 12 (2005-03-11)" in w.message and "kept as stored" in w.message


def test_a_long_file_refuses_only_the_broken_symbol_and_a_universe_skips_it(shared_data, tmp_path):
    spy, qqq = real_bars(shared_data, "SPY"), real_bars(shared_data, "QQQ").astype({"close": object})
    qqq.loc[3, "close"] = "n.a."
    pd.concat([spy.assign(symbol="SPY"), qqq.assign(symbol="QQQ")]).to_csv(tmp_path / "ohlcv.csv", index=False)
    md = load_data(GOLDEN, "SPY,QQQ", "2005-06-01", "2005-12-30", data=str(tmp_path))
    assert md.labels == ["SPY"]
    (w,) = md.warnings
    assert w.code == "D116" and "QQQ" in w.message and "column 'close' is not a number" in w.message
    with pytest.raises(RuleEngineError) as exc:  # one run: the broken symbol is the error
        load_data(GOLDEN, "QQQ", "2005-06-01", "2005-12-30", data=str(tmp_path))
    assert [d.code for d in exc.value.diagnostics] == ["D150"]


def test_quality_warnings_reach_the_backtest_console_and_json(shared_data, tmp_path, provider_env_cleared):
    bars = real_bars(shared_data, n=600)
    high, low = bars.loc[300, "high"], bars.loc[300, "low"]
    bars.loc[300, "high"], bars.loc[300, "low"] = low, high
    bars.to_csv(tmp_path / "SPY.csv", index=False)
    args = ["backtest", GOLDEN, "--symbols", "SPY", "--data", str(tmp_path), "--param", "fast=5",
            "--param", "slow=20"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "warning[D154]" in res.output and "high below low" in res.output
    res = CliRunner().invoke(app, [*args, "--json"])
    payload = json.loads(res.stdout)
    assert [w["code"] for w in payload["warnings"] if w["code"] == "D154"] == ["D154"]


def test_a_row_without_a_time_is_left_out_with_a_warning(shared_data, tmp_path):
    bars = real_bars(shared_data)
    bars.loc[6, "date"] = None
    bars.to_csv(tmp_path / "SPY.csv", index=False)
    p = LocalProvider(tmp_path)
    out = p.fetch(FetchRequest("SPY", "ohlcv", pd.Timestamp("2005-01-01"), pd.Timestamp("2006-12-31")))
    assert len(out) == len(bars) - 1
    (w,) = p.quality_warnings(["SPY"])
    assert w.code == "D156" and w.severity == "warning" and "1 row without a time at line 8" in w.message


@pytest.mark.parametrize("text, code, says", [
    ("1500-03-01", "D155", "at line 6 (1500-03-01)"),
    ("next tuesday", "D114", "time column 'date' is not a date/time at line 6 ('next tuesday')"),
])
def test_a_time_out_of_range_or_not_a_time_is_an_error_naming_the_line(text, code, says, shared_data, tmp_path):
    bars = real_bars(shared_data)
    bars.loc[4, "date"] = text
    bars.to_csv(tmp_path / "SPY.csv", index=False)
    (d,) = error_of(tmp_path).diagnostics
    assert d.code == code and says in d.message


def test_a_parquet_file_with_a_column_twice_is_d152(shared_data, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    bars = real_bars(shared_data)
    table = pa.table([pa.array(pd.to_datetime(bars["date"])), pa.array(bars["close"]), pa.array(bars["close"] * 2)],
                     names=["date", "close", "close"])
    pq.write_table(table, tmp_path / "SPY.parquet")
    (d,) = error_of(tmp_path).diagnostics
    assert d.code == "D152" and "'close' and 'close'" in d.message
