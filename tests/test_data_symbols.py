"""Symbols given at run time, mapped onto data slots (ruleengine.data.symbols)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ruleengine.data.symbols import parse_symbols, read_universe
from ruleengine.errors import RuleEngineError


def _code(spec: object, slots: list[str]) -> tuple[str, str | None, str]:
    with pytest.raises(RuleEngineError) as err:
        parse_symbols(spec, slots)
    d = err.value.diagnostics[0]
    return d.code, d.path, err.value.error_type


def test_one_symbol_feeds_every_slot() -> None:
    assert parse_symbols("SPY", ["prices"]) == [{"prices": "SPY"}]
    assert parse_symbols(" aapl ", ["prices", "earnings"], {"earnings": "earnings"}) == [
        {"prices": "aapl", "earnings": "aapl"}]


def test_a_list_or_comma_text_is_a_universe_of_independent_runs() -> None:
    runs = parse_symbols("SPY,QQQ, IWM,SPY", ["prices"])
    assert runs == [{"prices": "SPY"}, {"prices": "QQQ"}, {"prices": "IWM"}]  # duplicates dropped, order kept
    assert parse_symbols(["GLD", "TLT"], ["p"]) == [{"p": "GLD"}, {"p": "TLT"}]


def test_pairs_map_slots_to_tickers() -> None:
    slots = ["asset_a", "asset_b"]
    assert parse_symbols("asset_a=GLD,asset_b=SLV", slots) == [{"asset_a": "GLD", "asset_b": "SLV"}]
    assert parse_symbols({"asset_b": "SLV", "asset_a": "GLD"}, slots) == [{"asset_a": "GLD", "asset_b": "SLV"}]
    # one ticker named for one slot of a same-company strategy: the other slot reads it too
    kinds = {"prices": "ohlcv", "earnings": "earnings"}
    assert parse_symbols("prices=AAPL", ["prices", "earnings"], kinds) == [{"prices": "AAPL", "earnings": "AAPL"}]


def test_schema_mismatches_are_d115_with_a_hint() -> None:
    assert _code("asset_a=GLD", ["asset_a", "asset_b"])[:2] == ("D115", "symbols")  # a pair needs both
    assert _code("GLD", ["asset_a", "asset_b"])[0] == "D115"  # one symbol cannot fill two price slots
    assert _code(["GLD", "SLV"], ["asset_a", "asset_b"])[0] == "D115"
    # two bare tickers for two price slots: each is its own run; the hint names them slot by slot
    with pytest.raises(RuleEngineError) as err:
        parse_symbols("XLE,XLF", ["asset_a", "asset_b"])
    d = err.value.diagnostics[0]
    assert "the bare symbols XLE, XLF are one run each" in d.message
    assert d.hint == "name a ticker per slot, e.g. asset_a=XLE,asset_b=XLF"
    with pytest.raises(RuleEngineError) as err:
        parse_symbols({"asset_a": "GLD", "asset_c": "SLV"}, ["asset_a", "asset_b"])
    codes = [(d.code, d.path) for d in err.value.diagnostics]
    assert ("D115", "symbols.asset_c") in codes and ("D115", "symbols") in codes
    assert "asset_b" in err.value.diagnostics[0].hint  # did you mean
    assert err.value.error_type == "schema_mismatch_error"


def test_malformed_specifications_are_d117() -> None:
    assert _code("", ["p"])[0] == "D117"
    assert _code("SPY,asset_b=SLV", ["p"])[0] == "D117"
    assert _code("S P Y", ["p"])[0] == "D117"
    assert _code([], ["p"])[0] == "D117"
    assert _code(42, ["p"])[0] == "D117"
    assert _code("@/nonexistent/universe.txt", ["p"])[0] == "D117"


def test_universe_files(tmp_path: Path) -> None:
    txt = tmp_path / "u.txt"
    txt.write_text("# my universe\nSPY\nQQQ  # tech\n\nIWM, TLT\n", encoding="utf-8")
    assert read_universe(txt) == ["SPY", "QQQ", "IWM", "TLT"]
    assert parse_symbols(f"@{txt}", ["prices"])[1] == {"prices": "QQQ"}
    pq = tmp_path / "c.parquet"
    pd.DataFrame({"list": ["sp500_current", "sp500_current", "old"], "symbol": ["AAPL", "MSFT", "ENE"]}
                 ).to_parquet(pq)
    assert read_universe(pq) == ["AAPL", "MSFT"]  # the current list of a constituents file
    bad = tmp_path / "b.csv"
    bad.write_text("ticker\nAAPL\n", encoding="utf-8")
    with pytest.raises(RuleEngineError) as err:
        read_universe(bad)
    assert err.value.diagnostics[0].code == "D117" and "ticker" in (err.value.diagnostics[0].hint or "")


@pytest.mark.realdata
def test_shared_constituents_file_is_a_universe(shared_data: Path) -> None:
    symbols = read_universe(shared_data / "constituents.parquet")
    assert len(symbols) == 503 and "AAPL" in symbols


def test_a_slot_given_twice_is_an_error_not_the_last_one() -> None:
    # Issue 13 item 7: prices=AAPL,prices=MSFT used to run MSFT only.
    with pytest.raises(RuleEngineError) as err:
        parse_symbols("prices=AAPL, prices=MSFT", ["prices"])
    (d,) = err.value.diagnostics
    assert (d.code, d.path) == ("D117", "symbols.prices")
    assert d.message == "slot 'prices' is given twice (prices=AAPL, prices=MSFT) (character 14 of " \
        "'prices=AAPL, prices=MSFT')"
    assert (d.span.line, d.span.col, d.span.end_col) == (1, 14, 25)
    assert "AAPL,MSFT" in (d.hint or "")


def test_text_without_any_symbol_and_a_binary_universe_file_are_d117(tmp_path: Path) -> None:
    assert _code(",,,", ["prices"]) == ("D117", "symbols", "validation_error")
    assert _code(" , ,", ["prices"]) == ("D117", "symbols", "validation_error")
    binary = tmp_path / "universe.txt"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(RuleEngineError) as err:
        parse_symbols(f"@{binary}", ["prices"])
    (d,) = err.value.diagnostics
    assert d.code == "D117" and d.message == f"universe file '{binary}' is not a text file"


def test_universe_content_parses_like_the_file(tmp_path: Path) -> None:
    """The agent tools parse the bytes they read from a checked descriptor (`universe_symbols`), never opening
    the file again by path: every format gives what `read_universe` gives for the same file."""
    from ruleengine.data.symbols import universe_symbols

    frame = pd.DataFrame({"symbol": ["SPY", "QQQ", "SPY"]})
    (tmp_path / "u.txt").write_text("SPY  # the index\nQQQ, IWM\n")
    frame.to_csv(tmp_path / "u.csv", index=False)
    frame.to_parquet(tmp_path / "u.parquet")
    for name in ("u.txt", "u.csv", "u.parquet"):
        path = tmp_path / name
        assert universe_symbols(path.read_bytes(), name) == read_universe(path)
    assert universe_symbols(b"SPY\nQQQ, IWM\n", "any.txt") == ["SPY", "QQQ", "IWM"]
    with pytest.raises(RuleEngineError) as exc:
        universe_symbols(b"\xff\xfe\x00binary", "u.txt")
    assert exc.value.diagnostics[0].code == "D117"
