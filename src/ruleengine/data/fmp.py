"""The ``fmp`` provider: Financial Modeling Prep's stable API through the `fmpsdk` package.

Serves daily and intraday prices, quarterly earnings (EPS actual/estimate with announcement dates and
BMO/AMC times), quarterly income statements and balance sheets, key metrics and insider trades (Form 4),
following the contract of `ruleengine.data.base`. Configuration:

* ``FMP_API_KEY``: the API key (or ``api_key=``); without one every fetch raises D113.
* ``FMP_BASE_URL``: the API base (or ``base_url=``), default ``https://financialmodelingprep.com/stable``.
  fmpsdk hard-codes its base in ``fmpsdk.client.BASE_URL``; this provider never rebinds it but gives each
  client a session that rewrites the prefix (see `ruleengine.data.fmp_http`), so providers with different
  bases coexist in one process and threads.

Retries: 429, 5xx and connection errors are retried ``max_retries`` times with exponential backoff
(``backoff * 2**n`` seconds) or the server's ``Retry-After``; fmpsdk's own retries are switched off because
they ignore ``Retry-After``. Errors: no key, 401/402/403 or an ``Error Message`` about the key/plan -> D113;
404 -> D110 (symbol not found); an empty list -> D111 (no data; FMP's answer to an unknown symbol too);
other failures after retries -> D112; a body that is not the documented JSON shape -> D114.

Point in time (a record with ``available_at = a`` is visible on a bar whose close ``c`` satisfies
``a <= c``): earnings at the announcement (08:00 local for BMO, 16:30 local otherwise); statements at the
EDGAR acceptance time (else 16:30 on the filing date); key metrics with their period's income statement
(else 90 days after the period end); insider trades at 16:30 on the filing date (else 2 sessions after the
trade). Event kinds return the records published in ``[start, end]`` (exchange dates) plus, except insider
trades, the latest record published before ``start``, so its value can be carried into the range.

Example:
    >>> FmpProvider(api_key="demo", base_url="http://127.0.0.1:9/stable").cache_key()
    'fmp:http://127.0.0.1:9/stable'
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from .base import FetchRequest, KindInfo, PerThreadClients, Provider
from .fmp_parse import (
    MalformedPayload,
    as_records,
    earnings_frame,
    empty_events,
    insider_frame,
    key_metrics_frame,
    ohlcv_frame,
    statement_frame,
)
from .frames import finish
from .pit import EXCHANGE_TZ

if TYPE_CHECKING:
    import fmpsdk

    from .fmp_http import FmpSession

# fmp_http (and with it requests, ~80 ms) is imported when the provider is built, not when the registry reads
# this class's declared default use.

#: Our intraday frequency -> fmpsdk's ``historical_chart`` timeframe.
INTRADAY_TIMEFRAMES = {"1Min": "1min", "5Min": "5min", "15Min": "15min", "30Min": "30min", "1Hour": "1hour"}
#: Calendar days per price request, so that no response hits FMP's per-request row cap.
WINDOW_DAYS = {"1Min": 5, "5Min": 30, "15Min": 60, "30Min": 120, "1Hour": 240, "1Day": 5 * 365}
INSIDER_PAGE_SIZE = 100
INSIDER_MAX_PAGES = 50

_KEY_HINT = ("set FMP_API_KEY (or pass api_key=...), or use --provider sample (synthetic data) or "
             "--provider local --data PATH")

_KINDS: dict[str, KindInfo] = {
    "ohlcv": KindInfo(("open", "high", "low", "close", "volume"), (*INTRADAY_TIMEFRAMES, "1Day"),
                      "split-adjusted prices; daily from historical-price-eod/full, intraday from "
                      "historical-chart (Starter plan or higher), exchange time -> UTC"),
    "earnings": KindInfo(("eps", "reported_eps", "estimated_eps", "surprise", "surprise_percentage"),
                         ("quarterly",), "quarterly EPS actual vs consensus, available at the announcement "
                         "(BMO 08:00 local, AMC/unknown 16:30 local)"),
    "income_statement": KindInfo(("revenue", "gross_profit", "operating_income", "net_income", "eps",
                                  "eps_diluted"), ("quarterly",),
                                 "quarterly income statement, available at the EDGAR acceptance time"),
    "balance_sheet": KindInfo(("total_assets", "total_liabilities", "total_equity", "cash_and_equivalents",
                               "total_debt", "book_value"), ("quarterly",),
                              "quarterly balance sheet, available at the EDGAR acceptance time"),
    "key_metrics": KindInfo(("pe_ratio", "pb_ratio", "market_cap", "dividend_yield", "debt_to_equity", "roe"),
                            ("quarterly",), "quarterly valuation ratios at the period-end price, available "
                            "with the period's income statement (else 90 days after the period end)"),
    "insider_trades": KindInfo(("buy_count", "sell_count", "buy_shares", "sell_shares", "buy_value",
                                "sell_value", "net_shares", "net_value"), ("event",),
                               "Form 4 transactions, available at 16:30 local on the filing date"),
}


def _err(code: str, message: str, hint: str | None = None) -> RuleEngineError:
    return RuleEngineError([Diagnostic(code, message, hint=hint)])


def _day(ts: Any) -> pd.Timestamp:
    """A request bound as a naive date (aware bounds are read in UTC, like the 00:00 UTC daily labels)."""
    t = pd.Timestamp(ts)
    if t.tzinfo is not None:
        t = t.tz_convert("UTC").tz_localize(None)
    return t.normalize()


def _windows(start: pd.Timestamp, end: pd.Timestamp, days: int) -> list[tuple[str, str]]:
    out, a = [], start
    while a <= end:
        b = min(end, a + pd.Timedelta(days=days - 1))
        out.append((a.strftime("%Y-%m-%d"), b.strftime("%Y-%m-%d")))
        a = b + pd.Timedelta(days=1)
    return out


def _select(df: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, carry_in: bool, tz: str,
            date_labels: bool = False) -> pd.DataFrame:
    """Rows whose exchange date lies in [start, end] (+ the last earlier row when `carry_in`)."""
    idx = pd.DatetimeIndex(df.index)
    local = idx.tz_localize(None) if date_labels else idx.tz_convert(tz).tz_localize(None)
    days = local.normalize()
    keep = (days >= start) & (days <= end)
    if carry_in:
        before = (days < start).nonzero()[0]
        if len(before):
            keep[before[-1]] = True
    return df[keep]


class FmpProvider(PerThreadClients, Provider):
    """Financial Modeling Prep through fmpsdk (needs ``FMP_API_KEY``; base URL from ``FMP_BASE_URL``).

    Args:
        api_key: the API key; default ``FMP_API_KEY``.
        base_url: the API base; default ``FMP_BASE_URL``, else FMP's stable API.
        max_retries: retries of a request after 429, 5xx or a connection error.
        backoff: first backoff wait in seconds (doubled per retry) when no ``Retry-After`` is sent.
        timeout: connect and read timeout of each request, in seconds.
        max_wait: the longest ``Retry-After`` honoured; a longer one fails at once (D112).
    """

    name = "fmp"
    default_rank = 20
    default_reason = "FMP_API_KEY is set"
    credentials = ("FMP_API_KEY",)
    point_in_time = ("earnings at the announcement (BMO 08:00, AMC 16:30 New York); statements at the EDGAR "
                     "acceptance; key metrics with their statement; insider trades at 16:30 on the filing date")
    price_basis = "split-adjusted"
    description = ("Financial Modeling Prep (fmpsdk): daily and intraday prices, quarterly earnings, income "
                   "statements, balance sheets, key metrics, insider trades; needs FMP_API_KEY")

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *, max_retries: int = 4,
                 backoff: float = 0.5, timeout: float = 30, max_wait: float = 60.0) -> None:
        self.api_key = api_key or os.environ.get("FMP_API_KEY") or None
        from .fmp_http import DEFAULT_BASE_URL, normalize_base_url

        self.base_url = normalize_base_url(base_url or os.environ.get("FMP_BASE_URL") or DEFAULT_BASE_URL)
        self.max_retries = max_retries
        self.backoff = backoff
        self.timeout = timeout
        self.max_wait = max_wait
        self._local = threading.local()  # one fmpsdk client + session per thread (Session is not thread-safe)

    @classmethod
    def configured(cls, env: Mapping[str, str]) -> bool:
        """A default only when ``FMP_API_KEY`` is set (it is still usable by name without one: D113)."""
        return bool(env.get("FMP_API_KEY"))

    @property
    def kinds(self) -> Mapping[str, KindInfo]:
        return _KINDS

    def cache_key(self) -> str:
        return f"fmp:{self.base_url}"

    # -- requests ----------------------------------------------------------------------------------------

    def _client(self) -> tuple[fmpsdk.Client, FmpSession]:
        if not self.api_key:
            raise _err("D113", "no Financial Modeling Prep API key", _KEY_HINT)
        client = getattr(self._local, "client", None)
        if client is None:
            import fmpsdk

            from .fmp_http import FmpSession

            session = FmpSession(self.base_url, max_retries=self.max_retries, backoff=self.backoff,
                                 max_wait=self.max_wait)
            # max_retries=0: the session retries (honouring Retry-After); fmpsdk must not retry again.
            client = fmpsdk.Client(api_key=self.api_key, connect_timeout=self.timeout,
                                   read_timeout=self.timeout, max_retries=0, session=session)
            self._local.client, self._local.session = client, session
        return client, self._local.session

    def _call(self, session: FmpSession, what: str, ticker: str, fn: Callable[..., Any],
              *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        """One fmpsdk call -> its records, every failure as a RuleEngineError."""
        import fmpsdk
        import requests

        from .fmp_http import body_message, is_plan_or_key_message

        symbol = ticker
        subject = f"{what} of '{symbol}'"
        try:
            payload = fn(*args, **kwargs)
        except fmpsdk.FMPPlanLimitError as exc:
            raise _err("D113", f"FMP plan does not include {subject}: {body_message(exc.response_text)}",
                       "upgrade the FMP plan, or use --provider local/sample for this data") from None
        except fmpsdk.FMPAuthenticationError as exc:
            raise _err("D113", f"FMP rejected the API key (HTTP {exc.status_code}) for {subject}: "
                       f"{body_message(exc.response_text)}", _KEY_HINT) from None
        except fmpsdk.FMPNotFoundError as exc:
            raise _err("D110", f"symbol '{symbol}' not found: FMP answered 404 for {what} "
                       f"({body_message(exc.response_text)})",
                       f"check the ticker (FMP spells share classes like BRK-B); if every symbol fails, "
                       f"check FMP_BASE_URL ({self.base_url})") from None
        except fmpsdk.FMPError as exc:
            raise self._failed(exc, session, subject) from None
        except requests.exceptions.JSONDecodeError:
            raise _err("D114", f"malformed data from FMP for {subject}: the response is not JSON",
                       f"check FMP_BASE_URL ({self.base_url}) points at FMP's stable API") from None
        except requests.RequestException as exc:
            raise _err("D112", f"FMP request for {subject} failed: {exc}",
                       f"check FMP_BASE_URL ({self.base_url})") from None
        if isinstance(payload, dict) and "Error Message" in payload:
            message = body_message(str(payload["Error Message"]))
            if is_plan_or_key_message(message):
                raise _err("D113", f"FMP refused {subject}: {message}", _KEY_HINT)
            raise _err("D112", f"FMP request for {subject} failed: {message}")
        return as_records(payload, what)

    def _failed(self, exc: Any, session: FmpSession, subject: str) -> RuleEngineError:
        from .fmp_http import body_message

        status = getattr(exc, "status_code", None)
        tries = f"after {session.attempts} attempt(s)"
        if status is None:
            return _err("D112", f"could not reach FMP at {self.base_url} for {subject} {tries}",
                        "check the network connection and FMP_BASE_URL")
        detail = body_message(getattr(exc, "response_text", ""))
        if status == 429:
            wait = session.retry_after
            later = f"; the server asked to wait {wait:g} s" if wait is not None else ""
            return _err("D112", f"FMP rate limit (HTTP 429) for {subject} {tries}{later}: {detail}",
                        "wait and retry, lower the request rate, or upgrade the FMP plan")
        return _err("D112", f"FMP request for {subject} failed with HTTP {status} {tries}: {detail}",
                    "FMP may be down; retry later" if status >= 500 else None)

    # -- kinds -------------------------------------------------------------------------------------------

    def fetch(self, request: FetchRequest) -> pd.DataFrame:
        """One symbol's data of one kind for ``[request.start, request.end]`` (see the module docstring)."""
        kind, symbol = request.kind, request.symbol.strip()
        if kind not in _KINDS:
            raise _err("D109", f"provider 'fmp' does not serve kind '{kind}'",
                       "fmp serves: " + ", ".join(_KINDS))
        if kind == "ohlcv" and request.frequency not in _KINDS["ohlcv"].frequencies:
            raise _err("D109", f"provider 'fmp' does not serve ohlcv at '{request.frequency}'",
                       "fmp serves: " + ", ".join(_KINDS["ohlcv"].frequencies)
                       + " (coarser bars are resampled from 1Day)")
        start, end = _day(request.start), _day(request.end)
        client, session = self._client()
        try:
            if kind == "ohlcv":
                out = self._ohlcv(client, session, symbol, request.frequency, start, end)
            else:
                out = self._events(client, session, symbol, kind, start, end)
        except MalformedPayload as exc:
            raise _err("D114", f"malformed data from FMP for '{symbol}': {exc}",
                       f"check FMP_BASE_URL ({self.base_url}) points at FMP's stable API") from None
        return finish(out, kind=kind, frequency=request.frequency, provider=self.name, tz=EXCHANGE_TZ,
                      extra_attrs={"symbol": symbol, "base_url": self.base_url})

    def _ohlcv(self, client: fmpsdk.Client, session: FmpSession, symbol: str, frequency: str,
               start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        intraday = frequency != "1Day"
        rows: list[dict[str, Any]] = []
        for a, b in _windows(start, end, WINDOW_DAYS[frequency]):
            if intraday:
                rows += self._call(session, "intraday prices", symbol, client.historical_chart, symbol,
                                   INTRADAY_TIMEFRAMES[frequency], from_=a, to=b)
            else:
                rows += self._call(session, "daily prices", symbol, client.historical_price_eod_full, symbol,
                                   from_=a, to=b)
        span = f"{start.date()}..{end.date()}"
        if rows:
            out = _select(ohlcv_frame(rows, intraday), start, end, False, EXCHANGE_TZ, date_labels=not intraday)
            if len(out):
                return out
        raise _err("D111", f"FMP returned no {frequency} prices for '{symbol}' in {span}",
                   "check the ticker (FMP answers an unknown symbol with an empty list) and the date range")

    def _events(self, client: fmpsdk.Client, session: FmpSession, symbol: str, kind: str,
                start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        # Records come newest first: ask for every quarter since `start` plus 8 (the carry-in row, slack).
        quarters = max(8, int((pd.Timestamp.now().normalize() - start).days / 91) + 8)
        what = kind.replace("_", " ")
        if kind == "insider_trades":
            rows = self._insider_rows(client, session, symbol, start)
            # No Form 4 filings is an answer, not an error (most symbols have quiet months).
            frame = insider_frame(rows) if rows else empty_events(kind)
            return _select(frame, start, end, False, EXCHANGE_TZ)
        if kind == "earnings":
            rows = self._call(session, what, symbol, client.earnings, symbol, limit=quarters,
                              include_report_times=True)
            frame = earnings_frame(rows) if rows else None
        elif kind == "income_statement":
            rows = self._call(session, what, symbol, client.income_statement, symbol, limit=quarters,
                              period="quarter")
            frame = statement_frame(rows, kind) if rows else None
        elif kind == "balance_sheet":
            rows = self._call(session, what, symbol, client.balance_sheet_statement, symbol, limit=quarters,
                              period="quarter")
            frame = statement_frame(rows, kind) if rows else None
        else:
            rows = self._call(session, what, symbol, client.key_metrics, symbol, limit=quarters,
                              period="quarter")
            ratios = self._call(session, "ratios", symbol, client.ratios, symbol, limit=quarters,
                                period="quarter") if rows else []
            filings = self._call(session, "income statement", symbol, client.income_statement, symbol,
                                 limit=quarters, period="quarter") if rows else []
            frame = key_metrics_frame(rows, ratios, filings) if rows else None
        if frame is None:
            raise _err("D111", f"FMP has no {what} data for '{symbol}'",
                       "check the ticker (FMP answers an unknown symbol with an empty list); ETFs and funds "
                       "have no earnings or statements")
        return _select(frame, start, end, True, EXCHANGE_TZ)

    def _insider_rows(self, client: fmpsdk.Client, session: FmpSession, symbol: str,
                      start: pd.Timestamp) -> list[dict[str, Any]]:
        """Pages of insider-trading/search (newest first) until a page is short or entirely before `start`."""
        rows: list[dict[str, Any]] = []
        for page in range(INSIDER_MAX_PAGES):
            batch = self._call(session, "insider trades", symbol, client.insider_trading_search, symbol=symbol,
                               page=page, limit=INSIDER_PAGE_SIZE)
            rows += batch
            if len(batch) < INSIDER_PAGE_SIZE:
                break
            stamps = [r.get("filingDate") or r.get("transactionDate") for r in batch]
            newest = pd.to_datetime(pd.Series(stamps, dtype="object"), errors="coerce").max()
            if pd.notna(newest) and newest.normalize() < start:
                break
        return rows
