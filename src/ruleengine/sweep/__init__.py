"""Parameter sweeps, walk-forward validation and overfitting statistics.

`folds` cuts a history into walk-forward and hold-out row ranges; `overfit` computes the deflated Sharpe ratio
and the probability of backtest overfitting. Both are pure functions of arrays and integers.
"""
