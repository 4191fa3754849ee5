"""Confidence of a live signal, 0-100: how clearly its conditions hold, and how often the strategy was right.

    confidence = 100 x (0.6 x M + 0.4 x H)

- **M, the margin score** (0..1): each condition's *strength* is ``n / (1 + n)`` where ``n`` is its
  normalised margin: the distance to flipping (``30 - rsi`` for ``rsi < 30``; ``a - b`` for
  ``crosses_above(a, b)``) divided by the typical one-bar move of ``left - right`` (mean absolute change over
  the last 20 bars). So a condition exactly on its boundary has strength 0, one typical move away 0.5, three
  moves away 0.75. A condition with no measurable margin (``rising(close, 3)``, a constant scale) has
  strength 1 when it holds. ``and``/``or`` inside a condition take the min/max of their parts' normalised
  margins, ``not`` negates. For ``logic: all`` M is the mean strength of the conditions; for ``logic: any`` the
  best strength among those that held.
- **H, the hit rate** (0..1): ``(wins + 1) / (trades + 2)`` of the strategy's newest stored backtest (of its
  current version): Laplace's rule, so a strategy with no backtest gets 0.5 and a handful of trades barely
  moves it away from 0.5.
- **Code strategies** have no conditions to measure: M = 0.5.

Example (``rsi(close, 14) < 30`` with rsi 28.4, a typical move of 1.6, 7 wins in 10 backtest trades):
    >>> m = margin_score([strength(1.6 / 1.6)], "all")
    >>> round(confidence(m, hit_rate(7, 10)), 2)
    56.67
"""

from __future__ import annotations

import math
from collections.abc import Sequence

WEIGHT_MARGIN = 0.6
WEIGHT_HIT_RATE = 0.4
#: M of a strategy whose logic is Python code (nothing to measure)
CODE_MARGIN_SCORE = 0.5
#: bars over which the typical one-bar move of ``left - right`` is averaged
SCALE_BARS = 20


def strength(norm_margin: float | None, held: bool = True) -> float:
    """``n / (1 + n)`` for a positive normalised margin, 0 for a failing condition, 1 without a margin."""
    if norm_margin is None or math.isnan(norm_margin):
        return 1.0 if held else 0.0
    if norm_margin <= 0:
        return 0.0
    if math.isinf(norm_margin):
        return 1.0
    return norm_margin / (1.0 + norm_margin)


def hit_rate(wins: int, trades: int) -> float:
    """Laplace's rule of succession: ``(wins + 1) / (trades + 2)``."""
    return (wins + 1) / (trades + 2)


def margin_score(strengths: Sequence[float], logic: str, held: Sequence[bool] | None = None) -> float:
    """M: the mean strength (``all``), or the best strength of a condition that held (``any``)."""
    if logic == "code" or not strengths:
        return CODE_MARGIN_SCORE
    if logic == "any":
        flags = held if held is not None else [True] * len(strengths)
        chosen = [s for s, h in zip(strengths, flags, strict=True) if h]
        return max(chosen) if chosen else 0.0
    return sum(strengths) / len(strengths)


def confidence(margin: float, hit: float) -> float:
    """``100 x (0.6 M + 0.4 H)``, clipped to [0, 100]."""
    return min(100.0, max(0.0, 100.0 * (WEIGHT_MARGIN * margin + WEIGHT_HIT_RATE * hit)))


FORMULA = "confidence = 100 x (0.6 M + 0.4 H); M = margin score, H = (wins + 1) / (trades + 2)"
