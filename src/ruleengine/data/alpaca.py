"""The ``alpaca`` provider: Alpaca's market data API (``/v2/stocks/bars``) through the `alpaca-py` package.

Serves stock bars (``ohlcv``) at 1Min, 5Min, 15Min, 30Min, 1Hour and 1Day, following the contract of
`ruleengine.data.base`, and the latest bar for live signals (`available_range`). Configuration:

* ``ALPACA_API_KEY`` / ``ALPACA_SECRET_KEY`` (or ``api_key=`` / ``secret_key=``): without both, every fetch
  raises D113 before any request. With both set, alpaca is the default price provider (before fmp).
* ``ALPACA_DATA_URL`` (or ``base_url=``): the data API's base, default ``https://data.alpaca.markets``
  (alpaca-py's ``url_override``).
* ``ALPACA_FEED`` (or ``feed=``): ``iex`` (default: the free plan's exchange) or ``sip`` (every US exchange;
  needs a paid plan for the last 15 minutes).
* ``ALPACA_ADJUSTMENT`` (or ``adjustment=``): ``split-adjusted`` (default), ``raw`` (as traded) or
  ``total-return`` (splits and dividends: Alpaca's ``all``). Every frame says its basis and feed.

Intraday bars are kept for the regular session (bar starts 09:30 to 15:59 New York time); Alpaca also sends
extended hours. Hours come as 30-minute bars (``attrs["frequency"]``), resampled by the binder into session
hours (Alpaca's own hourly bars start on the hour). alpaca-py follows ``next_page_token`` itself (10,000 bars a
page).

Retries: alpaca-py retries only 429 and 504, at a fixed wait, without reading ``Retry-After``; its retries are
switched off through its own settings (``retry_exception_codes`` that match no status) and this provider
retries the call instead: 429, 5xx and connection errors up to ``max_retries`` times, waiting ``Retry-After``
(at most ``max_wait`` seconds: a longer one fails at once) or ``backoff * 2**n``. A retried call starts again
from its first page. Errors: no key, 401 or 403 -> D113; 400 "invalid symbol" or 404 -> D110; no bars -> D111
(also Alpaca's answer to a symbol it does not list); 429/5xx after the retries, or an unreachable server ->
D112; a body that is not the documented JSON -> D114.

Point in time: bars as every price provider (a bar is known at its close); data since 2016.

Example:
    >>> AlpacaProvider(api_key="k", secret_key="s", base_url="http://127.0.0.1:9").cache_key()
    'alpaca:http://127.0.0.1:9:iex:split-adjusted'
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from .base import FetchRequest, KindInfo, PerThreadClients, Provider
from .frames import EXCHANGE_TZ, INTRADAY, finish, request_bounds

DEFAULT_BASE_URL = "https://data.alpaca.markets"
#: Our frequency -> (amount, alpaca-py TimeFrameUnit name).
TIMEFRAMES = {"1Min": (1, "Minute"), "5Min": (5, "Minute"), "15Min": (15, "Minute"), "30Min": (30, "Minute"),
              "1Hour": (1, "Hour"), "1Day": (1, "Day")}
#: Alpaca's hourly bars start on the hour (09:00-10:00 mixes pre-market trades into the first one): hours are
#: delivered as 30-minute bars, which the binder resamples into session hours from 09:30 like every provider's.
DELIVERED = {"1Hour": "30Min"}
#: Our price basis -> Alpaca's ``adjustment``.
BASES = {"raw": "raw", "split-adjusted": "split", "total-return": "all"}
DEFAULT_BASIS = "split-adjusted"
FEEDS = ("iex", "sip")
#: Alpaca's market data history starts here.
HISTORY_START = pd.Timestamp("2016-01-04", tz="UTC")
#: alpaca-py retries the statuses in ``retry_exception_codes``; no response has status 0, so it never does.
_NO_STATUS = 0
_REGULAR_OPEN, _REGULAR_CLOSE = pd.Timedelta(hours=9, minutes=30), pd.Timedelta(hours=16)

_KEY_HINT = ("set ALPACA_API_KEY and ALPACA_SECRET_KEY (a free Alpaca account has them), or use "
             "--provider yahoo (no key)")

_KINDS: dict[str, KindInfo] = {
    "ohlcv": KindInfo(("open", "high", "low", "close", "volume"), tuple(TIMEFRAMES),
                      "stock bars since 2016, feed iex (default) or sip (ALPACA_FEED); split-adjusted (default), "
                      "raw or total-return (ALPACA_ADJUSTMENT); intraday: regular session"),
}


def _err(code: str, message: str, hint: str | None = None) -> RuleEngineError:
    return RuleEngineError([Diagnostic(code, message, hint=hint)])


def _setting(value: str | None, env: str, allowed: tuple[str, ...], default: str) -> str:
    text = (value or os.environ.get(env) or default).strip().lower()
    if text not in allowed:
        raise _err("D109", f"provider 'alpaca': {env}={text} is not one of {', '.join(allowed)}",
                   f"set {env} to one of: {', '.join(allowed)}")
    return text


class AlpacaProvider(PerThreadClients, Provider):
    """Alpaca market data through alpaca-py (see the module docstring for the settings, retries and errors).

    Args:
        api_key, secret_key: default ``ALPACA_API_KEY`` / ``ALPACA_SECRET_KEY``.
        base_url: default ``ALPACA_DATA_URL``, else ``https://data.alpaca.markets``.
        feed: ``iex`` or ``sip``; default ``ALPACA_FEED``, else iex.
        adjustment: ``raw``, ``split-adjusted`` or ``total-return``; default ``ALPACA_ADJUSTMENT``, else
            split-adjusted.
        max_retries, backoff, max_wait: retries of 429, 5xx and connection errors.
        sleep: how to wait between retries (time.sleep).
    """

    name = "alpaca"
    default_rank: ClassVar[int | None] = 15
    default_reason: ClassVar[str] = "ALPACA_API_KEY and ALPACA_SECRET_KEY are set"
    description = ("Alpaca market data (alpaca-py): US stock bars 1Min..1Day since 2016, IEX or SIP feed; needs "
                   "ALPACA_API_KEY and ALPACA_SECRET_KEY")
    credentials = ("ALPACA_API_KEY", "ALPACA_SECRET_KEY")
    point_in_time = "bars at their close; the latest completed bar for live signals"

    def __init__(self, api_key: str | None = None, secret_key: str | None = None, base_url: str | None = None, *,
                 feed: str | None = None, adjustment: str | None = None, max_retries: int = 4,
                 backoff: float = 0.5, max_wait: float = 60.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.api_key = api_key or os.environ.get("ALPACA_API_KEY") or None
        self.secret_key = secret_key or os.environ.get("ALPACA_SECRET_KEY") or None
        self.base_url = (base_url or os.environ.get("ALPACA_DATA_URL") or DEFAULT_BASE_URL).strip().rstrip("/")
        self.feed = _setting(feed, "ALPACA_FEED", FEEDS, "iex")
        self.adjustment = _setting(adjustment, "ALPACA_ADJUSTMENT", tuple(BASES), DEFAULT_BASIS)
        self.price_basis = self.adjustment
        self.max_retries, self.backoff, self.max_wait = max(0, int(max_retries)), max(0.0, backoff), max_wait
        self._sleep = sleep
        self._local = threading.local()

    @classmethod
    def configured(cls, env: Mapping[str, str]) -> bool:
        """A default only when both keys are set (usable by name without them: D113 then)."""
        return bool(env.get("ALPACA_API_KEY")) and bool(env.get("ALPACA_SECRET_KEY"))

    @property
    def kinds(self) -> Mapping[str, KindInfo]:
        return _KINDS

    def cache_key(self) -> str:
        return f"alpaca:{self.base_url}:{self.feed}:{self.adjustment}"

    # -- requests ----------------------------------------------------------------------------------------

    def _client(self) -> Any:
        if not (self.api_key and self.secret_key):
            missing = [n for n, v in (("ALPACA_API_KEY", self.api_key), ("ALPACA_SECRET_KEY", self.secret_key))
                       if not v]
            raise _err("D113", f"no Alpaca credentials: {' and '.join(missing)} not set", _KEY_HINT)
        client = getattr(self._local, "client", None)
        if client is None:  # one client per thread: its requests.Session is not thread-safe
            client = _stock_client(self.api_key, self.secret_key, self.base_url)
            self._local.client = client
        return client

    def _call(self, symbol: str, what: str, fn: Callable[[], Any]) -> Any:
        """`fn` (one alpaca-py call) with retries; every failure as a RuleEngineError."""
        import pydantic
        import requests
        from alpaca.common.exceptions import APIError

        from .http_session import is_retryable, retry_after_seconds

        attempts = 0
        while True:
            attempts += 1
            retries_left = attempts <= self.max_retries
            try:
                return fn()
            except APIError as exc:
                status = exc.status_code or 0
                headers = exc.response.headers if exc.response is not None else {}
                if not is_retryable(status):
                    raise self._refused(exc, status, symbol, what) from None
                wait = retry_after_seconds(headers.get("Retry-After"))
                if not retries_left or (wait is not None and wait > self.max_wait):
                    later = f"; the server asked to wait {wait:g} s" if wait is not None else ""
                    kind = "rate limit (HTTP 429)" if status == 429 else f"server error (HTTP {status})"
                    raise _err("D112", f"Alpaca {kind} for {what} of '{symbol}' after {attempts} attempt(s)"
                                       f"{later}: {_message(exc)}",
                               "wait and retry, or lower the request rate (the free plan allows 200 requests a "
                               "minute)" if status == 429 else "Alpaca may be down; retry later") from None
                self._sleep(wait if wait is not None else self.backoff * 2 ** (attempts - 1))
            except (requests.ConnectionError, requests.Timeout) as exc:
                if not retries_left:
                    raise _err("D112", f"could not reach Alpaca at {self.base_url} for {what} of '{symbol}' after "
                                       f"{attempts} attempt(s): {type(exc).__name__}",
                               "check the network connection and ALPACA_DATA_URL") from None
                self._sleep(self.backoff * 2 ** (attempts - 1))
            except (ValueError, KeyError, TypeError, AttributeError, pydantic.ValidationError) as exc:
                # alpaca-py parses the body: JSON errors, missing keys and wrong types land here
                raise _err("D114", f"malformed data from Alpaca for {what} of '{symbol}': {type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0] if str(exc) else ''}",
                           f"Alpaca's API may have changed shape; check ALPACA_DATA_URL ({self.base_url}) and the "
                           "alpaca-py version") from None

    def _refused(self, exc: Any, status: int, symbol: str, what: str) -> RuleEngineError:
        message = _message(exc)
        if status in (401, 403):
            plan = " (the sip feed needs a paid plan for recent data; ALPACA_FEED=iex)" if status == 403 else ""
            return _err("D113", f"Alpaca refused {what} of '{symbol}' (HTTP {status}): {message}{plan}", _KEY_HINT)
        if status == 404 or (status in (400, 422) and "symbol" in message.lower()):
            return _err("D110", f"symbol '{symbol}' not found: Alpaca answered HTTP {status} ({message})",
                        "check the ticker (Alpaca spells share classes like BRK.B; it lists US stocks and ETFs); if "
                        f"every symbol fails, check ALPACA_DATA_URL ({self.base_url})")
        return _err("D112", f"Alpaca refused {what} of '{symbol}' (HTTP {status}): {message}",
                    "check the dates and the frequency")

    # -- kinds -------------------------------------------------------------------------------------------

    def fetch(self, request: FetchRequest) -> pd.DataFrame:
        """One symbol's bars for ``[request.start, request.end]`` (see the module docstring)."""
        symbol = request.symbol.strip().upper()
        if request.kind != "ohlcv":
            raise _err("D109", f"provider 'alpaca' does not serve kind '{request.kind}'", "alpaca serves: ohlcv")
        if request.frequency not in TIMEFRAMES:
            raise _err("D109", f"provider 'alpaca' does not serve ohlcv at '{request.frequency}'",
                       "alpaca serves: " + ", ".join(TIMEFRAMES) + " (coarser bars are resampled from 1Day)")
        lo, hi = request_bounds("ohlcv", request.frequency, request.start, request.end)
        client = self._client()
        from alpaca.data.enums import Adjustment, DataFeed
        from alpaca.data.requests import StockBarsRequest
        from alpaca.data.timeframe import TimeFrame, TimeFrameUnit

        delivered = DELIVERED.get(request.frequency, request.frequency)
        amount, unit = TIMEFRAMES[delivered]
        intraday = request.frequency in INTRADAY
        # Daily labels are dates: ask from New York midnight of the first day to that of the day after the last.
        start = lo.tz_localize(None).tz_localize(EXCHANGE_TZ) if not intraday else lo
        end = (hi.tz_localize(None).tz_localize(EXCHANGE_TZ) if not intraday else hi) - pd.Timedelta(seconds=1)
        params = StockBarsRequest(symbol_or_symbols=symbol, timeframe=TimeFrame(amount, TimeFrameUnit[unit]),
                                  start=start.to_pydatetime(), end=end.to_pydatetime(),
                                  adjustment=Adjustment(BASES[self.adjustment]), feed=DataFeed(self.feed))
        barset = self._call(symbol, f"{request.frequency} bars", lambda: client.get_stock_bars(params))
        bars = barset.data.get(symbol, [])  # a BarSet: alpaca-py has parsed (and validated) every page
        out = _frame(bars, intraday)
        out = out[(out.index >= lo) & (out.index < hi)]
        if out.empty:
            raise _err("D111", f"Alpaca returned no {request.frequency} bars for '{symbol}' in "
                               f"{pd.Timestamp(request.start).date()}..{pd.Timestamp(request.end).date()} "
                               f"(feed {self.feed})",
                       "check the ticker (Alpaca answers a symbol it does not list with no bars) and the dates "
                       "(history starts in 2016)")
        return finish(out, kind="ohlcv", frequency=delivered, provider=self.name, tz=EXCHANGE_TZ,
                      extra_attrs={"symbol": symbol, "price_basis": self.price_basis, "feed": self.feed,
                                   "base_url": self.base_url})

    def available_range(self, symbol: str, kind: str = "ohlcv",
                        frequency: str = "1Day") -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """(2016-01-04, the latest bar's label): the latest minute bar Alpaca has, as a `frequency` label (its
        New York date for daily bars, the start of its `frequency` bar otherwise). Live signals read it."""
        symbol = symbol.strip().upper()
        client = self._client()
        from alpaca.data.enums import DataFeed
        from alpaca.data.requests import StockLatestBarRequest

        params = StockLatestBarRequest(symbol_or_symbols=symbol, feed=DataFeed(self.feed))
        latest = self._call(symbol, "the latest bar", lambda: client.get_stock_latest_bar(params))
        bar = latest.get(symbol) if isinstance(latest, dict) else None
        if bar is None:
            raise _err("D110", f"symbol '{symbol}' not found: Alpaca has no latest bar for it (feed {self.feed})",
                       "check the ticker")
        t = pd.Timestamp(bar.timestamp)
        t = t.tz_localize("UTC") if t.tz is None else t.tz_convert("UTC")
        if frequency in INTRADAY:  # the bar holding that minute, counted from the session open (09:30)
            local = t.tz_convert(EXCHANGE_TZ)
            amount, unit = TIMEFRAMES[frequency]
            step = pd.Timedelta(minutes=amount * (60 if unit == "Hour" else 1))
            session_open = local.normalize() + _REGULAR_OPEN
            last = (session_open + ((local - session_open) // step) * step).tz_convert("UTC")
        else:
            last = pd.Timestamp(t.tz_convert(EXCHANGE_TZ).date()).tz_localize("UTC")
        return HISTORY_START, last


def _stock_client(api_key: str, secret_key: str, base_url: str) -> Any:
    """alpaca-py's stock data client at `base_url`, with the library's retries off.

    `StockHistoricalDataClient` takes no retry settings and always retries 429/504 three times, 3 s apart,
    ignoring Retry-After; its base class `RESTClient` documents ``retry_attempts``, ``retry_wait_seconds`` and
    ``retry_exception_codes``. This subclass builds the client through them (a code no response has: no retry),
    exactly as `StockHistoricalDataClient.__init__` would otherwise.
    """
    from alpaca.common.rest import RESTClient
    from alpaca.data.historical import StockHistoricalDataClient

    class StockClient(StockHistoricalDataClient):
        def __init__(self) -> None:
            RESTClient.__init__(self, base_url=base_url, api_key=api_key, secret_key=secret_key, api_version="v2",
                                retry_attempts=1, retry_wait_seconds=1, retry_exception_codes=[_NO_STATUS])

    return StockClient()


def _message(exc: Any) -> str:
    """Alpaca's ``message`` from an APIError body (else the body text), on one line."""
    try:
        text = str(exc.message)
    except (ValueError, KeyError, TypeError):
        text = str(exc)
    text = " ".join(text.split())
    return text[:300]


def _frame(bars: list[Any], intraday: bool) -> pd.DataFrame:
    """alpaca-py Bar objects -> index ``time`` (UTC; daily: the New York date at 00:00 UTC), float64 OHLCV."""
    if not bars:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in ("open", "high", "low", "close", "volume")},
                            index=pd.DatetimeIndex([], tz="UTC", name="time"))
    stamps = pd.DatetimeIndex([pd.Timestamp(b.timestamp) for b in bars])
    stamps = stamps.tz_localize("UTC") if stamps.tz is None else stamps.tz_convert("UTC")
    out = pd.DataFrame({"open": [b.open for b in bars], "high": [b.high for b in bars], "low": [b.low for b in bars],
                        "close": [b.close for b in bars], "volume": [b.volume for b in bars]},
                       dtype="float64")
    local = stamps.tz_convert(EXCHANGE_TZ)
    if intraday:
        offset = local - local.normalize()
        keep = (offset >= _REGULAR_OPEN) & (offset < _REGULAR_CLOSE)
        out, index = out[keep], stamps[keep]
    else:
        index = local.tz_localize(None).normalize().tz_localize("UTC")
    out.index = pd.DatetimeIndex(index, name="time").as_unit("ns")
    return out[~out.index.duplicated(keep="last")].sort_index()
