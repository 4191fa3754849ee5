"""A plain pandas / TA-Lib reference evaluator of checked expressions (the oracle of the compiler tests).

Independent of the numba kernels and the IR: it walks the typed AST and computes every function with
pandas (or TA-Lib where TA-Lib has it) under the documented semantics: NaN is a missing observation for
window functions (computed on the valid rows, NaN on the missing ones), `shift` is positional, and every
comparison involving NaN is false. Comparisons also report where the two sides are too close to call
(|a - b| <= 1e-9 relative), so tests can ignore ties that floating-point order may flip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import talib

from ruleengine.lang import ast

S = pd.Series


def absent(fn: Callable[..., S], *series: S) -> S:
    """Apply fn to the rows where every input is valid; NaN elsewhere."""
    frame = pd.concat(series, axis=1)
    ok = frame.notna().all(axis=1)
    out = fn(*(s[ok] for s in series))
    return pd.Series(out, index=frame.index[ok]).reindex(frame.index)


def _log_ratio(n: int) -> Callable[[S], S]:
    """log(v / v[n]) as the kernel computes it: NaN where the ratio is not positive (no numpy warning)."""
    def run(v: S) -> S:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.log(v / v.shift(n))
    return run


def _ta(name: str, **kw: Any) -> Callable[..., S]:
    def run(*xs: S) -> Any:
        return getattr(talib, name)(*(x.to_numpy(dtype=float) for x in xs), **kw)

    return run


# The kernels' one departure from TA-Lib (kernels/rolling.py FLAT_STD_RATIO): a window whose population std is
# below 1e-9 of its mean's magnitude is flat (std 0), so ratios over it are NaN rather than rounding noise.
FLAT_STD_RATIO = 1e-9


def _std(v: S, n: int) -> S:
    std = v.rolling(n).std(ddof=0)
    return std.mask(std < FLAT_STD_RATIO * v.rolling(n).mean().abs(), 0.0)


def _bb(x: S, n: int, k: float, which: int) -> S:
    def bands(v: S) -> Any:
        band = talib.BBANDS(v.to_numpy(float), n, k, k, 0)[which]
        flat = (_std(v, n) == 0.0).to_numpy()
        return np.where(flat, talib.BBANDS(v.to_numpy(float), n, k, k, 0)[1], band)
    return absent(bands, x)


def _bb_percent(x: S, n: int, k: float) -> S:
    lower, upper = _bb(x, n, k, 2), _bb(x, n, k, 0)
    return ((x - lower) / (upper - lower)).where(upper != lower)


def _keltner(h: S, lo: S, c: S, n: int, k: float, side: int) -> S:
    """Keltner channel from TA-Lib's EMA and ATR on the rows where high, low and close are all valid."""
    def run(hh: S, ll: S, cc: S) -> Any:
        mid = talib.EMA(cc.to_numpy(float), n) if n > 1 else cc.to_numpy(float)
        if side == 0:
            return mid
        return mid + side * (k * talib.ATR(hh.to_numpy(float), ll.to_numpy(float), cc.to_numpy(float), n))
    return absent(run, h, lo, c)


def _pick(res: Any, i: int) -> Any:
    return res[i]


#: bar-by-bar math in plain numpy (the reference's own table, not the executor's)
BAR_BY_BAR: dict[str, Callable[..., Any]] = {
    "sqrt": np.sqrt, "exp": np.exp, "log": np.log, "pow": np.power,
    "clip": lambda x, lo, hi: np.clip(x, lo, hi), "where": np.where,
}

REF: dict[str, Callable[..., S]] = {
    "sma": lambda x, n: absent(lambda v: v.rolling(n).mean(), x),
    "mean": lambda x, n: absent(lambda v: v.rolling(n).mean(), x),
    "ema": lambda x, n: absent(_ta("EMA", timeperiod=n), x) if n > 1 else x.copy(),
    "wma": lambda x, n: absent(_ta("WMA", timeperiod=n), x) if n > 1 else x.copy(),
    "dema": lambda x, n: absent(_ta("DEMA", timeperiod=n), x),
    "tema": lambda x, n: absent(_ta("TEMA", timeperiod=n), x),
    "trix": lambda x, n: absent(_ta("TRIX", timeperiod=n), x),
    "kama": lambda x, n: absent(_ta("KAMA", timeperiod=n), x),
    "rsi": lambda x, n: absent(_ta("RSI", timeperiod=n), x),
    # the MACD line and slow %K do not depend on the signal / %D period: with it at 1 TA-Lib outputs them
    # from the bar they exist (our documented lookback) instead of waiting for the signal line
    "macd": lambda x, f, s, g: absent(lambda v: talib.MACD(v.to_numpy(float), f, s, 1)[0], x),
    "macd_signal": lambda x, f, s, g: absent(lambda v: talib.MACD(v.to_numpy(float), f, s, g)[1], x),
    "macd_hist": lambda x, f, s, g: absent(lambda v: talib.MACD(v.to_numpy(float), f, s, g)[2], x),
    "roc": lambda x, n: absent(_ta("ROC", timeperiod=n), x),  # TA-Lib: 0 where x[t-n] == 0
    "mom": lambda x, n: absent(lambda v: v - v.shift(n), x),
    "cci": lambda h, lo, c, n: absent(_ta("CCI", timeperiod=n), h, lo, c),
    "willr": lambda h, lo, c, n: absent(_ta("WILLR", timeperiod=n), h, lo, c),
    "mfi": lambda h, lo, c, v, n: absent(_ta("MFI", timeperiod=n), h, lo, c, v),
    "adx": lambda h, lo, c, n: absent(_ta("ADX", timeperiod=n), h, lo, c),
    "obv": lambda c, v: absent(_ta("OBV"), c, v),
    "ppo": lambda x, f, s: absent(_ta("PPO", fastperiod=f, slowperiod=s, matype=1), x),
    "plus_di": lambda h, lo, c, n: absent(_ta("PLUS_DI", timeperiod=n), h, lo, c),
    "minus_di": lambda h, lo, c, n: absent(_ta("MINUS_DI", timeperiod=n), h, lo, c),
    "ultosc": lambda h, lo, c, a, b, d: absent(_ta("ULTOSC", timeperiod1=a, timeperiod2=b, timeperiod3=d), h, lo, c),
    "sar": lambda h, lo, a, m: absent(_ta("SAR", acceleration=a, maximum=m), h, lo),
    "ad": lambda h, lo, c, v: absent(_ta("AD"), h, lo, c, v),
    "stoch_k": lambda h, lo, c, fk, sk, sd: absent(
        lambda *a: talib.STOCH(*(x.to_numpy(float) for x in a), fk, sk, 0, 1, 0)[0], h, lo, c),
    "stoch_d": lambda h, lo, c, fk, sk, sd: absent(
        lambda *a: talib.STOCH(*(x.to_numpy(float) for x in a), fk, sk, 0, sd, 0)[1], h, lo, c),
    "atr": lambda h, lo, c, n: absent(_ta("ATR", timeperiod=n), h, lo, c),
    "natr": lambda h, lo, c, n: absent(_ta("NATR", timeperiod=n), h, lo, c),
    "stddev": lambda x, n: absent(lambda v: _std(v, n), x),
    "zscore": lambda x, n: absent(lambda v: ((v - v.rolling(n).mean()) / _std(v, n)).where(_std(v, n) > 0), x),
    "bb_upper": lambda x, n, k: _bb(x, n, k, 0),
    "bb_middle": lambda x, n, k: _bb(x, n, k, 1),
    "bb_lower": lambda x, n, k: _bb(x, n, k, 2),
    "bb_percent": _bb_percent,
    "bb_width": lambda x, n, k: (_bb(x, n, k, 0) - _bb(x, n, k, 2)) / _bb(x, n, k, 1),
    "keltner_upper": lambda h, lo, c, n, k: _keltner(h, lo, c, n, k, 1),
    "keltner_middle": lambda h, lo, c, n, k: _keltner(h, lo, c, n, k, 0),
    "keltner_lower": lambda h, lo, c, n, k: _keltner(h, lo, c, n, k, -1),
    "donchian_upper": lambda h, lo, n: absent(lambda a, b: a.rolling(n).max(), h, lo),
    "donchian_middle": lambda h, lo, n: absent(lambda a, b: (a.rolling(n).max() + b.rolling(n).min()) / 2, h, lo),
    "donchian_lower": lambda h, lo, n: absent(lambda a, b: b.rolling(n).min(), h, lo),
    "ts_rank": lambda x, n: absent(lambda v: v.rolling(n).rank(method="average", pct=True), x),
    "corr": lambda a, b, n: absent(_ta("CORREL", timeperiod=n), a, b),
    "beta": lambda x, m, n: absent(lambda xx, mm: talib.BETA(mm.to_numpy(float), xx.to_numpy(float), n), x, m),
    "slope": lambda x, n: absent(_ta("LINEARREG_SLOPE", timeperiod=n), x),
    "highest": lambda x, n: absent(lambda v: v.rolling(n).max(), x),
    "lowest": lambda x, n: absent(lambda v: v.rolling(n).min(), x),
    "sum": lambda x, n: absent(lambda v: v.rolling(n).sum(), x),
    "pct_change": lambda x, n: absent(lambda v: v / v.shift(n) - 1, x),
    "log_return": lambda x, n: absent(_log_ratio(n), x),
    "cumsum": lambda x: x.cumsum(),  # pandas skips NaN and keeps it in place
    "shift": lambda x, n: x.shift(n),
    "vwap": lambda h, lo, c, v, n: absent(
        lambda hh, ll, cc, vv: ((hh + ll + cc) / 3 * vv).rolling(n).sum() / vv.rolling(n).sum().where(
            vv.rolling(n).sum() != 0), h, lo, c, v),
    "rising": lambda x, n: absent(lambda v: ((v.diff() > 0).astype(float).rolling(n).sum() == n)
                                  .astype(float), x).fillna(0).astype(bool),
    "falling": lambda x, n: absent(lambda v: ((v.diff() < 0).astype(float).rolling(n).sum() == n)
                                   .astype(float), x).fillna(0).astype(bool),
    "within": lambda c, n: c.astype(float).rolling(n, min_periods=1).max().astype(bool),
    "count": lambda c, n: c.astype(float).rolling(n).sum(),
}


def bars_since(c: S) -> S:
    out = np.full(len(c), np.nan)
    last = None
    for i, v in enumerate(c.to_numpy()):
        if v:
            last = i
        if last is not None:
            out[i] = i - last
    return pd.Series(out, index=c.index)


class Value:
    """A reference value: a Series or a scalar, plus (for conditions) where it is too close to call."""

    def __init__(self, v: Any, unsure: S | None = None) -> None:
        self.v = v
        self.unsure = unsure


def evaluate_ref(tree: ast.Node, frames: dict[str, pd.DataFrame], params: dict[str, Any],
                 index: pd.Index) -> Value:
    """Evaluate a checked AST (names resolved by the checker) with pandas/TA-Lib."""
    from ruleengine.lang.functions import FUNCTIONS

    def unsure_of(*vals: Value) -> S:
        out = pd.Series(False, index=index)
        for v in vals:
            if v.unsure is not None:
                out = out | v.unsure
        return out

    def ev(node: ast.Node) -> Value:
        if isinstance(node, (ast.Num, ast.Bool)):
            return Value(node.value)
        if isinstance(node, ast.Name):
            ref = node.ref
            assert ref is not None
            if ref[0] == "param":
                return Value(params[ref[1]])
            return Value(frames[ref[1]][ref[2]].astype(float))
        if isinstance(node, ast.Unary):
            a = ev(node.operand)  # type: ignore[arg-type]
            if node.op == "not":
                return Value(~a.v if isinstance(a.v, pd.Series) else (not a.v), a.unsure)
            return Value(-a.v if node.op == "-" else a.v)
        if isinstance(node, ast.Binary):
            a, b = ev(node.left), ev(node.right)  # type: ignore[arg-type]
            op = node.op
            if op in ("and", "or"):
                av, bv = as_bool(a.v, index), as_bool(b.v, index)
                return Value((av & bv) if op == "and" else (av | bv), unsure_of(a, b))
            if op in ("+", "-", "*", "/"):
                with np.errstate(all="ignore"):
                    return Value({"+": lambda: a.v + b.v, "-": lambda: a.v - b.v, "*": lambda: a.v * b.v,
                                  "/": lambda: _div(a.v, b.v)}[op]())
            return _compare(op, a, b, index)
        assert isinstance(node, ast.Call)
        fn = FUNCTIONS[node.func]
        args = [ev(a) for a in node.args]
        if node.func in ("crosses_above", "crosses_below"):
            av, bv = _series(args[0].v, index), _series(args[1].v, index)
            now = _compare(">" if node.func == "crosses_above" else "<", Value(av), Value(bv), index)
            before = _compare("<=" if node.func == "crosses_above" else ">=", Value(av.shift(1)),
                              Value(bv.shift(1)), index)
            return Value(now.v & before.v, now.unsure | before.unsure.fillna(False))
        if node.func == "abs":
            return Value(np.abs(args[0].v))
        if node.func in ("min", "max"):
            a, b = args[0].v, args[1].v
            if not isinstance(a, pd.Series) and not isinstance(b, pd.Series):
                return Value(min(a, b) if node.func == "min" else max(a, b))
            a, b = _series(a, index), _series(b, index)
            f = np.minimum if node.func == "min" else np.maximum
            return Value(pd.Series(f(a.to_numpy(), b.to_numpy()), index=index))
        if node.func in BAR_BY_BAR:
            values = [a.v for a in args]
            if not any(isinstance(v, pd.Series) for v in values):
                return Value(fn.scalar(*values) if fn.scalar else None)
            with np.errstate(all="ignore"):
                return Value(pd.Series(BAR_BY_BAR[node.func](*(_series(v, index).to_numpy() if not isinstance(
                    v, pd.Series) or v.dtype != bool else v.to_numpy() for v in values)), index=index))
        if node.func == "bars_since":
            return Value(bars_since(args[0].v))
        call_args = []
        for spec, a in zip(fn.args, args, strict=True):
            if spec.kind in ("window", "lag"):
                call_args.append(int(a.v))
            elif spec.kind == "number":
                call_args.append(float(a.v))
            else:
                call_args.append(a.v)
        result = REF[node.func](*call_args)
        unsure = unsure_of(*args) if fn.returns == "bool" else None
        return Value(result, unsure)

    return ev(tree)


def _div(a: Any, b: Any) -> Any:
    if isinstance(a, pd.Series) or isinstance(b, pd.Series):
        return a / b
    return a / b if b != 0 else float("nan")


def _series(v: Any, index: pd.Index) -> S:
    return v if isinstance(v, pd.Series) else pd.Series(float(v), index=index)


def as_bool(v: Any, index: pd.Index) -> S:
    """A boolean value as a series on `index` (a scalar is broadcast)."""
    return v if isinstance(v, pd.Series) else pd.Series(bool(v), index=index)


def _compare(op: str, a: Value, b: Value, index: pd.Index) -> Value:
    av, bv = a.v, b.v
    if isinstance(av, (bool, np.bool_)) or (isinstance(av, pd.Series) and av.dtype == bool):
        left, right = as_bool(av, index), as_bool(bv, index)
        r = (left == right) if op == "==" else (left != right)
        return Value(r, pd.Series(False, index=index))
    x, y = _series(av, index), _series(bv, index)
    with np.errstate(all="ignore"):
        r = {"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y, "==": x == y, "!=": x != y}[op]
    r = r & x.notna() & y.notna()
    scale = np.maximum(x.abs(), y.abs()).fillna(0)
    unsure = ((x - y).abs() <= 1e-9 * scale + 1e-12).fillna(False)
    return Value(r.astype(bool), unsure.astype(bool))


def reference_signals(compiled: Any, frames: dict[str, pd.DataFrame], params: dict[str, Any]) -> tuple[S, S, S]:
    """Entries, exits and the 'too close to call' mask of a compiled strategy, by the reference evaluator.

    Frames must already share one index (the compiler's as-of alignment is tested separately).
    """
    from ruleengine.compile.explain import condition_infos

    index = next(iter(frames.values())).index
    values = compiled.strategy.default_params() | params
    unsure = pd.Series(False, index=index)
    groups = []
    for conds, logic in ((compiled.analysis.entry, compiled.strategy.entry),
                         (compiled.analysis.exit, compiled.strategy.exit)):
        acc = None
        for c in conds:
            v = evaluate_ref(c.tree, frames, values, index)
            b = as_bool(v.v, index).fillna(False).astype(bool)
            if v.unsure is not None:
                unsure |= v.unsure
            acc = b if acc is None else ((acc & b) if logic.logic == "all" else (acc | b))
        groups.append(acc if acc is not None else pd.Series(False, index=index))
    warm = max(i.lookback for i in condition_infos(compiled, params))
    entries, exits = groups
    entries.iloc[:warm] = False
    exits.iloc[:warm] = False
    return entries, exits, unsure
