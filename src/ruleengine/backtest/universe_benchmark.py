"""The universe benchmark: an equal-weight buy and hold of a run's universe, point in time.

On each bar the universe is the symbols that are members on that bar (`MarketData.members`; every symbol when
there is none) and have a close. The equity is bought in equal parts at the close of the first bar; while the
universe stays the same it is held (the weights drift with the prices); on a bar where it changes, every
holding is valued at that bar's close (a symbol without one, delisted, at its last close) and the whole equity
is split equally again over the new universe at that close: a leaver is sold, an entrant bought. No fees, no
slippage. With nobody in the universe the equity is held as cash.

Each bar's value uses that bar's and earlier rows only: removing later bars never changes it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def equal_weight_universe(close: np.ndarray, members: np.ndarray | None, init_cash: float) -> np.ndarray:
    """(T,) equity of the equal-weight, point-in-time buy and hold of the columns of `close`.

    Args:
        close: (T, S) closes of the universe's symbols on the run's bars (NaN where a symbol has none).
        members: (T, S) True where the symbol is a member on the bar; None: every symbol always is.
        init_cash: the equity before the first bar.

    Example:
        >>> close = np.array([[10.0, 20.0], [11.0, 20.0], [np.nan, 30.0]])
        >>> equal_weight_universe(close, None, 100.0).tolist()  # the first symbol delists at 11: sold there
        [100.0, 105.0, 130.0]
    """
    close = np.asarray(close, dtype=np.float64)
    n = close.shape[0]
    held = np.isfinite(close) if members is None else np.isfinite(close) & np.asarray(members, dtype=bool)
    # a delisted symbol's holding is worth its last close (nothing to fill where every close is there)
    last = close if np.isfinite(close).all() else pd.DataFrame(close).ffill().to_numpy()
    changes = np.flatnonzero(np.r_[True, np.any(held[1:] != held[:-1], axis=1)]) if n else np.empty(0, int)
    bounds = np.r_[changes, n]
    equity = np.empty(n)
    value = float(init_cash)
    for b, e in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        cols = np.flatnonzero(held[b])
        if not len(cols):  # nobody to hold: cash
            equity[b:e] = value
            continue
        # equal parts at the close of b: each holding grows with its close relative to that one. A row-wise
        # mean, not a matrix product: BLAS sums in an order that depends on the rows that follow, and a bar's
        # value must not change in its last bits when later bars are removed (the truncation test)
        growth = last[b:e + 1 if e < n else e, cols] / close[b, cols]
        path = value * growth.mean(axis=1)
        equity[b:e] = path[: e - b]
        if e < n:  # valued at the next change's close (a leaver at its last close): rebalanced there
            value = float(path[-1])
    return equity
