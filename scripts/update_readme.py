"""Regenerate the function table in README.md from the registry (tests check it is current)."""

from __future__ import annotations

import re
from pathlib import Path

from ruleengine.lang.functions import markdown_table

README = Path(__file__).resolve().parents[1] / "README.md"
PATTERN = re.compile(r"(<!-- functions:start -->\n).*?(<!-- functions:end -->)", re.S)


def render(text: str) -> str:
    return PATTERN.sub(lambda m: m.group(1) + markdown_table() + m.group(2), text)


if __name__ == "__main__":
    README.write_text(render(README.read_text(encoding="utf-8")), encoding="utf-8")
