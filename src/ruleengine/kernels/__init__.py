"""The numba kernels (numpy + numba only). Each kernel module imports numba through `._numba`, which stamps their
on-disk cache with the kernel sources each one compiles in (`ruleengine.kernels._cache_stamp`); the package
itself imports nothing (validation reads its enums without loading numba)."""
