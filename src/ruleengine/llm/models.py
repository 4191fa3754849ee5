"""Price and knowledge-cutoff tables by model: cost estimates and the look-ahead note of LLM-written strategies.

Prices are OpenAI's list prices in US dollars per million tokens (standard tier, uncached input), as published
in 2025; they change, so treat costs as estimates and override them with ``RULEENGINE_LLM_PRICES``
(``"my-model=0.5/1.5,gpt-4.1-mini=0.4/1.6"``: input/output dollars per million tokens) or the `prices` setting.
A dated snapshot name (``gpt-4.1-mini-2025-04-14``) uses the entry of its longest matching prefix. A model
missing from the table has no cost estimate (None), never a guessed one.

Knowledge cutoffs are the model cards' training-data cutoffs. A strategy written by a model whose training data
cover the backtest period may encode what the model knows happened (a crash, a rally): the backtest of such a
period is not out of sample for the idea. `knowledge_cutoff_note` says so in reports.

Example:
    >>> round(estimate_cost("gpt-4.1-mini", 1_000_000, 100_000), 4)
    0.56
    >>> knowledge_cutoff("gpt-4o-mini-2024-07-18")
    '2023-10-01'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date

#: model -> (input, output) US dollars per million tokens
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o3": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
}

#: model -> training-data cutoff (ISO date; the first day of the month where the card names only a month)
KNOWLEDGE_CUTOFF: dict[str, str] = {
    "gpt-4o": "2023-10-01",
    "gpt-4o-mini": "2023-10-01",
    "gpt-4.1": "2024-06-01",
    "gpt-4.1-mini": "2024-06-01",
    "gpt-4.1-nano": "2024-06-01",
    "o3": "2024-06-01",
    "o4-mini": "2024-06-01",
    "gpt-5": "2024-09-30",
    "gpt-5-mini": "2024-05-31",
    "gpt-5-nano": "2024-05-31",
}


def _lookup(table: Mapping[str, object], model: str) -> str | None:
    """The table key for `model`: exact, else the longest key that prefixes it at a '-' boundary."""
    if model in table:
        return model
    best = None
    for key in table:
        if model.startswith(key + "-") and (best is None or len(key) > len(best)):
            best = key
    return best


def parse_prices(text: str | None) -> dict[str, tuple[float, float]]:
    """``"m1=0.5/1.5,m2=1/4"`` -> {"m1": (0.5, 1.5), "m2": (1.0, 4.0)}; malformed entries raise ValueError."""
    out: dict[str, tuple[float, float]] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        model, sep, value = part.partition("=")
        inp, slash, outp = value.partition("/")
        if not sep or not slash:
            raise ValueError(f"price entry {part!r} is not MODEL=INPUT/OUTPUT (dollars per million tokens)")
        out[model.strip()] = (float(inp), float(outp))
    return out


def price_table(overrides: Mapping[str, tuple[float, float]] | None = None,
                env: Mapping[str, str] | None = None) -> dict[str, tuple[float, float]]:
    """`PRICES`, updated by ``RULEENGINE_LLM_PRICES`` and then by `overrides`."""
    env = os.environ if env is None else env
    return {**PRICES, **parse_prices(env.get("RULEENGINE_LLM_PRICES")), **dict(overrides or {})}


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int,
                  prices: Mapping[str, tuple[float, float]] | None = None) -> float | None:
    """Estimated US dollars of one call, or None for a model without a price."""
    table = PRICES if prices is None else prices
    key = _lookup(table, model)
    if key is None:
        return None
    inp, outp = table[key]
    return (prompt_tokens * inp + completion_tokens * outp) / 1_000_000


def knowledge_cutoff(model: str | None) -> str | None:
    """The model's training-data cutoff (ISO date) or None when unknown."""
    if not model:
        return None
    key = _lookup(KNOWLEDGE_CUTOFF, model)
    return KNOWLEDGE_CUTOFF[key] if key else None


def knowledge_cutoff_note(model: str | None, start: str | date | None, end: str | date | None = None) -> str | None:
    """A warning when the backtest period starts before the model's knowledge cutoff, else None.

    Example:
        >>> knowledge_cutoff_note("gpt-4.1", "2020-01-01", "2021-12-31")[:60]
        'The backtest period 2020-01-01 .. 2021-12-31 lies before the'
    """
    cutoff = knowledge_cutoff(model)
    if cutoff is None or start is None:
        if model and start is not None and cutoff is None:
            return (f"The knowledge cutoff of model {model!r} is unknown: the backtest period may lie inside its "
                    "training data, so results may reflect what the model knew about that period.")
        return None
    first = str(start)[:10]
    last = str(end)[:10] if end is not None else None
    if first >= cutoff:
        return None
    inside = "lies before" if last is not None and last < cutoff else "starts before"
    period = f"{first} .. {last}" if last else f"from {first}"
    return (f"The backtest period {period} {inside} the knowledge cutoff of {model} ({cutoff}), which wrote "
            "this strategy: results may be tainted by what the model already knew about that period; "
            f"judge it on data after {cutoff}.")
