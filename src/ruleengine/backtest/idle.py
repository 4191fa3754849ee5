"""Why a run made no trades: a warm-up longer than the data (D172), or how often each entry condition held (D119).

A run without trades is a valid result, but "no trades" alone leaves the user guessing. Two causes are told
apart here:

- **The warm-up exceeds the bars available** (``sma(close, 100000)`` on 3,000 bars): no bar ever has a
  defined signal. `check_warmup` raises D172 with both numbers when this holds for every run (nothing could
  be computed); otherwise the affected runs get a D172 warning.
- **The entry never held**: `explain_idle` counts, on the run's tradable bars, how often each entry condition
  held and how often the combined entry signal did, reusing `ruleengine.compile.inspect.inspect_conditions`
  (the values live signals explain themselves with: the same kernels as the signals, no second evaluator).
  The counts go into the D119 warning's message and its ``details``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import Diagnostic, RuleEngineError


def _available_bars(md: Any, base: str, column: int) -> int:
    """Bars of a data column from its first valid close to the end of the range (warm-up history included)."""
    valid = np.flatnonzero(np.isfinite(md.inputs[(base, "close")][:, column]))
    return 0 if not len(valid) else md.n_rows - int(valid[0])


def _warmup_text(warm: int, available: int, label: str) -> str:
    return (f"{label}: the warm-up of {warm:,} bars (the longest window along the conditions) exceeds the "
            f"{available:,} bars available")


def check_warmup(compiled: Any, md: Any, base: str, keep: Sequence[int], sets: Sequence[dict[str, Any]]
                 ) -> dict[tuple[int, int], tuple[int, int]]:
    """(parameter set, data column) -> (warm-up, bars available) of the runs that can never have a signal.

    Raises D172 when that is every run: nothing of the backtest could be computed.
    """
    short: dict[tuple[int, int], tuple[int, int]] = {}
    available = {j: _available_bars(md, base, j) for j in keep}
    for p, values in enumerate(sets):
        warm = int(compiled.warmup(values))
        for j in keep:
            if warm >= available[j]:
                short[(p, j)] = (warm, available[j])
    if short and len(short) == len(sets) * len(keep):
        (p, j), (warm, have) = next(iter(short.items()))
        more = f" (and {len(short) - 1} more runs)" if len(short) > 1 else ""
        raise RuleEngineError([Diagnostic(
            "D172", _warmup_text(warm, have, md.labels[j]) + f" up to the end of the range{more}: no bar can "
            "have a signal", path="entry",
            hint="shorten the window, or give a longer range / data with more history (--start earlier)")])
    return short


def explain_idle(compiled: Any, md: Any, base: str, keep: Sequence[int], sets: Sequence[dict[str, Any]],
                 results: Sequence[Any], entries: np.ndarray, portfolio: bool,
                 short: dict[tuple[int, int], tuple[int, int]]) -> None:
    """Give each run without trades the reason in its D119 warning (message and ``details``), in place.

    `results` are in the order `backtest` builds them (independent runs: parameter set major, symbol minor;
    a portfolio: one per parameter set); `entries` are the simulated entry signals (same column order).
    """
    k = len(keep)
    idle: dict[int, list[tuple[int, list[int]]]] = {}  # parameter set -> (result index, its data columns)
    for i, r in enumerate(results):
        if r.metrics.total_trades == 0:
            p, cols = (i, list(range(k))) if portfolio else (i // k, [i % k])
            idle.setdefault(p, []).append((i, cols))
    if not idle:
        return
    s0 = md.start
    for p, runs in idle.items():
        held = _condition_counts(compiled, md, sets[p], s0)  # [] for a strategy without conditions (code)
        for i, cols in runs:
            data_cols = [keep[c] for c in cols]
            label = results[i].label
            warnings = results[i].warnings
            blocked = [short[(p, j)] for j in data_cols if (p, j) in short]
            if blocked:
                warm, have = blocked[0]
                warnings.append(Diagnostic(
                    "D172", _warmup_text(warm, have, label) + ": no bar can have a signal", severity="warning",
                    path="entry", hint="shorten the window or give data with more history").to_dict())
            signal_bars = int(entries[s0:, [p * k + c for c in cols]].any(axis=1).sum())
            bars = md.n_rows - s0
            entry = compiled.strategy.entry  # None for a code strategy
            details: dict[str, Any] = {"bars": bars, "entry_signal_bars": signal_bars,
                                       "entry_logic": entry.logic if entry else None, "conditions": []}
            if blocked:
                details["warmup_bars"], details["available_bars"] = blocked[0]
            # what else stands between an entry signal and a trade: a sizing rule or a cap that skipped the
            # entry, a limit/stop order that never filled (each told in the message, not guessed as a cancel)
            skipped = results[i].skipped_entries
            n_skipped = sum(n for why, n in (skipped.by_reason or {"cash": skipped.count}).items()
                            if why != "capped_by_cash") if skipped is not None else 0
            if n_skipped:
                details["skipped_entries"] = n_skipped
            order = compiled.strategy.entry_order
            if not order.is_market():
                details["entry_order"], details["order_valid_bars"] = order.type, order.valid_bars
            if held:
                details["conditions"] = [{"index": c["index"], "text": c["text"],
                                          "held_bars": int(c["held"][:, data_cols].any(axis=1).sum())}
                                         | ({"group": c["group"]} if "group" in c else {}) for c in held]
            message = _idle_message(label, details, bool(blocked))
            for w in warnings:
                if w["code"] == "D119":
                    w["message"], w["details"] = message, details


def _condition_counts(compiled: Any, md: Any, values: dict[str, Any], s0: int) -> list[dict[str, Any]]:
    """Each entry condition's truth on the tradable rows: {"index", "text", "held": (bars, S) bool array}."""
    found = compiled.inspect(md, values, tail=md.n_rows - s0)
    out = []
    for cond in found:
        if cond.group not in ("entry", "short_entry"):  # short_entry: a long_short strategy's other side
            continue
        v = cond.values_of(cond.tree)
        held = np.asarray(v, dtype=bool) if isinstance(v, np.ndarray) else np.full((md.n_rows - s0, md.n_cols),
                                                                                      bool(v))
        out.append({"index": cond.index, "text": cond.text, "held": held}
                   | ({"group": "short_entry"} if cond.group == "short_entry" else {}))
    return out


def _idle_message(label: str, d: dict[str, Any], blocked: bool) -> str:
    """One sentence: why no trade happened, with the counts."""
    bars = d["bars"]
    if blocked:
        return (f"{label}: no trades: the warm-up of {d['warmup_bars']:,} bars exceeds the "
                f"{d['available_bars']:,} bars available, so no bar has a signal")
    if d["entry_signal_bars"]:
        causes = []
        if d.get("skipped_entries"):
            n = d["skipped_entries"]
            causes.append(f"{n:,} {'entry was' if n == 1 else 'entries were'} skipped by the sizing or a cap "
                          "(the skipped-entries warning says why)")
        if d.get("entry_order"):
            causes.append(f"the {d['entry_order']} orders the signals placed were not filled within "
                          f"{d['order_valid_bars']} bar(s) (the price never reached their level)")
        held = f"{label}: no trades although the entry signal held on {d['entry_signal_bars']:,} of {bars:,} bars: "
        if not causes:
            return held + "each was cancelled (an exit signal on the same bar) or came on the last bar"
        return held + "; ".join(causes) + "; any other was cancelled (an exit signal on the same bar) or came on " \
            "the last bar"
    conds = d["conditions"]
    if not conds:
        return f"{label}: no trades: the entry signal never held on the {bars:,} tradable bars"
    def tag(c: dict[str, Any]) -> str:  # a long_short strategy's short side is named (its own numbering)
        return "short_entry " if c.get("group") == "short_entry" else ""

    counts = "; ".join(f"{tag(c)}[{c['index'] + 1}] {c['text']} " + (f"held on {c['held_bars']:,}"
                                                                    if c["held_bars"] else "never held")
                       for c in conds)
    never = [c for c in conds if not c["held_bars"]]
    long_conds = [c for c in conds if not tag(c)]
    if d["entry_logic"] == "all" and len(long_conds) > 1 and not never and len(long_conds) == len(conds):
        why = "every entry condition held on some bars, but never all on the same bar"
    elif len(never) == 1:
        why = f"{tag(never[0]) or 'entry '}condition {never[0]['index'] + 1} never held"
    elif never and not any(tag(c) for c in never):
        why = "entry conditions " + ", ".join(str(c["index"] + 1) for c in never) + " never held"
    elif never:
        why = ", ".join(f"{tag(c) or 'entry '}condition {c['index'] + 1}" for c in never) + " never held"
    else:
        why = "the entry never held"
    return f"{label}: no trades: {why}; of the {bars:,} tradable bars, {counts}"


__all__ = ["check_warmup", "explain_idle"]
