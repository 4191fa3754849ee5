"""`ruleengine providers` and `ruleengine data show` through typer's CliRunner."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from support.paths import require_shared
from typer.testing import CliRunner

from ruleengine.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for var in ("RULEENGINE_PROVIDER", "RULEENGINE_DATA", "FMP_API_KEY", "FMP_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("RULEENGINE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "160")


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    pd.DataFrame({"date": pd.bdate_range("2020-01-02", periods=30), "open": 10.0, "high": 12.0, "low": 9.0,
                  "close": [float(i) for i in range(30)], "volume": 1000}).to_csv(folder / "ABC.csv", index=False)
    return folder


def run(*args: str):
    return runner.invoke(app, list(args))


def test_providers_table_and_json():
    res = run("providers")
    assert res.exit_code == 0, res.output
    assert "sample" in res.output and "fmp" in res.output and "YES" in res.output
    assert "ohlcv, earnings" in res.output and ": sample (no provider configured" in res.output
    # the fallback is only the default for the kinds it serves (the sample provider has no key_metrics)
    assert "key_metrics: none (sample does not serve it; providers that do: fmp)" in res.output
    res = run("providers", "--json")
    payload = json.loads(res.output)
    # local: not configured
    assert [p["name"] for p in payload["providers"]] == ["local", "sample", "fmp", "yahoo", "alpaca", "reddit",
                                                         "portfolio", "snaptrade"]
    assert payload["providers"][0]["configured"] is False
    assert payload["providers"][0]["error"] == "give --data PATH (or set RULEENGINE_DATA)"
    assert "local: not configured: give --data PATH" in run("providers").output
    assert payload["defaults"]["ohlcv"]["provider"] == "sample"


def test_providers_with_data_and_api_key(monkeypatch, data_dir):
    monkeypatch.setenv("FMP_API_KEY", "k")
    payload = json.loads(run("providers", "--json", "--data", str(data_dir)).output)
    assert payload["defaults"]["ohlcv"] == {"provider": "local",
                                            "reason": "a data path is configured (--data / RULEENGINE_DATA)"}
    assert payload["defaults"]["earnings"] == {"provider": "fmp", "reason": "FMP_API_KEY is set"}


def test_data_show_sample_is_labelled_synthetic():
    res = run("data", "show", "SPY", "--start", "2020-01-02", "--end", "2020-01-31", "--rows", "3")
    assert res.exit_code == 0, res.output
    assert "SYNTHETIC DATA" in res.output and "not SPY's real prices" in res.output
    assert "21 rows, 2020-01-02 .. 2020-01-31 from provider 'sample'" in res.output
    payload = json.loads(run("data", "show", "SPY", "--start", "2020-01-02", "--end", "2020-01-31",
                             "--json").output)
    assert payload["synthetic"] is True and payload["rows"] == 21 and payload["provider"] == "sample"
    assert "not SPY's real prices" in payload["warning"] and len(payload["data"]) == 20


def test_data_show_local_values_and_default_range(data_dir):
    res = run("data", "show", "ABC", "--data", str(data_dir), "--rows", "2")
    assert res.exit_code == 0, res.output
    assert "SYNTHETIC" not in res.output and "30 rows, 2020-01-02 .. 2020-02-12" in res.output
    assert "..." in res.output
    payload = json.loads(run("data", "show", "ABC", "--provider", "local", "--data", str(data_dir),
                             "--start", "2020-01-06", "--end", "2020-01-07", "--json").output)
    assert payload["synthetic"] is False and payload["rows"] == 2
    assert payload["data"] == [
        {"time": "2020-01-06", "open": 10.0, "high": 12.0, "low": 9.0, "close": 2.0, "volume": 1000.0},
        {"time": "2020-01-07", "open": 10.0, "high": 12.0, "low": 9.0, "close": 3.0, "volume": 1000.0}]


def test_data_show_events_and_delivered_frequency():
    res = run("data", "show", "XYZ", "--kind", "earnings", "--start", "2019-01-01", "--end", "2019-12-31")
    assert res.exit_code == 0, res.output
    assert "available_at" in res.output and "estimated_eps" in res.output
    payload = json.loads(run("data", "show", "XYZ", "--frequency", "5Min", "--start", "2019-12-24",
                             "--end", "2019-12-24", "--json").output)
    # the half day 2019-12-24 (09:30-13:00): 210 minutes shown as the 42 completed 5-minute bars
    assert payload["frequency"] == "5Min" and payload["requested_frequency"] == "5Min" and payload["rows"] == 42
    assert payload["first"] == "2019-12-24 09:30"


def test_bad_input_exits_1_with_a_diagnostic(data_dir):
    res = run("data", "show", "SPY", "--provider", "smaple")
    assert res.exit_code == 1 and "error[D108]: unknown provider 'smaple'" in res.output
    assert "did you mean 'sample'?" in res.output and "Traceback" not in res.output
    res = run("data", "show", "ABD", "--data", str(data_dir))
    assert res.exit_code == 1 and "error[D110]" in res.output and "'ABC'" in res.output
    res = run("data", "show", "ABC", "--data", str(data_dir), "--start", "2021-01-01", "--end", "2021-02-01")
    assert res.exit_code == 1 and "error[D111]" in res.output and "2020-01-02 .. 2020-02-12" in res.output
    res = run("data", "show", "SPY", "--start", "yesterday-ish")
    assert res.exit_code == 1 and "error[S104]" in res.output
    res = run("data", "show", "SPY", "--kind", "key_metrics", "--provider", "sample")
    assert res.exit_code == 1 and "error[D109]" in res.output


def test_json_errors_use_the_error_schema(data_dir):
    res = run("data", "show", "ABD", "--data", str(data_dir), "--json")
    assert res.exit_code == 1
    payload = json.loads(res.output)
    assert payload["success"] is False and payload["error"]["type"] == "invalid_symbol_error"
    assert payload["error"]["details"][0]["code"] == "D110"
    payload = json.loads(run("data", "show", "SPY", "--data", str(data_dir / "nope"), "--json").output)
    assert payload["error"]["details"][0]["code"] == "R101"


@pytest.mark.realdata
def test_data_show_real_spy():
    folder = require_shared("daily.parquet").parent
    payload = json.loads(run("data", "show", "SPY", "--data", str(folder), "--start", "2017-01-03",
                             "--end", "2017-01-06", "--json").output)
    assert payload["rows"] == 4 and payload["data"][0]["close"] == 196.684
    assert payload["attrs"]["source"] == "stooq_etf_adjusted"
    res = run("data", "show", "AAPL", "--kind", "earnings", "--data", str(folder), "--start", "2014-01-01",
              "--end", "2014-03-31")
    assert res.exit_code == 0 and "14.50" in res.output and "14.04" in res.output


@pytest.mark.realdata
def test_data_show_resamples_minutes_to_the_requested_frequency(shared_data) -> None:
    from typer.testing import CliRunner

    from ruleengine.cli import app

    res = CliRunner().invoke(app, ["data", "show", "SPY", "--data", str(shared_data), "--frequency", "1Hour",
                                   "--start", "2019-12-16", "--end", "2019-12-17", "--json"])
    assert res.exit_code == 0, res.output
    import json

    out = json.loads(res.output)
    assert out["frequency"] == "1Hour" and out["rows"] == 14  # 7 hourly bars per full session
    assert out["data"][0]["time"] == "2019-12-16 09:30"


def test_local_provider_without_a_path_says_how_to_give_one() -> None:
    from typer.testing import CliRunner

    from ruleengine.cli import app

    res = CliRunner().invoke(app, ["data", "show", "SPY", "--provider", "local"], env={"RULEENGINE_DATA": ""})
    assert res.exit_code == 1 and "D108" in res.output and "--data" in res.output


def test_data_show_prints_the_public_preview_and_providers_the_public_description() -> None:
    """The CLI prints what `ruleengine.preview_data` / `ruleengine.describe_providers` return (the agent tools
    use the same functions), and their examples run."""
    import doctest

    import ruleengine
    from ruleengine import api
    from ruleengine.data import overview

    args = ["SPY", "--provider", "sample", "--start", "2020-01-01", "--end", "2020-03-31", "--rows", "2"]
    shown = runner.invoke(app, ["data", "show", *args, "--json"])
    assert shown.exit_code == 0, shown.stdout
    preview = ruleengine.preview_data("SPY", provider="sample", start="2020-01-01", end="2020-03-31", rows=2)
    assert json.loads(shown.stdout) == {"success": True, **json.loads(json.dumps(preview.to_dict()))}
    listed = runner.invoke(app, ["providers", "--json"])
    assert json.loads(listed.stdout) == {"success": True, **json.loads(json.dumps(ruleengine.describe_providers()))}
    for module in (overview, api):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_explain_prints_the_public_explanation() -> None:
    import ruleengine

    as_json = runner.invoke(app, ["explain", "rules/golden_cross.yaml", "--json"])
    assert json.loads(as_json.stdout) == {"success": True,
                                          **json.loads(json.dumps(ruleengine.explain("rules/golden_cross.yaml")))}
    text = runner.invoke(app, ["explain", "rules/golden_cross.yaml"])
    assert text.stdout == ruleengine.explain_text("rules/golden_cross.yaml")
