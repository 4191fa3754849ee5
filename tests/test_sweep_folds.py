"""Walk-forward folds, hold-out splits and the --walk-forward specification: exact boundaries and errors."""
from __future__ import annotations

import itertools

import pytest

from ruleengine.errors import RuleEngineError
from ruleengine.sweep.folds import Fold, holdout_split, parse_walk_forward, walk_forward_folds


def _d122(call, *args, **kwargs):
    with pytest.raises(RuleEngineError) as info:
        call(*args, **kwargs)
    (diag,) = info.value.diagnostics
    assert diag.code == "D122" and diag.hint and diag.path
    return diag


def _tuples(folds: list[Fold]) -> list[tuple[int, int, int, int]]:
    return [f.as_tuple() for f in folds]


# --- walk_forward_folds -----------------------------------------------------------------------------------


def test_rolling_folds_exact_fit():
    assert _tuples(walk_forward_folds(10, train=4, test=3)) == [(0, 4, 4, 7), (3, 7, 7, 10)]


def test_rolling_last_partial_window_kept_or_dropped():
    assert _tuples(walk_forward_folds(11, train=4, test=3)) == [(0, 4, 4, 7), (3, 7, 7, 10), (6, 10, 10, 11)]
    assert _tuples(walk_forward_folds(11, 4, 3, keep_partial=False)) == [(0, 4, 4, 7), (3, 7, 7, 10)]
    assert _tuples(walk_forward_folds(12, 4, 3)) == [(0, 4, 4, 7), (3, 7, 7, 10), (6, 10, 10, 12)]


def test_anchored_folds_grow_the_training_window():
    assert _tuples(walk_forward_folds(11, train=4, test=3, anchored=True)) == [
        (0, 4, 4, 7), (0, 7, 7, 10), (0, 10, 10, 11)]


def test_step_shorter_and_longer_than_test():
    # step 2 < test 3: overlapping test windows; the last one (8, 10) is partial
    assert _tuples(walk_forward_folds(10, train=4, test=3, step=2)) == [
        (0, 4, 4, 7), (2, 6, 6, 9), (4, 8, 8, 10)]
    assert _tuples(walk_forward_folds(10, 4, 3, step=2, keep_partial=False)) == [(0, 4, 4, 7), (2, 6, 6, 9)]
    # step 5 > test 3: rows 7, 8 and 12, 13 are never tested
    assert _tuples(walk_forward_folds(14, train=4, test=3, step=5)) == [(0, 4, 4, 7), (5, 9, 9, 12)]
    assert _tuples(walk_forward_folds(14, train=4, test=3, step=5, anchored=True)) == [
        (0, 4, 4, 7), (0, 9, 9, 12)]


def test_start_row():
    assert _tuples(walk_forward_folds(12, train=4, test=3, start=2)) == [(2, 6, 6, 9), (5, 9, 9, 12)]
    assert _tuples(walk_forward_folds(12, train=4, test=3, start=2, anchored=True)) == [
        (2, 6, 6, 9), (2, 9, 9, 12)]


def test_issue_example_tiles_the_out_of_sample_span():
    folds = walk_forward_folds(2520, train=504, test=126)
    assert len(folds) == 16
    assert folds[0].as_tuple() == (0, 504, 504, 630)
    assert folds[-1].as_tuple() == (1890, 2394, 2394, 2520)
    assert all(f.train_len == 504 and f.test_len == 126 for f in folds)
    assert all(a.test_end == b.test_start for a, b in itertools.pairwise(folds))
    anchored = walk_forward_folds(2520, train=504, test=126, anchored=True)
    assert [f.train_len for f in anchored] == [504 + 126 * k for k in range(16)]
    assert [f.test for f in anchored] == [f.test for f in folds]
    # 2,500 bars: 15 full folds and a last one of 2500 - 504 - 15 * 126 = 106 bars
    short = walk_forward_folds(2500, train=504, test=126)
    assert len(short) == 16 and short[-1].as_tuple() == (1890, 2394, 2394, 2500)


def test_fold_accessors():
    f = Fold(3, 7, 7, 10)
    assert (f.train, f.test, f.train_len, f.test_len) == (slice(3, 7), slice(7, 10), 4, 3)
    assert f.to_dict() == {"train_start": 3, "train_end": 7, "test_start": 7, "test_end": 10}


def test_the_shortest_possible_history():
    assert _tuples(walk_forward_folds(100, train=99, test=10)) == [(0, 99, 99, 100)]
    _d122(walk_forward_folds, 100, train=99, test=10, keep_partial=False)


def test_window_longer_than_the_data():
    diag = _d122(walk_forward_folds, 100, train=100, test=10)
    assert diag.path == "walk_forward"
    assert "longer than the data: 100 bars" in diag.message
    assert diag.hint == "there are 100 bars; use train + test <= 100, e.g. train=80,test=20"
    diag = _d122(walk_forward_folds, 100, train=95, test=10, start=10)
    assert "90 bars from row 10" in diag.message and "there are 100 bars (90 from row 10)" in diag.hint


@pytest.mark.parametrize("kwargs, path", [
    ({"train": 0, "test": 5}, "walk_forward.train"),
    ({"train": 5, "test": 0}, "walk_forward.test"),
    ({"train": 5, "test": -3}, "walk_forward.test"),
    ({"train": 5, "test": 3, "step": 0}, "walk_forward.step"),
    ({"train": "5", "test": 3}, "walk_forward.train"),
    ({"train": 5.0, "test": 3}, "walk_forward.train"),
    ({"train": True, "test": 3}, "walk_forward.train"),
    ({"train": 5, "test": 3, "start": -1}, "walk_forward.start"),
    ({"train": 5, "test": 3, "start": 50}, "walk_forward.start"),
])
def test_bad_fold_arguments(kwargs, path):
    assert _d122(walk_forward_folds, 50, **kwargs).path == path


# --- holdout_split ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n, holdout, expected", [
    (100, "20%", (80, 20)),
    (100, " 20 % ", (80, 20)),
    (2520, 0.2, (2016, 504)),
    (2520, "0.2", (2016, 504)),
    (2521, "20%", (2017, 504)),          # 504.2 bars -> 504
    (10, 0.15, (8, 2)),                  # 1.5 bars -> 2 (half up)
    (10, "12.5%", (9, 1)),               # 1.25 -> 1
    (300, 250, (50, 250)),
    (300, "250", (50, 250)),
    (2, 1, (1, 1)),
])
def test_holdout_split(n, holdout, expected):
    assert holdout_split(n, holdout) == expected


@pytest.mark.parametrize("n, holdout", [
    (100, "0%"), (100, "100%"), (100, "120%"), (100, 0.0), (100, 1.0), (100, 1.5), (100, 250.0),
    (100, 0), (100, -5), (100, "-5"), (100, 100), (100, 250), (100, 0.001), (100, "abc"), (100, ""),
    (100, "%"), (100, True), (100, None), (100, float("nan")), (1, 1),
])
def test_holdout_split_bad(n, holdout):
    _d122(holdout_split, n, holdout)


def test_holdout_hint_names_the_bar_count():
    diag = _d122(holdout_split, 100, 250)
    assert diag.path == "holdout" and "there are 100 bars" in diag.hint


# --- parse_walk_forward -----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, expected", [
    ("train=504,test=126", {"train": 504, "test": 126, "anchored": False, "step": None}),
    ("train=504,test=126,anchored", {"train": 504, "test": 126, "anchored": True, "step": None}),
    ("anchored, test=126 , train=504", {"train": 504, "test": 126, "anchored": True, "step": None}),
    ("train=252,test=63,step=21,rolling", {"train": 252, "test": 63, "anchored": False, "step": 21}),
    ("Train=10,TEST=5,Anchored", {"train": 10, "test": 5, "anchored": True, "step": None}),
])
def test_parse_walk_forward(spec, expected):
    assert parse_walk_forward(spec) == expected


def test_parsed_spec_feeds_the_folds():
    folds = walk_forward_folds(2520, **parse_walk_forward("train=504,test=126,anchored"))
    assert folds[-1].as_tuple() == (0, 2394, 2394, 2520)


@pytest.mark.parametrize("spec, path, hint_part", [
    ("", "walk_forward", "train=BARS"),
    ("train=504", "walk_forward", "train=BARS"),
    ("test=126,anchored", "walk_forward", "train=BARS"),
    ("train=504,test=abc", "walk_forward.test", "train=BARS"),
    ("train=0,test=5", "walk_forward.train", "train=BARS"),
    ("train=5.5,test=5", "walk_forward.train", "train=BARS"),
    ("train=-5,test=5", "walk_forward.train", "train=BARS"),
    ("train=504,test=126,anchord", "walk_forward", "did you mean 'anchored'?"),
    ("trian=504,test=126", "walk_forward", "did you mean 'train'?"),
    ("train=504,test=126,train=10", "walk_forward.train", "train=BARS"),
    ("train=504,test=126,anchored,rolling", "walk_forward", "train=BARS"),
    ("train=504,,test=126", "walk_forward", "train=BARS"),
    ("window=5,test=1,train=2", "walk_forward", "train=BARS"),
])
def test_parse_walk_forward_errors(spec, path, hint_part):
    diag = _d122(parse_walk_forward, spec)
    assert diag.path == path and hint_part in diag.hint


def test_parse_walk_forward_rejects_non_strings():
    _d122(parse_walk_forward, None)
