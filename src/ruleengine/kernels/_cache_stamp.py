"""numba's on-disk cache of the kernels, invalidated by a change to any kernel file a kernel compiles in.

numba stamps a cached function with the hash of its own source file only. A kernel compiles the functions
it calls from other files into its own machine code (``simulate.py``'s column loop contains
``exit_program.py``'s interpreter), so after a change to ``exit_program.py`` alone the loop's cache stays
"fresh" and runs the old code: silently wrong results, on a developer's machine and after an upgrade of
ruleengine (pip removes the files it installed, not the cache files numba wrote beside them). Here a function
defined in this package is stamped with its file and every file of the package that file imports, directly
or not (``from .exit_program import ...``): a change recompiles exactly the kernels that contain it.

`install` puts a stamping variant of each of numba's file-backed cache locators (a ``NUMBA_CACHE_DIR``, the
source tree's ``__pycache__``, the user-wide cache when the tree is read-only) in front of numba's own; they
serve only the files of this package, where the cache files stay as numba names them.

Example:
    >>> from ruleengine.kernels._cache_stamp import KERNELS_DIR, module_stamps
    >>> stamps = module_stamps(KERNELS_DIR)
    >>> stamps["simulate"] != stamps["rotation"], len(stamps["simulate"])
    (True, 32)
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path
from typing import Any

#: the directory whose ``*.py`` files are the kernels
KERNELS_DIR = Path(__file__).resolve().parent


def local_imports(source: bytes, modules: set[str]) -> set[str]:
    """The modules of `modules` (names in the same package) that `source` imports relatively."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module] if node.module else [a.name for a in node.names]
            found.update(n.split(".")[0] for n in names if n.split(".")[0] in modules)
    return found


def module_stamps(directory: Path) -> dict[str, bytes]:
    """Per module of the directory (``*.py``, by name without ``.py``): sha256 over the names and sources of the
    module and of every module of the directory it imports, directly or through others, in name order."""
    sources = {p.stem: p.read_bytes() for p in sorted(directory.glob("*.py"))}
    imports = {name: local_imports(src, set(sources)) for name, src in sources.items()}
    out: dict[str, bytes] = {}
    for name in sources:
        closure, todo = {name}, [name]
        while todo:
            for dep in imports[todo.pop()] - closure:
                closure.add(dep)
                todo.append(dep)
        digest = hashlib.sha256()
        for member in sorted(closure):
            digest.update(member.encode() + b"\0" + sources[member] + b"\0")
        out[name] = digest.digest()
    return out


def _stamping(base: type) -> type:
    """`base` (a numba cache locator class) serving only this package's files, stamped by `module_stamps`."""
    stamps: dict[str, bytes] = {}  # computed on first use, once per process

    class PackageStamped(base):
        def get_source_stamp(self) -> Any:
            if not stamps:
                stamps.update(module_stamps(KERNELS_DIR))
            return stamps[Path(self._py_file).stem]

        @classmethod
        def from_function(cls, py_func: Any, py_file: str) -> Any:
            if Path(py_file).resolve().parent != KERNELS_DIR:
                return None
            return super().from_function(py_func, py_file)

    PackageStamped.__name__ = PackageStamped.__qualname__ = f"PackageStamped{base.__name__}"
    return PackageStamped


def install() -> None:
    """Put the stamping locators first in numba's list (once; before any kernel is compiled or loaded)."""
    from numba.core import caching

    def public(name: str) -> Any:  # numba 0.61 dropped the leading underscore of these names
        return getattr(caching, name, None) or getattr(caching, f"_{name}")

    classes = public("CacheImpl")._locator_classes
    if any(getattr(c, "__name__", "").startswith("PackageStamped") for c in classes):
        return
    bases = [public(n) for n in ("UserProvidedCacheLocator", "InTreeCacheLocator", "UserWideCacheLocator")]
    classes[:0] = [_stamping(b) for b in bases]


__all__ = ["KERNELS_DIR", "install", "local_imports", "module_stamps"]
