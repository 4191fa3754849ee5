"""The kernels' numba cache is stamped with each kernel file and every kernel file it imports
(`ruleengine.kernels._cache_stamp`): numba's own stamp covers a function's file only, and a column loop compiled
with another file's function kept running that function's old code after it changed (found when an
exit-program opcode was added)."""
from __future__ import annotations

from pathlib import Path

from ruleengine.kernels._cache_stamp import KERNELS_DIR, local_imports, module_stamps


def test_every_kernel_is_stamped_with_the_files_it_compiles_in() -> None:
    from ruleengine.kernels.exit_program import run_exit_program_nb
    from ruleengine.kernels.simulate import stop_fill_nb

    stamps = module_stamps(KERNELS_DIR)
    for dispatcher, module in ((run_exit_program_nb, "exit_program"), (stop_fill_nb, "simulate")):
        locator = dispatcher._cache._impl.locator  # numba's cache of this function
        assert type(locator).__name__.startswith("PackageStamped"), type(locator)
        assert locator.get_source_stamp() == stamps[module]
    source = (KERNELS_DIR / "simulate.py").read_bytes()
    assert {"exit_program", "sizing", "enums"} <= local_imports(source, set(stamps))


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / f"{name}.py").write_text(text)


def test_a_change_restamps_the_module_and_every_module_that_imports_it(tmp_path: Path) -> None:
    _write(tmp_path, {"enums": "X = 1\n", "exit_program": "from .enums import X\n",
                      "simulate": "from .exit_program import run\nfrom . import sizing\n", "sizing": "S = 2\n",
                      "rotation": "from .enums import X\n", "other": "import numpy\nfrom .. import errors\n"})
    before = module_stamps(tmp_path)
    assert module_stamps(tmp_path) == before  # deterministic
    _write(tmp_path, {"exit_program": "from .enums import X\n# one opcode more\n"})
    after = module_stamps(tmp_path)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"exit_program", "simulate"}  # simulate compiles exit_program in; rotation does not
    _write(tmp_path, {"enums": "X = 2\n"})
    again = module_stamps(tmp_path)
    assert {name for name in after if after[name] != again[name]} == {"enums", "exit_program", "simulate", "rotation"}
    _write(tmp_path, {"sizing": "S = 3\n"})
    assert {n for n, s in module_stamps(tmp_path).items() if s != again[n]} == {"sizing", "simulate"}


def test_import_cycles_terminate(tmp_path: Path) -> None:
    _write(tmp_path, {"a": "from .b import f\n", "b": "from .a import g\n"})
    stamps = module_stamps(tmp_path)
    assert stamps["a"] == stamps["b"] and len(stamps) == 2  # a cycle compiles in both: one stamp


def test_functions_outside_the_kernels_keep_numba_s_own_locator(tmp_path: Path) -> None:
    import importlib.util
    import sys

    source = tmp_path / "elsewhere.py"
    source.write_text("import numba\n\n@numba.njit(cache=True)\ndef f(x):\n    return x + 1\n")
    spec = importlib.util.spec_from_file_location("elsewhere_for_stamp_test", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        assert module.f(1) == 2
        assert not type(module.f._cache._impl.locator).__name__.startswith("PackageStamped")
    finally:
        del sys.modules[spec.name]


def test_every_cached_kernel_of_every_module_is_stamped() -> None:
    """Each kernel module imports numba through `kernels._numba` (or after a module that does): every cached
    dispatcher of the package has the stamping locator."""
    import importlib
    import pkgutil

    import numba
    from numba.core.registry import CPUDispatcher

    import ruleengine.kernels as package

    found = 0
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"ruleengine.kernels.{info.name}")
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher) and value._cache is not None and \
                    type(value._cache).__name__ != "NullCache" and value.py_func.__module__ == module.__name__:
                found += 1
                assert type(value._cache._impl.locator).__name__.startswith("PackageStamped"), \
                    (module.__name__, value.py_func.__name__)
    assert found > 50 and numba.config.DISABLE_JIT == 0
