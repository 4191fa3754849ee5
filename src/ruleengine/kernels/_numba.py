"""numba as the kernel modules import it: with the kernels' cache stamp installed first
(`ruleengine.kernels._cache_stamp`), before any of their ``@numba.njit(cache=True)`` decorators picks its cache
locator. Importing the package ``ruleengine.kernels`` alone (its enums, for validation) loads no numba."""
import numba

from ._cache_stamp import install

install()

__all__ = ["numba"]
