"""The function registry: signature, types, warm-up rule, one-line doc, example, oracle, kernel.

The registry is data: it drives the type checker, the planner's warm-up, the README table and the LLM
prompt. Kernels are referenced by name and imported only when a plan executes (numba stays out of
`ruleengine validate`).

Argument kinds:
    series  a number series (a column or an expression over columns)
    value   a number series or a number (a constant or parameter)
    cond    a true/false series
    window  a whole number >= its minimum: a constant, an int parameter or an expression of them
    number  a number: a constant, a parameter or an expression of them (e.g. Bollinger k)
    lag     a whole number >= 0, like a window

Warm-up: `lookback` is the number of leading bars without a value on gap-free data (what TA-Lib calls the
lookback); `memory` is the extra history that recursive indicators (EMA, Wilder smoothing) need before a
value equals the one computed from the full history within 1e-10 (relative weight of the seed).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

ArgKind = Literal["series", "value", "cond", "window", "number", "lag"]
Static = dict[str, float]
CONVERGENCE = 1e-10


@dataclass(frozen=True)
class Arg:
    name: str
    kind: ArgKind
    minimum: int = 1  # windows only
    #: the value of a trailing number argument left out (sar's TA-Lib defaults); the checker writes it in
    default: float | None = None


@dataclass(frozen=True)
class Function:
    name: str
    args: tuple[Arg, ...]
    returns: Literal["float", "bool"]
    doc: str
    example: str
    lookback: Callable[[Static], int]
    memory: Callable[[Static], int] = lambda s: 0
    oracle: str = ""
    kernel: str = ""  # "module:function" under ruleengine.kernels; empty = evaluated by numpy
    category: str = ""
    notes: str = ""
    series_args: tuple[str, ...] = field(default=())
    #: its value on a bar depends on where the data start, however long the history (a count since the
    #: last event, a cumulative sum): no finite warm-up makes a short run equal a long one
    path_dependent: bool = False
    #: pairs of windows (shorter, longer) that must be in that order: macd(x, 26, 12, 9) is not a MACD
    #: (TA-Lib swaps them silently; fast == slow is 0 on every bar)
    ordered: tuple[tuple[str, str], ...] = ()
    #: its value on constants (folding `sqrt(2)` or `abs(-n)` while lowering); bar-by-bar functions only
    scalar: Callable[..., float] | None = None
    #: a calendar value of the bar (no arguments): read from the bar times, as the input (BAR_SLOT, name)
    bar_value: bool = False
    #: computed on each bar across the symbols of the universe (one parameter set's columns), not along one
    #: symbol's bars: needs a universe, and membership decides which symbols take part (see `_CROSS_SECTION`)
    cross_sectional: bool = False

    @property
    def signature(self) -> str:
        return f"{self.name}({', '.join(a.name for a in self.args)})"

    def arg_kinds(self) -> list[ArgKind]:
        return [a.kind for a in self.args]

    def order_problems(self, static: Static) -> list[str]:
        """Messages for each `ordered` pair whose windows (by argument name) are not shorter < longer."""
        return [f"the {a} window of {self.name} ({static[a]:g}) must be shorter than its {b} window "
                f"({static[b]:g})" for a, b in self.ordered if a in static and b in static and static[a] >= static[b]]


def ema_memory(n: float) -> int:
    """Bars until the EMA seed's weight (1 - 2/(n+1))**m falls below 1e-10."""
    return _decay_bars(2.0 / (n + 1.0))


def wilder_memory(n: float) -> int:
    """Bars until a Wilder average's seed weight (1 - 1/n)**m falls below 1e-10."""
    return _decay_bars(1.0 / n)


def _decay_bars(alpha: float) -> int:
    if alpha >= 1.0:
        return 0
    return math.ceil(math.log(CONVERGENCE) / math.log(1.0 - alpha))


#: KAMA's slowest smoothing is (2/31)**2 per bar (efficiency ratio 0): its seed fades below 1e-10 after this many
KAMA_MEMORY = _decay_bars((2.0 / 31.0) ** 2)


def _clip(x: float, lo: float, hi: float) -> float:
    return math.nan if math.isnan(x) or math.isnan(lo) or math.isnan(hi) else min(max(x, lo), hi)


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:  # numpy's value
        return math.inf


def _log(x: float) -> float:
    return math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan)


def _pow(x: float, p: float) -> float:
    if x == -math.inf and 0 < p < math.inf and not float(p).is_integer():  # numpy's NaN (C's pow: inf)
        return math.nan
    try:
        v = float(x) ** float(p)
    except (OverflowError, ZeroDivisionError):  # numpy's values: inf for an overflow and for 0 ** negative
        return math.inf
    return v if isinstance(v, float) else math.nan  # a negative base to a fractional power is complex in Python


def _i(s: Static, k: str) -> int:
    return int(s[k])


X = Arg("x", "series")
N = Arg("n", "window")
N2 = Arg("n", "window", 2)
HLC = (Arg("high", "series"), Arg("low", "series"), Arg("close", "series"))
V = Arg("volume", "series")
MACD_ARGS = (X, Arg("fast", "window", 2), Arg("slow", "window", 2), Arg("signal", "window", 1))
MACD_ORDER = (("fast", "slow"),)
#: what to do when parameter values give a function its windows in the wrong order (plan time)
ORDER_HINT = ("choose values with fast < slow; in a sweep, add a constraint such as --constraint 'fast < slow' "
              "(with your parameter names)")
STOCH_ARGS = (*HLC, Arg("fastk", "window"), Arg("slowk", "window"), Arg("slowd", "window"))
BB_ARGS = (X, N2, Arg("k", "number"))
KELTNER_ARGS = (*HLC, N, Arg("k", "number"))
DONCHIAN_ARGS = (Arg("high", "series"), Arg("low", "series"), N)


def _n_minus_1(s: Static) -> int:
    return _i(s, "n") - 1


def _n(s: Static) -> int:
    return _i(s, "n")


def _zero(s: Static) -> int:
    return 0


def _macd_slow(s: Static) -> int:
    return max(_i(s, "fast"), _i(s, "slow"))


_F: list[Function] = [
    # --- moving averages and oscillators
    Function("sma", (X, N), "float", "simple moving average of the last n bars", "sma(close, 50)",
             _n_minus_1, oracle="TA-Lib SMA", kernel="rolling:sma_nb", category="averages and oscillators"),
    Function("ema", (X, N), "float", "exponential moving average, k = 2/(n+1), seeded with the SMA of the first n",
             "ema(close, 20)", _n_minus_1, lambda s: ema_memory(s["n"]), oracle="TA-Lib EMA",
             kernel="smoothing:ema_nb", category="averages and oscillators"),
    Function("wma", (X, N), "float", "linearly weighted moving average (newest bar weighs n)", "wma(close, 10)",
             _n_minus_1, oracle="TA-Lib WMA", kernel="rolling:wma_nb", category="averages and oscillators"),
    Function("dema", (X, N), "float", "double EMA: 2 * ema(x, n) - ema(ema(x, n), n)", "close > dema(close, 20)",
             lambda s: 2 * _n_minus_1(s), lambda s: 2 * ema_memory(s["n"]), oracle="TA-Lib DEMA",
             kernel="smoothing:dema_nb", category="averages and oscillators"),
    Function("tema", (X, N), "float", "triple EMA: 3 * e1 - 3 * e2 + e3 (e2 = ema of e1, e3 = ema of e2)",
             "crosses_above(close, tema(close, 20))", lambda s: 3 * _n_minus_1(s),
             lambda s: 3 * ema_memory(s["n"]), oracle="TA-Lib TEMA", kernel="smoothing:tema_nb",
             category="averages and oscillators"),
    Function("trix", (X, N), "float", "TRIX: 1-bar rate of change in percent of the triple-smoothed EMA",
             "crosses_above(trix(close, 15), 0)", lambda s: 3 * _n_minus_1(s) + 1,
             lambda s: 3 * ema_memory(s["n"]), oracle="TA-Lib TRIX", kernel="smoothing:trix_nb",
             category="averages and oscillators"),
    Function("kama", (X, N2), "float", "Kaufman adaptive moving average (efficiency ratio over n bars, "
             "fast 2 / slow 30 smoothing)", "close > kama(close, 10)", _n, lambda s: KAMA_MEMORY,
             oracle="TA-Lib KAMA", kernel="smoothing:kama_nb", category="averages and oscillators",
             notes="in a flat market it smooths with (2/31)^2 per bar, so its convergence history is long"),
    Function("rsi", (X, N2), "float", "Wilder's relative strength index, 0..100", "rsi(close, 14) < 30",
             _n, lambda s: wilder_memory(s["n"]), oracle="TA-Lib RSI", kernel="smoothing:rsi_nb",
             category="averages and oscillators"),
    Function("macd", MACD_ARGS, "float", "MACD line: ema(x, fast) - ema(x, slow)", "macd(close, 12, 26, 9) > 0",
             lambda s: _macd_slow(s) - 1, lambda s: ema_memory(_macd_slow(s)), oracle="TA-Lib MACD (macd)",
             kernel="smoothing:macd_nb", category="averages and oscillators", ordered=MACD_ORDER),
    Function("macd_signal", MACD_ARGS, "float", "signal line: ema(macd, signal)",
             "crosses_above(macd(close, 12, 26, 9), macd_signal(close, 12, 26, 9))",
             lambda s: _macd_slow(s) + _i(s, "signal") - 2,
             lambda s: ema_memory(_macd_slow(s)) + ema_memory(s["signal"]), oracle="TA-Lib MACD (macdsignal)",
             kernel="smoothing:macd_signal_nb", category="averages and oscillators", ordered=MACD_ORDER),
    Function("macd_hist", MACD_ARGS, "float", "MACD histogram: macd - macd_signal", "macd_hist(close, 12, 26, 9) > 0",
             lambda s: _macd_slow(s) + _i(s, "signal") - 2,
             lambda s: ema_memory(_macd_slow(s)) + ema_memory(s["signal"]), oracle="TA-Lib MACD (macdhist)",
             kernel="smoothing:macd_hist_nb", category="averages and oscillators", ordered=MACD_ORDER),
    Function("ppo", (X, Arg("fast", "window"), Arg("slow", "window", 2)), "float",
             "percentage price oscillator: (ema(x, fast) - ema(x, slow)) / ema(x, slow) * 100",
             "crosses_above(ppo(close, 12, 26), 0)", lambda s: _i(s, "slow") - 1,
             lambda s: ema_memory(s["slow"]), oracle="TA-Lib PPO (matype 1: EMA)", kernel="smoothing:ppo_nb",
             category="averages and oscillators", ordered=MACD_ORDER),
    Function("roc", (X, N), "float", "rate of change in percent: (x / x[n] - 1) * 100", "roc(close, 10) > 5",
             _n, oracle="TA-Lib ROC", kernel="oscillators:roc_nb", category="averages and oscillators"),
    Function("mom", (X, N), "float", "momentum: x - x[n]", "mom(close, 10) > 0", _n, oracle="TA-Lib MOM",
             kernel="oscillators:mom_nb", category="averages and oscillators"),
    Function("cci", (*HLC, N2), "float", "commodity channel index", "cci(high, low, close, 20) < -100",
             _n_minus_1, oracle="TA-Lib CCI", kernel="oscillators:cci_nb", category="averages and oscillators"),
    Function("willr", (*HLC, N2), "float", "Williams %R, -100..0", "willr(high, low, close, 14) < -80",
             _n_minus_1, oracle="TA-Lib WILLR", kernel="oscillators:willr_nb", category="averages and oscillators"),
    Function("mfi", (*HLC, V, N2), "float", "money flow index, 0..100", "mfi(high, low, close, volume, 14) < 20",
             _n, oracle="TA-Lib MFI", kernel="oscillators:mfi_nb", category="averages and oscillators"),
    Function("adx", (*HLC, N2), "float", "Wilder's average directional index, 0..100", "adx(high, low, close, 14) > 25",
             lambda s: 2 * _i(s, "n") - 1, lambda s: 2 * wilder_memory(s["n"]), oracle="TA-Lib ADX",
             kernel="oscillators:adx_nb", category="averages and oscillators"),
    Function("plus_di", (*HLC, N2), "float", "Wilder's plus directional indicator +DI, 0..100",
             "plus_di(high, low, close, 14) > minus_di(high, low, close, 14)", _n,
             lambda s: wilder_memory(s["n"]), oracle="TA-Lib PLUS_DI", kernel="trend:plus_di_nb",
             category="averages and oscillators"),
    Function("minus_di", (*HLC, N2), "float", "Wilder's minus directional indicator -DI, 0..100",
             "crosses_above(minus_di(high, low, close, 14), 25)", _n, lambda s: wilder_memory(s["n"]),
             oracle="TA-Lib MINUS_DI", kernel="trend:minus_di_nb", category="averages and oscillators"),
    Function("ultosc", (*HLC, Arg("short", "window"), Arg("medium", "window"), Arg("long", "window")), "float",
             "ultimate oscillator, 0..100: buying pressure over true range on three windows, weighted 4:2:1",
             "ultosc(high, low, close, 7, 14, 28) < 30", lambda s: _i(s, "long"), oracle="TA-Lib ULTOSC",
             kernel="oscillators:ultosc_nb", category="averages and oscillators",
             ordered=(("short", "medium"), ("medium", "long"))),
    Function("obv", (Arg("close", "series"), V), "float",
             "on-balance volume (cumulative from the first bar: compare it with itself, e.g. obv > sma(obv, 20))",
             "obv(close, volume) > sma(obv(close, volume), 20)", _zero, oracle="TA-Lib OBV",
             kernel="oscillators:obv_nb", category="averages and oscillators",
             notes="its level depends on the first bar of data; differences and averages of it do not",
             path_dependent=True),
    Function("sar", (Arg("high", "series"), Arg("low", "series"), Arg("acceleration", "number", default=0.02),
                     Arg("maximum", "number", default=0.2)), "float",
             "parabolic SAR (stop and reverse); acceleration and maximum default to TA-Lib's 0.02 and 0.2",
             "crosses_above(close, sar(high, low, 0.02, 0.2))", lambda s: 1, oracle="TA-Lib SAR",
             kernel="trend:sar_nb", category="averages and oscillators",
             notes="a state machine started on the first bar (its first direction): it depends on where the "
                   "data start until the first reversal both histories share", path_dependent=True),
    Function("ad", (*HLC, V), "float",
             "Chaikin accumulation/distribution line: running sum of ((close - low) - (high - close)) / "
             "(high - low) * volume (cumulative from the first bar, like obv)",
             "ad(high, low, close, volume) > ema(ad(high, low, close, volume), 10)", _zero, oracle="TA-Lib AD",
             kernel="oscillators:ad_nb", category="averages and oscillators",
             notes="its level depends on the first bar of data; differences and averages of it do not",
             path_dependent=True),
    Function("stoch_k", STOCH_ARGS, "float", "slow stochastic %K (TA-Lib STOCH slowk, SMA smoothing)",
             "stoch_k(high, low, close, 14, 3, 3) < 20", lambda s: _i(s, "fastk") + _i(s, "slowk") - 2,
             oracle="TA-Lib STOCH (slowk)", kernel="oscillators:stoch_k_nb", category="averages and oscillators"),
    Function("stoch_d", STOCH_ARGS, "float", "slow stochastic %D (TA-Lib STOCH slowd, SMA smoothing)",
             "crosses_above(stoch_k(high, low, close, 14, 3, 3), stoch_d(high, low, close, 14, 3, 3))",
             lambda s: _i(s, "fastk") + _i(s, "slowk") + _i(s, "slowd") - 3, oracle="TA-Lib STOCH (slowd)",
             kernel="oscillators:stoch_d_nb", category="averages and oscillators"),
    # --- volatility and bands
    Function("atr", (*HLC, N), "float", "Wilder's average true range", "atr(high, low, close, 14)",
             _n, lambda s: wilder_memory(s["n"]), oracle="TA-Lib ATR", kernel="oscillators:atr_nb",
             category="volatility and bands"),
    Function("natr", (*HLC, N2), "float", "ATR as a percent of close", "natr(high, low, close, 14) < 2",
             _n, lambda s: wilder_memory(s["n"]), oracle="TA-Lib NATR", kernel="oscillators:natr_nb",
             category="volatility and bands"),
    Function("stddev", (X, N2), "float", "population standard deviation of the last n bars", "stddev(close, 20)",
             _n_minus_1, oracle="TA-Lib STDDEV", kernel="rolling:stddev_nb", category="volatility and bands"),
    Function("zscore", (X, N2), "float", "(x - sma(x, n)) / stddev(x, n)", "zscore(close, 20) < -2",
             _n_minus_1, oracle="pandas rolling mean/std(ddof=0)", kernel="rolling:zscore_nb",
             category="volatility and bands"),
    Function("bb_upper", BB_ARGS, "float", "upper Bollinger band: sma + k * stddev", "close > bb_upper(close, 20, 2)",
             _n_minus_1, oracle="TA-Lib BBANDS (upper)", kernel="rolling:bb_upper_nb", category="volatility and bands"),
    Function("bb_middle", BB_ARGS, "float", "middle Bollinger band: sma(x, n)", "bb_middle(close, 20, 2)",
             _n_minus_1, oracle="TA-Lib BBANDS (middle)", kernel="rolling:bb_middle_nb",
             category="volatility and bands"),
    Function("bb_lower", BB_ARGS, "float", "lower Bollinger band: sma - k * stddev", "close < bb_lower(close, 20, 2)",
             _n_minus_1, oracle="TA-Lib BBANDS (lower)", kernel="rolling:bb_lower_nb", category="volatility and bands"),
    Function("bb_percent", BB_ARGS, "float", "position within the bands: 0 at lower, 1 at upper",
             "bb_percent(close, 20, 2) < 0", _n_minus_1, oracle="pandas from TA-Lib BBANDS",
             kernel="rolling:bb_percent_nb", category="volatility and bands"),
    Function("bb_width", BB_ARGS, "float", "band width relative to the middle: (upper - lower) / middle",
             "bb_width(close, 20, 2) < 0.05", _n_minus_1, oracle="pandas from TA-Lib BBANDS",
             kernel="rolling:bb_width_nb", category="volatility and bands"),
    Function("keltner_upper", KELTNER_ARGS, "float", "upper Keltner band: ema(close, n) + k * atr(high, low, close, n)",
             "close > keltner_upper(high, low, close, 20, 2)", _n, lambda s: wilder_memory(s["n"]),
             oracle="pandas from TA-Lib EMA and ATR", kernel="channels:keltner_upper_nb",
             category="volatility and bands"),
    Function("keltner_middle", KELTNER_ARGS, "float", "middle Keltner line: ema(close, n)",
             "keltner_middle(high, low, close, 20, 2)", _n_minus_1, lambda s: ema_memory(s["n"]),
             oracle="TA-Lib EMA", kernel="channels:keltner_middle_nb", category="volatility and bands"),
    Function("keltner_lower", KELTNER_ARGS, "float", "lower Keltner band: ema(close, n) - k * atr(high, low, close, n)",
             "close < keltner_lower(high, low, close, 20, 2)", _n, lambda s: wilder_memory(s["n"]),
             oracle="pandas from TA-Lib EMA and ATR", kernel="channels:keltner_lower_nb",
             category="volatility and bands"),
    Function("donchian_upper", DONCHIAN_ARGS, "float", "upper Donchian band: highest high of the last n bars",
             "close >= donchian_upper(high, low, 20)", _n_minus_1, oracle="pandas rolling max",
             kernel="channels:donchian_upper_nb", category="volatility and bands"),
    Function("donchian_middle", DONCHIAN_ARGS, "float",
             "middle Donchian line: (highest high + lowest low) / 2 over the last n bars",
             "close > donchian_middle(high, low, 20)", _n_minus_1, oracle="pandas rolling max and min",
             kernel="channels:donchian_middle_nb", category="volatility and bands"),
    Function("donchian_lower", DONCHIAN_ARGS, "float", "lower Donchian band: lowest low of the last n bars",
             "close <= donchian_lower(high, low, 20)", _n_minus_1, oracle="pandas rolling min",
             kernel="channels:donchian_lower_nb", category="volatility and bands"),
    # --- statistics over time
    Function("ts_rank", (X, N2), "float",
             "rank of today's x among the last n values (today included) as a fraction: 1 = the highest, "
             "1/n = the lowest, ties share their average rank", "ts_rank(close, 20) > 0.9", _n_minus_1,
             oracle="pandas rolling rank(pct=True)", kernel="regression:ts_rank_nb", category="statistics"),
    Function("corr", (Arg("a", "series"), Arg("b", "series"), N2), "float",
             "Pearson correlation of a and b over the last n bars, -1..1 (0 where either is flat)",
             "corr(close, volume, 20) < 0", _n_minus_1, oracle="TA-Lib CORREL", kernel="regression:corr_nb",
             category="statistics"),
    Function("beta", (Arg("x", "series"), Arg("market", "series"), N2), "float",
             "beta of x's one-bar returns on the market's over the last n returns: cov / var(market)",
             "beta(close, benchmark.close, 60) < 1", _n, oracle="TA-Lib BETA(market, x)", kernel="regression:beta_nb",
             category="statistics"),
    Function("slope", (X, N2), "float", "least-squares slope of x over the last n bars, in units of x per bar",
             "slope(close, 20) > 0", _n_minus_1, oracle="TA-Lib LINEARREG_SLOPE", kernel="regression:slope_nb",
             category="statistics"),
    # --- windows and transforms
    Function("highest", (X, N), "float", "highest value of the last n bars (including this one)",
             "close >= highest(high, 20)", _n_minus_1, oracle="TA-Lib MAX", kernel="rolling:highest_nb",
             category="windows and transforms"),
    Function("lowest", (X, N), "float", "lowest value of the last n bars (including this one)",
             "close <= lowest(low, 20)", _n_minus_1, oracle="TA-Lib MIN", kernel="rolling:lowest_nb",
             category="windows and transforms"),
    Function("sum", (X, N), "float", "sum of the last n bars", "sum(volume, 5)", _n_minus_1,
             oracle="TA-Lib SUM", kernel="rolling:sum_nb", category="windows and transforms"),
    Function("mean", (X, N), "float", "mean of the last n bars (same as sma)", "mean(volume, 20)", _n_minus_1,
             oracle="pandas rolling mean", kernel="rolling:mean_nb", category="windows and transforms"),
    Function("pct_change", (X, N), "float", "fractional change over n bars: x / x[n] - 1",
             "pct_change(close, 20) > 0.1", _n, oracle="pandas pct_change", kernel="transforms:pct_change_nb",
             category="windows and transforms"),
    Function("log_return", (X, N), "float", "log(x / x[n])", "log_return(close, 5) < -0.05", _n,
             oracle="pandas log of ratio", kernel="transforms:log_return_nb", category="windows and transforms"),
    Function("shift", (X, Arg("n", "lag", 0)), "float", "value n bars ago (also written x[n]); n >= 0",
             "close > shift(close, 1)", _n, oracle="pandas shift", kernel="transforms:shift_nb",
             category="windows and transforms"),
    Function("abs", (Arg("x", "value"),), "float", "absolute value", "abs(zscore(close, 20)) < 0.5", _zero,
             oracle="numpy abs", category="windows and transforms", scalar=abs),
    Function("min", (Arg("a", "value"), Arg("b", "value")), "float", "smaller of a and b, bar by bar",
             "min(open, close) > sma(close, 50)", _zero, oracle="numpy minimum", category="windows and transforms",
             scalar=lambda a, b: math.nan if math.isnan(a) or math.isnan(b) else min(a, b)),
    Function("max", (Arg("a", "value"), Arg("b", "value")), "float", "larger of a and b, bar by bar",
             "max(open, close) < sma(close, 50)", _zero, oracle="numpy maximum", category="windows and transforms",
             scalar=lambda a, b: math.nan if math.isnan(a) or math.isnan(b) else max(a, b)),
    Function("vwap", (*HLC, V, N), "float", "rolling volume-weighted average of the typical price over n bars",
             "close > vwap(high, low, close, volume, 20)", _n_minus_1, oracle="pandas rolling sums",
             kernel="rolling:vwap_nb", category="windows and transforms"),
    Function("cumsum", (X,), "float", "running sum of x from the first bar (missing bars add nothing and stay "
             "missing)", "cumsum(close - open) > 0", _zero, oracle="pandas cumsum", kernel="transforms:cumsum_nb",
             category="math", notes="its level depends on the first bar of data; differences of it do not",
             path_dependent=True),
    # --- math, bar by bar (numpy semantics: outside a function's domain the value is NaN, log(0) is -inf)
    Function("sqrt", (Arg("x", "value"),), "float", "square root (NaN below 0)", "sqrt(volume) > 1000", _zero,
             oracle="numpy sqrt", category="math", scalar=lambda x: math.sqrt(x) if x >= 0 else math.nan),
    Function("exp", (Arg("x", "value"),), "float", "e to the power x", "exp(log_return(close, 5)) > 1.02", _zero,
             oracle="numpy exp", category="math", scalar=_exp),
    Function("log", (Arg("x", "value"),), "float", "natural logarithm (NaN below 0, -inf at 0)",
             "log(close) > sma(log(close), 50)", _zero, oracle="numpy log", category="math", scalar=_log),
    Function("pow", (Arg("x", "value"), Arg("p", "value")), "float",
             "x to the power p (NaN for a negative x and a fractional p)", "pow(atr(high, low, close, 14), 2) > 4",
             _zero, oracle="numpy power", category="math", scalar=_pow),
    Function("clip", (Arg("x", "value"), Arg("lo", "value"), Arg("hi", "value")), "float",
             "x limited to lo..hi: min(max(x, lo), hi)", "clip(zscore(close, 20), -3, 3) < -2", _zero,
             oracle="numpy minimum/maximum", category="math",
             scalar=_clip),
    Function("where", (Arg("cond", "cond"), Arg("a", "value"), Arg("b", "value")), "float",
             "a on the bars where cond is true, b on the others", "where(close > open, volume, -volume) > 0",
             _zero, oracle="numpy where", category="math"),
    # --- calendar of the bar (exchange time; daily and coarser bars have no time of day)
    Function("dayofweek", (), "float", "day of the week of the bar's session: 0 Monday .. 4 Friday",
             "dayofweek() == 0", _zero, oracle="pandas DatetimeIndex.day_of_week", category="calendar",
             bar_value=True),
    Function("day", (), "float", "day of the month of the bar's session, 1..31", "day() <= 5", _zero,
             oracle="pandas DatetimeIndex.day", category="calendar", bar_value=True),
    Function("month", (), "float", "month of the bar's session, 1..12", "month() == 12", _zero,
             oracle="pandas DatetimeIndex.month", category="calendar", bar_value=True),
    Function("hour", (), "float", "hour of an intraday bar's start in exchange time (NaN on daily and coarser bars)",
             "hour() >= 15", _zero, oracle="pandas DatetimeIndex.hour (America/New_York)", category="calendar",
             bar_value=True),
    Function("minute", (), "float", "minute of an intraday bar's start (NaN on daily and coarser bars)",
             "hour() == 9 and minute() < 45", _zero, oracle="pandas DatetimeIndex.minute", category="calendar",
             bar_value=True),
    Function("month_end", (), "bool",
             "the bar holds the last session of a month (exchange calendar: known in advance, never looks ahead)",
             "month_end()", _zero, oracle="exchange calendar (exchange_calendars XNYS)", category="calendar",
             bar_value=True),
    Function("quarter_end", (), "bool", "the bar holds the last session of March, June, September or December",
             "quarter_end()", _zero, oracle="exchange calendar (exchange_calendars XNYS)", category="calendar",
             bar_value=True),
    # --- events
    Function("crosses_above", (Arg("a", "value"), Arg("b", "value")), "bool",
             "true on the bar where a moves above b: a > b now and a <= b on the previous bar",
             "crosses_above(sma(close, 10), sma(close, 30))", lambda s: 1, oracle="pandas shift",
             kernel="events:crosses_above_nb", category="events"),
    Function("crosses_below", (Arg("a", "value"), Arg("b", "value")), "bool",
             "true on the bar where a moves below b: a < b now and a >= b on the previous bar",
             "crosses_below(rsi(close, 14), 70)", lambda s: 1, oracle="pandas shift",
             kernel="events:crosses_below_nb", category="events"),
    Function("rising", (X, N), "bool", "x rose on each of the last n bars", "rising(close, 3)", _n,
             oracle="pandas diff/rolling", kernel="events:rising_nb", category="events"),
    Function("falling", (X, N), "bool", "x fell on each of the last n bars", "falling(close, 3)", _n,
             oracle="pandas diff/rolling", kernel="events:falling_nb", category="events"),
    Function("bars_since", (Arg("cond", "cond"),), "float", "bars since cond was last true (0 on a true bar)",
             "bars_since(crosses_above(close, sma(close, 50))) < 5", _zero, oracle="python loop",
             kernel="events:bars_since_nb", category="events",
             notes="counts from the last event however old: its value depends on how much history is loaded",
             path_dependent=True),
    Function("within", (Arg("cond", "cond"), N), "bool", "cond was true at least once in the last n bars",
             "within(crosses_above(close, sma(close, 50)), 5)", _zero, oracle="pandas rolling max",
             kernel="events:within_nb", category="events"),
    Function("count", (Arg("cond", "cond"), N), "float", "how many of the last n bars cond was true",
             "count(close > open, 10) >= 7", _n_minus_1, oracle="pandas rolling sum", kernel="events:count_nb",
             category="events"),
]

# ------------------------------------------------------------------------------------- cross-section
# Functions over the symbols of the universe on each bar (issue 17). On bar t a symbol takes part only when it
# has a value (not in its warm-up, has data) and is a member of the universe on t (a point-in-time universe
# such as @sp500); the others get no value (NaN; false for top/bottom). They read bar t only, so they add no
# warm-up of their own. A rotation selects with top(x, n) / bottom(x, n).
XS = "cross-section (over the universe, each bar)"
_CROSS_SECTION: list[Function] = [
    Function("rank", (X,), "float", "rank of x among the universe's symbols on this bar: 1 = the largest; "
             "ties share their average rank (pandas rank(method='average', ascending=False))",
             "rank(roc(close, 126)) <= 10", _zero, oracle="pandas DataFrame.rank(axis=1)", kernel="cross:rank_nb",
             category=XS, cross_sectional=True),
    Function("percentile", (X,), "float", "position of x in the universe on this bar, 0 (smallest) .. 1 "
             "(largest): (ascending average rank - 1) / (members - 1); none with fewer than 2 members",
             "percentile(roc(close, 126)) > 0.8", _zero, oracle="pandas DataFrame.rank(axis=1)",
             kernel="cross:percentile_nb", category=XS, cross_sectional=True),
    Function("cs_zscore", (X,), "float", "(x - cs_mean(x)) / population std (ddof 0) across the universe on this "
             "bar; none with fewer than 2 members or a std of 0", "cs_zscore(roc(close, 20)) > 1", _zero,
             oracle="pandas mean/std(axis=1, ddof=0)", kernel="cross:cs_zscore_nb", category=XS,
             cross_sectional=True),
    Function("cs_mean", (X,), "float", "mean of x across the universe's symbols on this bar",
             "roc(close, 20) > cs_mean(roc(close, 20))", _zero, oracle="pandas mean(axis=1)",
             kernel="cross:cs_mean_nb", category=XS, cross_sectional=True),
    Function("top", (X, N), "bool", "true for the n symbols with the largest x on this bar (ties: the earlier "
             "symbol name); fewer when fewer have a value", "top(roc(close, 126), 10)", _zero,
             oracle="pandas rank(axis=1, method='first') on name-sorted columns", kernel="cross:top_nb",
             category=XS, cross_sectional=True),
    Function("bottom", (X, N), "bool", "true for the n symbols with the smallest x on this bar (ties: the "
             "earlier symbol name)", "bottom(rsi(close, 14), 5)", _zero,
             oracle="pandas rank(axis=1, method='first') on name-sorted columns", kernel="cross:bottom_nb",
             category=XS, cross_sectional=True),
]
_XS_WARMUP_TEXT = dict.fromkeys(("rank", "percentile", "cs_zscore", "cs_mean", "top", "bottom"), "0 (of x)")
# ------------------------------------------------------------------------------------- end cross-section

FUNCTIONS: dict[str, Function] = {f.name: f for f in [*_F, *_CROSS_SECTION]}
CROSS_SECTIONAL = frozenset(f.name for f in _CROSS_SECTION)
CATEGORIES = ["averages and oscillators", "volatility and bands", "statistics", "windows and transforms", "math",
              "calendar", "events", XS]
#: the input slot of the calendar values of the bar (not a valid slot name, so it never meets a document's)
BAR_SLOT = "@bar"


def markdown_table() -> str:
    """The README's DSL reference table, generated from the registry."""
    rows = ["| function | returns | warm-up (bars) | description | example |",
            "|---|---|---|---|---|"]
    for cat in CATEGORIES:
        rows.append(f"| **{cat}** | | | | |")
        for f in FUNCTIONS.values():
            if f.category != cat:
                continue
            rows.append(f"| `{f.signature}` | {'true/false' if f.returns == 'bool' else 'number'} | "
                        f"{_warmup_text(f)} | {f.doc} | `{f.example}` |")
    return "\n".join(rows) + "\n"


_WARMUP_TEXT = {
    "sma": "n-1", "ema": "n-1 (+ convergence)", "wma": "n-1", "rsi": "n (+ convergence)",
    "dema": "2n-2 (+ convergence)", "tema": "3n-3 (+ convergence)", "trix": "3n-2 (+ convergence)",
    "kama": "n (+ convergence)", "macd": "max(fast,slow)-1 (+ convergence)",
    "macd_signal": "slow+signal-2 (+ convergence)",
    "macd_hist": "slow+signal-2 (+ convergence)", "roc": "n", "mom": "n", "cci": "n-1", "willr": "n-1",
    "mfi": "n", "adx": "2n-1 (+ convergence)", "obv": "0", "ppo": "slow-1 (+ convergence)",
    "plus_di": "n (+ convergence)", "minus_di": "n (+ convergence)", "ultosc": "long", "ad": "0", "sar": "1",
    "stoch_k": "fastk+slowk-2",
    "stoch_d": "fastk+slowk+slowd-3", "atr": "n (+ convergence)", "natr": "n (+ convergence)",
    "stddev": "n-1", "zscore": "n-1", "bb_upper": "n-1", "bb_middle": "n-1", "bb_lower": "n-1",
    "bb_percent": "n-1", "bb_width": "n-1", "keltner_upper": "n (+ convergence)",
    "keltner_middle": "n-1 (+ convergence)", "keltner_lower": "n (+ convergence)", "donchian_upper": "n-1",
    "donchian_middle": "n-1", "donchian_lower": "n-1", "ts_rank": "n-1", "corr": "n-1", "beta": "n",
    "slope": "n-1", "cumsum": "0", "sqrt": "0", "exp": "0", "log": "0", "pow": "0", "clip": "0",
    "where": "0", "dayofweek": "0", "day": "0", "month": "0", "hour": "0", "minute": "0", "month_end": "0",
    "quarter_end": "0", "highest": "n-1", "lowest": "n-1", "sum": "n-1", "mean": "n-1",
    "pct_change": "n", "log_return": "n", "shift": "n", "abs": "0", "min": "0", "max": "0", "vwap": "n-1",
    "crosses_above": "1", "crosses_below": "1", "rising": "n", "falling": "n", "bars_since": "0",
    "within": "0", "count": "n-1",
}
_WARMUP_TEXT.update(_XS_WARMUP_TEXT)


def _warmup_text(f: Function) -> str:
    return _WARMUP_TEXT[f.name]
