"""`explain`: the direction, the typed canonical form of each condition, the parameters and the derived warm-up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..lang.printer import to_text
from ..schema.strategy import SIGNAL_GROUPS
from ..sides import DIRECTIONS, group_order
from .compiled import CompiledStrategy
from .exit_program import independent_parts
from .frontend import CheckedCondition
from .ir import Graph, lower
from .plan import Plan, _schedule
from .rotation import HOLD, WEIGHT

#: the condition groups `explain_text` lists for each direction
GROUPS = {"long": ("entry", "exit"), "short": ("entry", "exit"), "long_short": tuple(SIGNAL_GROUPS)}


@dataclass
class ConditionInfo:
    group: str
    index: int
    text: str  # canonical form
    type: str
    lookback: int
    converge: int


def condition_infos(compiled: CompiledStrategy, params: dict[str, Any] | None = None) -> list[ConditionInfo]:
    """Canonical text, type and warm-up of every condition under the given (default) parameter values."""
    values = compiled.strategy.default_params() | dict(params or {})
    out: list[ConditionInfo] = []
    for group in compiled.strategy.signal_groups():
        for c in getattr(compiled.analysis, group):
            lb, cv = _warmup(c, values)
            out.append(ConditionInfo(group, int(c.source.index), to_text(c.tree), str(c.tree.ty), lb, cv))
    return out


def _warmup(cond: CheckedCondition, params: dict[str, Any]) -> tuple[int, int]:
    """Lookback and convergence of a condition (of its parts without position variables: those are known
    only in the simulation, bar by bar)."""
    graph = Graph()
    roots = [lower(part, params, graph) for part in independent_parts(cond.tree)]
    plan = Plan(graph, [params], [(r, r) for r in roots])
    _schedule(plan)
    return max((plan.lookback[r] for r in roots), default=0), max((plan.converge[r] for r in roots), default=0)


def explain_dict(compiled: CompiledStrategy) -> dict[str, Any]:
    """Machine-readable explanation (what `ruleengine explain --json` prints)."""
    s = compiled.strategy
    plan: Plan = compiled.node_plan()  # one parameter set: the set-by-set plan, whose graph this shows
    return {
        "name": s.name,
        "description": s.description,
        "timeframe": s.timeframe,
        "direction": s.direction,
        "price_slot": s.price_slot(),
        "data": {n: {"kind": d.kind, "frequency": d.frequency, "columns": d.available_columns(),
                     "used": sorted(compiled.required_columns().get(n, set()))} for n, d in s.data.items()},
        "params": {n: p.model_dump(exclude_none=True) for n, p in s.params.items()},
        **{f"{g}_logic": getattr(s, g).logic if getattr(s, g) else None for g in s.signal_groups()},
        "conditions": [vars(i) for i in condition_infos(compiled)],
        "warmup_bars": plan.warmup(0),
        "converge_bars": plan.converge_bars(0),
        "risk": s.risk.model_dump(exclude_none=True),
        "exit_program": _program_dict(compiled.exit_program()),
        # a long_short strategy only: short_exit's program, read on its shorts (the exit block's on its longs)
        **({"short_exit_program": _program_dict(compiled.exit_program("short_exit"))}
           if s.direction == "long_short" else {}),
        # a pair strategy only: one-instrument explanations read as before
        **({"pair": s.pair.model_dump()} if s.pair is not None else {}),
        **_entry_order(compiled),
        **_exit_order(compiled),
        **_rotation(compiled),
    }


def _rotation(compiled: CompiledStrategy) -> dict[str, Any]:
    """``{"rotation": {rebalance, hold, weights, volatility, min_weight_change_pct}}`` with the expressions in
    canonical form; nothing without a rotation block."""
    rot = compiled.strategy.rotation
    if rot is None:
        return {}
    out = rot.model_dump()
    checked = compiled.analysis.rotation
    out["hold"] = to_text(checked[HOLD].tree)
    if WEIGHT in checked:
        out[rot.weight_field() or "weights"] = to_text(checked[WEIGHT].tree)
    return {"rotation": out}


def _entry_order(compiled: CompiledStrategy) -> dict[str, Any]:
    """``{"entry_order": {type, price (canonical), valid_bars, lookback, converge}}`` for a limit or stop
    order; nothing for a market order (its explanation reads as before entry orders existed)."""
    price = compiled.analysis.order_price
    if price is None:
        return {}
    params = compiled.strategy.default_params()
    lb, cv = _warmup(price, params)
    order = compiled.strategy.entry_order
    out = {"type": order.type, "price": to_text(price.tree), "valid_bars": order.valid_bars, "lookback": lb,
           "converge": cv}
    short = compiled.analysis.short_order_price
    if short is not None:  # long_short: the short side's price; the warm-up covers both
        slb, scv = _warmup(short, params)
        out.update(short_price=to_text(short.tree), lookback=max(lb, slb), converge=max(cv, scv))
    return {"entry_order": out}


def _exit_order(compiled: CompiledStrategy) -> dict[str, Any]:
    """``{"exit_order": {type, price (canonical), short_price (long_short), lookback, converge}}`` for a limit or
    stop exit order; nothing without one (its explanation reads as before exit orders existed)."""
    a = compiled.analysis
    if a.exit_order_price is None:
        return {}
    params = compiled.strategy.default_params()
    lb, cv = _warmup(a.exit_order_price, params)
    out: dict[str, Any] = {"type": compiled.strategy.exit_order.type, "price": to_text(a.exit_order_price.tree)}
    if a.short_exit_order_price is not None:
        slb, scv = _warmup(a.short_exit_order_price, params)
        out["short_price"] = to_text(a.short_exit_order_price.tree)
        lb, cv = max(lb, slb), max(cv, scv)
    return {"exit_order": {**out, "lookback": lb, "converge": cv}}


def _program_dict(program: Any) -> dict[str, Any] | None:
    """The exit program on position variables: its condition, the position variables and the levels it reads."""
    if program is None:
        return None
    return {"condition": program.text, "position_variables": list(program.variables),
            "levels": list(program.levels_text)}


def explain_text(compiled: CompiledStrategy) -> str:
    d = explain_dict(compiled)
    lines = [f"{d['name']}  ({d['timeframe'] or 'no timeframe: no default exits'})"]
    if d["description"]:
        lines.append(f"  {d['description']}")
    if "rotation" in d:
        r = d["rotation"]
        weights = f"1 / ({r['volatility']}), normalised" if r["weights"] == "inverse_volatility" else \
            r["weights"] if r["weights"] == "equal" else f"{r['weights']}, normalised"
        lines.append(f"rotation: at the close of the last bar of each {r['rebalance']} period, hold {r['hold']} "
                     f"with weights {weights} (one shared cash account; entry/exit conditions filter the held names"
                     f"; not traded within {r['min_weight_change_pct']} points of the target)")
    else:
        lines.append(f"direction: {d['direction']}: {DIRECTIONS[d['direction']]}")
    lines.append("data:")
    for name, slot in d["data"].items():
        mark = "  (price slot: bare column names refer to it)" if name == d["price_slot"] else ""
        used = ", ".join(slot["used"]) or "-"
        lines.append(f"  {name}: {slot['kind']} at {slot['frequency']}; uses {used}{mark}")
    if "pair" in d:
        a, b = d["pair"]["legs"]
        lines.append(f"pair: long {a} and short {b} as one position (entry); short {a} and long {b} (the short "
                     f"side); {d['pair']['sizing']} at hedge ratio {d['pair']['hedge_ratio']} (read at the signal "
                     "bar, fixed for the trade); stops, targets and sizing act on both legs' value")
    lines.append("params:")
    for name, p in d["params"].items():
        bounds = ""
        if "min" in p or "max" in p:
            bounds = f" in [{p.get('min', '-inf')}, {p.get('max', 'inf')}]"
        if p["type"] == "enum":
            bounds = f" one of {p['values']}"
        desc = f"  - {p['description']}" if p.get("description") else ""
        lines.append(f"  {name}: {p['type']} = {p['default']!r}{bounds}{desc}")
    for group in GROUPS[d["direction"]]:
        conds = [c for c in d["conditions"] if c["group"] == group]
        logic = d[f"{group}_logic"]
        order = "" if d["direction"] == "long" else f" ({group_order(group, d['direction'])})"  # long: as before
        if not conds:
            # long_short: the other side's entry closes the position too (it reverses it at the same fill)
            other = {"exit": "short_entry", "short_exit": "entry"}.get(group) if d["direction"] == "long_short" \
                else None
            none = f"exits come from the risk rules and from {other}, which reverses the position" if other \
                else "exits come from the risk rules only"
            lines.append(f"{group}{order}: (none: {none})" if group.endswith("exit") else f"{group}{order}: (none)")
            continue
        joiner = "all of (AND)" if logic == "all" else "any of (OR)"
        lines.append(f"{group}{order}: {joiner}")
        for c in conds:
            lines.append(f"  [{c['index']}] {c['text']}")
            lines.append(f"      {c['type']}; warm-up {c['lookback']} bars"
                         + (f" (exact values after {c['converge']})" if c["converge"] != c["lookback"] else ""))
    entry_order = d.get("entry_order")
    if entry_order:
        what = "buy at or below" if entry_order["type"] == "limit" else "buy when the price trades up through"
        lines.append(f"entry order: {entry_order['type']} ({what} it; mirrored for a short), placed at the signal "
                     f"bar's close at {entry_order['price']}, worked for {entry_order['valid_bars']} bar(s) from "
                     f"the next on; warm-up {entry_order['lookback']} bars")
        if "short_price" in entry_order:
            lines.append(f"  short side: {entry_order['type']} at {entry_order['short_price']}; an order of the "
                         "side not held reverses the position at its fill")
    exit_order = d.get("exit_order")
    if exit_order:
        what = "sell when the price trades down to" if exit_order["type"] == "stop" else \
            "sell when the price trades up to"
        lines.append(f"exit order: {exit_order['type']} ({what} it; mirrored for a short) at {exit_order['price']}, "
                     "re-placed at every close for the next bar while a position is held; warm-up "
                     f"{exit_order['lookback']} bars")
        if "short_price" in exit_order:
            lines.append(f"  short positions: {exit_order['type']} at {exit_order['short_price']}")
    of_pair = " of the pair's combined value (entry_price: its value at entry)" if "pair" in d else ""
    long_short = "short_exit_program" in d  # each side's program reads its own positions
    for key, what in (("exit_program", "a held long" if long_short else "the held trade"),
                      ("short_exit_program", "a held short")):
        if d.get(key):
            p = d[key]
            lines.append(f"exit on {what}: {p['condition']}  (position variables "
                         f"{', '.join(p['position_variables'])}{of_pair}: evaluated in the simulation at each "
                         "bar's close)")
    lines.append(f"warm-up: the first {d['warmup_bars']} bars are never traded (default parameters)")
    if d["converge_bars"] != d["warmup_bars"]:
        lines.append(f"history: {d['converge_bars']} bars before the first trade make recursive indicators "
                     "equal their full-history values within 1e-10")
    if d["risk"]:
        lines.append("risk: " + ", ".join(f"{k}={v}" for k, v in d["risk"].items()))
    return "\n".join(lines) + "\n"
