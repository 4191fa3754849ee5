"""The sweep's HTML report: heatmap and stability values computed by hand from the table, the parts it must
show, and a real render in headless Chromium (no JavaScript error, no empty chart, every trace drawn)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support.browser import chromium, needs_chromium, report_status

from ruleengine.errors import RuleEngineError
from ruleengine.sweep.report import (
    _heatmap,
    _stability,
    heatmap_axes,
    render_sweep_report,
    write_sweep_report,
)
from ruleengine.sweep.run import sweep
from ruleengine.sweep.walkforward import walk_forward

GC = str(Path(__file__).resolve().parents[1] / "rules" / "golden_cross.yaml")
GRID = ["fast=5:30:5", "slow=20:100:20", "stop_loss_pct=5,10"]


@pytest.fixture(autouse=True)
def clean_env(provider_env_cleared):
    """Provider defaults from the environment must not change these runs (conftest.provider_env_cleared)."""


@pytest.fixture(scope="module")
def wf():
    return walk_forward(GC, "SPY", "2012-01-01", "2016-12-30", provider="sample", walk_forward="train=252,test=252",
                        holdout="20%", grid=GRID, constraints=["fast < slow"], params={"max_hold_days": None},
                        pbo_top=10, pbo_splits=8)


def test_heatmap_cells_are_the_best_over_the_other_parameters(wf) -> None:
    s = wf.sweep
    assert heatmap_axes(s) == ("fast", "slow")  # 6 and 5 values; stop_loss_pct has 2
    assert heatmap_axes(s, ("slow", "stop_loss_pct")) == ("slow", "stop_loss_pct")
    fig = _heatmap(s, "fast", "slow")
    z = fig.data[0].z
    assert list(fig.data[0].x) == ["5", "10", "15", "20", "25", "30"] and list(fig.data[0].y) == ["20", "40", "60",
                                                                                                  "80", "100"]
    t = s.table
    for i, slow in enumerate((20, 40, 60, 80, 100)):
        for j, fast in enumerate((5, 10, 15, 20, 25, 30)):
            cell = t[(t["fast"] == fast) & (t["slow"] == slow)]["sharpe_ratio"].dropna()
            if fast >= slow:  # excluded by the constraint: a gap
                assert z[i][j] is None
            else:
                assert len(t[(t["fast"] == fast) & (t["slow"] == slow)]) == 2  # both stop-loss values
                assert z[i][j] == (cell.max() if len(cell) else None)
    with pytest.raises(RuleEngineError) as info:
        heatmap_axes(s, ("fast", "rsi_max"))
    assert info.value.diagnostics[0].code == "D122" and "not swept" in info.value.diagnostics[0].message


def test_stability_plots_show_best_and_median_per_value(wf) -> None:
    s = wf.sweep
    fig = _stability(s)
    assert len(fig.data) == 6  # best and median for fast, slow, stop_loss_pct
    best, median = fig.data[4], fig.data[5]  # stop_loss_pct
    assert list(best.x) == ["5", "10"]
    for k, sl in enumerate((5.0, 10.0)):
        vals = s.table[s.table["stop_loss_pct"] == sl]["sharpe_ratio"].dropna()
        assert best.y[k] == vals.max() and median.y[k] == pytest.approx(float(np.median(vals)))


def test_report_is_self_contained_and_complete(wf) -> None:
    text = render_sweep_report(wf, top=7)
    assert "<script src=" not in text and len(text) > 3_000_000  # plotly.js itself is inline, once
    assert text.count("Plotly.newPlot") == 5 and "data-charts='5'" in text
    assert "SYNTHETIC DATA" in text
    for part in ("<h2>Heatmap</h2>", "<h2>Parameter stability</h2>", f"<h2>Top 7 of {len(wf.sweep.table)}</h2>",
                 "<h2>Walk-forward</h2>", "<h2>Hold-out</h2>", "<h2>Overfitting statistics</h2>"):
        assert part in text, part
    assert f"<b>{wf.overfit.dsr.dsr:.4f}</b>" in text and f"<b>{wf.overfit.pbo.pbo:.4f}</b>" in text
    first = wf.folds[0]
    assert f"{first.test_dates[0]} .. {first.test_dates[1]} ({first.fold.test_len})" in text
    assert text.count("<tr><td>") >= 7 + len(wf.folds) + 1


def test_bare_sweep_without_synthetic_data(tmp_path) -> None:
    idx = pd.bdate_range("2020-01-02", periods=300)
    base = 50 + 5 * np.sin(np.arange(300) / 6.0)
    pd.DataFrame({"date": idx.strftime("%Y-%m-%d"), "open": base, "high": base + 1, "low": base - 1,
                  "close": base, "volume": 1000}).to_csv(tmp_path / "GOOD.csv", index=False)
    res = sweep(GC, "GOOD", data=str(tmp_path), grid=["fast=5:20:5", "slow=50"])
    text = render_sweep_report(res)
    assert "SYNTHETIC DATA" not in text and "data-charts='1'" in text  # stability only: one axis varies
    assert "<h2>Heatmap</h2>" not in text and "Overfitting statistics" not in text


@needs_chromium
def test_report_renders_in_headlesschromium(wf, tmp_path) -> None:
    path = Path(write_sweep_report(wf, tmp_path / "sweep.html"))
    shot = tmp_path / "sweep.png"
    dump = chromium("--dump-dom", f"--screenshot={shot}", "--window-size=1280,3000", path.resolve().as_uri(),
                     cwd=tmp_path)
    assert dump.returncode == 0, dump.stderr[-2000:]
    assert "Uncaught" not in dump.stderr, dump.stderr[-2000:]
    assert report_status(dump.stdout) == "ok 5", report_status(dump.stdout)
    # stability 6 lines + stitched equity 1; fold bars 2 + PBO histogram 1; the heatmap
    assert dump.stdout.count('class="trace scatter') == 7
    assert dump.stdout.count('class="trace bars') == 3
    assert dump.stdout.count('class="hm"') == 1
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000


@needs_chromium
def test_the_browser_check_catches_empty_missing_charts_and_script_errors(wf, tmp_path) -> None:
    text = render_sweep_report(wf)
    cases = (("empty.html", text.replace("</body>", "<div class='js-plotly-plot'></div></body>"), "error 1 empty"),
             ("broken.html", text.replace("</body>", "<script>undefinedFunction();</script></body>"), "error"),
             ("missing.html", text.replace("data-charts='5'", "data-charts='6'"), "error 0 empty of 5"))
    from concurrent.futures import ThreadPoolExecutor

    for name, page_text, _ in cases:
        (tmp_path / name).write_text(page_text, encoding="utf-8")
    with ThreadPoolExecutor(len(cases)) as pool:  # three browsers at once: the file stays fast
        dumps = list(pool.map(lambda c: chromium(f"--user-data-dir={tmp_path / ('profile-' + c[0])}", "--dump-dom",
                                                  (tmp_path / c[0]).resolve().as_uri(), cwd=tmp_path), cases))
    for (name, _, expected), dump in zip(cases, dumps, strict=True):
        assert report_status(dump.stdout).startswith(expected), (name, report_status(dump.stdout))


def test_a_slow_search_rate_is_not_printed_as_zero():
    """6 combinations in 30.5 s (a first kernel compile) read '0 combinations/s' on the console and in the
    report; a rate under 10 keeps two significant digits."""
    from ruleengine.sweep.result import SweepResult

    def rate_text(trials: int, seconds: float) -> str:
        result = SweepResult.__new__(SweepResult)  # only the two fields the rate reads
        result.n_trials, result.elapsed = trials, seconds
        return result.rate_text()

    assert (rate_text(6, 30.53), rate_text(27, 3.7), rate_text(12_345, 1.0), rate_text(3, 0.0)) == \
        ("0.2", "7.3", "12,345", "n/a")
