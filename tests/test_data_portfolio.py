"""The portfolio provider: the user's fills from a broker CSV (generic layout, Schwab's and Fidelity's exports),
the position per bar from them (point in time, average cost, open gain), every unreadable cell as file:line with its
column, and a CLI backtest whose rules read `portfolio.shares` / `portfolio.unrealized_pct`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from support import paths
from support.prices import sine_prices
from typer.testing import CliRunner

from ruleengine.cli import app
from ruleengine.data.align import aggregate_fills, position_after_fills
from ruleengine.data.base import FetchRequest
from ruleengine.data.broker_csv import read_fills
from ruleengine.data.portfolio import PortfolioProvider
from ruleengine.data.registry import default_registry
from ruleengine.errors import RuleEngineError

SCHWAB = '''"Date","Action","Symbol","Description","Quantity","Price","Fees & Comm","Amount"
"01/08/2024","Buy","ACME","ACME CORP","1,000","$10.50","$1.00","-$10,501.00"
"01/10/2024 as of 01/09/2024","Sell","ACME","ACME CORP","400","$11.25","$0.50","$4,499.50"
"01/12/2024","Qualified Dividend","ACME","ACME CORP","","","","$12.00"
"01/16/2024","Reinvest Shares","ACME","ACME CORP","1.0667","$11.25","","-$12.00"
"01/17/2024","Buy","BETA","BETA INC","10","$100.00","","-$1,000.00"
"Transactions Total","","","","","","","-$6,989.50"
'''

GENERIC = """date,symbol,action,quantity,price,fees
2024-01-08,ACME,buy,40,10,4
2024-01-09 17:00,ACME,BUY,20,13,
2024-01-10T15:00:00+00:00,ACME,sell,30,12,1
"""


def write(tmp_path, text: str, name: str = "fills.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def _clean(provider_env_cleared, monkeypatch):
    monkeypatch.delenv("RULEENGINE_PORTFOLIO", raising=False)


def test_schwab_export(tmp_path):
    fills = read_fills(write(tmp_path, SCHWAB))
    assert fills["symbol"].tolist() == ["ACME", "ACME", "ACME", "BETA"]  # the dividend and the total skipped
    assert fills["quantity"].tolist() == [1000.0, -400.0, 1.0667, 10.0]
    assert fills["price"].tolist() == [10.5, 11.25, 11.25, 100.0] and fills["fees"].tolist() == [1.0, 0.5, 0, 0]
    # the "as of" date is the trade date; a date-only fill happens by that session's close (16:00 New York)
    assert fills.index[1] == pd.Timestamp("2024-01-09 21:00", tz="UTC")
    assert fills["line"].tolist() == [2, 3, 5, 6]


FIDELITY = paths.FIXTURES / "broker" / "fidelity_accounts_history.csv"


def test_fidelity_accounts_history_gives_the_fills_of_the_same_schwab_export(tmp_path):
    """tests/fixtures/broker has Fidelity's export shape (blank lines before the header, newest first, cells
    starting with a space, a sale's quantity negative, disclaimers after the table) holding SCHWAB's trades."""
    fills = read_fills(FIDELITY)
    schwab = read_fills(write(tmp_path, SCHWAB.replace("01/10/2024 as of ", "")))
    pd.testing.assert_frame_equal(fills.drop(columns="line"), schwab.drop(columns="line"))
    assert fills["fees"].tolist() == [pytest.approx(1.0), 0.5, 0, 0]   # commission and fees together
    assert fills["line"].tolist() == [8, 7, 5, 4]   # the file's own lines: the header is line 3
    # the transfer, the interest and the dividend move no shares; nothing after the table is read
    assert set(fills["symbol"]) == {"ACME", "BETA"}


def test_fidelity_newer_layout_and_bad_rows_name_file_line_and_column(tmp_path):
    text = ("\nDate,Action,Symbol,Description,Type,Price ($),Quantity,Commission ($),Fees ($),"
            "Accrued Interest ($),Amount ($),Cash Balance ($),Settlement Date\n"
            '07-02-2024,YOU BOUGHT SOFI TECHNOLOGIES INC COM (SOFI) (Margin),SOFI,SOFI TECHNOLOGIES INC COM,Margin,'
            '18.02,4,"","","",-72.1,657.16,07-05-2024\n'
            '07-03-2024,YOU SOLD PAYPAL HLDGS INC COM (PYPL) (Margin),PYPL,PAYPAL HLDGS INC COM,Margin,45.16,-5,'
            '"","","",225.8,729.26,07-05-2024\n'
            '07-01-2024,DIVIDEND RECEIVED NIKE INC (NKE) (Margin),NKE,NIKE INC,Margin,"",0,"","","",7.59,760.5,\n')
    fills = read_fills(write(tmp_path, text))
    assert fills["quantity"].tolist() == [4.0, -5.0] and fills["price"].tolist() == [18.02, 45.16]
    assert fills.index[0] == pd.Timestamp("2024-07-02 20:00", tz="UTC")   # the run date's close (EDT)
    bad = (FIDELITY.read_text().replace("01/09/2024, YOU SOLD", "01/39/2024, YOU SOLD")
           .replace("Cash,1000,10.5", "Cash,1OOO,10.5").replace("Cash,10,100,", "Cash,10,,")
           .replace(" REINVESTMENT ACME CORP (ACME) (Cash), ACME,", " REINVESTMENT ACME CORP (ACME) (Cash), ,")
           .replace(" 01/04/2024, INTEREST EARNED", " 01/04/2024,,INTEREST EARNED"))
    with pytest.raises(RuleEngineError) as info:
        read_fills(write(tmp_path, bad))
    got = [(d.code, d.message.split(" is not")[0]) for d in info.value.diagnostics]
    assert got == [("D150", "fills.csv:4: column 'Price ($)': ''"), ("D150", "fills.csv:5: column 'Symbol': ''"),
                   ("D150", "fills.csv:7: column 'Run Date': ' 01/39/2024'"),
                   ("D150", "fills.csv:8: column 'Quantity': '1OOO'"), ("D150", "fills.csv:10: column 'Action': ''")]
    assert "(the header is line 3)" in info.value.diagnostics[0].hint
    assert info.value.error_type == "data_fetch_error"


def test_generic_layout_times(tmp_path):
    fills = read_fills(write(tmp_path, GENERIC))
    assert fills.index.tolist() == [pd.Timestamp("2024-01-08 21:00", tz="UTC"),
                                    pd.Timestamp("2024-01-09 22:00", tz="UTC"),
                                    pd.Timestamp("2024-01-10 15:00", tz="UTC")]
    assert fills["quantity"].tolist() == [40.0, 20.0, -30.0]


def test_average_cost_position():
    fills = pd.DataFrame({"quantity": [40.0, 20.0, -30.0, -30.0, -10.0], "price": [10.0, 13.0, 12.0, 9.0, 8.0],
                          "fees": [4.0, 0.0, 1.0, 0.0, 0.0]})
    state = position_after_fills(fills)
    assert state["shares"].tolist() == [40.0, 60.0, 30.0, 0.0, -10.0]
    assert state["cost_basis"].tolist()[:3] == [pytest.approx(10.1), pytest.approx(664 / 60), pytest.approx(664 / 60)]
    assert np.isnan(state["cost_basis"].iloc[3]) and state["cost_basis"].iloc[4] == 8.0  # flat, then a short


def test_position_per_bar_is_point_in_time(tmp_path):
    fills = read_fills(write(tmp_path, GENERIC)).drop(columns="symbol")
    bars = pd.DatetimeIndex(pd.bdate_range("2024-01-05", "2024-01-11"), tz="UTC")
    close = np.array([10.0, 10.0, 11.0, 12.0, 12.0])
    out = aggregate_fills(fills, bars, "1Day", close)
    # 01-08: the date-only buy; the 01-09 17:00 New York buy is after that close: it counts on 01-10, with
    # the sale of 01-10 10:00 New York
    assert out["shares"].tolist() == [0.0, 40.0, 40.0, 30.0, 30.0]
    assert out["cost_basis"].iloc[1] == pytest.approx(10.1) and np.isnan(out["cost_basis"].iloc[0])
    assert out["unrealized_pct"].iloc[2] == pytest.approx((11 / 10.1 - 1) * 100)
    assert np.isnan(out["unrealized_pct"].iloc[0])
    for cut in range(1, len(bars)):  # fills after a bar never change it
        early = fills[fills.index <= pd.Timestamp(bars[cut - 1]) + pd.Timedelta(hours=21)]
        part = aggregate_fills(early, bars[:cut], "1Day", close[:cut])
        pd.testing.assert_frame_equal(part, out.iloc[:cut])


@pytest.mark.parametrize(("text", "where"), [
    ("date,symbol,action,quantity,price\n2024-01-08,ACME,buy,4o,10\n", "fills.csv:2: column 'quantity': '4o'"),
    ("date,symbol,action,quantity,price\n2024-01-08,ACME,hold,4,10\n", "fills.csv:2: column 'action': 'hold'"),
    ("date,symbol,action,quantity,price\n\n2024-13-45,ACME,buy,4,10\n", "fills.csv:3: column 'date'"),
    ("date,symbol,action,quantity,price\n2024-01-08,ACME,buy,4,-1\n", "fills.csv:2: column 'price': '-1'"),
    (SCHWAB.replace('"$11.25","$0.50"', '"eleven","$0.50"'), "fills.csv:3: column 'Price': 'eleven'"),
])
def test_malformed_rows_name_file_line_and_column(tmp_path, text, where):
    with pytest.raises(RuleEngineError) as info:
        read_fills(write(tmp_path, text))
    d = info.value.diagnostics[0]
    assert d.code == "D150" and info.value.error_type == "data_fetch_error" and d.message.startswith(where)


def test_every_bad_cell_is_reported_and_unknown_layouts_refused(tmp_path):
    text = "date,symbol,action,quantity,price\n2024-01-08,ACME,buy,x,10\n2024-01-09,ACME,buy,1,y\n"
    with pytest.raises(RuleEngineError) as info:
        read_fills(write(tmp_path, text))
    assert [d.message.split(":")[1] for d in info.value.diagnostics] == ["2", "3"]
    with pytest.raises(RuleEngineError) as info:
        read_fills(write(tmp_path, "when,what\n1,2\n"))
    assert info.value.diagnostics[0].code == "D114" and "not a known broker export layout" in \
        info.value.diagnostics[0].message


def test_provider_holdings_fetch_and_registry(tmp_path, monkeypatch):
    path = write(tmp_path, SCHWAB)
    provider = PortfolioProvider(path)
    assert provider.holdings() == {"ACME": pytest.approx(601.0667), "BETA": 10.0}
    assert provider.holdings("2024-01-09") == {"ACME": 1000.0}
    fills = provider.fetch(FetchRequest("ACME", "portfolio", pd.Timestamp("2024-01-15"), pd.Timestamp("2024-01-15")))
    assert fills["quantity"].tolist() == [1000.0, -400.0]  # every fill before the start too, none after the end
    assert provider.fetch(FetchRequest("ZZZ", "portfolio", pd.Timestamp("2024-01-01"),
                                       pd.Timestamp("2024-02-01"))).empty  # never traded: flat, not an error
    with pytest.raises(RuleEngineError) as info:
        PortfolioProvider().fetch(FetchRequest("ACME", "portfolio", pd.Timestamp("2024-01-01"),
                                               pd.Timestamp("2024-02-01")))
    assert info.value.diagnostics[0].code == "D113" and "RULEENGINE_PORTFOLIO" in info.value.diagnostics[0].hint
    monkeypatch.setenv("RULEENGINE_PORTFOLIO", str(path))
    assert default_registry().resolve(None, "portfolio", "event").name == "portfolio"


STRATEGY = (paths.FIXTURES / "strategies" / "own_position.yaml").read_text()


def test_cli_backtest_reads_the_users_position(tmp_path, monkeypatch):
    prices = sine_prices(40, 50, 5, 6.0, start="2024-01-02")
    (tmp_path / "data").mkdir()
    prices.to_csv(tmp_path / "data" / "ACME.csv", index=False)
    close = prices["close"].to_numpy()
    d = int(np.argmin(close[:30]))  # the user bought at the trough
    day = prices["date"][d]
    fills = write(tmp_path, f"date,symbol,action,quantity,price\n{day},ACME,buy,40,{close[d]}\n")
    doc = tmp_path / "own.yaml"
    doc.write_text(STRATEGY)
    monkeypatch.setenv("RULEENGINE_PORTFOLIO", str(fills))
    res = CliRunner().invoke(app, ["backtest", str(doc), "--symbols", "ACME", "--start", "2024-01-02", "--end",
                                   "2024-02-23", "--data", str(tmp_path / "data"), "--json"])
    out = json.loads(res.stdout)
    assert out["success"] is True, out
    trades = out["results"][0]["trades"]
    first_gain = next(i for i in range(d + 1, 40) if (close[i] / close[d] - 1) * 100 > 5)
    assert trades[0]["entry_time"][:10] == day  # held from the fill's own bar
    assert trades[0]["exit_time"][:10] == prices["date"][first_gain]


def test_portfolio_is_listed_with_its_kind_and_point_in_time_rule():
    from ruleengine.llm.handlers import NoArgs, list_capabilities

    listed = json.loads(CliRunner().invoke(app, ["providers", "--json"]).stdout)["providers"]
    for providers in (listed, list_capabilities(NoArgs())["providers"]):
        mine = next(p for p in providers if p["name"] == "portfolio")
        assert "RULEENGINE_PORTFOLIO" in mine["description"]
        assert "shares on bar t = the sum of fills up to t" in mine["kinds"]["portfolio"]["doc"]


def test_cli_names_the_bad_cell_in_the_error_schema(tmp_path, monkeypatch):
    prices = sine_prices(40, 50, 5, 6.0, start="2024-01-02")
    (tmp_path / "data").mkdir()
    prices.to_csv(tmp_path / "data" / "ACME.csv", index=False)
    fills = write(tmp_path, "date,symbol,action,quantity,price\n2024-01-08,ACME,buy,forty,10\n")
    doc = tmp_path / "own.yaml"
    doc.write_text(STRATEGY)
    monkeypatch.setenv("RULEENGINE_PORTFOLIO", str(fills))
    res = CliRunner().invoke(app, ["backtest", str(doc), "--symbols", "ACME", "--data", str(tmp_path / "data"),
                                   "--json"])
    out = json.loads(res.stdout)
    assert res.exit_code == 1 and "Traceback" not in res.stdout
    assert out["error"]["type"] == "data_fetch_error"
    assert "fills.csv:2: column 'quantity': 'forty' is not a number" in json.dumps(out["error"])
