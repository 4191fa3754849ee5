"""The house's borders (architecture.md section 2, "Imports that must never exist"), checked on the source.

Every module of src/ruleengine is parsed with `ast` (never imported) and EVERY import statement counts: module
level, inside functions and methods, and under `if TYPE_CHECKING:` (a type-only import is still a dependency
the reader has to follow, and the first thing to turn into a runtime import). Relative imports are resolved
against the importing module's package; `from pkg import name` counts as an import of the module `pkg.name`
when that module exists, else of `pkg`.

A *part* is a top-level piece of the package: each subpackage (`compile/`, `data/`, ...) and each top-level
module (`api`, `strategies`, `tools`, `errors`, ...). Three checks:

1. every "never" row of the table (one rule per row, data in RULES below; the "cli/, llm/ use only the public
   names" row is checked by tests/test_params.py);
2. no import cycle between parts;
3. no private name (`_x`, not a dunder) and no private module imported from another part.

Each violation is reported as "module:line imports X (rule: ...)". The checker itself is tested on a small
package written to tmp_path, so that a rule that can no longer fail is noticed.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "ruleengine"


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, e.g. ruleengine.data.local
    line: int
    target: str  # the imported module, resolved, e.g. ruleengine.compile.compiled
    name: str | None  # the name taken from it (`from target import name`), None for `import target`

    def __str__(self) -> str:
        what = f"{self.target}.{self.name}" if self.name else self.target
        return f"{self.module}:{self.line} imports {what}"


@dataclass(frozen=True)
class Never:
    """Modules of part `source` import nothing of the parts `targets`, except the modules in `allowed`."""

    source: str
    targets: tuple[str, ...]
    why: str
    allowed: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.source} never {', '.join(self.targets)}"


# Part names: a subpackage is "name/", a top-level module "name". The root package (the public API,
# ruleengine/__init__.py) is the part "ruleengine".
ALL_BUT_KERNELS = "*"
RULES = [
    Never("kernels/", (ALL_BUT_KERNELS,), "kernels know arrays, not documents, data or results"),
    Never("schema/", ("lang/", "compile/", "data/"), "documents store expression strings"),
    Never("lang/", ("compile/", "data/", "backtest/"), "the language knows no execution"),
    Never("compile/", ("sandbox/", "data/", "backtest/", "store/"), "compilation is pure",
          allowed=("ruleengine.data.market", "ruleengine.data.request")),  # the MarketData / DataRequest types
    Never("sandbox/", ("compile/", "store/"), "the sandbox holds nothing and knows no compiler"),
    Never("data/", ("compile/", "sandbox/", "strategies", "backtest/", "api", "ruleengine"),
          "data binding receives a DataRequest, never a strategy"),
    Never("backtest/", ("store/", "llm/", "cli/"), "results know no storage or interface"),
    Never("sweep/", ("store/", "llm/", "cli/"), "results know no storage or interface"),
]
CYCLES = "no import cycle between parts"
PRIVATE = "no private name or module imported across parts"

# ----------------------------------------------------------------------------------------------- the walker


def modules(src: Path, package: str) -> dict[str, Path]:
    """Every module of `package` under `src` by dotted name (a package by its own name, from __init__.py)."""
    out = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports_of(module: str, path: Path, known: set[str]) -> Iterator[Import]:
    """Every import in the file (any depth, TYPE_CHECKING blocks included), targets resolved."""
    is_package = path.name == "__init__.py"
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, node.lineno, alias.name, None)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in known:
                    yield Import(module, node.lineno, sub, None)
                else:
                    yield Import(module, node.lineno, target, alias.name)


def part_of(module: str, package: str, packages: set[str]) -> str | None:
    """The top-level part of `module` ("data/", "api", the root package's name), None outside `package`."""
    parts = module.split(".")
    if parts[0] != package:
        return None
    if len(parts) == 1:
        return package
    return f"{parts[1]}/" if f"{package}.{parts[1]}" in packages else parts[1]


def _matches(part: str, pattern: str, source: str) -> bool:
    if pattern == ALL_BUT_KERNELS:
        return part != source
    return part == pattern


def _private(segment: str) -> bool:
    return segment.startswith("_") and not (segment.startswith("__") and segment.endswith("__"))


@dataclass
class House:
    package: str
    imports: list[Import]
    modules: set[str]  # dotted names of every module
    packages: set[str]  # dotted names of the subpackages

    @classmethod
    def read(cls, src: Path, package: str) -> House:
        mods = modules(src, package)
        known = set(mods)
        found = [imp for name, path in mods.items() for imp in imports_of(name, path, known)]
        packages = {name for name, path in mods.items() if path.name == "__init__.py"}
        return cls(package, found, known, packages)

    def part(self, module: str) -> str | None:
        return part_of(module, self.package, self.packages)

    def crossings(self) -> Iterator[tuple[Import, str, str]]:
        """Imports from one part of the package into another: (import, from part, to part)."""
        for imp in self.imports:
            src, dst = self.part(imp.module), self.part(imp.target)
            if src is not None and dst is not None and src != dst:
                yield imp, src, dst

    def never(self, rule: Never) -> list[str]:
        return [f"{imp} (rule: {rule.id}: {rule.why})" for imp, src, dst in self.crossings()
                if src == rule.source and any(_matches(dst, t, src) for t in rule.targets)
                and not any(imp.target == a or imp.target.startswith(a + ".") for a in rule.allowed)]

    def private(self) -> list[str]:
        out = []
        for imp, _, _ in self.crossings():
            segments = imp.target.split(".")[1:] + ([imp.name] if imp.name else [])
            if any(_private(s) for s in segments):
                out.append(f"{imp} (rule: {PRIVATE})")
        return out

    def cycles(self) -> list[str]:
        """Strongly connected sets of parts (Tarjan), each with one import per edge inside it.

        The root package is left out as a source: its imports are the lazy re-exports of the public API
        (`ruleengine.backtest` ...) that every caller reaches through it, not a dependency of a part.
        """
        edges: dict[str, dict[str, Import]] = {}
        for imp, src, dst in self.crossings():
            if src != self.package:
                edges.setdefault(src, {}).setdefault(dst, imp)
        index: dict[str, int] = {}
        low: dict[str, int] = {}
        stack: list[str] = []
        groups: list[list[str]] = []

        def visit(v: str) -> None:
            index[v] = low[v] = len(index)
            stack.append(v)
            for w in edges.get(v, {}):
                if w not in index:
                    visit(w)
                    low[v] = min(low[v], low[w])
                elif w in stack:
                    low[v] = min(low[v], index[w])
            if low[v] == index[v]:
                group = []
                while True:
                    w = stack.pop()
                    group.append(w)
                    if w == v:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

        for v in sorted(edges):
            if v not in index:
                visit(v)
        out = []
        for group in sorted(groups):
            inside = [f"{imp}" for a in group for b, imp in sorted(edges.get(a, {}).items()) if b in group]
            out.append(f"cycle between {', '.join(group)} (rule: {CYCLES}): " + "; ".join(inside))
        return out

    def check(self, rule: Never | str) -> list[str]:
        if rule == CYCLES:
            return self.cycles()
        if rule == PRIVATE:
            return self.private()
        assert isinstance(rule, Never)
        return self.never(rule)


# ------------------------------------------------------------------------------------------------ the rules


@pytest.fixture(scope="module")
def house() -> House:
    return House.read(SRC, PACKAGE)


def _rule_id(rule: Never | str) -> str:
    return rule.id if isinstance(rule, Never) else rule


@pytest.mark.parametrize("rule", [pytest.param(rule, id=_rule_id(rule)) for rule in [*RULES, CYCLES, PRIVATE]])
def test_house_rule(house: House, rule: Never | str) -> None:
    violations = house.check(rule)
    assert not violations, f"{len(violations)} import(s) break a border:\n" + "\n".join(violations)


def test_every_part_the_rules_name_exists(house: House) -> None:
    """A rule naming a part that does not exist (a rename, a typo) would pass forever."""
    parts = {house.part(m) for m in house.modules}
    named = {rule.source for rule in RULES} | {t for rule in RULES for t in rule.targets if t != ALL_BUT_KERNELS}
    assert named <= parts, f"parts named by the rules but absent: {sorted(named - parts)}"


# --------------------------------------------------------------------------------- the checker on a sample


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_every_kind_of_import_is_seen_and_resolved(tmp_path: Path) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/kernels/__init__.py": "",
        "pkg/kernels/ops.py": (
            "from typing import TYPE_CHECKING\n"
            "from . import _util\n"  # same part: fine
            "if TYPE_CHECKING:\n"
            "    from ..schema import Doc\n"  # line 4: type-only imports count
            "def f():\n"
            "    import pkg.data.load\n"  # line 6: function-level imports count
            "    from ..data.load import _secret\n"  # line 7
        ),
        "pkg/kernels/_util.py": "",
        "pkg/schema/__init__.py": "Doc = 1\n",
        "pkg/data/__init__.py": "",
        "pkg/data/load.py": "from ..kernels import ops\n_secret = 1\n",
        "pkg/api.py": "from .data import load\nfrom . import __version__\n",
    })
    h = House.read(tmp_path, "pkg")
    kernels = Never("kernels/", (ALL_BUT_KERNELS,), "test")
    assert h.never(kernels) == [
        "pkg.kernels.ops:4 imports pkg.schema.Doc (rule: kernels/ never *: test)",
        "pkg.kernels.ops:6 imports pkg.data.load (rule: kernels/ never *: test)",
        "pkg.kernels.ops:7 imports pkg.data.load._secret (rule: kernels/ never *: test)",
    ]
    assert h.private() == [f"pkg.kernels.ops:7 imports pkg.data.load._secret (rule: {PRIVATE})"]
    assert h.cycles() == [f"cycle between data/, kernels/ (rule: {CYCLES}): "
                          "pkg.data.load:1 imports pkg.kernels.ops; pkg.kernels.ops:6 imports pkg.data.load"]
    allowed = Never("data/", ("kernels/",), "test", allowed=("pkg.kernels.ops",))
    assert h.never(allowed) == []
    assert h.part("pkg.api") == "api" and h.part("pkg") == "pkg" and h.part("numpy") is None
