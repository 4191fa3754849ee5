"""Shared test helpers and stand-in servers, imported by the test files as ``support.<module>``.

pytest puts ``tests/`` on ``sys.path`` (rootdir-relative "prepend" import mode, no ``tests/__init__.py``), so
``from support.paths import ROOT`` works both under ``pytest`` and ``python -m pytest`` from the repo root.
tests/conftest.py holds only fixtures; everything a test imports by name lives here:

- paths: the repository's folders (ROOT, RULES, GOLDEN, FIXTURES), the real data (SHARED_DATA, require_shared)
- prices: small synthetic price tables (sine_prices), readers of daily.parquet (read_daily, ohlcv_getter)
- daily_sample: the committed OHLCV sample (SAMPLE) of ../shared/data and how it was cut
- hostile: per-case time and memory limits for the hostile-input suite
- reference, sim_reference: plain-Python oracles of the expression language and of the fill contract
- fmp_server, openai_server: local stand-ins for FMP's API and the chat completions API
- browser: headless Chromium for the HTML report tests
"""
