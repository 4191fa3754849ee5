"""The reddit provider through the real praw client against a stand-in of Reddit's API on 127.0.0.1
(tests/support/reddit_server.py): the mention rule, point-in-time mentions per bar, pagination, every fault as a
structured error, the cache, and one CLI backtest that trades the same as the same mentions read from a file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from support.prices import sine_prices
from support.provider_errors import error_of
from support.reddit_server import RedditServer, Reply, recorded_listing
from typer.testing import CliRunner
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ruleengine.cli import app
from ruleengine.data.align import aggregate_mentions
from ruleengine.data.base import FetchRequest
from ruleengine.data.cache import CachedProvider
from ruleengine.data.reddit import RedditProvider
from ruleengine.data.registry import default_registry
from ruleengine.errors import RuleEngineError

DAY = 86400
T0 = 1704290400  # 2024-01-03 14:00 UTC (09:00 New York), the recorded listing's older post


@pytest.fixture(autouse=True)
def _clean(provider_env_cleared):
    pass


@pytest.fixture
def server():
    with RedditServer() as s:
        yield s


def provider(server: RedditServer, **kw) -> RedditProvider:
    return RedditProvider(**{**server.credentials, "subreddits": "stocks", "backoff": 0.01, **kw})


def fetch(p: RedditProvider, symbol: str = "ACME", start="2024-01-03 14:00+00:00",
          end="2024-01-05") -> pd.DataFrame:
    return p.fetch(FetchRequest(symbol, "social_mentions", pd.Timestamp(start), pd.Timestamp(end)))


# ----------------------------------------------------------------------------------------- the mention rule

def test_recorded_listing_cashtags_bare_tickers_and_stop_words(server):
    server.script("/r/stocks/new", Reply(200, recorded_listing()))
    # IT, ALL and A are tickers, but common words: the gloomy post mentions none of them
    p = provider(server, symbols="IT,ALL,A")
    acme = fetch(p)
    assert acme.index.tolist() == [pd.Timestamp(1704297600, unit="s", tz="UTC")]  # visible from created_utc
    analyzer = SentimentIntensityAnalyzer()
    post = recorded_listing()["data"]["children"][0]["data"]
    expected = analyzer.polarity_scores(post["title"] + "\n" + post["selftext"])["compound"]
    assert acme["sentiment"].tolist() == [pytest.approx(expected)] and expected > 0.5
    assert acme["trending"].tolist() == [1.0] and acme["post_id"].tolist() == ["1a2b3c"]
    assert acme.attrs["provider"] == "reddit" and acme.index.name == "available_at"
    for word in ("IT", "ALL", "A"):
        assert fetch(p, word).empty  # no error: a ticker nobody named has no mentions


def test_bare_ticker_counts_only_in_capitals_and_cashtags_always(server):
    server.add_post("stocks", "old", created_utc=T0 - DAY)
    server.add_post("stocks", "acme is cheap", created_utc=T0 + 60)      # lower case: a word, not a ticker
    server.add_post("stocks", "ACME is cheap", created_utc=T0 + 120)     # bare, capitals: counts
    server.add_post("stocks", "$acme is cheap", created_utc=T0 + 180)    # cashtag in any case: counts
    server.add_post("stocks", "ACMEX and XACME", created_utc=T0 + 240)   # other words
    server.add_post("stocks", "$IT beats", created_utc=T0 + 300)         # a stop word as a cashtag counts
    p = provider(server)
    assert fetch(p).index.tolist() == [pd.Timestamp(T0 + s, unit="s", tz="UTC") for s in (120, 180)]
    assert len(fetch(p, "IT")) == 1


def test_trending_rank_uses_only_earlier_posts_of_the_last_24_hours(server):
    server.add_post("stocks", "old", created_utc=T0 - 3 * DAY)
    server.add_post("stocks", "$ZZZ", created_utc=T0 - 2 * DAY)    # outside the window of every ACME post
    server.add_post("stocks", "$BBB", created_utc=T0)
    server.add_post("stocks", "$BBB again", created_utc=T0 + 60)
    server.add_post("stocks", "$ACME first", created_utc=T0 + 120)     # BBB 2 > ACME 1: rank 2
    server.add_post("stocks", "$ACME second", created_utc=T0 + 180)    # tie 2 = 2: shares rank 1
    server.add_post("stocks", "$CCC $CCC", created_utc=T0 + 240)
    server.add_post("stocks", "$CCC", created_utc=T0 + 300)
    server.add_post("stocks", "$CCC", created_utc=T0 + 360)
    assert fetch(provider(server))["trending"].tolist() == [2.0, 1.0]  # later CCC posts change nothing


def test_invalid_symbol_is_an_invalid_symbol_error(server):
    code, message, kind = error_of(lambda: fetch(provider(server), "BRK.B"))
    assert (code, kind) == ("D110", "invalid_symbol_error") and "BRK.B" in message


# ------------------------------------------------------------------------------------------ point in time

def test_mentions_per_bar_arrive_at_the_first_close_after_creation():
    bars = pd.DatetimeIndex(["2024-01-03", "2024-01-04", "2024-01-05"], tz="UTC")
    at = pd.DatetimeIndex(["2024-01-03 14:00", "2024-01-03 20:59", "2024-01-03 21:01", "2024-01-05 12:00"],
                          tz="UTC")  # the session closes at 21:00 UTC (16:00 New York)
    rows = pd.DataFrame({"sentiment": [0.5, -0.1, 0.2, 0.4], "trending": [3.0, 2.0, 1.0, 5.0]}, index=at)
    out = aggregate_mentions(rows, bars, "1Day")
    assert out["mention_volume"].tolist() == [2.0, 1.0, 1.0]
    assert out["sentiment"].tolist() == [pytest.approx(0.2), 0.2, 0.4]
    assert out["trending"].tolist() == [2.0, 1.0, 5.0]
    quiet = aggregate_mentions(rows.iloc[:0], bars, "1Day")
    assert quiet["mention_volume"].tolist() == [0.0] * 3 and quiet["sentiment"].isna().all()


def test_truncation_later_posts_never_change_earlier_bars(server):
    bars = pd.DatetimeIndex(pd.bdate_range("2024-01-03", "2024-01-12"), tz="UTC")
    server.add_post("stocks", "old", created_utc=T0 - DAY)
    for i in range(12):
        server.add_post("stocks", "$ACME good" if i % 2 else "$ACME bad $BBB", created_utc=T0 + i * 20000)
    full = aggregate_mentions(fetch(provider(server), end="2024-01-12"), bars, "1Day")
    for cut in (3, 5):
        end = bars[cut - 1].strftime("%Y-%m-%d")
        part = aggregate_mentions(fetch(provider(server), end=end), bars[:cut], "1Day")
        pd.testing.assert_frame_equal(part, full.iloc[:cut])


# ------------------------------------------------------------------------------------------- pagination

def test_pagination_follows_after_and_stops_once_older_than_start(server):
    server.page_size = 2
    for i in range(9):
        server.add_post("stocks", f"$ACME {i}", created_utc=T0 - 4 * DAY + i * DAY // 2)
    out = fetch(provider(server), start="2024-01-02")
    assert len(out) == 3  # from 2024-01-02 05:00 UTC (00:00 New York): posts 6, 7 and 8
    pages = [r.query.get("after") for r in server.requests if r.path == "/r/stocks/new"]
    assert pages == [None, "t3_sto00007"]  # 2 of the 5 pages: post 5 is older than the start


def test_listing_that_cannot_reach_the_range_is_an_error(server):
    server.cap = 3
    for i in range(6):
        server.add_post("stocks", f"$ACME {i}", created_utc=T0 + i * 3600)
    code, message, kind = error_of(lambda: fetch(provider(server)))
    assert (code, kind) == ("D111", "data_fetch_error")
    assert "r/stocks reaches back only to 2024-01-03 17:00 UTC" in message


def test_several_subreddits_and_one_scan_for_many_symbols(server):
    for sub in ("stocks", "investing"):
        server.add_post(sub, "old", created_utc=T0 - DAY)
        server.add_post(sub, "$ACME and $BBB", created_utc=T0 + 60)
    p = provider(server, subreddits="stocks,investing")
    got = p.fetch_many(["ACME", "BBB"], "social_mentions", pd.Timestamp("2024-01-03 14:00+00:00"),
                       pd.Timestamp("2024-01-05"))
    assert [len(got[s]) for s in ("ACME", "BBB")] == [2, 2]
    assert sorted(got["ACME"]["subreddit"]) == ["investing", "stocks"]
    assert server.count("/r/stocks/new") == 1 and server.count("/api/v1/access_token") == 1


# ----------------------------------------------------------------------------------------------- faults

def test_missing_credentials_name_the_variables(server):
    code, message, kind = error_of(lambda: fetch(RedditProvider(client_id="x", oauth_url=server.url)))
    assert (code, kind) == ("D113", "data_fetch_error")
    assert "REDDIT_CLIENT_SECRET, REDDIT_USER_AGENT not set" in message
    assert server.requests == []


def test_wrong_credentials_are_rejected_at_the_token_endpoint(server):
    code, message, _ = error_of(lambda: fetch(provider(server, client_secret="wrong")))
    assert code == "D113" and "HTTP 401 from the token endpoint" in message


def test_forbidden_and_unknown_subreddits(server):
    server.script("/r/stocks/new", Reply(403, {"reason": "private", "message": "Forbidden", "error": 403}))
    code, message, _ = error_of(lambda: fetch(provider(server)))
    assert code == "D113" and "r/stocks" in message and "private" in message
    code, message, _ = error_of(lambda: fetch(provider(server, subreddits="nosuchsub")))
    assert code == "D112" and "r/nosuchsub does not exist" in message


def test_429_with_retry_after_then_success(server):
    server.add_post("stocks", "old", created_utc=T0 - DAY)
    server.add_post("stocks", "$ACME", created_utc=T0 + 60)
    server.script("/r/stocks/new", Reply(429, {"message": "Too Many Requests", "error": 429},
                                         {"Retry-After": "0.05"}))
    assert len(fetch(provider(server))) == 1 and server.count("/r/stocks/new") == 2


def test_429_beyond_the_budget_names_the_wait(server):
    server.add_post("stocks", "$ACME", created_utc=T0 + 60)
    many = [Reply(429, {"message": "Too Many Requests"}, {"Retry-After": "0.01"})] * 3
    server.script("/r/stocks/new", *many)
    code, message, kind = error_of(lambda: fetch(provider(server, max_retries=2)))
    assert (code, kind) == ("D112", "data_fetch_error")
    assert "rate limit (HTTP 429) for r/stocks after 3 attempt(s); the server asked to wait 0.01 s" in message
    assert server.count("/r/stocks/new") == 3  # prawcore's own retries never ran


def test_5xx_backs_off_then_succeeds_or_fails(server):
    server.add_post("stocks", "old", created_utc=T0 - DAY)
    server.add_post("stocks", "$ACME", created_utc=T0 + 60)
    server.script("/r/stocks/new", Reply(503, "<html>upstream</html>"))
    assert len(fetch(provider(server))) == 1
    server.script("/r/stocks/new", *[Reply(500, {"message": "Internal Server Error"})] * 2)
    code, message, _ = error_of(lambda: fetch(provider(server, max_retries=1), start="2024-01-01"))
    assert code == "D112" and "HTTP 500 after 2 attempt(s)" in message


@pytest.mark.parametrize(("body", "words"), [
    ("<html>not json</html>", "not JSON"),
    ({"kind": "Listing", "data": {"dist": 0}}, "not shaped like a Reddit listing"),
    ({"unexpected": [1, 2]}, "not shaped like a Reddit listing"),
    ({"kind": "Listing", "data": {"after": None, "children": [{"kind": "t3", "data": {"id": "x", "title": "t"}}]}},
     "without a numeric created_utc"),
])
def test_malformed_listing(server, body, words):
    server.script("/r/stocks/new", Reply(200, body))
    code, message, kind = error_of(lambda: fetch(provider(server)))
    assert (code, kind) == ("D114", "data_fetch_error") and words in message


def test_unreachable_server():
    p = RedditProvider(client_id="a", client_secret="b", user_agent="tests by u/me", oauth_url="http://127.0.0.1:9",
                       reddit_url="http://127.0.0.1:9", max_retries=1, backoff=0.01)
    code, message, _ = error_of(lambda: fetch(p))
    assert code == "D112" and "could not reach Reddit" in message


# ------------------------------------------------------------------------------------- cache and registry

def test_results_are_cached(server, tmp_path):
    server.add_post("stocks", "old", created_utc=T0 - DAY)
    server.add_post("stocks", "$ACME", created_utc=T0 + 60)
    first = CachedProvider(provider(server), cache_dir=tmp_path, ttl=0)
    request = FetchRequest("ACME", "social_mentions", pd.Timestamp("2024-01-03"), pd.Timestamp("2024-01-05"))
    a = first.fetch(request)
    calls = len(server.requests)
    b = CachedProvider(provider(server), cache_dir=tmp_path, ttl=0).fetch(request)
    assert len(server.requests) == calls  # a new provider, no request: read from disk
    pd.testing.assert_frame_equal(a, b, check_freq=False)


def test_registry_uses_reddit_for_mentions_when_configured(monkeypatch, server):
    reg = default_registry()
    with pytest.raises(RuleEngineError) as info:
        reg.resolve(None, "social_mentions", "event")
    assert info.value.diagnostics[0].code == "D109" and "reddit" in info.value.diagnostics[0].hint
    for key, value in server.environment().items():
        monkeypatch.setenv(key, value)
    assert default_registry().resolve(None, "social_mentions", "event").name == "reddit"
    assert default_registry().resolve(None, "ohlcv", "1Day").name == "sample"


# ------------------------------------------------------------------------------------------- end to end

STRATEGY = """\
name: Reddit mention spike
description: Buy when a ticker is named three times as often as over the last 20 days; sell after 3 days.
data:
  prices: {kind: ohlcv, frequency: 1Day, columns: [close]}
  reddit: {kind: social_mentions, frequency: event}
entry:
  conditions:
    - reddit.mention_volume > 3 * sma(reddit.mention_volume, 20)
exit:
  conditions:
    - close < 0
risk: {max_hold_days: 3}
"""


def _session_utc(day: pd.Timestamp, hour: float) -> float:
    """A UTC epoch second `hour` hours after midnight New York time on `day`."""
    return (day.tz_localize("America/New_York") + pd.Timedelta(hours=hour)).tz_convert("UTC").timestamp()


def test_cli_backtest_on_reddit_trades_like_the_same_mentions_from_a_file(server, tmp_path, monkeypatch):
    prices = sine_prices(70, 50, 5, 6.0, start="2024-01-02")
    data = tmp_path / "data"
    data.mkdir()
    prices.to_csv(data / "ACME.csv", index=False)
    days = pd.to_datetime(prices["date"])
    rows = []
    rng = np.random.default_rng(7)
    analyzer = SentimentIntensityAnalyzer()
    server.add_post("stocks", "before the range", created_utc=_session_utc(days[0] - pd.Timedelta(days=9), 10))
    for i, day in enumerate(days):
        spike = i in (30, 60)
        for k in range(8 if spike else int(rng.integers(1, 3))):
            # some posts after the close (17:30 New York): they count on the next session's bar
            at = _session_utc(day, 17.5 if k % 3 == 2 else 10 + k / 10)
            text = "$ACME looks great" if k % 2 else "ACME is a disaster"
            server.add_post("stocks", text, created_utc=at)
            # the file: one row per post naming ACME, as a user would record it (sentiment from VADER itself)
            rows.append({"symbol": "ACME", "available_at": pd.Timestamp(at, unit="s", tz="UTC").isoformat(),
                         "sentiment": analyzer.polarity_scores(text + "\n")["compound"]})
    (data / "social_mentions").mkdir()
    pd.DataFrame(rows).to_csv(data / "social_mentions" / "ACME.csv", index=False)
    doc = tmp_path / "spike.yaml"
    doc.write_text(STRATEGY)
    args = ["backtest", str(doc), "--symbols", "ACME", "--start", "2024-02-12", "--end", "2024-04-05",
            "--data", str(data), "--json"]
    for key, value in server.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("REDDIT_SUBREDDITS", "stocks")
    monkeypatch.setenv("RULEENGINE_PROVIDER", "ohlcv=local,social_mentions=reddit")
    live = CliRunner().invoke(app, args)
    assert "Traceback" not in live.stdout, live.stdout
    on_reddit = json.loads(live.stdout)
    assert on_reddit["success"] is True, on_reddit
    monkeypatch.setenv("RULEENGINE_PROVIDER", "local")
    from_file = json.loads(CliRunner().invoke(app, args).stdout)
    assert from_file["success"] is True, from_file
    trades = [r["trades"] for r in (on_reddit["results"][0], from_file["results"][0])]
    assert trades[0] == trades[1]
    # the two spikes (six posts before the close) and nothing else
    assert [t["entry_time"][:10] for t in trades[0]] == [days[30].strftime("%Y-%m-%d"),
                                                        days[60].strftime("%Y-%m-%d")]


def test_reddit_is_listed_with_its_kind_key_and_point_in_time_rule():
    from ruleengine.llm.handlers import NoArgs, list_capabilities

    listed = json.loads(CliRunner().invoke(app, ["providers", "--json"]).stdout)["providers"]
    for providers in (listed, list_capabilities(NoArgs())["providers"]):
        reddit = next(p for p in providers if p["name"] == "reddit")
        assert "REDDIT_CLIENT_ID" in reddit["description"]
        kind = reddit["kinds"]["social_mentions"]
        assert kind["columns"] == ["mention_volume", "sentiment", "trending"] and kind["frequencies"] == ["event"]
        assert "created_utc" in kind["doc"]
    assert "### reddit" in default_registry().describe_text()


def test_empty_listing_is_no_data_not_zero_mentions(server):
    server.add_post("stocks", "x", created_utc=T0)
    server.script("/r/stocks/new", Reply(200, {"kind": "Listing", "data": {
        "after": None, "dist": 0, "modhash": "", "geo_filter": "", "children": [], "before": None}}))
    code, message, _ = error_of(lambda: fetch(provider(server)))
    assert code == "D111" and "r/stocks is empty" in message


def test_cli_error_is_the_error_schema_without_a_traceback(tmp_path, monkeypatch):
    prices = sine_prices(40, 50, 5, 6.0, start="2024-01-02")
    prices.to_csv(tmp_path / "ACME.csv", index=False)
    doc = tmp_path / "spike.yaml"
    doc.write_text(STRATEGY)
    monkeypatch.setenv("RULEENGINE_PROVIDER", "ohlcv=local,social_mentions=reddit")
    res = CliRunner().invoke(app, ["backtest", str(doc), "--symbols", "ACME", "--data", str(tmp_path), "--json"])
    out = json.loads(res.stdout)
    assert res.exit_code == 1 and "Traceback" not in res.stdout
    assert out["success"] is False and out["error"]["type"] == "data_fetch_error"
    assert "REDDIT_CLIENT_ID" in json.dumps(out["error"])
