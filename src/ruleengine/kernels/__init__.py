"""The numba kernels (numpy + numba only). Importing the package first makes their on-disk cache stamped with
all of their sources (`ruleengine.kernels._cache_stamp`): a change to any kernel file recompiles them."""
from ._cache_stamp import install as _install_cache_stamp

_install_cache_stamp()
