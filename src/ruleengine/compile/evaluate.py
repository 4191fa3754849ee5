"""`evaluate(expr, data, params)`: one expression over a single-symbol OHLCV DataFrame, like pandas.eval."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import Diagnostic, RuleEngineError
from ..lang import ast
from ..lang.check import Env, ParamInfo, check_expression
from ..lang.functions import BAR_SLOT, FUNCTIONS
from ..lang.parse import parse
from .execute import compute
from .ir import Graph, lower
from .plan import Plan, _schedule


def _param_info(name: str, value: Any) -> ParamInfo:
    if isinstance(value, bool):
        return ParamInfo(name, "bool")
    if isinstance(value, int):
        return ParamInfo(name, "int")
    if isinstance(value, float):
        return ParamInfo(name, "float")
    raise RuleEngineError([Diagnostic("D103", f"parameter '{name}' must be a number or true/false, "
                                      f"got {type(value).__name__}", path=f"params.{name}")])


def evaluate(expr: str, data: Any, params: Mapping[str, Any] | None = None) -> Any:
    """Evaluate `expr` on `data` (columns open, high, low, close, volume; DatetimeIndex).

    Returns a float or bool `pandas.Series` aligned with the index. Warm-up bars are not masked: values
    there are NaN (numbers) or False (conditions).

    Example:
        >>> import pandas as pd
        >>> df = pd.DataFrame({"close": [1.0, 2.0, 3.0, 4.0]}, index=pd.date_range("2024-01-01", periods=4))
        >>> evaluate("sma(close, 2)", df).tolist()
        [nan, 1.5, 2.5, 3.5]
    """
    import numpy as np
    import pandas as pd

    from ..data.market import MarketData
    from ..data.request import DataRequest
    from ..schema.strategy import DataSlot

    params = dict(params or {})
    if not isinstance(data, pd.DataFrame):
        raise RuleEngineError([Diagnostic("D101", f"data must be a DataFrame, got {type(data).__name__}")])
    columns = [str(c).lower() for c in data.columns] if data.columns.nlevels == 1 else []
    env = Env({"prices": columns}, "prices", {k: _param_info(k, v) for k, v in params.items()})
    tree = parse(expr)
    ty, diags = check_expression(tree, env)
    if diags:
        raise RuleEngineError(diags)
    graph = Graph()
    root = lower(tree, params, graph)
    required: dict[str, set[str]] = {"prices": set()}
    for node in tree.walk():
        ref = getattr(node, "ref", None)
        if ref and ref[0] == "column":
            required["prices"].add(ref[2])
    request = DataRequest({"prices": DataSlot()}, {"prices": frozenset(required["prices"])}, price_slot="prices")
    bound = MarketData.from_frames(data, request)
    plan = Plan(graph, [params], [(root, root)])
    _schedule(plan)
    inputs = dict(bound.inputs)
    names = sorted({n.func for n in tree.walk() if isinstance(n, ast.Call) and FUNCTIONS[n.func].bar_value})
    if names:  # calendar values of the bars (dayofweek(), month_end(), ...)
        inputs.update({(BAR_SLOT, k): v for k, v in bound.bar_values(names).items()})
    values = compute(plan, inputs, bound.n_rows, bound.n_cols)[root]
    if not isinstance(values, np.ndarray):
        values = np.full(bound.n_rows, values, dtype=bool if ty.is_bool else np.float64)
    else:
        values = values[:, 0]
    return pd.Series(values, index=bound.index, name=expr)
