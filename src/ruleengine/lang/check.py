"""Type checker: resolve names, check calls against the registry, infer series/scalar and float/bool.

Collects every error in one pass; a node that failed gets the ERROR type so that one mistake does not
cascade into several. Diagnostics carry offsets relative to the expression (line 1); the caller maps
them to file positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import Diagnostic, Span, did_you_mean
from . import ast
from .functions import FUNCTIONS, Arg, Function
from .operators import BINARY, UNARY
from .position import ELEMENTWISE_FUNCTIONS, POSITION_VARIABLES, is_position_name
from .types import BOOL, BOOL_SERIES, ERROR, FLOAT, FLOAT_SERIES, INT, DType, Shape, Type


@dataclass
class ParamInfo:
    name: str
    type: str  # int | float | bool | enum
    min: float | None = None
    max: float | None = None


@dataclass
class Env:
    """What names mean: data slots with their columns, the price slot, and parameters."""

    slots: dict[str, list[str]]
    price_slot: str | None
    params: dict[str, ParamInfo] = field(default_factory=dict)

    @classmethod
    def from_strategy(cls, strategy: Any) -> Env:
        slots = {name: slot.available_columns() for name, slot in strategy.data.items()}
        params = {n: ParamInfo(n, p.type, p.min, p.max) for n, p in strategy.params.items()}
        return cls(slots, strategy.price_slot(), params)

    def known_names(self) -> list[str]:
        names = list(self.params)
        if self.price_slot:
            names += self.slots[self.price_slot]
        names += [f"{s}.{c}" for s, cols in self.slots.items() for c in cols]
        return names


def _span(node: ast.Node, end: int | None = None) -> Span:
    return Span(1, node.start + 1, 1, (end if end is not None else node.end) + 1)


#: where an expression stands: an entry or exit condition, or a risk expression (a stop distance)
Context = Literal["entry", "short_entry", "exit", "risk", "rotation", "entry_order", "hedge_ratio", "exit_order"]
#: where an expression outside the exit conditions is, as L120 names it (the condition groups: "an entry condition")
_PLACES = {"risk": "a risk expression", "rotation": "a rotation's selection or weight",
           "short_entry": "a short_entry condition", "entry_order": "the entry order's price",
           "hedge_ratio": "the pair's hedge ratio", "exit_order": "the exit order's price"}


class Checker:
    """Annotates `ty` on every node and `ref` on names; collects diagnostics.

    Position variables (`ruleengine.lang.position`) resolve only in exit conditions (`context` "exit": the
    ``exit`` block and a long_short strategy's ``short_exit`` block), after
    parameters and columns (a document that named a parameter ``bars_held`` keeps its meaning); they may be
    combined by operators and the bar-by-bar functions (`ELEMENTWISE_FUNCTIONS`), never fed to a function over bars.
    """

    def __init__(self, env: Env, context: Context = "entry") -> None:
        self.env = env
        self.context = context
        self.diagnostics: list[Diagnostic] = []
        self.positional: set[int] = set()  # ids of nodes whose value depends on a position variable

    def error(self, code: str, message: str, node: ast.Node, hint: str | None = None,
              end: int | None = None) -> Type:
        self.diagnostics.append(Diagnostic(code, message, _span(node, end), None, hint, stage="check"))
        return ERROR

    # -------------------------------------------------------------------------------- entry points
    def check(self, root: ast.Node) -> Type:
        # post-order without recursion: children are typed before their parent. A child that failed has
        # the ERROR type, which every check accepts, so independent mistakes are all reported once.
        for node in reversed(list(root.walk())):
            node.ty = _cross_sectional(node, self._type_of(node))
            if is_position_name(node) or any(id(c) in self.positional for c in node.children()):
                self.positional.add(id(node))
        assert root.ty is not None
        return root.ty

    def _type_of(self, node: ast.Node) -> Type:
        if isinstance(node, ast.Num):
            return INT if isinstance(node.value, int) else FLOAT
        if isinstance(node, ast.Bool):
            return BOOL
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.Unary):
            return self._unary(node)
        if isinstance(node, ast.Binary):
            return self._binary(node)
        if isinstance(node, ast.Call):
            return self._call(node)
        raise AssertionError(type(node))  # pragma: no cover

    # -------------------------------------------------------------------------------- names
    def _name(self, node: ast.Name) -> Type:
        env = self.env
        if len(node.parts) == 2:
            slot, col = node.parts
            if slot not in env.slots:
                return self.error("C102", f"unknown data slot '{slot}'", node,
                                  did_you_mean(slot, env.slots) or "data slots: " + ", ".join(env.slots))
            if col not in env.slots[slot]:
                return self.error("C110", f"data slot '{slot}' has no column '{col}'", node,
                                  did_you_mean(col, env.slots[slot]) or
                                  "columns: " + ", ".join(env.slots[slot]))
            node.ref = ("column", slot, col)
            return FLOAT_SERIES
        (name,) = node.parts
        price_cols = env.slots.get(env.price_slot, []) if env.price_slot else []
        if name in env.params and name in price_cols:
            return self.error("C114", f"'{name}' is both a parameter and a column", node,
                              f"rename the parameter, or write {env.price_slot}.{name} for the column")
        if name in env.params:
            p = env.params[name]
            if p.type == "enum":
                return self.error("C112", f"enum parameter '{name}' cannot be used in an expression", node,
                                  "enum parameters configure the run; use an int, float or bool parameter")
            node.ref = ("param", name)
            return {"int": INT, "float": FLOAT, "bool": BOOL}[p.type]
        if name in price_cols:
            node.ref = ("column", env.price_slot, name)
            return FLOAT_SERIES
        owners = [s for s, cols in env.slots.items() if name in cols]
        if owners:
            if env.price_slot is None:
                return self.error("C111", f"bare column '{name}' needs a price slot", node,
                                  f"write {owners[0]}.{name}")
            return self.error("C102", f"'{name}' is not a column of the price slot '{env.price_slot}'", node,
                              f"did you mean '{owners[0]}.{name}'?")
        if name in env.slots:
            cols = env.slots[name]
            return self.error("C102", f"'{name}' is a data slot, not a value", node,
                              f"name one of its columns, e.g. {name}.{cols[0]}" if cols else None)
        if name in POSITION_VARIABLES:
            if self.context != "exit":
                where = _PLACES.get(self.context, f"an {self.context} condition")
                use = "a rotation has no trades: select and weigh on values of the bar" \
                    if self.context == "rotation" else \
                    "an exit order's level is computed per bar from prices and indicators (e.g. highest(high, 22) - " \
                    "3 * atr(high, low, close, 22)); a condition on the trade belongs in the exit conditions" \
                    if self.context == "exit_order" else "so use it in exit conditions"
                return self.error("L120", f"position variable '{name}' in {where}", node,
                                  f"'{name}' is {POSITION_VARIABLES[name]}: it exists only while a position is "
                                  f"held, {use}")
            node.ref = ("position", name)
            return FLOAT_SERIES
        if name in FUNCTIONS:
            return self.error("C102", f"'{name}' is a function", node,
                              f"call it, e.g. {FUNCTIONS[name].example}")
        if not price_cols and env.price_slot is None and name in ("open", "high", "low", "close", "volume"):
            return self.error("C111", f"bare column '{name}' needs a price (ohlcv) slot", node,
                              "add a data slot of kind ohlcv, or write slot.column")
        return self.error("C102", f"unknown name '{name}'", node,
                          did_you_mean(name, env.known_names() + (list(POSITION_VARIABLES)
                                                                  if self.context == "exit" else [])) or
                          "names are parameters, columns of the price slot, or slot.column")

    # -------------------------------------------------------------------------------- operators
    def _unary(self, node: ast.Unary) -> Type:
        t = node.operand.ty if node.operand else ERROR
        assert t is not None
        logical = UNARY[node.op].family == "logical"
        if t.is_error:
            return ERROR if not logical else BOOL_SERIES
        if logical:
            if not t.is_bool:
                return self.error("C109", f"'not' needs a true/false value, got a {t}", node,
                                  "compare the value first, e.g. not (x > 0)")
            return t
        if not t.is_numeric:
            return self.error("C109", f"'{node.op}' needs a number, got a {t}", node)
        return t

    def _binary(self, node: ast.Binary) -> Type:
        lt, rt = node.left.ty, node.right.ty  # type: ignore[union-attr]
        assert lt is not None and rt is not None
        shape: Shape = "series" if lt.is_series or rt.is_series or lt.is_error or rt.is_error else "scalar"
        op = node.op
        spec = BINARY[op]
        if spec.family == "logical":
            bad_node = node.left if not (lt.is_bool or lt.is_error) else \
                node.right if not (rt.is_bool or rt.is_error) else None
            if bad_node is not None:
                return self.error("C109", f"'{op}' combines conditions, but this side is a {bad_node.ty}",
                                  bad_node,
                                  "compare numbers first, e.g. rsi(close, 14) < 30 " + op + " close > open")
            return Type(shape, "bool")
        if spec.family == "comparison":
            if lt.is_error or rt.is_error:
                return Type(shape, "bool")
            if spec.equality and lt.is_bool and rt.is_bool:
                return Type(shape, "bool")
            if not (lt.is_numeric and rt.is_numeric):
                return self.error("C109", f"'{op}' compares numbers, got a {lt} and a {rt}", node,
                                  "combine conditions with and / or")
            return Type(shape, "bool")
        if lt.is_error or rt.is_error:
            return ERROR
        if not (lt.is_numeric and rt.is_numeric):
            return self.error("C109", f"'{op}' needs numbers, got a {lt} and a {rt}", node,
                              "arithmetic works on numbers; conditions combine with and / or")
        dtype: DType = "int" if lt.dtype == rt.dtype == "int" and spec.keeps_int else "float"
        return Type(shape, dtype)

    # -------------------------------------------------------------------------------- calls
    def _call(self, node: ast.Call) -> Type:
        fn = FUNCTIONS.get(node.func)
        if fn is None:
            return self.error("C101", f"unknown function '{node.func}'", node,
                              did_you_mean(node.func, FUNCTIONS) or "see `ruleengine functions` for the list",
                              end=node.name_end if node.name_end > node.start else None)
        defaults = [a.default for a in fn.args[len(node.args):]]
        if defaults and all(d is not None for d in defaults):  # trailing defaults, written in
            for d in defaults:
                filled = ast.Num(node.end - 1, node.end - 1, value=float(d or 0.0))
                filled.ty = FLOAT
                node.args.append(filled)
        if len(node.args) != len(fn.args):
            return self.error("C103", f"{fn.name} takes {len(fn.args)} argument"
                              f"{'s' if len(fn.args) != 1 else ''}, got {len(node.args)}", node,
                              f"usage: {fn.signature}, e.g. {fn.example}")
        if fn.name not in ELEMENTWISE_FUNCTIONS:
            inner = next((a for a in node.args if id(a) in self.positional), None)
            if inner is not None:
                return self.error("L122", f"{fn.name} looks at past bars, but this argument uses a position "
                                  "variable (known only at the current bar of a held trade)", inner,
                                  "compare position variables with operators or the bar-by-bar functions ("
                                  f"{', '.join(ELEMENTWISE_FUNCTIONS)}); compute {fn.name} on columns, e.g. "
                                  "close < entry_price - 2 * atr(high, low, close, 14)")
        ok = True
        for arg_node, spec in zip(node.args, fn.args, strict=True):
            if arg_node.ty is not None and not arg_node.ty.is_error:
                ok = self._arg(fn, spec, arg_node) and ok
            else:
                ok = False
        if ok and fn.ordered:
            self._window_order(fn, node)
        if fn.returns == "bool":
            return BOOL_SERIES
        if fn.bar_value:
            return FLOAT_SERIES
        if all(a.kind != "series" and a.kind != "cond" for a in fn.args) and \
                not any(n.ty is not None and n.ty.is_series for n in node.args):
            return FLOAT  # abs/min/max of numbers
        return FLOAT_SERIES

    def _arg(self, fn: Function, spec: Arg, node: ast.Node) -> bool:
        t = node.ty
        assert t is not None
        where = f"argument '{spec.name}' of {fn.name}"
        if spec.kind == "series":
            if not (t.is_series and t.is_numeric):
                what = "a true/false series" if t.is_bool else f"a {t}"
                self.error("C104", f"{where} must be a number series, got {what}", node,
                           f"e.g. {fn.example}")
                return False
            return True
        if spec.kind == "value":
            if not t.is_numeric:
                self.error("C104", f"{where} must be a number or number series, got a {t}", node,
                           f"e.g. {fn.example}")
                return False
            return True
        if spec.kind == "cond":
            if not (t.is_bool and t.is_series):
                self.error("C104", f"{where} must be a condition (true/false series), got a {t}", node,
                           f"e.g. {fn.example}")
                return False
            return True
        if spec.kind == "number":
            if t.is_series or not t.is_numeric:
                self.error("C104", f"{where} must be a number (constant or parameter), got a {t}", node,
                           f"e.g. {fn.example}")
                return False
            return True
        return self._window(fn, spec, node, t)

    def _window_order(self, fn: Function, node: ast.Call) -> None:
        """Windows that must be shorter than another (MACD's fast < slow): constants now, parameters by bounds."""
        arg = {spec.name: a for spec, a in zip(fn.args, node.args, strict=True)}
        for short, long in fn.ordered:
            a, b = static_value(arg[short], {}), static_value(arg[long], {})
            if a is not None and b is not None:
                for message in fn.order_problems({short: a, long: b}):
                    hint = f"swap them: {short} {b:g}, {long} {a:g}" if a != b else \
                        f"equal windows make {fn.name} 0 on every bar: choose a shorter {short} window"
                    self.error("C115", message, arg[short], f"{hint} (e.g. {fn.example})", end=arg[long].end)
                continue
            hi_short = a if a is not None else _static_bound(arg[short], self.env, "max")
            lo_long = b if b is not None else _static_bound(arg[long], self.env, "min")
            if hi_short is not None and lo_long is not None and hi_short >= lo_long:
                names = " and ".join(_param_names(arg[short]) + _param_names(arg[long])) or "the parameters"
                constraint = f"{_text(arg[short])} < {_text(arg[long])}"
                self.diagnostics.append(Diagnostic(
                    "C116", f"the bounds of {names} allow a {short} window of {fn.name} up to {hi_short:g} and "
                    f"a {long} window from {lo_long:g}: sets with {short} >= {long} would be refused",
                    _span(arg[short], arg[long].end), None,
                    f"narrow the bounds so that {constraint} always holds, or sweep with "
                    f"--constraint '{constraint}'", severity="warning"))

    def _window(self, fn: Function, spec: Arg, node: ast.Node, t: Type) -> bool:
        lag = spec.kind == "lag"
        what = "lag" if lag else "window"
        if t.is_series:
            code = "C107" if lag else "C105"
            self.error(code, f"the {what} of {fn.name} must be constant, not a series", node,
                       "use a whole number or an int parameter")
            return False
        if t.dtype != "int":
            self.error("C105", f"the {what} of {fn.name} must be a whole number, got a {t}", node,
                       "use a whole number or an int parameter (declare it with type: int)")
            return False
        value = static_value(node, {})
        if value is not None:
            if value < spec.minimum:
                if lag:
                    self.error("C107", f"negative lag {value} would look into the future", node,
                               "lags count bars back: use n >= 0")
                else:
                    self.error("C106", f"the {what} of {fn.name} must be at least {spec.minimum}, got {value}",
                               node, f"e.g. {fn.example}")
                return False
            return True
        # a parameter (or an expression of parameters): check its declared bounds where we can
        lo = _static_min(node, self.env)
        if lo is not None and lo < spec.minimum:
            self.error("C113", f"the {what} of {fn.name} can be {lo:g} under the parameter bounds "
                       f"(minimum {spec.minimum})", node,
                       f"set the parameter's min to at least {spec.minimum}")
            return False
        return True


def _cross_sectional(node: ast.Node, ty: Type) -> Type:
    """Mark a series cross-sectional when it is a cross-sectional call or computed from one.

    Nesting is free in both directions and means what it says: `rank(cs_zscore(x))` ranks z-scores;
    `sma(rank(x), 20)` averages each symbol's own rank over its last 20 bars (causal: every rank read is of
    its own bar); a bar where the symbol had no rank (not a member, no value) is a missing value like any
    other. What needs a universe is decided by this mark (`uses_cross_section`)."""
    if not ty.is_series or ty.is_error:
        return ty
    own = isinstance(node, ast.Call) and node.func in FUNCTIONS and FUNCTIONS[node.func].cross_sectional
    if own or any(c.ty is not None and c.ty.cross for c in node.children()):
        return Type(ty.shape, ty.dtype, True)
    return ty


def cross_sectional_calls(root: ast.Node) -> list[ast.Call]:
    """The cross-sectional calls of a checked tree, outermost first (for diagnostics that point at one)."""
    return [n for n in root.walk() if isinstance(n, ast.Call) and n.func in FUNCTIONS
            and FUNCTIONS[n.func].cross_sectional]


def static_value(node: ast.Node, params: dict[str, Any]) -> float | int | bool | None:
    """Evaluate a scalar expression of constants and the given parameter values; None if not static."""
    value: float | int | bool | None  # parameter values and the operator table's scalar functions are untyped
    if isinstance(node, (ast.Num, ast.Bool)):
        return node.value
    if isinstance(node, ast.Name):
        if node.ref and node.ref[0] == "param" and node.ref[1] in params:
            value = params[node.ref[1]]
            return value
        return None
    if isinstance(node, ast.Unary):
        v = static_value(node.operand, params) if node.operand else None
        if v is None:
            return None
        value = UNARY[node.op].scalar(v)
        return value
    if isinstance(node, ast.Binary):
        a = static_value(node.left, params) if node.left else None
        b = static_value(node.right, params) if node.right else None
        if a is None or b is None:
            return None
        value = BINARY[node.op].scalar(a, b)
        return value
    if isinstance(node, ast.Call):  # a bar-by-bar function of constants (abs(-2), sqrt(n))
        fn = FUNCTIONS.get(node.func)
        values = [static_value(a, params) for a in node.args]
        if fn is None or fn.scalar is None or any(v is None for v in values):
            return None
        value = fn.scalar(*(float(v) for v in values if v is not None))
        return value
    return None


def _static_min(node: ast.Node, env: Env) -> float | None:
    """Lower bound of a window that is a single parameter (bounds of expressions are not tracked)."""
    return _static_bound(node, env, "min")


def _static_bound(node: ast.Node, env: Env, which: str) -> float | None:
    """The declared `min` or `max` of a window that is a single parameter (None otherwise)."""
    if isinstance(node, ast.Name) and node.ref and node.ref[0] == "param":
        return getattr(env.params[node.ref[1]], which)  # type: ignore[no-any-return]
    return None


def _param_names(node: ast.Node) -> list[str]:
    return [f"'{node.ref[1]}'"] if isinstance(node, ast.Name) and node.ref and node.ref[0] == "param" else []


def _text(node: ast.Node) -> str:
    if isinstance(node, ast.Name) and node.ref and node.ref[0] == "param":
        return str(node.ref[1])
    v = static_value(node, {})
    return f"{v:g}" if v is not None else "..."


def check_expression(root: ast.Node, env: Env, context: Context = "entry") -> tuple[Type, list[Diagnostic]]:
    """Type `root` in `context` (position variables resolve in exit conditions only); returns its type and
    every diagnostic."""
    checker = Checker(env, context)
    ty = checker.check(root)
    return ty, checker.diagnostics
