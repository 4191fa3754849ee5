"""Ticker mentions in social-media posts: which tickers a post names, its sentiment, and trending ranks.

The matching rule (documented in README, "Reddit"):

* a **cashtag** ``$AAPL`` (``$`` + 1-5 letters, any case) always counts as a mention of ``AAPL``;
* a **bare ticker** ``AAPL`` counts only when it is written in capitals as a word of its own, is one of the
  *known* symbols (the symbol being fetched, plus the provider's configured list), and is not in
  `STOP_WORDS` (English words and trading slang that are also tickers: ``A``, ``IT``, ``ALL``, ``DD``,
  ``CEO`` ...). A stop word is still counted as a cashtag (``$IT`` is Gartner).

A post that names a ticker several times is one mention of it. Sentiment is VADER's compound score
(-1 .. 1, `vaderSentiment`, whose lexicon ships inside the package: nothing is downloaded) of the post's
title and text. The trending rank of a ticker at a mention is its place among all tickers by the number of
posts naming them in the 24 hours up to that mention (1 = the most named; ties share the better place):
it uses only posts created at or before the mention, so it is point in time.

Example:
    >>> sorted(tickers_in("YOLO on $gme and AAPL, IT is A lot", known={"AAPL", "IT", "A"}))
    ['AAPL', 'GME']
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Window of the trending rank.
TRENDING_WINDOW = pd.Timedelta(hours=24)

#: Capitalised words that are tickers too but mostly mean something else in posts: never bare mentions.
STOP_WORDS: frozenset[str] = frozenset({
    "A", "I", "AM", "AN", "ANY", "ARE", "AS", "AT", "BE", "BIG", "BY", "CAN", "DO", "FOR", "GO", "GOOD", "HAS", "HE",
    "HOLD", "IF", "IN", "IS", "IT", "ME", "MY", "NEW", "NO", "NOW", "OF", "OLD", "ON", "ONE", "OR", "OUT", "OWN",
    "PM", "REAL", "RUN", "SEE", "SO", "THE", "TO", "TWO", "UP", "US", "WE", "ALL", "BEST", "CASH", "EDIT", "EVER",
    "FAST", "FUN", "GAIN", "LIFE", "LOVE", "MAN", "MOVE", "NEXT", "OPEN", "PLAY", "RIDE", "SAFE", "TELL", "TRUE",
    "VERY", "WELL", "WORK", "ALLY", "AWAY", "BOOM", "CAR", "KEY", "LOW", "HUGE", "DD", "CEO", "CFO", "CTO", "EPS",
    "ETF", "IPO", "ATH", "ATL", "IMO", "IMHO", "TLDR", "YOLO", "FOMO", "FUD", "HODL", "USA", "USD", "EU", "UK",
    "SEC", "FED", "GDP", "CPI", "API", "AI", "IRS", "LOL", "OMG", "WTF", "TA", "PE", "PT", "OTM", "ITM", "ATM",
    "EOD", "EOW", "IV", "OP",
})

_CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z]{1,5})\b")
_BARE = re.compile(r"(?<![\w$])([A-Z]{1,5})\b")
_SYMBOL = re.compile(r"^[A-Z]{1,5}$")


def is_ticker(symbol: str) -> bool:
    """Whether `symbol` can be mentioned in a post: 1-5 capital letters (share classes such as BRK.B cannot)."""
    return bool(_SYMBOL.match(symbol))


def tickers_in(text: str, known: Iterable[str] = ()) -> set[str]:
    """The tickers a text mentions, by the rule of the module docstring."""
    found = {m.upper() for m in _CASHTAG.findall(text)}
    known_set = set(known)
    found.update(w for w in _BARE.findall(text) if w in known_set and w not in STOP_WORDS)
    return found


@functools.lru_cache(maxsize=1)
def _analyzer() -> object:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def sentiment(text: str) -> float:
    """VADER's compound score of `text` (-1 most negative .. 1 most positive, 0 neutral)."""
    return float(_analyzer().polarity_scores(text)["compound"])  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Post:
    """One post as the mention rules see it: its id, where and when (UTC) it was created, and its text."""

    id: str
    subreddit: str
    created: pd.Timestamp
    text: str


def mention_records(posts: Sequence[Post], symbol: str, known: Iterable[str] = ()) -> pd.DataFrame:
    """One row per post that mentions `symbol`, indexed by the post's creation instant (``available_at``).

    Columns: ``sentiment`` (the post's compound score), ``trending`` (the symbol's rank at that instant),
    ``mention_volume`` (1: this row is one mention), and ``post_id`` and ``subreddit``.
    """
    known_all = {*known, symbol}
    named = [tickers_in(p.text, known_all) for p in posts]
    times = pd.DatetimeIndex([p.created for p in posts], tz="UTC") if posts else pd.DatetimeIndex([], tz="UTC")
    ranks = _trending_ranks(times, named, symbol)
    rows = [i for i, found in enumerate(named) if symbol in found]
    out = pd.DataFrame({
        "mention_volume": np.ones(len(rows)),
        "sentiment": [sentiment(posts[i].text) for i in rows],
        "trending": ranks[rows] if rows else np.zeros(0),
        "post_id": [posts[i].id for i in rows],
        "subreddit": [posts[i].subreddit for i in rows],
    }, index=times[rows] if rows else pd.DatetimeIndex([], tz="UTC"))
    out.index.name = "available_at"
    return out.sort_index(kind="mergesort")


def _trending_ranks(times: pd.DatetimeIndex, named: Sequence[set[str]], symbol: str) -> np.ndarray:
    """Per post: `symbol`'s rank by posts naming each ticker in (created - TRENDING_WINDOW, created]."""
    by_ticker: dict[str, list[int]] = {}
    for i, found in enumerate(named):
        for t in found:
            by_ticker.setdefault(t, []).append(i)
    ns = times.as_unit("ns").asi8
    window = TRENDING_WINDOW.value
    counts: Mapping[str, np.ndarray] = {t: np.sort(ns[idx]) for t, idx in by_ticker.items()}
    ranks = np.full(len(named), np.nan)
    mine = counts.get(symbol)
    if mine is None:
        return ranks
    for i, found in enumerate(named):
        if symbol not in found:
            continue
        at = ns[i]

        def in_window(stamps: np.ndarray, at: int = at) -> int:
            return int(np.searchsorted(stamps, at, side="right") - np.searchsorted(stamps, at - window,
                                                                                   side="right"))

        own = in_window(mine)
        ranks[i] = 1 + sum(1 for t, stamps in counts.items() if t != symbol and in_window(stamps) > own)
    return ranks
