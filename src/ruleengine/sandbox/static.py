"""The static check of generated code: fast, positioned feedback for the LLM repair loop (NOT the boundary).

`check_code` parses the code (never runs it) and reports every rule it breaks as a `Diagnostic` with an X1xx
code, the line:col inside the code and a hint. The kernel sandbox is what contains hostile code; these rules
exist so that honest mistakes are caught before a run and explained in terms the model can fix:

- X101 syntax error; X102 no ``generate_signals(data, params)``;
- X103 imports other than numpy, pandas, math, ta, vectorbt;
- X104 names, attributes or text with a leading underscore / ``__`` (the reflection paths);
- X105 eval, exec, open, compile, getattr and the other reflective or dynamic builtins, frame attributes,
  ``str.format``;
- X106 pandas / numpy I/O (``read_*``, ``to_csv`` and the other writers, ``load``, ``save``, ``tofile``,
  ``fromfile``, ``pd.io``, ``np.ctypeslib``, ...);
- X107 time and randomness (``now``, ``today``, ``np.random``, ``sample``, ``id``);
- X108 lookahead: ``shift(-k)``, negative ``iloc`` offsets, whole-sample statistics (``.mean()`` of a whole
  series, not of a ``rolling``/``expanding``/``ewm`` window), ``center=True``, backward fills, interpolation;
- X109 too long (> 20 KB), too many nodes or nested too deeply; X110 top-level statements other than
  imports, functions and constants; X111 classes, generators, global/nonlocal, async;
- X112 ``WARMUP_BARS`` (the declared warm-up) is not a whole number.

Example:
    >>> [d.code for d in check_code("import os\\ndef generate_signals(data, params):\\n    return 1, 2\\n")]
    ['X103']
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

from ..errors import Diagnostic, Span

ALLOWED_MODULES = frozenset({"numpy", "pandas", "math", "ta", "vectorbt"})
MAX_CODE_BYTES = 20_000
MAX_NODES = 20_000
MAX_DEPTH = 60
WARMUP_NAME = "WARMUP_BARS"

_FORBIDDEN_CALLS = {
    "eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "hasattr", "globals", "locals", "vars",
    "dir", "input", "breakpoint", "help", "exit", "quit", "memoryview", "type", "super", "object", "classmethod",
    "staticmethod", "property", "format", "reload", "print_function",
}
_REFLECTIVE_ATTRS = {
    "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code", "f_globals",
    "f_locals", "f_back", "f_builtins", "f_code", "tb_frame", "tb_next", "func_globals", "func_code", "mro",
    "format", "format_map", "im_func", "im_self",
}
_ALLOWED_TO = {"to_numpy", "to_list", "to_frame", "to_series", "to_dict", "to_flat_index", "to_period",
               "to_timestamp", "to_datetime", "to_timedelta", "to_numeric", "to_offset", "to_pydatetime",
               "to_julian_date", "to_records"}
_IO_ATTRS = {
    "tofile", "fromfile", "load", "loads", "save", "savez", "savez_compressed", "savetxt", "loadtxt", "genfromtxt",
    "fromregex", "memmap", "open_memmap", "DataSource", "ExcelWriter", "HDFStore", "ExcelFile", "io", "compat",
    "ctypeslib", "ctypes", "os", "sys", "subprocess", "system", "popen", "pickle", "pickle_compat", "marshal",
    "shelve", "builtins", "importlib", "import_module", "testing", "core", "internals", "f2py", "distutils",
    "npyio", "show_config", "show_versions", "clipboard", "read", "write", "dump", "dumps",
}
_NONDETERMINISTIC = {
    "now", "today", "utcnow", "sleep", "perf_counter", "monotonic", "random", "rand", "randn", "randint",
    "random_sample", "default_rng", "RandomState", "Generator", "seed", "choice", "shuffle", "permutation",
    "sample", "id",
}
_WHOLE_SAMPLE = {"mean", "std", "var", "median", "max", "min", "sum", "quantile", "rank", "idxmax", "idxmin",
                 "describe", "nlargest", "nsmallest", "mad", "sem", "skew", "kurt", "prod", "argmax", "argmin",
                 "ptp", "mode", "value_counts"}
_WINDOWS = {"rolling", "expanding", "ewm", "groupby", "resample"}


def _col(lines: list[str], line: int, col_bytes: int) -> int:
    """1-based character column of an AST (UTF-8 byte) offset."""
    if 1 <= line <= len(lines):
        return len(lines[line - 1].encode("utf-8")[:col_bytes].decode("utf-8", "replace")) + 1
    return col_bytes + 1


class _Checker:
    def __init__(self, code: str, entry: str = "generate_signals") -> None:
        self.code = code
        self.entry = entry  # the function the code must define (`ENTRY_POINTS`)
        self.lines = code.splitlines()
        self.out: list[Diagnostic] = []
        self.seen: set[tuple[str, int, int]] = set()
        self.in_lambda: set[int] = set()

    def report(self, code: str, node: ast.AST | None, message: str, hint: str | None = None) -> None:
        line = getattr(node, "lineno", 1) or 1
        col = _col(self.lines, line, getattr(node, "col_offset", 0) or 0)
        end_line = getattr(node, "end_lineno", None) or line
        end_col = _col(self.lines, end_line, getattr(node, "end_col_offset", None) or 0)
        if end_line == line and end_col <= col:
            end_col = col + 1
        key = (code, line, col)
        if key in self.seen:
            return
        self.seen.add(key)
        self.out.append(Diagnostic(code, f"code line {line}: {message}", Span(line, col, end_line, end_col),
                                   path="code", hint=hint))

    # ------------------------------------------------------------------------------------- structure
    def top_level(self, tree: ast.Module) -> None:
        found = None
        for i, stmt in enumerate(tree.body):
            if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef)):
                if isinstance(stmt, ast.FunctionDef) and stmt.name == self.entry:
                    found = stmt
                continue
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                continue
            if i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) \
                    and isinstance(stmt.value.value, str):
                continue  # a docstring
            self.report("X110", stmt, "only imports, function definitions and constants may stand at the top level",
                        f"move this statement into {self.entry}")
        if found is None:
            returns = "weights" if self.entry == "generate_weights" else "entries, exits"
            self.report("X102", tree.body[0] if tree.body else None,
                        f"the code must define {self.entry}(data, params)",
                        f"def {self.entry}(data, params):\n    ...\n    return {returns}")
            return
        a = found.args
        positional = [*a.posonlyargs, *a.args]
        if len(positional) != 2 or a.vararg or a.kwarg or a.kwonlyargs:
            self.report("X102", found, f"{self.entry} must take exactly two arguments: (data, params)",
                        f"def {self.entry}(data, params):")

    def warmup(self, tree: ast.Module) -> None:
        for stmt in tree.body:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] \
                if isinstance(stmt, ast.AnnAssign) else []
            if any(isinstance(t, ast.Name) and t.id == WARMUP_NAME for t in targets):
                v = getattr(stmt, "value", None)
                if not (isinstance(v, ast.Constant) and type(v.value) is int and 0 <= v.value <= 100_000):
                    self.report("X112", stmt, f"{WARMUP_NAME} must be a whole number of bars from 0 to 100000",
                                f"e.g. {WARMUP_NAME} = 250")

    # ------------------------------------------------------------------------------------- nodes
    def visit(self, node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            self.imports(node)
        elif isinstance(node, ast.Name):
            self.name(node, node.id)
        elif isinstance(node, ast.Attribute):
            self.attribute(node)
        elif isinstance(node, (ast.FunctionDef, ast.Lambda)):
            if isinstance(node, ast.FunctionDef):
                self.underscore(node, node.name)
            for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                      *(x for x in (node.args.vararg, node.args.kwarg) if x)]:
                self.underscore(a, a.arg)
        elif isinstance(node, ast.keyword):
            if node.arg is not None:
                self.underscore(node, node.arg)
            if node.arg == "center" and isinstance(node.value, ast.Constant) and node.value.value is True:
                self.report("X108", node, "a centred window uses future bars", "remove center=True")
            if node.arg == "method" and isinstance(node.value, ast.Constant) and \
                    node.value.value in ("bfill", "backfill"):
                self.report("X108", node, "a backward fill copies future values into the past",
                            "use ffill() or fillna(False)")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if "__" in node.value:
                self.report("X104", node, "text containing '__' (a way to reach Python internals)",
                            "strategy code never needs it")
            elif node.value.strip().lower() in ("now", "today"):
                self.report("X107", node, f"'{node.value}' reads the clock",
                            "signals must depend only on the data and the parameters")
        elif isinstance(node, ast.Call):
            self.call(node)
        elif isinstance(node, ast.Subscript):
            self.subscript(node)
        elif isinstance(node, ast.alias):
            pass
        elif isinstance(node, (ast.ClassDef, ast.AsyncFunctionDef, ast.Await, ast.Yield, ast.YieldFrom,
                               ast.Global, ast.Nonlocal, ast.AsyncFor, ast.AsyncWith)):
            what = {ast.ClassDef: "class definitions", ast.Yield: "generators", ast.YieldFrom: "generators",
                    ast.Global: "global", ast.Nonlocal: "nonlocal"}.get(type(node), "async code")
            self.report("X111", node, f"{what} are not allowed in strategy code",
                        "use plain functions and return the two Series")

    def underscore(self, node: ast.AST, name: str) -> None:
        if name.startswith("_"):
            self.report("X104", node, f"'{name}': names starting with '_' are not allowed",
                        "rename it without the leading underscore")

    def imports(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                self.report("X103", node, "relative imports are not allowed",
                            "import numpy, pandas, math, ta, vectorbt")
                return
            modules = [node.module or ""]
            names = [a.name for a in node.names]
        else:
            modules = [a.name for a in node.names]
            names = []
        for mod in modules:
            parts = mod.split(".")
            if parts[0] not in ALLOWED_MODULES:
                self.report("X103", node, f"import of '{mod}' is not allowed",
                            "only numpy, pandas, math, ta and vectorbt can be imported")
                continue
            for p in parts[1:]:
                self.attr_name(node, p)
        for n in names:
            if n == "*":
                self.report("X103", node, "'import *' is not allowed", "import the names you use")
            else:
                self.attr_name(node, n)
        for a in node.names:
            if a.asname:
                self.underscore(node, a.asname)

    def name(self, node: ast.AST, name: str) -> None:
        self.underscore(node, name)
        if name in _FORBIDDEN_CALLS:
            self.report("X105", node, f"'{name}' is not allowed in strategy code",
                        "compute the signals with pandas/numpy operations on the data")
        elif name == "id":  # a memory address: differs between runs
            self.report("X107", node, "'id' makes the output depend on more than the data",
                        "signals must be deterministic")

    def attribute(self, node: ast.Attribute) -> None:
        self.attr_name(node, node.attr)

    def attr_name(self, node: ast.AST, attr: str) -> None:
        if attr.startswith("_"):
            self.underscore(node, attr)
        elif attr in _REFLECTIVE_ATTRS:
            self.report("X105", node, f"'.{attr}' is not allowed in strategy code",
                        "use f-strings for text; signals never need reflection")
        elif attr.startswith("read_") or (attr.startswith("to_") and attr not in _ALLOWED_TO) or attr in _IO_ATTRS:
            self.report("X106", node, f"'{attr}': file, network and system access are not allowed",
                        "the data arrive in the data argument; return the signals instead of writing them")
        elif attr in _NONDETERMINISTIC:
            self.report("X107", node, f"'{attr}' makes the output depend on more than the data",
                        "signals must be deterministic: no clock, no random numbers")
        elif attr in ("bfill", "backfill", "interpolate"):
            self.report("X108", node, f"'{attr}' fills values from later bars (lookahead)",
                        "use ffill() or fillna(False)")

    def call(self, node: ast.Call) -> None:
        f = node.func
        if not isinstance(f, ast.Attribute):
            return
        if f.attr == "shift":
            arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "periods"), None)
            if _negative(arg):
                self.report("X108", node, "shift with a negative lag reads future bars",
                            "use shift(k) with k >= 0 (past values)")
        elif f.attr in _WHOLE_SAMPLE and not _row_wise(node) and not _windowed(f.value) \
                and id(node) not in self.in_lambda:  # a lambda is the window function of rolling().apply
            self.report("X108", node, f".{f.attr}() over the whole series uses future bars",
                        f"use .rolling(n).{f.attr}() or .expanding().{f.attr}()")

    def subscript(self, node: ast.Subscript) -> None:
        v = node.value
        if isinstance(v, ast.Attribute) and v.attr in ("iloc", "iat") \
                and any(_negative(n) for n in ast.walk(node.slice)):
            self.report("X108", node, f"a negative .{v.attr} position picks bars from the end of the data "
                        "(the future, seen from earlier bars)", "use shift(k) for past values")


def _negative(node: ast.AST | None) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, (int, float)) \
            and node.operand.value > 0
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
        and not isinstance(node.value, bool) and node.value < 0


def _row_wise(node: ast.Call) -> bool:
    """axis=1 / axis='columns': a statistic across columns of one row, not over time."""
    for k in node.keywords:
        if k.arg == "axis" and isinstance(k.value, ast.Constant) and k.value.value in (1, "columns"):
            return True
    return bool(node.args) and isinstance(node.args[0], ast.Constant) and node.args[0].value in (1, "columns")


def _windowed(value: ast.AST) -> bool:
    """True when the receiver chain goes through rolling/expanding/ewm/groupby/resample."""
    node: ast.AST | None = value
    while node is not None:
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr in _WINDOWS:
                return True
            node = node.func
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        else:
            return False
    return False


def _walk(tree: ast.AST) -> Iterator[tuple[ast.AST, int]]:
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        yield node, depth
        stack.extend((c, depth + 1) for c in reversed(list(ast.iter_child_nodes(node))))


def entry_point(strategy: Any) -> str:
    """The function a strategy's code must define: generate_weights for a rotation, else generate_signals."""
    return "generate_weights" if getattr(strategy, "rotation", None) is not None else "generate_signals"


def check_code(code: str, entry: str = "generate_signals") -> list[Diagnostic]:
    """Every problem of strategy code as X1xx diagnostics (empty: the code passes the static check); `entry`:
    the function it must define (`entry_point`).

    Spans are relative to the code (line 1 = its first line); `locate` maps them into a document.
    """
    size = len(code.encode("utf-8"))
    if size > MAX_CODE_BYTES:
        return [Diagnostic("X109", f"the code has {size} bytes; at most {MAX_CODE_BYTES} are accepted",
                           path="code", hint="keep generate_signals short: a few dozen lines")]
    try:
        tree = ast.parse(code, filename="<strategy>", mode="exec")
    except SyntaxError as exc:
        line = exc.lineno or 1
        col = exc.offset or 1
        return [Diagnostic("X101", f"code line {line}: {exc.msg}", Span(line, col, line, col + 1), path="code",
                           hint="fix the Python syntax")]
    except (RecursionError, MemoryError, ValueError) as exc:
        return [Diagnostic("X109", f"the code cannot be parsed ({type(exc).__name__}: nested too deeply?)",
                           path="code", hint="simplify the expressions")]
    c = _Checker(code, entry)
    c.in_lambda = {id(n) for lam in ast.walk(tree) if isinstance(lam, ast.Lambda) for n in ast.walk(lam)}
    for nodes, (node, depth) in enumerate(_walk(tree), start=1):
        if nodes > MAX_NODES or depth > MAX_DEPTH:
            what = f"more than {MAX_NODES} syntax nodes" if nodes > MAX_NODES else \
                f"expressions nested more than {MAX_DEPTH} levels deep"
            return [Diagnostic("X109", f"the code has {what}", path="code", hint="simplify the code")]
        c.visit(node)
    c.top_level(tree)
    c.warmup(tree)
    return sorted(c.out, key=lambda d: (d.span.line, d.span.col) if d.span else (0, 0))


def imported_modules(code: str) -> set[str]:
    """Top-level modules the code imports (the pool picks a zygote that has them loaded)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return set()
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module.split(".")[0])
    return out


def declared_warmup(code: str) -> int | None:
    """The code's ``WARMUP_BARS = n`` (None when it declares none or cannot be parsed)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == WARMUP_NAME
                                                for t in stmt.targets):
            v = stmt.value
            if isinstance(v, ast.Constant) and type(v.value) is int and v.value >= 0:
                return int(v.value)
    return None


def locate(diagnostics: list[Diagnostic], code: str, document: Any) -> list[Diagnostic]:
    """Map code-relative spans into the strategy document (the ``code`` field's position in the file)."""
    span_in_scalar = getattr(document, "span_in_scalar", None)
    if span_in_scalar is None:
        return diagnostics
    starts = [0]
    for line in code.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    out = []
    for d in diagnostics:
        s = d.span
        if s is None:
            out.append(d.with_location(document.span_of(("code",)), d.path))
            continue
        a = starts[min(s.line, len(starts)) - 1] + s.col - 1
        b = starts[min(s.end_line, len(starts)) - 1] + s.end_col - 1
        out.append(Diagnostic(d.code, d.message, span_in_scalar(("code",), a, max(b, a + 1)), d.path, d.hint,
                              d.severity, d.stage))
    return out


__all__ = ["ALLOWED_MODULES", "MAX_CODE_BYTES", "WARMUP_NAME", "check_code", "declared_warmup",
           "imported_modules", "locate"]
