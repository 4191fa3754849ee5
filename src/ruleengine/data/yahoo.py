"""The ``yahoo`` provider: Yahoo Finance's chart API through the `yfinance` package; no key needed.

Serves daily and intraday prices (``ohlcv``), dividends and splits (``dividends``, ``splits``), following the
contract of `ruleengine.data.base`, and the latest bar for live signals (`YahooProvider.available_range`: one
request over the last 7 days). Configuration:

* ``YAHOO_ADJUSTMENT`` (or ``adjustment=``): the price basis, ``split-adjusted`` (default: Yahoo's quotes,
  adjusted for splits only), ``total-return`` (also adjusted for dividends: yfinance's ``auto_adjust``) or
  ``raw`` (as traded: Yahoo's quotes are split-adjusted as of today, so each bar is multiplied back by the
  splits after it, read from one more daily request up to today; volume divided by them). Every frame says
  its basis (``attrs["price_basis"]``) and so does every backtest (``data.price_basis``).
* ``YAHOO_BASE_URL`` (or ``base_url=``): where the requests go instead of ``https://query1/query2.finance.
  yahoo.com`` (and ``fc.yahoo.com``, the cookie host): a proxy, or a local stand-in in the tests. yfinance has no
  base-URL setting; it takes a ``session=``, and this provider's session (`yahoo_session`) rewrites the hosts.

yfinance keeps one session per process (its ``YfData`` is a singleton): fetches of this provider are
serialised by a lock, and yfinance's exceptions are switched on (``yf.config.debug.hide_exceptions =
False``) so that a failure arrives as an error, never as an empty frame. yfinance's own caches (time zones,
cookies) live under ruleengine's cache folder.

Intraday history is limited by Yahoo (the same limits yfinance's price repair uses): 1m bars within the last 30
days, at most 7 days per request (longer ranges are split); 5m, 15m and 30m within the last 60 days; 1h within
the last 730 days. A range outside them is refused before any request (D111, naming the limit and what to do).

Retries: 429, 5xx and connection errors are retried by the session (Retry-After or ``backoff * 2**n``, at most
``max_retries`` times; a Retry-After above ``max_wait`` is not waited for). Errors: a symbol Yahoo does not know
(404) -> D110; no bars in the range -> D111; 429/5xx after the retries, or an unreachable server -> D112; a body
that is not the chart API's JSON -> D114.

Point in time: bars as every price provider (a daily bar is known at its close). Dividends and splits are
dated by Yahoo at their ex-date and are visible from that session's open (09:30 New York): they were declared
earlier, so nothing is seen before it was known.

Example:
    >>> YahooProvider(base_url="http://127.0.0.1:9").cache_key()
    'yahoo:http://127.0.0.1:9:split-adjusted'
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from .base import FetchRequest, KindInfo, Provider
from .frames import EXCHANGE_TZ, finish, request_bounds

#: Our intraday frequency -> yfinance's interval.
INTERVALS = {"1Min": "1m", "5Min": "5m", "15Min": "15m", "30Min": "30m", "1Hour": "1h", "1Day": "1d"}
#: How far back Yahoo serves each intraday interval (days before now), and 1m's span per request.
INTRADAY_LOOKBACK_DAYS = {"1Min": 30, "5Min": 60, "15Min": 60, "30Min": 60, "1Hour": 730}
ONE_MINUTE_WINDOW_DAYS = 7
#: `YahooProvider.available_range` looks for the latest bar this many days back (one 1m window: a long weekend
#: with a holiday still leaves a session in it)
LATEST_WINDOW_DAYS = ONE_MINUTE_WINDOW_DAYS
#: Hosts yfinance talks to (yfinance.const and its cookie/crumb requests).
YAHOO_HOSTS = ("https://query1.finance.yahoo.com", "https://query2.finance.yahoo.com", "https://fc.yahoo.com",
               "https://guce.yahoo.com", "https://consent.yahoo.com")
#: The price bases this provider serves -> yfinance's ``auto_adjust``.
BASES = {"split-adjusted": False, "total-return": True, "raw": False}
DEFAULT_BASIS = "split-adjusted"
#: Ex-dates become visible at the open of their session (local time).
EX_DATE_TIME = pd.Timedelta(hours=9, minutes=30)

_LOCK = threading.Lock()  # yfinance's YfData is one session per process

_KINDS: dict[str, KindInfo] = {
    "ohlcv": KindInfo(("open", "high", "low", "close", "volume"), tuple(INTERVALS),
                      "split-adjusted (default), total-return or raw (YAHOO_ADJUSTMENT); intraday only recent: 1Min "
                      "30 days, 5Min-30Min 60 days, 1Hour 730 days (checked before the request)"),
    "dividends": KindInfo(("dividend",), ("event",),
                          "cash dividend per share, visible from its ex-date's open (09:30 New York)"),
    "splits": KindInfo(("split_ratio",), ("event",),
                       "new shares per old share (4.0 = 4-for-1), visible from its ex-date's open"),
}


def _err(code: str, message: str, hint: str | None = None) -> RuleEngineError:
    return RuleEngineError([Diagnostic(code, message, hint=hint)])


def yahoo_session(base_url: str | None, *, max_retries: int, backoff: float, max_wait: float) -> Any:
    """The `requests.Session` given to yfinance: Yahoo's hosts rewritten to `base_url`, with retries."""
    from .http_session import RetryingSession, normalize_base_url

    class YahooSession(RetryingSession):
        #: the final status of each chart-API request (yfinance also asks for cookies and crumbs)
        chart_statuses: list[int]

        def redirect(self, url: str) -> str:
            for host in YAHOO_HOSTS if base_url else ():
                if url.startswith(host):
                    return normalize_base_url(str(base_url)) + url[len(host):]
            return url

        def request(self, method: str, url: str | bytes,  # type: ignore[override, unused-ignore]
                    *args: Any, **kwargs: Any) -> Any:
            response = super().request(method, url, *args, **kwargs)
            if "/v8/finance/chart/" in (url.decode() if isinstance(url, bytes) else url):
                self.chart_statuses.append(response.status_code)
            return response

    session = YahooSession(max_retries=max_retries, backoff=backoff, max_wait=max_wait)
    session.chart_statuses = []
    return session


def _basis(value: str | None) -> str:
    basis = (value or DEFAULT_BASIS).strip().lower()
    if basis not in BASES:
        raise _err("D109", f"provider 'yahoo' cannot give '{basis}' prices: unknown price basis",
                   "set YAHOO_ADJUSTMENT to " + ", ".join(BASES))
    return basis


class YahooProvider(Provider):
    """Yahoo Finance through yfinance (no key; see the module docstring for the settings and limits).

    Args:
        adjustment: ``split-adjusted``, ``total-return`` or ``raw``; default ``YAHOO_ADJUSTMENT``, else
            split-adjusted.
        base_url: where Yahoo's hosts are redirected; default ``YAHOO_BASE_URL``, else Yahoo itself.
        max_retries, backoff, max_wait: retries of 429, 5xx and connection errors (see `RetryingSession`).
        timeout: seconds per request.
        clock: now, for the intraday limits (default: the current time).
    """

    name = "yahoo"
    description = ("Yahoo Finance (yfinance): daily and recent intraday prices, dividends and splits; no key "
                   "needed")
    point_in_time = ("bars at their close; dividends and splits at their ex-date's open (09:30 New York); "
                     "intraday only as far back as Yahoo keeps it")

    def __init__(self, adjustment: str | None = None, base_url: str | None = None, *, max_retries: int = 4,
                 backoff: float = 0.5, max_wait: float = 60.0, timeout: float = 30,
                 clock: Callable[[], pd.Timestamp] | None = None) -> None:
        self.adjustment = _basis(adjustment or os.environ.get("YAHOO_ADJUSTMENT"))
        self.price_basis = self.adjustment
        self.base_url = base_url or os.environ.get("YAHOO_BASE_URL") or None
        self.max_retries, self.backoff, self.max_wait, self.timeout = max_retries, backoff, max_wait, timeout
        self._clock = clock or _now  # a module function, not a lambda: the provider pickles (process executors)

    @property
    def kinds(self) -> Mapping[str, KindInfo]:
        return _KINDS

    def cache_key(self) -> str:
        return f"yahoo:{self.base_url or 'https://query2.finance.yahoo.com'}:{self.adjustment}"

    # -- checks before any request -----------------------------------------------------------------------

    def _check_range(self, symbol: str, frequency: str, start: pd.Timestamp) -> None:
        days = INTRADAY_LOOKBACK_DAYS.get(frequency)
        if days is None:
            return
        now = self._clock()
        # the first whole day inside the window (Yahoo counts back from now, to the minute)
        earliest = (now - pd.Timedelta(days=days)).tz_convert(EXCHANGE_TZ).tz_localize(None).ceil("D")
        if start < earliest:
            raise _err("D111", f"Yahoo keeps {frequency} bars of '{symbol}' for the last {days} days only "
                               f"(from {earliest.date()}); the request starts {start.date()}",
                       f"start on or after {earliest.date()}, use a coarser frequency (1Day goes back decades), "
                       "or --provider alpaca for longer intraday history")

    # -- fetch ------------------------------------------------------------------------------------------

    def fetch(self, request: FetchRequest) -> pd.DataFrame:
        """One symbol's data of one kind for ``[request.start, request.end]`` (see the module docstring)."""
        kind, symbol = request.kind, request.symbol.strip().upper()
        if kind not in _KINDS:
            raise _err("D109", f"provider 'yahoo' does not serve kind '{kind}'", "yahoo serves: " + ", ".join(_KINDS))
        frequency = request.frequency if kind == "ohlcv" else "1Day"
        if frequency not in INTERVALS:
            raise _err("D109", f"provider 'yahoo' does not serve ohlcv at '{frequency}'",
                       "yahoo serves: " + ", ".join(INTERVALS) + " (coarser bars are resampled from 1Day)")
        lo, hi = request_bounds("ohlcv" if kind == "ohlcv" else "events", frequency, request.start, request.end)
        first_day = pd.Timestamp(request.start).tz_localize(None).normalize() \
            if pd.Timestamp(request.start).tz is None else lo.tz_convert(EXCHANGE_TZ).tz_localize(None).normalize()
        self._check_range(symbol, frequency, first_day)
        raw = self._history(symbol, frequency, first_day, hi)
        if kind == "ohlcv":
            out = self._bars(raw, frequency)
            out = out[(out.index >= lo) & (out.index < hi)]
            if self.adjustment == "raw" and not out.empty:
                out = _unadjust(out, frequency, self._splits_since(symbol, first_day))
            if out.empty:
                raise _err("D111", f"Yahoo returned no {frequency} prices for '{symbol}' in "
                                   f"{pd.Timestamp(request.start).date()}..{pd.Timestamp(request.end).date()}",
                           "check the dates (before the listing, or a holiday) and the ticker")
        else:
            out = self._events(raw, kind)
            out = out[(out.index >= lo) & (out.index < hi)]
        return finish(out, kind=kind, frequency=request.frequency, provider=self.name, tz=EXCHANGE_TZ,
                      extra_attrs={"symbol": symbol, "price_basis": self.price_basis,
                                   "source": self.base_url or "https://query2.finance.yahoo.com"})

    def available_range(self, symbol: str, kind: str = "ohlcv",
                        frequency: str = "1Day") -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """(the first bar Yahoo serves, the latest bar's label) for prices: live signals read the latest one.

        One chart request over the last `LATEST_WINDOW_DAYS` days (inside every intraday limit, and one 1m
        window): the latest bar is its last row (a daily one as its session date, an intraday one as its start,
        possibly still forming). The first is the listing day (the chart's ``firstTradeDate``; the request's
        first bar when the chart does not state it) for daily bars, the first day of the interval's window
        (`INTRADAY_LOOKBACK_DAYS`) for intraday ones. None for the event kinds (they have no latest bar);
        D110 / D111 / D112 as for `fetch`.
        """
        if kind != "ohlcv":
            return None
        symbol = symbol.strip().upper()
        if frequency not in INTERVALS:
            raise _err("D109", f"provider 'yahoo' does not serve ohlcv at '{frequency}'",
                       "yahoo serves: " + ", ".join(INTERVALS) + " (coarser bars are resampled from 1Day)")
        now = self._clock()
        today = now.tz_convert(EXCHANGE_TZ).tz_localize(None).normalize()
        start = today - pd.Timedelta(days=LATEST_WINDOW_DAYS - 1)
        self._check_range(symbol, frequency, start)
        meta: dict[str, Any] = {}
        bars = self._bars(self._call(symbol, frequency, start, today + pd.Timedelta(days=1), meta), frequency)
        if bars.empty:
            raise _err("D111", f"Yahoo has no {frequency} prices for '{symbol}' in the last {LATEST_WINDOW_DAYS} "
                               "days: no latest bar", "check the ticker (delisted?) or give the date with --asof")
        last = pd.Timestamp(bars.index[-1])
        days = INTRADAY_LOOKBACK_DAYS.get(frequency)
        if days is not None:
            first = (now - pd.Timedelta(days=days)).tz_convert(EXCHANGE_TZ).tz_localize(None).ceil("D")
            return first.tz_localize(EXCHANGE_TZ).tz_convert("UTC"), last
        listed = meta.get("firstTradeDate")
        first = pd.Timestamp(listed).tz_convert(EXCHANGE_TZ).tz_localize(None).normalize().tz_localize("UTC") \
            if isinstance(listed, datetime) else pd.Timestamp(bars.index[0])
        return first, last

    def _splits_since(self, symbol: str, first_day: pd.Timestamp) -> pd.Series:
        """Split ratios by ex-date (New York dates) from `first_day` up to today: what Yahoo's quotes undo."""
        today = self._clock().tz_convert(EXCHANGE_TZ).tz_localize(None).normalize()
        daily = self._call(symbol, "1Day", first_day, today + pd.Timedelta(days=1))
        splits = self._events(daily, "splits")["split_ratio"]
        return pd.Series(splits.to_numpy(), index=splits.index.tz_convert(EXCHANGE_TZ).tz_localize(None).normalize())

    def _history(self, symbol: str, frequency: str, first_day: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:
        """yfinance's history for [first_day, hi) in windows Yahoo serves (1m: 7 days each), concatenated."""
        end_day = hi.tz_convert(EXCHANGE_TZ).tz_localize(None).normalize() + pd.Timedelta(days=1)
        step = pd.Timedelta(days=ONE_MINUTE_WINDOW_DAYS if frequency == "1Min" else 365 * 200)
        parts, a = [], first_day
        while a < end_day:
            b = min(end_day, a + step)
            parts.append(self._call(symbol, frequency, a, b))
            a = b
        return pd.concat(parts) if len(parts) > 1 else parts[0]

    def _call(self, symbol: str, frequency: str, start: pd.Timestamp, end: pd.Timestamp,
              meta: dict[str, Any] | None = None) -> pd.DataFrame:
        """One yfinance ``history`` call; every failure becomes a RuleEngineError (the module docstring).
        `meta`, when given, receives the chart's ``firstTradeDate`` (no further request)."""
        import requests
        import yfinance as yf
        from yfinance import exceptions as yfe

        with _LOCK:
            yf.config.debug.hide_exceptions = False  # failures as exceptions, never an empty frame and a log line
            # yfinance keeps responses of past ranges in memory, failures included (its documented cache_clear
            # empties it): each call asks the server; ruleengine's on-disk cache keeps the successes.
            yf.data.YfData.cache_get.cache_clear()
            _cache_location()
            session = yahoo_session(self.base_url, max_retries=self.max_retries, backoff=self.backoff,
                                    max_wait=self.max_wait)
            where = self.base_url or "Yahoo Finance"
            try:
                with warnings.catch_warnings():  # yfinance's own pandas deprecations are not the user's concern
                    warnings.filterwarnings("ignore", module=r"yfinance(\.|$)")
                    ticker = yf.Ticker(symbol, session=session)
                    frame = ticker.history(start=start.strftime("%Y-%m-%d"), end=end.strftime("%Y-%m-%d"),
                                           interval=INTERVALS[frequency], auto_adjust=BASES[self.adjustment],
                                           actions=True, repair=False, prepost=False, timeout=self.timeout)
                    if meta is not None:
                        # one key: reading them all would fetch intraday ``tradingPeriods`` (lazy in yfinance)
                        meta["firstTradeDate"] = ticker.history_metadata.get("firstTradeDate")
            except yfe.YFRateLimitError:
                raise self._failed(session, symbol, 429) from None
            except yfe.YFTickerMissingError as exc:
                status = _worst(session.chart_statuses)
                if status is not None and (status >= 500 or status == 429):
                    raise self._failed(session, symbol, status) from None
                if status in (401, 403):
                    raise _err("D112", f"Yahoo refused prices of '{symbol}' (HTTP {status}): {exc}",
                               "Yahoo sometimes refuses clients for a while; retry later, or use "
                               "--provider alpaca") from None
                if status == 404 or isinstance(exc, yfe.YFTzMissingError):
                    raise _err("D110", f"symbol '{symbol}' not found: Yahoo answered '{exc}'",
                               "check the ticker (Yahoo spells share classes like BRK-B and adds a suffix "
                               f"outside the US, e.g. VOD.L); if every symbol fails, check YAHOO_BASE_URL "
                               f"({where})") from None
                raise _err("D111", f"Yahoo has no {frequency} prices for '{symbol}' from {start.date()} to "
                                   f"{end.date()}: {exc}", "check the dates and the ticker") from None
            except (ValueError, KeyError, TypeError, IndexError, yfe.YFException) as exc:
                status = _worst(session.chart_statuses)
                if status is not None and (status >= 500 or status == 429):
                    raise self._failed(session, symbol, status) from None
                raise _err("D114", f"malformed data from Yahoo for '{symbol}': {type(exc).__name__}: {exc}",
                           f"Yahoo's chart API may have changed shape; check YAHOO_BASE_URL ({where}) and the "
                           "yfinance version") from None
            except requests.HTTPError as exc:  # yfinance's other endpoints (quoteSummary, after a 404 chart)
                status = exc.response.status_code if exc.response is not None else 0
                worst = _worst([*session.chart_statuses, status]) or status
                if worst >= 500 or worst == 429:
                    raise self._failed(session, symbol, worst) from None
                if worst == 404:
                    raise _err("D110", f"symbol '{symbol}' not found: Yahoo answered HTTP 404",
                               "check the ticker (Yahoo spells share classes like BRK-B and adds a suffix "
                               f"outside the US, e.g. VOD.L); if every symbol fails, check YAHOO_BASE_URL "
                               f"({where})") from None
                raise _err("D112", f"Yahoo refused prices of '{symbol}' (HTTP {worst})",
                           "Yahoo sometimes refuses clients for a while; retry later, or use --provider "
                           "alpaca") from None
            except requests.RequestException as exc:
                raise _err("D112", f"could not reach Yahoo at {where} for '{symbol}' after {session.attempts} "
                                   f"attempt(s): {type(exc).__name__}",
                           "check the network connection and YAHOO_BASE_URL") from None
        return frame

    def _failed(self, session: Any, symbol: str, status: int) -> RuleEngineError:
        wait = session.retry_after
        later = f"; the server asked to wait {wait:g} s" if wait is not None else ""
        what = "rate limit (HTTP 429)" if status == 429 else f"server error (HTTP {status})"
        return _err("D112", f"Yahoo {what} for '{symbol}' after {self.max_retries + 1} attempt(s) per request{later}",
                    "wait and retry later, or fetch fewer symbols at a time" if status == 429
                    else "Yahoo may be down; retry later")

    @staticmethod
    def _bars(raw: pd.DataFrame, frequency: str) -> pd.DataFrame:
        missing = [c for c in ("Open", "High", "Low", "Close", "Volume") if c not in raw.columns]
        if missing:
            raise _err("D114", f"malformed data from Yahoo: column(s) {', '.join(missing)} missing")
        out = raw[["Open", "High", "Low", "Close", "Volume"]].astype("float64")
        out.columns = ["open", "high", "low", "close", "volume"]
        idx = pd.DatetimeIndex(out.index)
        if frequency == "1Day":  # yfinance labels a session at 00:00 exchange time: our 00:00 UTC date label
            out.index = idx.tz_localize(None).normalize().tz_localize("UTC")
        else:
            out.index = idx.tz_convert("UTC")
        out.index.name = "time"
        return out[~out.index.duplicated(keep="last")].sort_index()

    @staticmethod
    def _events(raw: pd.DataFrame, kind: str) -> pd.DataFrame:
        source, column = ("Dividends", "dividend") if kind == "dividends" else ("Stock Splits", "split_ratio")
        values = raw[source] if source in raw.columns else pd.Series(dtype="float64", index=raw.index)
        values = values[values.fillna(0) != 0].astype("float64")
        days = pd.DatetimeIndex(values.index).tz_localize(None).normalize()
        at = (days + EX_DATE_TIME).tz_localize(EXCHANGE_TZ).tz_convert("UTC")
        out = pd.DataFrame({column: values.to_numpy()}, index=pd.DatetimeIndex(at, name="available_at"))
        return out[~out.index.duplicated(keep="last")].sort_index()


def _unadjust(bars: pd.DataFrame, frequency: str, splits: pd.Series) -> pd.DataFrame:
    """Split-adjusted bars as traded: prices times the ratios of the splits after each bar's session (its
    ex-date's bar is already in new shares), volume divided by them."""
    if splits.empty:
        return bars
    idx = pd.DatetimeIndex(bars.index)
    days = (idx.tz_localize(None) if frequency == "1Day" else idx.tz_convert(EXCHANGE_TZ).tz_localize(None)).normalize()
    factor = pd.Series(1.0, index=range(len(bars)))
    for day, ratio in splits.items():
        factor[(days < day)] *= float(ratio)
    out = bars.copy()
    for col in ("open", "high", "low", "close"):
        out[col] = bars[col].to_numpy() * factor.to_numpy()
    out["volume"] = bars["volume"].to_numpy() / factor.to_numpy()
    return out


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def _worst(statuses: list[int]) -> int | None:
    """The status that explains a failure: a 5xx or 429 first, then any other error, else the last one."""
    for wanted in (lambda x: x >= 500 or x == 429, lambda x: x >= 400):
        found = [x for x in statuses if wanted(x)]
        if found:
            return found[-1]
    return statuses[-1] if statuses else None


def _cache_location() -> None:
    """yfinance's caches (time zones, cookies) under ruleengine's cache folder, once per folder."""
    import yfinance as yf

    from .cache import default_cache_dir

    folder = default_cache_dir() / "yfinance"
    if getattr(_cache_location, "folder", None) != folder:
        folder.mkdir(parents=True, exist_ok=True)
        yf.set_tz_cache_location(str(folder))
        _cache_location.folder = folder  # type: ignore[attr-defined]
