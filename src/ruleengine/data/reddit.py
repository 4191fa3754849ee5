"""The ``reddit`` provider: ticker mentions in chosen subreddits, through the `praw` package.

Serves the ``social_mentions`` kind (columns ``mention_volume``, ``sentiment``, ``trending``): one record per
post that names the ticker (the rule of `ruleengine.data.mentions`: cashtags always, bare tickers only when
known and not a common word), visible from the post's ``created_utc`` (point in time: a post is counted on
the first bar whose close is at or after its creation). Per bar the binder counts the arriving posts
(`mention_volume`), averages their VADER sentiment and keeps the latest trending rank
(`ruleengine.data.align.aggregate_mentions`). Only submissions (title and text) from each subreddit's ``new``
listing are read, never comments; their text is as Reddit serves it now (an edited post reads as edited).

Configuration (environment, or the constructor's arguments):

* ``REDDIT_CLIENT_ID``, ``REDDIT_CLIENT_SECRET``, ``REDDIT_USER_AGENT``: a Reddit "script" or "web" app's
  credentials (read-only, app-only OAuth); a missing one is D113 naming it.
* ``REDDIT_SUBREDDITS``: comma-separated subreddits (default ``wallstreetbets,stocks,investing``).
* ``REDDIT_SYMBOLS``: comma-separated tickers recognised as bare words besides the fetched one (they rank
  in ``trending``; cashtags rank without being listed).
* ``REDDIT_OAUTH_URL`` / ``REDDIT_URL``: praw's ``oauth_url`` (the API) and ``reddit_url`` (the token
  endpoint ``/api/v1/access_token``); default Reddit's own.

Reddit lists only about the newest 1000 posts of a subreddit: a range starting before the oldest post the
listing reaches is an error (D111) naming that date, never a silent gap. Retries: 429, 5xx and connection
errors are retried with backoff or ``Retry-After`` (`ruleengine.data.http_session`); prawcore's own slower
retries are never reached. Errors: missing or rejected credentials, 401/403 -> D113; a symbol that cannot
be a ticker -> D110; an unknown subreddit, 5xx or 429 beyond the budget -> D112; a body that is not a
listing -> D114. Results are cached on disk like every remote provider's (`ruleengine.data.cache`).

Example:
    >>> RedditProvider(client_id="id", client_secret="s", user_agent="ua by u/me",
    ...                subreddits="stocks", oauth_url="http://127.0.0.1:9").cache_key()
    'reddit:http://127.0.0.1:9:stocks:'
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from .base import FetchRequest, KindInfo, Provider
from .frames import finish
from .mentions import Post, is_ticker, mention_records
from .pit import EXCHANGE_TZ

if TYPE_CHECKING:
    import praw

DEFAULT_SUBREDDITS = ("wallstreetbets", "stocks", "investing")
DEFAULT_OAUTH_URL = "https://oauth.reddit.com"
DEFAULT_REDDIT_URL = "https://www.reddit.com"
CREDENTIALS = ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USER_AGENT")

_KINDS: dict[str, KindInfo] = {
    "social_mentions": KindInfo(
        ("mention_volume", "sentiment", "trending"), ("event",),
        "posts naming the ticker ($AAPL always; bare AAPL when known and not a common word) in the chosen "
        "subreddits, each visible from its created_utc; per bar: post count, mean VADER sentiment (-1..1, "
        "NaN without posts), trending rank among tickers over the last 24 hours (1 = most named)"),
}

_KEY_HINT = ("set REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET and REDDIT_USER_AGENT (a Reddit app's credentials, "
             "https://www.reddit.com/prefs/apps), or give recorded mentions with --data PATH "
             "(a social_mentions file)")


def _err(code: str, message: str, hint: str | None = None) -> RuleEngineError:
    return RuleEngineError([Diagnostic(code, message, hint=hint)])


def _names(value: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(p.strip() for p in (value or "").split(",") if p.strip()))


class MalformedListing(ValueError):
    """A listing or post that is not shaped like Reddit's documented JSON."""


@dataclass
class _Scan:
    """Posts of one subreddit read so far (newest first) and whether the listing ended."""

    posts: list[Post]
    exhausted: bool

    def reaches(self, start: pd.Timestamp) -> bool:
        return self.exhausted or (bool(self.posts) and self.posts[-1].created < start)


class RedditProvider(Provider):
    """Reddit mentions through praw (needs ``REDDIT_CLIENT_ID`` / ``_SECRET`` / ``_USER_AGENT``).

    Args:
        client_id, client_secret, user_agent: the app's credentials; default from the environment.
        subreddits: comma-separated names (or a sequence); default ``REDDIT_SUBREDDITS`` or
            `DEFAULT_SUBREDDITS`.
        symbols: tickers recognised as bare words besides the fetched one; default ``REDDIT_SYMBOLS``.
        oauth_url, reddit_url: praw's API and token endpoints; default ``REDDIT_OAUTH_URL`` / ``REDDIT_URL``.
        max_retries, backoff, max_wait, timeout: as for `ruleengine.data.http_session.RetryingSession`.
    """

    name = "reddit"
    default_rank = 30
    default_reason = "REDDIT_CLIENT_ID is set"
    credentials = CREDENTIALS
    point_in_time = ("each post from its created_utc (counted on the first bar whose close is at or after it); "
                     "trending rank from posts created before it")
    description = ("Reddit (praw): ticker mentions in chosen subreddits (mention_volume, VADER sentiment, "
                   "trending rank), each post visible from its creation time; needs REDDIT_CLIENT_ID, "
                   "REDDIT_CLIENT_SECRET, REDDIT_USER_AGENT")

    def __init__(self, client_id: str | None = None, client_secret: str | None = None,
                 user_agent: str | None = None, *, subreddits: str | tuple[str, ...] | None = None,
                 symbols: str | tuple[str, ...] | None = None, oauth_url: str | None = None,
                 reddit_url: str | None = None, max_retries: int = 4, backoff: float = 0.5,
                 max_wait: float = 60.0, timeout: float = 30) -> None:
        env = os.environ
        self.client_id = client_id or env.get("REDDIT_CLIENT_ID") or None
        self.client_secret = client_secret or env.get("REDDIT_CLIENT_SECRET") or None
        self.user_agent = user_agent or env.get("REDDIT_USER_AGENT") or None
        subs = subreddits if subreddits is not None else env.get("REDDIT_SUBREDDITS")
        self.subreddits = (_names(subs) if isinstance(subs, str) or subs is None else tuple(subs)) \
            or DEFAULT_SUBREDDITS
        known = symbols if symbols is not None else env.get("REDDIT_SYMBOLS")
        self.symbols = tuple(s.upper() for s in (_names(known) if isinstance(known, str) or known is None
                                                  else known))
        self.oauth_url = (oauth_url or env.get("REDDIT_OAUTH_URL") or DEFAULT_OAUTH_URL).rstrip("/")
        self.reddit_url = (reddit_url or env.get("REDDIT_URL") or DEFAULT_REDDIT_URL).rstrip("/")
        self.max_retries, self.backoff, self.max_wait, self.timeout = max_retries, backoff, max_wait, timeout
        self._lock = threading.Lock()  # one scan per subreddit at a time; praw's session is not thread-safe
        self._client: praw.Reddit | None = None
        self._scans: dict[str, _Scan] = {}

    @classmethod
    def configured(cls, env: Mapping[str, str]) -> bool:
        """A default for social_mentions only when ``REDDIT_CLIENT_ID`` is set (usable by name without: D113)."""
        return bool(env.get("REDDIT_CLIENT_ID"))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_lock=None, _client=None, _scans={})
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def kinds(self) -> Mapping[str, KindInfo]:
        return _KINDS

    def cache_key(self) -> str:
        # what the records depend on: the server, the subreddits read and the tickers known as bare words
        return f"reddit:{self.oauth_url}:{','.join(self.subreddits)}:{','.join(self.symbols)}"

    # -- requests ----------------------------------------------------------------------------------------

    def _reddit(self) -> praw.Reddit:
        missing = [n for n, v in zip(CREDENTIALS, (self.client_id, self.client_secret, self.user_agent),
                                     strict=True) if not v]
        if missing:
            raise _err("D113", "no Reddit credentials: " + ", ".join(missing) + " not set", _KEY_HINT)
        if self._client is None:
            import praw

            from .http_session import RetryingSession

            # give_up="raise": prawcore would retry a final 5xx or connection error again, with its own sleeps
            session = RetryingSession(max_retries=self.max_retries, backoff=self.backoff, max_wait=self.max_wait,
                                      give_up="raise")
            self._client = praw.Reddit(client_id=self.client_id, client_secret=self.client_secret,
                                       user_agent=self.user_agent, oauth_url=self.oauth_url,
                                       reddit_url=self.reddit_url, check_for_updates=False,
                                       timeout=self.timeout, requestor_kwargs={"session": session})
        return self._client

    def _scan(self, subreddit: str, start: pd.Timestamp) -> _Scan:
        """Posts of `subreddit` back to `start` (or the listing's end), reusing what was read before."""
        known = self._scans.get(subreddit)
        if known is not None and known.reaches(start):
            return known
        posts: list[Post] = []
        exhausted = True
        for item in self._reddit().subreddit(subreddit).new(limit=None):
            post = _post(item, subreddit)
            posts.append(post)
            if post.created < start:
                exhausted = False
                break
        scan = _Scan(sorted(posts, key=lambda p: p.created, reverse=True), exhausted)
        self._scans[subreddit] = scan
        return scan

    def _posts(self, start: pd.Timestamp) -> list[Post]:
        import prawcore

        out: list[Post] = []
        for sub in self.subreddits:
            try:
                scan = self._scan(sub, start)
            except prawcore.PrawcoreException as exc:
                raise self._failed(exc, sub) from None
            except MalformedListing as exc:
                raise _err("D114", f"malformed listing from Reddit for r/{sub}: {exc}",
                           f"check REDDIT_OAUTH_URL ({self.oauth_url}) points at Reddit's API") from None
            except (ValueError, AttributeError, TypeError, KeyError) as exc:
                # praw reads a body of another shape with whatever error its objects raise ("a dictionary
                # PRAW didn't recognize", a Listing without children ...): the payload changed shape
                raise _err("D114", f"malformed listing from Reddit for r/{sub}: the body is not shaped like a "
                           f"Reddit listing ({type(exc).__name__}: {exc})",
                           f"check REDDIT_OAUTH_URL ({self.oauth_url}) points at Reddit's API") from None
            oldest = scan.posts[-1].created if scan.posts else None
            if scan.exhausted and (oldest is None or oldest > start):
                reach = f"reaches back only to {oldest:%Y-%m-%d %H:%M} UTC" if oldest is not None else "is empty"
                raise _err("D111", f"Reddit's listing of r/{sub} {reach} ({len(scan.posts)} posts; Reddit lists "
                           f"about the newest 1000); mentions from {start:%Y-%m-%d} are needed",
                           "start the run later (warm-up bars need posts too), or give recorded mentions "
                           "with --data PATH (a social_mentions file)")
            out += [p for p in scan.posts if p.created >= start]
        return out

    def _failed(self, exc: Exception, sub: str) -> RuleEngineError:
        import prawcore

        from .http_session import GaveUp

        original = getattr(exc, "original_exception", None)
        if isinstance(original, GaveUp):
            if original.status == 429:
                later = (f"; the server asked to wait {original.retry_after:g} s"
                         if original.retry_after is not None else "")
                return _err("D112", f"Reddit rate limit (HTTP 429) for r/{sub} after {original.attempts} "
                            f"attempt(s){later}", "wait and retry, or read fewer subreddits (REDDIT_SUBREDDITS)")
            if original.status is None:
                return _err("D112", f"could not reach Reddit at {self.oauth_url} for r/{sub} after "
                            f"{original.attempts} attempt(s)", "check the network and REDDIT_OAUTH_URL")
            return _err("D112", f"Reddit request for r/{sub} failed with HTTP {original.status} after "
                        f"{original.attempts} attempt(s)", "Reddit may be down; retry later")
        if isinstance(exc, prawcore.OAuthException | prawcore.ResponseException) and \
                getattr(getattr(exc, "response", None), "url", "").startswith(self.reddit_url + "/api/v1/"):
            status = exc.response.status_code if isinstance(exc, prawcore.ResponseException) else "error"
            return _err("D113", f"Reddit rejected the app's credentials (HTTP {status} from the token endpoint)",
                        _KEY_HINT)
        if isinstance(exc, prawcore.OAuthException):
            return _err("D113", f"Reddit rejected the app's credentials: {exc}", _KEY_HINT)
        if isinstance(exc, prawcore.Forbidden | prawcore.InsufficientScope):
            return _err("D113", f"Reddit refused r/{sub} (HTTP 403: a private, quarantined or banned "
                        "subreddit, or an app without access)", "remove it from REDDIT_SUBREDDITS")
        if isinstance(exc, prawcore.Redirect | prawcore.NotFound):
            return _err("D112", f"subreddit r/{sub} does not exist (Reddit answered "
                        f"{exc.response.status_code})", "check the names in REDDIT_SUBREDDITS")
        if isinstance(exc, prawcore.BadJSON):
            return _err("D114", f"malformed listing from Reddit for r/{sub}: the response is not JSON",
                        f"check REDDIT_OAUTH_URL ({self.oauth_url}) points at Reddit's API")
        if isinstance(exc, prawcore.ResponseException):
            return _err("D112", f"Reddit request for r/{sub} failed with HTTP {exc.response.status_code}")
        return _err("D112", f"Reddit request for r/{sub} failed: {exc}", "check REDDIT_OAUTH_URL")

    # -- kinds -------------------------------------------------------------------------------------------

    def fetch(self, request: FetchRequest) -> pd.DataFrame:
        """Posts naming `request.symbol` created in ``[start, end]`` (exchange dates), one row each."""
        if request.kind not in _KINDS:
            raise _err("D109", f"provider 'reddit' does not serve kind '{request.kind}'",
                       "reddit serves: " + ", ".join(_KINDS))
        symbol = request.symbol.strip().upper()
        if not is_ticker(symbol):
            raise RuleEngineError([Diagnostic(
                "D110", f"'{request.symbol}' cannot be counted on Reddit: a ticker mention is 1-5 letters "
                        "($AAPL or AAPL)", hint="give the ticker as posts write it (BRK.B is written $BRK)")])
        start = _instant(request.start, end=False)
        end = _instant(request.end, end=True)
        with self._lock:
            posts = [p for p in self._posts(start) if p.created <= end]
        out = mention_records(posts, symbol, self.symbols)
        return finish(out, kind=request.kind, frequency="event", provider=self.name, tz=EXCHANGE_TZ,
                      extra_attrs={"symbol": symbol, "subreddits": ",".join(self.subreddits)})


def _instant(value: Any, *, end: bool) -> pd.Timestamp:
    """A request bound (an exchange date, or an instant) as a UTC instant: a date's start, or its end."""
    t = pd.Timestamp(value)
    if t.tzinfo is not None:
        return t.tz_convert("UTC")
    if end and t == t.normalize():
        t = t + pd.Timedelta(days=1) - pd.Timedelta(microseconds=1)
    return t.tz_localize(EXCHANGE_TZ).tz_convert("UTC")


def _post(item: Any, subreddit: str) -> Post:
    """A praw Submission -> Post, from the fields the listing carried (never a lazy fetch of a missing one)."""
    data = vars(item)
    created = data.get("created_utc")
    if not isinstance(created, int | float) or isinstance(created, bool):
        raise MalformedListing(f"a post without a numeric created_utc ({data.get('id', '?')})")
    title, text = data.get("title", ""), data.get("selftext", "")
    if not isinstance(title, str) or not isinstance(text, str):
        raise MalformedListing(f"post {data.get('id', '?')} has no text title/selftext")
    return Post(str(data.get("id", "")), subreddit, pd.Timestamp(float(created), unit="s", tz="UTC"),
                f"{title}\n{text}")
