"""Hostile input (issue 14 item 8): bad data files and CLI arguments end in a structured error, never a
traceback, within per-case time and memory limits.

The data files are slices of ../shared/data/daily.parquet (SPY) with one defect planted. Each case runs the CLI
(`run_cli`, JSON output) and checks the error code; the data-file cases also run the provider in process
(`within`).
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from support.hostile import assert_structured, run_cli, within

from ruleengine.data.base import FetchRequest
from ruleengine.data.local import LocalProvider
from ruleengine.errors import RuleEngineError

pytestmark = pytest.mark.realdata
ROOT = Path(__file__).resolve().parents[1]
GOLDEN = str(ROOT / "rules" / "golden_cross.yaml")


def spy_bars(shared: Path, n: int = 40) -> pd.DataFrame:
    raw = pd.read_parquet(shared / "daily.parquet", filters=[("symbol", "==", "SPY")])
    return raw.sort_values("date").head(n)[["date", "open", "high", "low", "close", "volume"]].reset_index(drop=True)


def header_only_csv(bars: pd.DataFrame, folder: Path) -> None:
    bars.iloc[:0].to_csv(folder / "SPY.csv", index=False)


def zero_row_parquet(bars: pd.DataFrame, folder: Path) -> None:
    bars.iloc[:0].to_parquet(folder / "SPY.parquet")


def csv_with_date(text: str) -> Callable[[pd.DataFrame, Path], None]:
    def write(bars: pd.DataFrame, folder: Path) -> None:
        out = bars.astype({"date": object})
        out.loc[3, "date"] = text
        out.to_csv(folder / "SPY.csv", index=False)
    return write


def parquet_with_year(year: int) -> Callable[[pd.DataFrame, Path], None]:
    def write(bars: pd.DataFrame, folder: Path) -> None:
        out = bars.astype({"date": object})
        out.loc[3, "date"] = dt.date(year, 3, 1)
        out.to_parquet(folder / "SPY.parquet")
    return write


def csv_with_huge_number(bars: pd.DataFrame, folder: Path) -> None:
    out = bars.astype({"close": object})
    out.loc[3, "close"] = "9" * 400
    out.to_csv(folder / "SPY.csv", index=False)


DATA_FILES = {
    "header-only CSV": (header_only_csv, "D114"),
    "0-row Parquet": (zero_row_parquet, "D114"),
    "CSV date in 1500": (csv_with_date("1500-03-01"), "D155"),
    "CSV date in 9999": (csv_with_date("9999-03-01"), "D155"),
    "Parquet date in 1500": (parquet_with_year(1500), "D155"),
    "Parquet date in 9999": (parquet_with_year(9999), "D155"),
    "400-digit number": (csv_with_huge_number, "D153"),
}


def cli_error_code(args: list[str]) -> str:
    proc = run_cli(args, seconds=60, megabytes=3072)
    assert_structured(proc)
    assert proc.returncode != 0, proc.stdout[-2000:]
    return json.loads(proc.stdout)["error"]["details"][0]["code"]


@pytest.mark.parametrize("case", list(DATA_FILES))
def test_bad_data_file_through_the_cli(case: str, shared_data: Path, tmp_path: Path) -> None:
    write, code = DATA_FILES[case]
    write(spy_bars(shared_data), tmp_path)
    args = ["backtest", GOLDEN, "--symbols", "SPY", "--data", str(tmp_path), "--json"]
    assert cli_error_code(args) == code


@pytest.mark.parametrize("case", list(DATA_FILES))
def test_bad_data_file_through_the_provider(case: str, shared_data: Path, tmp_path: Path) -> None:
    write, code = DATA_FILES[case]
    write(spy_bars(shared_data), tmp_path)
    with within(10, 64), pytest.raises(RuleEngineError) as exc:
        LocalProvider(tmp_path).fetch(FetchRequest("SPY", "ohlcv", pd.Timestamp("2005-01-01"),
                                                   pd.Timestamp("2005-12-31")))
    assert [d.code for d in exc.value.diagnostics] == [code]


def binary_universe(tmp_path: Path) -> str:
    path = tmp_path / "universe.txt"
    path.write_bytes(bytes(range(256)) * 16)
    return f"@{path}"


CLI_ARGUMENTS: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "--start 0001-01-01": (lambda tmp: ["--symbols", "SPY", "--start", "0001-01-01"], "S104"),
    "--end 9999-12-31": (lambda tmp: ["--symbols", "SPY", "--end", "9999-12-31"], "S104"),
    '--symbols ",,,"': (lambda tmp: ["--symbols", ",,,"], "D117"),
    "--symbols @binary": (lambda tmp: ["--symbols", binary_universe(tmp)], "D117"),
    "--symbols prices=A,prices=B": (lambda tmp: ["--symbols", "prices=AAPL,prices=MSFT"], "D117"),
    "--symbols @/dev/zero": (lambda tmp: ["--symbols", "@/dev/zero"], "D117"),
    "--data /dev/null": (lambda tmp: ["--symbols", "SPY", "--data", "/dev/null"], "R101"),
}


@pytest.mark.parametrize("case", list(CLI_ARGUMENTS))
def test_bad_cli_argument(case: str, shared_data: Path, tmp_path: Path) -> None:
    make, code = CLI_ARGUMENTS[case]
    args = make(tmp_path)
    data = [] if "--data" in args else ["--data", str(shared_data / "daily.parquet")]
    assert cli_error_code(["backtest", GOLDEN, *data, *args, "--json"]) == code
