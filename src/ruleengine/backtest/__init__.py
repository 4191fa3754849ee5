"""Stage 7: signals + prices + risk -> simulated trades, equity, metrics and reports.

Modules: `params` (a run's parameters: ``--param`` parsing, the strategy/risk split, run-option checks and
the `RunRequest` every entry point shares), `risk` (the resolved risk of a run, the timeframe defaults and
the fill contract as text),
`engine` (`simulate` / `simulate_portfolio`: the fill contract on arrays), `vbt_engine` (the same
contract through vectorbt's ``Portfolio.from_signals``, the oracle of the tests), and the result model,
metrics, orchestration and HTML report built on top of them.

The default engine is ruleengine's own numba kernel (``ruleengine.kernels.simulate``, cached with
``cache=True``, no pandas): vectorbt 1.2's numba ``from_signals`` is not cached (about 12 s of
compilation in every new process, while the CLI must answer a one-symbol backtest in 3 s or less) and has
no time stop, which must be part of the simulation rather than a post-processing of its trades.
vectorbt stays the oracle: ``simulate(..., engine="vectorbt")`` runs ``from_signals`` for the risk it can
express and the tests prove both engines give the same trades.
"""
