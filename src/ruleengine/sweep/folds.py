"""Walk-forward folds and hold-out splits as half-open row ranges of one price history.

Walk-forward with `train` = L, `test` = K, `step` = s (K by default) and first row `start` = a: fold k
(k = 0, 1, ...) tests rows [a + L + k s, min(a + L + k s + K, n)) and trains on

- rolling (default): the L rows just before its test window, [a + k s, a + L + k s);
- anchored: every row from `start`, [a, a + L + k s) (the training window grows by s per fold).

Folds continue while their test window starts inside the data. The last test window may be shorter than K
(it runs to the end of the data, at least 1 bar) and is kept, so the stitched out-of-sample span reaches the
last bar; `keep_partial=False` drops it. With s = K the test windows are consecutive and do not overlap (what
stitching an out-of-sample equity curve needs); s < K overlaps them, s > K leaves untested gaps.

A hold-out (`holdout_split`) keeps the last part of the history unseen: "20%" or 0.2 (a share, rounded half
up to whole bars) or 250 (bars). Walk-forward folds are then cut from the rows before it.

Example:
    >>> [f.as_tuple() for f in walk_forward_folds(10, train=4, test=3)]
    [(0, 4, 4, 7), (3, 7, 7, 10)]
    >>> holdout_split(100, "20%")
    (80, 20)
    >>> parse_walk_forward("train=504,test=126,anchored")
    {'train': 504, 'test': 126, 'anchored': True, 'step': None}
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, NoReturn

from ..errors import Diagnostic, RuleEngineError, did_you_mean

_SPEC_KEYS = ("train", "test", "step")
_SPEC_FLAGS = ("anchored", "rolling")
_SPEC_HINT = "write it as train=BARS,test=BARS[,step=BARS][,anchored], e.g. train=504,test=126,anchored"


def _fail(message: str, path: str, hint: str) -> NoReturn:
    raise RuleEngineError([Diagnostic("D122", message, path=path, hint=hint)])


def _int(value: Any, path: str, minimum: int) -> int:
    # bool is an int subclass: True would silently mean 1 bar
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        _fail(f"{path} must be a whole number of bars, got {value!r}", path, f"pass an int >= {minimum}")
    out = int(value.__index__())
    if out < minimum:
        _fail(f"{path} must be at least {minimum}, got {out}", path, f"pass an int >= {minimum}")
    return out


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: train rows [train_start, train_end), test rows [test_start, test_end)."""

    train_start: int
    train_end: int
    test_start: int
    test_end: int

    @property
    def train(self) -> slice:
        return slice(self.train_start, self.train_end)

    @property
    def test(self) -> slice:
        return slice(self.test_start, self.test_end)

    @property
    def train_len(self) -> int:
        return self.train_end - self.train_start

    @property
    def test_len(self) -> int:
        return self.test_end - self.test_start

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.train_start, self.train_end, self.test_start, self.test_end)

    def to_dict(self) -> dict[str, int]:
        return {"train_start": self.train_start, "train_end": self.train_end,
                "test_start": self.test_start, "test_end": self.test_end}


def walk_forward_folds(n_bars: int, train: int, test: int, anchored: bool = False, step: int | None = None,
                       start: int = 0, keep_partial: bool = True) -> list[Fold]:
    """Walk-forward folds over rows [start, n_bars) (see the module docstring for the exact boundaries).

    Args:
        n_bars: rows of the history (e.g. the in-sample part before a hold-out).
        train: training bars of the first fold (of every fold when rolling).
        test: test bars per fold.
        anchored: train from `start` on every fold instead of a rolling window of `train` bars.
        step: bars between consecutive test starts; `test` by default.
        start: first row used.
        keep_partial: keep a last test window shorter than `test` (default) or drop it.

    Example:
        >>> [f.as_tuple() for f in walk_forward_folds(10, train=4, test=3, anchored=True)]
        [(0, 4, 4, 7), (0, 7, 7, 10)]
    """
    n = _int(n_bars, "n_bars", 1)
    train = _int(train, "walk_forward.train", 1)
    test = _int(test, "walk_forward.test", 1)
    step = test if step is None else _int(step, "walk_forward.step", 1)
    start = _int(start, "walk_forward.start", 0)
    if start >= n:
        _fail(f"start row {start} is past the data ({n} bars)", "walk_forward.start",
              f"use a start row below {n}")
    avail = n - start
    need = train + (1 if keep_partial else test)
    if need > avail:
        example = f", e.g. train={avail * 4 // 5},test={avail - avail * 4 // 5}" if avail >= 5 else ""
        _fail(f"the walk-forward window (train={train} + test={test}) is longer than the data: {avail} bars"
              + (f" from row {start}" if start else ""), "walk_forward",
              f"there are {n} bars{f' ({avail} from row {start})' if start else ''}; "
              f"use train + test <= {avail}{example}")
    folds = []
    test_start = start + train
    while test_start < n:
        test_end = min(test_start + test, n)
        if test_end - test_start < test and not keep_partial:
            break
        folds.append(Fold(start if anchored else test_start - train, test_start, test_start, test_end))
        test_start += step
    return folds


def holdout_split(n_bars: int, holdout: str | float) -> tuple[int, int]:
    """The first row of the unseen hold-out and its length: rows [0, split) in-sample, [split, n_bars) unseen.

    `holdout` is a share ("20%", "0.2", 0.2; strictly between 0 and 1) or a number of bars (250, "250").
    Shares are rounded half up to whole bars; both parts must keep at least one bar.

    Example:
        >>> holdout_split(2520, 0.2), holdout_split(2520, 250)
        ((2016, 504), (2270, 250))
    """
    n = _int(n_bars, "n_bars", 2)
    hint = "give a share like '20%' or 0.2, or a number of bars like 250"
    value: float | int
    if isinstance(holdout, str):
        text = holdout.strip()
        try:
            if text.endswith("%"):
                value = float(text[:-1].strip()) / 100.0
                if not 0 < value < 1:
                    _fail(f"hold-out {holdout!r} must be between 0% and 100% (exclusive)", "holdout", hint)
            elif re.fullmatch(r"[+-]?\d+", text):
                value = int(text)
            else:
                value = float(text)
        except ValueError:
            _fail(f"cannot read hold-out {holdout!r}", "holdout", hint)
    elif isinstance(holdout, float):
        value = float(holdout)
    elif not isinstance(holdout, bool) and hasattr(holdout, "__index__"):
        value = int(holdout.__index__())
    else:
        _fail(f"cannot read hold-out {holdout!r}", "holdout", hint)
    if isinstance(value, float):
        if not (math.isfinite(value) and 0 < value < 1):
            _fail(f"a hold-out share must be strictly between 0 and 1, got {holdout!r}", "holdout",
                  hint + " (a whole number means bars)")
        bars = math.floor(value * n + 0.5)
    else:
        bars = value
    if not 1 <= bars <= n - 1:
        _fail(f"hold-out {holdout!r} is {bars} of {n} bars: both the hold-out and the rest need at least 1 bar",
              "holdout", f"there are {n} bars; use between 1 and {n - 1} bars or a share like '20%'")
    return n - bars, bars


def parse_walk_forward(spec: str) -> dict[str, Any]:
    """Parse the CLI form "train=504,test=126[,step=63][,anchored]" into `walk_forward_folds` keywords.

    Returns ``{"train", "test", "anchored", "step"}`` (step None = test). `rolling` is accepted as the
    explicit default.

    Example:
        >>> parse_walk_forward("train=252, test=63, step=21")
        {'train': 252, 'test': 63, 'anchored': False, 'step': 21}
    """
    if not isinstance(spec, str) or not spec.strip():
        _fail("empty walk-forward specification", "walk_forward", _SPEC_HINT)
    out: dict[str, Any] = {"train": None, "test": None, "anchored": False, "step": None}
    flags: set[str] = set()
    for raw in spec.split(","):
        part = raw.strip()
        if not part:
            _fail(f"empty item in walk-forward specification {spec!r}", "walk_forward", _SPEC_HINT)
        key, sep, val = (s.strip() for s in part.partition("="))
        key = key.lower()
        if not sep:
            if key not in _SPEC_FLAGS:
                near = did_you_mean(key, _SPEC_FLAGS + _SPEC_KEYS)
                _fail(f"unknown walk-forward option {part!r}", "walk_forward", near or _SPEC_HINT)
            flags.add(key)
            continue
        if key not in _SPEC_KEYS:
            near = did_you_mean(key, _SPEC_KEYS + _SPEC_FLAGS)
            _fail(f"unknown walk-forward option {key!r}", "walk_forward", near or _SPEC_HINT)
        if out[key] is not None:
            _fail(f"walk-forward option {key!r} given twice", f"walk_forward.{key}", _SPEC_HINT)
        if not re.fullmatch(r"\d+", val) or int(val) < 1:
            _fail(f"walk-forward {key}={val!r} must be a whole number of bars >= 1", f"walk_forward.{key}",
                  _SPEC_HINT)
        out[key] = int(val)
    if flags == set(_SPEC_FLAGS):
        _fail("walk-forward cannot be both anchored and rolling", "walk_forward", _SPEC_HINT)
    missing = [k for k in ("train", "test") if out[k] is None]
    if missing:
        _fail(f"walk-forward specification {spec!r} lacks {' and '.join(missing)}", "walk_forward", _SPEC_HINT)
    out["anchored"] = "anchored" in flags
    return out
