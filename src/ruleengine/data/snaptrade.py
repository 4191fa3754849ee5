"""The ``snaptrade`` provider: the user's fills from their brokerage accounts, through `snaptrade-python-sdk`.

Serves the ``portfolio`` kind like the broker-CSV ``portfolio`` provider (`ruleengine.data.portfolio`; the
position per bar comes from the same fills -> position rule), reading every account of the SnapTrade user
(``GET /accounts``) and each account's activities (``GET /accounts/{id}/activities``, paged with ``offset`` /
``limit`` until ``pagination.total``). ``BUY`` and ``REI`` (dividend reinvestment) add shares, ``SELL``
removes them; every other activity (dividends, contributions, fees, options) moves no shares. A fill is visible
from its ``trade_date``: a date without a time (SnapTrade's ``T00:00:00Z``) at that session's close.

Configuration: ``SNAPTRADE_CLIENT_ID`` and ``SNAPTRADE_CONSUMER_KEY`` (the partner's API key, which signs every
request), ``SNAPTRADE_USER_ID`` and ``SNAPTRADE_USER_SECRET`` (the registered user), ``SNAPTRADE_HOST``
(default ``https://api.snaptrade.com/api/v1``). Not cached: fills are re-read on every run (they change as the
user trades). Retries: 429 (honouring ``Retry-After`` up to ``max_wait``; a longer wait fails at once, named)
and 5xx are retried by urllib3's ``Retry`` inside the SDK's own connection pool. Errors: missing settings or
401/403 -> D113; other HTTP failures after the retries -> D112; a body that is not SnapTrade's shape -> D114.
The broker's current positions (``GET /accounts/{id}/positions``) are checked against the fills: a symbol
whose fills do not add up to what is held now gets a D157 warning with the run (the activity history may be
incomplete).

Example:
    >>> SnapTradeProvider(client_id="c", consumer_key="k", user_id="u", user_secret="s",
    ...                   host="http://127.0.0.1:9/api/v1").cache_key()
    'snaptrade:http://127.0.0.1:9/api/v1:u'
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from .broker_csv import SESSION_FILL
from .http_session import retry_after_seconds
from .pit import EXCHANGE_TZ
from .portfolio import PortfolioProvider

DEFAULT_HOST = "https://api.snaptrade.com/api/v1"
SETTINGS = ("SNAPTRADE_CLIENT_ID", "SNAPTRADE_CONSUMER_KEY", "SNAPTRADE_USER_ID", "SNAPTRADE_USER_SECRET")
#: SnapTrade activity types that move shares: +1 adds, -1 removes.
SIDES = {"BUY": 1.0, "REI": 1.0, "SELL": -1.0}
PAGE_SIZE = 1000

_HINT = ("set SNAPTRADE_CLIENT_ID, SNAPTRADE_CONSUMER_KEY, SNAPTRADE_USER_ID and SNAPTRADE_USER_SECRET (your "
         "SnapTrade keys and registered user), or give a broker export with RULEENGINE_PORTFOLIO")


def _err(code: str, message: str, hint: str | None = None) -> RuleEngineError:
    return RuleEngineError([Diagnostic(code, message, hint=hint)])


class SnapTradeProvider(PortfolioProvider):
    """The user's fills through SnapTrade (see the module docstring for the settings).

    Args:
        client_id, consumer_key, user_id, user_secret, host: the settings; default from the environment.
        max_retries, backoff: urllib3's retries of 429 and 5xx (``backoff * 2**n`` s without Retry-After).
        max_wait: the longest ``Retry-After`` waited for; a longer one fails at once (D112 naming it).
        page_size: activities asked per request (SnapTrade's maximum is 1000).
    """

    name = "snaptrade"
    default_rank = 45
    default_reason = "SNAPTRADE_CLIENT_ID is set"
    credentials = SETTINGS
    description = ("your own position from your brokerage accounts through SnapTrade (snaptrade-python-sdk): "
                   "shares, average cost and open gain per bar, from the fills up to that bar; needs "
                   "SNAPTRADE_CLIENT_ID, SNAPTRADE_CONSUMER_KEY, SNAPTRADE_USER_ID, SNAPTRADE_USER_SECRET")

    def __init__(self, client_id: str | None = None, consumer_key: str | None = None, user_id: str | None = None,
                 user_secret: str | None = None, *, host: str | None = None, max_retries: int = 4,
                 backoff: float = 0.5, max_wait: float = 60.0, page_size: int = PAGE_SIZE) -> None:
        super().__init__(None)
        env = os.environ
        self.settings = dict(zip(SETTINGS, (client_id or env.get(SETTINGS[0]), consumer_key or env.get(SETTINGS[1]),
                                            user_id or env.get(SETTINGS[2]), user_secret or env.get(SETTINGS[3])),
                                 strict=True))
        self.host = (host or env.get("SNAPTRADE_HOST") or DEFAULT_HOST).rstrip("/")
        self.max_retries, self.backoff, self.max_wait, self.page_size = max_retries, backoff, max_wait, page_size
        self._positions: dict[str, float] | None = None

    @classmethod
    def configured(cls, env: Mapping[str, str]) -> bool:
        return bool(env.get("SNAPTRADE_CLIENT_ID"))

    def cache_key(self) -> str:
        return f"snaptrade:{self.host}:{self.settings['SNAPTRADE_USER_ID']}"

    def fills(self) -> pd.DataFrame:
        """Every share-moving activity of every account of the user (read once per provider)."""
        if self._fills is None:
            self._fills = self._read()
        return self._fills

    def positions(self) -> dict[str, float]:
        """symbol -> units the broker says the user holds now, over every account (read once)."""
        if self._positions is None:
            api = self._client().account_information
            held: dict[str, float] = {}
            for account in self._accounts(api):
                listed = self._call(f"the positions of account {account['id']}", api.get_user_account_positions,
                                    account_id=account["id"])
                if not isinstance(listed, list | tuple):
                    raise _malformed(f"the positions of account {account['id']} are not a list", self.host)
                for pos in listed:
                    symbol, units = _position(pos, account["id"], self.host)
                    held[symbol] = held.get(symbol, 0.0) + units
            self._positions = held
        return self._positions

    def quality_warnings(self, symbols: Iterable[str], kind: str = "ohlcv") -> list[Diagnostic]:
        """D157 for each symbol whose fills do not add up to what the broker holds now: the activity history
        SnapTrade has may start after the first purchase (a transfer in, an account older than the history)."""
        if kind != "portfolio":
            return []
        held, summed = self.positions(), self.holdings()
        out = []
        for symbol in dict.fromkeys(s.strip().upper() for s in symbols):
            now, added = held.get(symbol, 0.0), summed.get(symbol, 0.0)
            if abs(now - added) > 1e-6:
                out.append(Diagnostic(
                    "D157", f"{symbol}: SnapTrade's positions hold {now:g} shares now, but your activities add "
                    f"up to {added:g}", severity="warning", path="data.portfolio",
                    hint="the activity history may start after your first purchase (shares transferred in, an "
                         "account older than the history): positions before the first recorded fill are missing"))
        return out

    def _accounts(self, api: Any) -> list[Any]:
        accounts = self._call("the accounts", api.list_user_accounts)
        if not isinstance(accounts, list | tuple) or not all(isinstance(a, Mapping) and "id" in a for a in accounts):
            raise _malformed("the accounts are not a list of accounts", self.host)
        return list(accounts)

    def _client(self) -> Any:
        missing = [k for k, v in self.settings.items() if not v]
        if missing:
            raise _err("D113", "no SnapTrade credentials: " + ", ".join(missing) + " not set", _HINT)
        from snaptrade_client import Configuration, SnapTrade

        config = Configuration(host=self.host, consumer_key=self.settings["SNAPTRADE_CONSUMER_KEY"],
                               client_id=self.settings["SNAPTRADE_CLIENT_ID"])
        # urllib3 retries 429 (waiting Retry-After) and 5xx, then hands the last response to the SDK
        config.retries = _capped_retry(self.max_wait)(
            total=self.max_retries, backoff_factor=self.backoff, raise_on_status=False,
            status_forcelist=(429, 500, 502, 503, 504), allowed_methods=None)
        return SnapTrade(configuration=config)

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        import urllib3
        from snaptrade_client.exceptions import ApiException

        user = {"user_id": self.settings["SNAPTRADE_USER_ID"], "user_secret": self.settings["SNAPTRADE_USER_SECRET"]}
        try:
            return fn(**user, **kwargs).body
        except ApiException as exc:
            status, body = exc.status, _detail(getattr(exc, "body", None))
            if status in (401, 403):
                raise _err("D113", f"SnapTrade refused {what} (HTTP {status}: {body})", _HINT) from None
            if status == 429:
                wait = retry_after_seconds((getattr(exc, "headers", None) or {}).get("Retry-After"))
                later = f"; the server asked to wait {wait:g} s" if wait is not None else ""
                raise _err("D112", f"SnapTrade rate limit (HTTP 429) for {what}{later}: {body}",
                           "wait and retry later") from None
            raise _err("D112", f"SnapTrade request for {what} failed with HTTP {status}"
                       + (f" after {self.max_retries} retries" if status and status >= 500 else "") + f": {body}",
                       "SnapTrade may be down; retry later" if status and status >= 500 else None) from None
        except urllib3.exceptions.HTTPError as exc:
            raise _err("D112", f"could not reach SnapTrade at {self.host} for {what}: {type(exc).__name__}",
                       "check the network and SNAPTRADE_HOST") from None
        except (ValueError, TypeError, KeyError) as exc:  # the SDK reading a body of another shape
            raise _err("D114", f"malformed data from SnapTrade for {what}: {exc}",
                       f"check SNAPTRADE_HOST ({self.host}) points at SnapTrade's API") from None

    def _read(self) -> pd.DataFrame:
        api = self._client().account_information
        rows: list[tuple[Any, ...]] = []
        for account in self._accounts(api):
            offset = 0
            while True:
                page = self._call(f"the activities of account {account['id']}", api.get_account_activities,
                                  account_id=account["id"], offset=offset, limit=self.page_size)
                data, total = _page(page, account["id"], self.host)
                rows += [r for a in data if (r := _fill(a, account["id"], self.host)) is not None]
                offset += len(data)
                if not data or offset >= total:
                    break
        frame = pd.DataFrame(rows, columns=["available_at", "symbol", "quantity", "price", "fees", "line"])
        stamps = frame.pop("available_at")
        frame.index = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True), name="available_at").as_unit("ns")
        return frame.sort_index(kind="mergesort")


def _capped_retry(max_wait: float) -> Any:
    """urllib3's `Retry` reading ``Retry-After`` like every provider (fractions and dates too,
    `ruleengine.data.http_session.retry_after_seconds`) and never waiting longer than `max_wait`: the response
    then goes back to the SDK at once."""
    import urllib3

    class CappedRetry(urllib3.Retry):
        def parse_retry_after(self, retry_after: str) -> float:
            seconds = retry_after_seconds(retry_after)
            return 0.0 if seconds is None else seconds

        def increment(self, method: str | None = None, url: str | None = None, response: Any = None,
                      error: Exception | None = None, _pool: Any = None, _stacktrace: Any = None) -> Any:
            wait = self.get_retry_after(response) if response is not None else None
            if wait is not None and wait > max_wait:
                raise urllib3.exceptions.MaxRetryError(_pool, url or "", urllib3.exceptions.ResponseError(
                    f"Retry-After {wait:g} s is longer than {max_wait:g} s"))
            return super().increment(method, url, response, error, _pool, _stacktrace)

    return CappedRetry


def _detail(body: Any) -> str:
    if isinstance(body, Mapping):
        return str(body.get("detail") or body.get("message") or body)
    return " ".join(str(body or "").split())[:200]


def _malformed(what: str, host: str) -> RuleEngineError:
    return _err("D114", f"malformed data from SnapTrade: {what}",
                f"check SNAPTRADE_HOST ({host}) points at SnapTrade's API")


def _position(pos: Any, account: str, host: str) -> tuple[str, float]:
    """(symbol, units) of one position ``{"symbol": {"symbol": {"symbol": "AAPL"}}, "units": 10}``."""
    outer = pos.get("symbol") if isinstance(pos, Mapping) else None
    inner = outer.get("symbol") if isinstance(outer, Mapping) else None
    symbol = inner.get("symbol") if isinstance(inner, Mapping) else None
    units = pos.get("units") if isinstance(pos, Mapping) else None
    if not isinstance(symbol, str) or not isinstance(units, int | float):
        raise _malformed(f"a position of account {account} lacks symbol.symbol.symbol or units", host)
    return symbol.upper(), float(units)


def _page(page: Any, account: str, host: str) -> tuple[list[Any], int]:
    """(activities, total) of one page of ``{"data": [...], "pagination": {"total": N}}``."""
    if not isinstance(page, Mapping) or not isinstance(page.get("data"), list | tuple):
        raise _malformed(f"the activities of account {account} are not a page of data", host)
    total = (page.get("pagination") or {}).get("total")
    if not isinstance(total, int) or isinstance(total, bool):
        raise _malformed(f"the activities of account {account} have no pagination total", host)
    return list(page["data"]), total


def _fill(activity: Any, account: str, host: str) -> tuple[Any, ...] | None:
    """One activity -> (when, symbol, signed units, price, fee, id), or None when it moves no shares."""
    if not isinstance(activity, Mapping):
        raise _malformed(f"an activity of account {account} is not an object", host)
    side = SIDES.get(str(activity.get("type", "")).upper())
    if side is None:
        return None
    symbol = (activity.get("symbol") or {}).get("symbol") if isinstance(activity.get("symbol"), Mapping) else None
    units, price = activity.get("units"), activity.get("price")
    when = activity.get("trade_date")
    if not isinstance(symbol, str) or not symbol or not isinstance(units, int | float) or \
            not isinstance(price, int | float) or not isinstance(when, str):
        raise _malformed(f"activity {activity.get('id', '?')} of account {account} lacks symbol.symbol, units, "
                         "price or trade_date", host)
    try:
        t = pd.Timestamp(when)
    except ValueError:
        raise _malformed(f"activity {activity.get('id', '?')} has trade_date {when!r}", host) from None
    t = t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")
    if t == t.normalize():  # a date without a time: the fill happened by that session's close
        t = (t.tz_localize(None) + pd.Timedelta(SESSION_FILL)).tz_localize(EXCHANGE_TZ).tz_convert("UTC")
    fee = activity.get("fee")
    fees = abs(float(fee)) if isinstance(fee, int | float) else 0.0
    return t, symbol.upper(), side * abs(float(units)), float(price), fees, activity.get("id")
