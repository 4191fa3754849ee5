"""Where things are: the repository's folders and the real market data in ../shared/data."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = ROOT.parent / "shared" / "data"
RULES = ROOT / "rules"
TESTS = ROOT / "tests"
GOLDEN = TESTS / "golden"
FIXTURES = TESTS / "fixtures"


def rotation_rule(path: Path) -> bool:
    """True for an example rule that is a rotation portfolio (target weights over a universe, no per-symbol
    signals to compare with a one-symbol reference: tests/test_rotation.py runs it)."""
    import yaml

    return "rotation" in (yaml.safe_load(path.read_text()) or {})


def require_shared(name: str) -> Path:
    """The file `name` of ../shared/data; the calling test is skipped with a message where it is absent."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"real market data not found at {path} (tests marked 'realdata' need ../shared/data)")
    return path
