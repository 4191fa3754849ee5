"""The structured error a provider call raises, as (code, message, ERROR_SCHEMA type), for fault tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ruleengine.errors import RuleEngineError


def error_of(call: Callable[[], Any]) -> tuple[str, str, str]:
    """(code, message, error type) of the first diagnostic `call` raises; fails when it raises none."""
    with pytest.raises(RuleEngineError) as info:
        call()
    d = info.value.diagnostics[0]
    return d.code, d.message, info.value.error_type
