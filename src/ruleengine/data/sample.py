"""The ``sample`` provider: deterministic synthetic data for any symbol name, so everything works offline.

The data are SYNTHETIC: made up from a hash of the symbol name, not the ticker's real prices. Every frame
carries ``attrs["synthetic"] = True`` and a warning. Properties:

* **Deterministic and range-independent**: each random stream is seeded from SHA-256 of the upper-cased
  symbol (never Python's salted ``hash()``) and generated sequentially from a fixed epoch (1995-01-03) on the
  XNYS session calendar, so the value on a date never depends on the requested range.
* **Daily bars**: a two-state regime switch (calm: positive drift, low volatility; stressed: negative drift,
  2-3x volatility) with fat-tailed (Student-t) returns, overnight gaps, OHLC consistent (low <= open, close
  <= high, cents), volume rising with the absolute return.
* **1-minute bars** (regular session, half days included) are a random bridge inside each daily bar: first
  open, highest high, lowest low, last close and summed volume equal the daily bar exactly.
* **Fundamentals** (`sample_events`): quarterly statements, earnings announced 25-40 days after the quarter
  end (BMO or AMC) with estimate and surprise, filings a few days later; insider purchases and sales.
  Event kinds return the records available in ``[start, end]`` plus, except insider trades, the latest
  earlier one (the value in force at ``start``).

Example:
    >>> import pandas as pd
    >>> p = SampleProvider()
    >>> df = p.fetch(FetchRequest("ANY", "ohlcv", pd.Timestamp("2020-01-02"), pd.Timestamp("2020-01-10")))
    >>> len(df), df.attrs["synthetic"]
    (7, True)
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from ..schema.kinds import KIND_COLUMNS
from .base import PRICE_KINDS, FetchRequest, KindInfo, Provider
from .calendar import session_bounds, sessions_between
from .frames import (
    BAR_FREQUENCIES,
    EXCHANGE_TZ,
    INTRADAY,
    deliverable_frequency,
    finish,
    request_bounds,
    to_timestamp,
)

EPOCH = pd.Timestamp("1995-01-03")
NATIVE = ("1Min", "1Day")
WARNING = "SYNTHETIC data generated from the symbol name; these are not {symbol}'s real prices"

# Stream numbers: one independent random stream per quantity keeps every prefix stable.
_PARAMS, _REGIME, _SHOCK, _GAP, _HIGH, _LOW, _VOLUME, _MINUTE = range(8)


def symbol_seed(symbol: str) -> int:
    """A stable 64-bit seed of the upper-cased symbol (SHA-256; Python's hash() changes per process)."""
    return int.from_bytes(hashlib.sha256(symbol.strip().upper().encode("utf-8")).digest()[:8], "little")


def stream(seed: int, *keys: int) -> np.random.Generator:
    """The random generator of one stream of a symbol."""
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def _uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(lo + (hi - lo) * rng.random())


def _regimes(u: np.ndarray, stay_calm: float, stay_stress: float) -> np.ndarray:
    """A two-state Markov chain (0 calm, 1 stressed) driven by uniforms, starting calm."""
    state = np.zeros(len(u), dtype=np.int8)
    s = 0
    for i, x in enumerate(u):  # 10k steps: a plain loop is fast enough and obviously sequential
        if i:
            s = s if x < (stay_calm if s == 0 else stay_stress) else 1 - s
        state[i] = s
    return state


def daily_bars(symbol: str, sessions: pd.DatetimeIndex) -> pd.DataFrame:
    """Daily OHLCV on `sessions` (which must start at EPOCH), indexed by naive session date."""
    seed = symbol_seed(symbol)
    n = len(sessions)
    p = stream(seed, _PARAMS)
    p0 = float(np.exp(_uniform(p, np.log(10.0), np.log(300.0))))
    sig_calm = _uniform(p, 0.007, 0.016)
    sig = np.array([sig_calm, sig_calm * _uniform(p, 2.0, 3.0)])
    mu = np.array([_uniform(p, 0.0002, 0.0008), _uniform(p, -0.0025, -0.0008)])
    stay = (_uniform(p, 0.985, 0.995), _uniform(p, 0.93, 0.97))
    v0 = float(np.exp(_uniform(p, np.log(2e5), np.log(5e7))))

    regime = _regimes(stream(seed, _REGIME).random(n), *stay)
    shock = stream(seed, _SHOCK).standard_t(5, n) / np.sqrt(5 / 3)  # unit variance, fat tails
    s = sig[regime]
    log_close = np.log(p0) + np.cumsum(mu[regime] + s * shock)
    close = np.exp(log_close)
    prev = np.concatenate([[p0], close[:-1]])
    open_ = prev * np.exp(0.3 * s * stream(seed, _GAP).standard_normal(n))
    high = np.maximum(open_, close) * np.exp(0.5 * s * np.abs(stream(seed, _HIGH).standard_normal(n)))
    low = np.minimum(open_, close) * np.exp(-0.5 * s * np.abs(stream(seed, _LOW).standard_normal(n)))
    open_, high, low, close = (np.maximum(np.round(x, 2), 0.01) for x in (open_, high, low, close))
    high = np.maximum.reduce([high, open_, close])
    low = np.minimum.reduce([low, open_, close])
    move = np.abs(np.log(close / np.maximum(np.round(prev, 2), 0.01)))
    noise = np.exp(0.25 * stream(seed, _VOLUME).standard_normal(n))
    volume = np.maximum(np.round(v0 * noise * (0.6 + 0.8 * move / sig_calm)), 100.0)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume},
                        index=sessions)


def minute_bars(symbol: str, day: pd.Timestamp, bar: pd.Series, open_utc: pd.Timestamp,
                close_utc: pd.Timestamp) -> pd.DataFrame:
    """The regular-session 1-minute bars of one daily bar, consistent with it (see the module docstring)."""
    n = int((close_utc - open_utc) / pd.Timedelta(minutes=1))
    rng = stream(symbol_seed(symbol), _MINUTE, int(day.value // 86_400_000_000_000))
    o, h, lo, c = (float(bar[k]) for k in ("open", "high", "low", "close"))
    walk = np.concatenate([[0.0], np.cumsum(rng.standard_normal(n))])
    frac = np.arange(n + 1) / n
    bridge = walk - frac * walk[-1]                      # a random bridge: 0 at both ends
    line = np.log(o) + (np.log(c) - np.log(o)) * frac
    up, down = max(bridge.max(), 1e-12), min(bridge.min(), -1e-12)
    room_up = np.log(h) - max(np.log(o), np.log(c))
    room_down = min(np.log(o), np.log(c)) - np.log(lo)
    path = line + np.where(bridge > 0, bridge / up * room_up, bridge / -down * room_down) * 0.9
    points = np.clip(np.round(np.exp(path), 2), lo, h)
    points[0], points[-1] = o, c
    m_open, m_close = points[:-1], points[1:]
    wiggle = np.exp(np.abs(rng.standard_normal((2, n))) * 0.0004)
    m_high = np.clip(np.round(np.maximum(m_open, m_close) * wiggle[0], 2), lo, h)
    m_low = np.clip(np.round(np.minimum(m_open, m_close) / wiggle[1], 2), lo, h)
    m_high = np.maximum.reduce([m_high, m_open, m_close])
    m_low = np.minimum.reduce([m_low, m_open, m_close])
    m_high[int(np.argmax(m_high))] = h                  # the day's extremes happen somewhere in the session
    m_low[int(np.argmin(m_low))] = lo
    # U-shaped intraday volume profile, split exactly (largest remainders) so the minutes sum to the day.
    x = np.linspace(-1.0, 1.0, n)
    weights = (1.0 + 2.0 * x**2) * np.exp(0.4 * rng.standard_normal(n))
    share = float(bar["volume"]) * weights / weights.sum()
    vol = np.floor(share)
    left = round(float(bar["volume"]) - vol.sum())
    if left > 0:
        vol[np.argsort(share - vol)[::-1][:left]] += 1
    index = pd.date_range(open_utc, periods=n, freq="1min")
    return pd.DataFrame({"open": m_open, "high": m_high, "low": m_low, "close": m_close, "volume": vol},
                        index=index)


class SampleProvider(Provider):
    """Synthetic, deterministic data for any symbol (see the module docstring). Not real prices."""

    name = "sample"
    synthetic = True
    cacheable = False  # generated in milliseconds; an on-disk copy would be slower than regenerating
    default_rank = 90  # the last resort: chosen when no configured real provider serves a slot
    default_reason = "no provider configured, no data path, no Alpaca or FMP key: synthetic data"
    description = ("SYNTHETIC data for any symbol name, generated deterministically from the name (regime-"
                   "switching prices, quarterly earnings and statements, insider trades). NOT the ticker's "
                   "real prices; for trying things out offline.")

    def __init__(self, cache_size: int = 64) -> None:
        self._daily: OrderedDict[str, pd.DataFrame] = OrderedDict()
        self._cache_size = cache_size

    @property
    def kinds(self) -> Mapping[str, KindInfo]:
        note = "SYNTHETIC. "
        return {
            "ohlcv": KindInfo(KIND_COLUMNS["ohlcv"], BAR_FREQUENCIES,
                              note + "Generated at 1Day and 1Min (regular session, consistent with the daily "
                                     "bars); coarser frequencies are resampled from these. From 1995-01-03."),
            "earnings": KindInfo(KIND_COLUMNS["earnings"], ("quarterly",),
                                 note + "Announced 25-40 days after each quarter end, BMO (08:00) or AMC "
                                        "(16:30, usable next session)."),
            "income_statement": KindInfo(KIND_COLUMNS["income_statement"], ("quarterly",),
                                         note + "Available when the 10-Q/10-K is filed (16:30 that day)."),
            "balance_sheet": KindInfo(KIND_COLUMNS["balance_sheet"], ("quarterly",),
                                      note + "Available when the 10-Q/10-K is filed (16:30 that day)."),
            "fundamentals": KindInfo(KIND_COLUMNS["fundamentals"], ("quarterly",),
                                     note + "Quarterly; available when the 10-Q/10-K is filed."),
            "insider_trades": KindInfo(KIND_COLUMNS["insider_trades"], ("event",),
                                       note + "Open-market purchases (P) and sales (S); available 2 business "
                                              "days after the trade."),
        }

    def _daily_through(self, symbol: str, end: pd.Timestamp) -> pd.DataFrame:
        """Daily bars from the epoch through `end` (cached; regenerated longer when needed)."""
        key = symbol.strip().upper()
        have = self._daily.get(key)
        if have is None or have.attrs["through"] < end:
            through = max(end, pd.Timestamp.now().normalize() + pd.Timedelta(days=7))
            have = daily_bars(key, sessions_between(EPOCH, through))
            have.attrs["through"] = through
            self._daily[key] = have
            while len(self._daily) > self._cache_size:
                self._daily.popitem(last=False)
        self._daily.move_to_end(key)
        return have

    def fetch(self, request: FetchRequest) -> pd.DataFrame:
        """One symbol's synthetic data for the request (frames labelled synthetic)."""
        symbol, kind = request.symbol.strip(), request.kind
        if not symbol:
            raise RuleEngineError([Diagnostic("D110", "empty symbol", hint="give a ticker such as SPY")])
        if kind not in self.kinds:
            raise RuleEngineError([Diagnostic("D109", f"the sample provider does not generate '{kind}' data",
                                              hint="sample kinds: " + ", ".join(self.kinds))])
        frequency = request.frequency
        if kind in PRICE_KINDS:
            native = deliverable_frequency(NATIVE, frequency)
            if native is None:
                raise RuleEngineError([Diagnostic("D109", f"unknown bar frequency '{frequency}'",
                                                  hint="one of: " + ", ".join(BAR_FREQUENCIES))])
        else:
            native = self.kinds[kind].frequencies[0]
        start, end = to_timestamp(request.start, "start date"), to_timestamp(request.end, "end date")
        lo, hi = request_bounds(kind, native, start, end)
        # Local session dates covering [lo, hi): generation runs on these, selection on lo / hi.
        first = max(lo.tz_convert(EXCHANGE_TZ).tz_localize(None).normalize() - pd.Timedelta(days=1), EPOCH)
        last = (hi - pd.Timedelta(1, "ns")).tz_convert(EXCHANGE_TZ).tz_localize(None).normalize()
        if last < EPOCH:
            raise RuleEngineError([Diagnostic("D111", f"no sample data before {EPOCH.date()} (asked for "
                                                      f"{symbol} through {last.date()})",
                                              hint=f"sample data start on {EPOCH.date()}")])
        if kind in PRICE_KINDS:
            frame = self._prices(symbol, native, first, last + pd.Timedelta(days=1))
        else:
            from .sample_events import events

            frame = events(symbol, kind, self._daily_through(symbol, last + pd.Timedelta(days=120)))
        keep = (frame.index >= lo) & (frame.index < hi)
        earlier = np.flatnonzero(frame.index < lo)
        if kind not in PRICE_KINDS and kind != "insider_trades" and len(earlier):
            keep[earlier[-1]] = True  # the value in force at `start`, as the other providers deliver it
        frame = frame[keep].copy()
        if frame.empty and kind != "insider_trades":
            raise RuleEngineError([Diagnostic(
                "D111", f"no sample {kind} data for {symbol} between {start.date()} and {end.date()}",
                hint="sample data run from 1995-01-03 to the last session of the exchange calendar"
                     if kind in PRICE_KINDS else f"sample {kind} records are quarterly or sparse; widen "
                                                 "the range")])
        return finish(frame, kind=kind, frequency=native, provider=self.name, synthetic=True,
                      extra_attrs={"symbol": symbol, "warning": WARNING.format(symbol=symbol)})

    def _prices(self, symbol: str, native: str, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
        """Bars of the sessions ``first`` .. ``last`` (naive local dates, inclusive)."""
        daily = self._daily_through(symbol, last)
        days = daily.loc[(daily.index >= first) & (daily.index <= last)]
        if native not in INTRADAY:
            out = days.copy()
            out.index = pd.DatetimeIndex(out.index).tz_localize("UTC")
            return out
        opens, closes = session_bounds(days.index)
        parts = [minute_bars(symbol, day, days.iloc[i], opens[i], closes[i])
                 for i, day in enumerate(days.index)]
        if not parts:
            return days.iloc[:0].set_axis(pd.DatetimeIndex([], tz="UTC"))
        return pd.concat(parts)

    def available_range(self, symbol: str, kind: str = "ohlcv",
                        frequency: str = "1Day") -> tuple[pd.Timestamp, pd.Timestamp]:
        """The epoch through today (the CLI's default range is the last year of it)."""
        return EPOCH.tz_localize("UTC"), pd.Timestamp.now(tz="UTC").normalize()

