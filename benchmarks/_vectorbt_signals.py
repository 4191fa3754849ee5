"""Hand-written vectorbt versions of the benchmark strategies (what a vectorbt user writes today).

Indicators are vectorbt's own: `vbt.MA` (rolling mean) and TA-Lib's RSI through vectorbt's TA-Lib integration
(`vbt.IndicatorFactory.from_talib("RSI")`, Wilder's RSI, the same definition ruleengine implements). Signals
come from the indicators' `*_crossed_above/below` / `*_below` methods and are combined with the `.vbt`
accessor's `&` (vectorbt broadcasting: it stacks the parameter levels of both sides).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import vectorbt as vbt

RSI = vbt.IndicatorFactory.from_talib("RSI")
SMA = vbt.IndicatorFactory.from_talib("SMA")


def universe_signals(close: pd.DataFrame, volume: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Workload A: entry = SMA(10) crosses above SMA(30) & RSI(14) < 70 & volume > SMA(volume, 20);
    exit = SMA(10) crosses below SMA(30). close/volume: (T, S) frames, one column per symbol."""
    fast = vbt.MA.run(close, 10, short_name="fast")
    slow = vbt.MA.run(close, 30, short_name="slow")
    rsi = RSI.run(close, timeperiod=14)
    vol_ma = vbt.MA.run(volume, 20, short_name="vol_ma")
    entries = (fast.ma_crossed_above(slow).vbt & rsi.real_below(70)).vbt & vol_ma.ma_below(volume)
    exits = fast.ma_crossed_below(slow)
    return entries, exits


def grid_signals(close: pd.Series, fasts: Sequence[int], slows: Sequence[int], rsi_max: float = 70.0,
                 run_unique: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Workload B: golden cross with RSI filter for aligned (fast[i], slow[i]) columns on one series.

    Two `MA.run` calls with one window per column (vectorbt's usual pattern for arbitrary pairs);
    `run_unique=True` makes vectorbt compute each distinct window once (off by default in `MA.run`)."""
    fast = vbt.MA.run(close, window=list(fasts), short_name="fast", run_unique=run_unique)
    slow = vbt.MA.run(close, window=list(slows), short_name="slow", run_unique=run_unique)
    rsi = RSI.run(close, timeperiod=14)
    entries = fast.ma_crossed_above(slow).vbt & rsi.real_below(rsi_max)
    exits = fast.ma_crossed_below(slow)
    return entries, exits


def universe_signals_talib_sma(close: pd.DataFrame, volume: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check-only variant of `universe_signals` (not timed): the three moving averages come from TA-Lib's
    SMA through vectorbt's TA-Lib integration instead of `vbt.MA` (vectorbt's rolling mean subtracts
    cumulative sums, TA-Lib keeps a running window sum; the results differ in the last bits, which decides
    crossings where the two averages are mathematically equal)."""
    fast = SMA.run(close, timeperiod=10, short_name="fast")
    slow = SMA.run(close, timeperiod=30, short_name="slow")
    rsi = RSI.run(close, timeperiod=14)
    vol_ma = SMA.run(volume, timeperiod=20, short_name="vol_ma")
    entries = (fast.real_crossed_above(slow).vbt & rsi.real_below(70)).vbt & vol_ma.real_below(volume)
    exits = fast.real_crossed_below(slow)
    return entries, exits


def ma_values(close: pd.DataFrame | pd.Series, window: int | Sequence[int]) -> np.ndarray:
    """vbt.MA values as a (T, N) array (used to explain signal mismatches, not timed)."""
    w = window if isinstance(window, int) else list(window)
    return np.asarray(vbt.MA.run(close, window=w).ma.to_numpy(), dtype=np.float64).reshape(len(close), -1)
