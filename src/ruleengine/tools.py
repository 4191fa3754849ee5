"""Agent tools: ``ruleengine.tools.definitions()`` (OpenAI function-calling tools, strict) and
``ruleengine.tools.call(name, arguments) -> dict`` (a result or an ERROR_SCHEMA object, never raising for user
errors). The implementation lives in `ruleengine.llm.tools`; importing this module loads neither numpy, pandas
nor openai.

Example:
    >>> from ruleengine import tools
    >>> tools.call("validate_strategy", {"strategy": "name: x\\ndata: {prices: {}}\\nentry: [close > 1]\\n"})["valid"]
    True
"""

from __future__ import annotations

from .llm.tools import TOOLS, call, definitions, input_schema

__all__ = ["TOOLS", "call", "definitions", "input_schema"]
