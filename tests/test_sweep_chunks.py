"""Prepared chunks (sweep/chunks.py): the grid's distinct signal sets and risk specs found once, as arrays,
give exactly what deduplicating full parameter dicts per chunk gives."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from ruleengine import compile_strategy
from ruleengine.backtest.params import FILL_NAMES
from ruleengine.strategies import load_data
from ruleengine.sweep.chunks import PreparedChunk, PreparedChunks, plan_chunks
from ruleengine.sweep.grid import combinations, parse_grid
from ruleengine.sweep.run import evaluate_chunk

RULES = Path(__file__).resolve().parents[1] / "rules"


@pytest.fixture(scope="module")
def setup():
    compiled = compile_strategy(str(RULES / "donchian_breakout.yaml"))
    strat = compiled.strategy
    md = load_data(compiled, "MSFT,XOM", "2012-01-01", "2014-12-31", provider="sample", warmup_bars=120)
    axes = parse_grid(strat, ["entry_window=10,20,40", "exit_window=5,10", "stop_loss_pct=3,6",
                              "max_hold_days=10,30"])
    fixed = {"take_profit_pct": None, "fees_pct": 0.2}
    combos = combinations(axes, ["exit_window < entry_window"], fixed=fixed)
    names = [n for n in strat.params if n != "execution_price"]
    return compiled, md, axes, fixed, combos, names


def _plan(setup, per: int):
    compiled, _md, axes, fixed, combos, names = setup
    return plan_chunks(compiled.strategy, combos, list(axes), fixed, names, FILL_NAMES, lambda n: per)


def test_distinct_sets_and_specs_are_found_once(setup) -> None:
    _compiled, _md, _axes, _fixed, combos, _names = setup
    plan = _plan(setup, per=2)
    assert len(combos) == 5 * 2 * 2  # (entry, exit) pairs with exit < entry: 5; stop x max hold: 4
    assert plan.n_sets == 5 and len(plan.risks) == 4
    assert [len(o) for o in plan.order] == [8, 8, 4]  # 2, 2 and 1 signal sets x 4 risk specs
    assert sorted(np.concatenate(plan.order).tolist()) == list(range(len(combos)))
    chunk = PreparedChunks(plan)[1]
    for i, row in enumerate(plan.order[1].tolist()):  # each combination as a full dict: fixed + its values
        assert chunk[i] == {"take_profit_pct": None, "fees_pct": 0.2, **combos[row]}


@pytest.mark.parametrize("per", [1, 4, 100])
def test_prepared_chunks_equal_full_parameter_dicts(setup, per: int) -> None:
    compiled, md, _axes, fixed, combos, _names = setup
    plan = _plan(setup, per)
    chunks = PreparedChunks(plan)
    for c, rows in enumerate(plan.order):
        prepared = chunks[c]
        dicts = [{**fixed, **combos[i]} for i in rows.tolist()]
        np.testing.assert_array_equal(evaluate_chunk(compiled, md, prepared), evaluate_chunk(compiled, md, dicts))


def test_a_slice_and_a_pickled_chunk_are_chunks_too(setup) -> None:
    """The Dask runner slices chunks and the process runner pickles them."""
    compiled, md, _axes, _fixed, _combos, _names = setup
    chunk = PreparedChunks(_plan(setup, per=100))[0]
    whole = evaluate_chunk(compiled, md, chunk)
    part = chunk[5:13]
    assert isinstance(part, PreparedChunk) and len(part) == 8
    assert len(part.sig_sets) <= len(chunk.sig_sets)
    np.testing.assert_array_equal(evaluate_chunk(compiled, md, part), whole[5 * 2:13 * 2])
    again = pickle.loads(pickle.dumps(chunk))
    np.testing.assert_array_equal(evaluate_chunk(compiled, md, again), whole)
