"""The HTML report: self-contained (plotly.js inline), the parts it must show, and a real render in headless
Chromium (Debian's ``chromium``, installed by .ci/run): no JavaScript error, no empty chart, a screenshot."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.browser import chromium, needs_chromium, report_status

from ruleengine.backtest.report import render_report, write_report
from ruleengine.backtest.run import backtest

GC = "rules/golden_cross.yaml"
FAST = {"fast": 10, "slow": 30}


@pytest.fixture(autouse=True)
def clean_env(provider_env_cleared):
    """Provider defaults from the environment must not change these runs (conftest.provider_env_cleared)."""


@pytest.fixture(scope="module")
def sample_result():
    return backtest(GC, "SPY,QQQ", "2014-01-01", "2016-12-30", params=FAST)


def test_report_is_self_contained_and_complete(sample_result) -> None:
    text = render_report(sample_result)
    assert "<script src=" not in text and "cdn" not in text.lower().split("plotly.js v")[0][-200:]
    assert text.count("Plotly.newPlot") == 2  # one chart per run
    assert len(text) > 3_000_000  # plotly.js itself is inline
    assert "SYNTHETIC DATA" in text
    assert "Fill contract (ruleengine" in text and "close[t]" in text
    assert "<th>exit_reason</th>" in text and text.count("<h2>") >= 5  # runs, SPY, QQQ, contract, provenance
    spy = sample_result.results[0]
    first = spy.trades[0]
    assert f"<td>{first.entry_time}</td><td>{first.exit_time}</td>" in text
    assert "Equity vs benchmark" in text and "Drawdown (%)" in text and "Price: SPY" in text
    assert sample_result.provenance.strategy_hash in text


def test_report_without_synthetic_data_has_no_banner(tmp_path) -> None:
    import numpy as np
    import pandas as pd

    idx = pd.bdate_range("2020-01-02", periods=200)
    base = 50 + 5 * np.sin(np.arange(200) / 6.0)
    pd.DataFrame({"date": idx.strftime("%Y-%m-%d"), "open": base, "high": base + 1, "low": base - 1,
                  "close": base, "volume": 1000}).to_csv(tmp_path / "GOOD.csv", index=False)
    res = backtest(GC, "GOOD", data=str(tmp_path), params=FAST)
    text = render_report(res, max_runs=1)
    assert "SYNTHETIC DATA" not in text and "D121" in text  # no SPY in the folder: benchmark replaced


@needs_chromium
def test_report_renders_in_headlesschromium(sample_result, tmp_path) -> None:
    path = Path(write_report(sample_result, tmp_path / "report.html"))
    shot = tmp_path / "report.png"
    dump = chromium("--dump-dom", f"--screenshot={shot}", "--window-size=1280,1800", path.resolve().as_uri(),
                     cwd=tmp_path)
    assert dump.returncode == 0, dump.stderr[-2000:]
    assert "Uncaught" not in dump.stderr, dump.stderr[-2000:]
    assert report_status(dump.stdout) == "ok 2", report_status(dump.stdout)
    assert dump.stdout.count('class="plot-container plotly"') == 2
    # every trace of both charts was drawn as SVG: equity, benchmark, the universe's equal-weight benchmark (a
    # run of a universe), drawdown, price, entries, exits
    assert dump.stdout.count('class="trace scatter') == 14
    assert shot.exists(), dump.stderr[-2000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000  # a drawn page, not a blank one


@needs_chromium
def test_the_browser_check_catches_empty_charts_and_script_errors(sample_result, tmp_path) -> None:
    """The check itself can fail: a chart without traces and a throwing script are reported."""
    text = render_report(sample_result, max_runs=1)
    empty = text.replace("</body>", "<div id='x' class='js-plotly-plot'></div></body>")
    broken = text.replace("</body>", "<script>undefinedFunction();</script></body>")
    for name, html, expected in (("empty.html", empty, "error 1 empty of 2 charts"),
                                 ("broken.html", broken, "error")):
        page = tmp_path / name
        page.write_text(html, encoding="utf-8")
        dump = chromium("--dump-dom", page.resolve().as_uri(), cwd=tmp_path)
        assert report_status(dump.stdout).startswith(expected), report_status(dump.stdout)
    assert "Uncaught" in dump.stderr  # the console log shows the error too
