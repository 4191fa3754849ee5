"""Headless Chromium for the HTML report tests (Debian's ``chromium``; .ci/run installs it)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless chromium not installed (apt-get install chromium; .ci/run installs it)")


def chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with `args` (e.g. ``--dump-dom file.html``) and capture its output."""
    # --no-sandbox: CI runs as root; virtual time lets every script and the load event finish first.
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--virtual-time-budget=15000", "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def report_status(dom: str) -> str:
    """The ``data-report-status`` a report's own check script writes once its charts are drawn."""
    found = re.search(r'data-report-status="([^"]*)"', dom)
    assert found, "report status attribute missing from the rendered DOM"
    return found.group(1)
