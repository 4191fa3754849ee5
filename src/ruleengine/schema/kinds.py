"""Data kinds and their columns: one vocabulary across providers.

Every column is a float series once bound to the execution frequency (event kinds such as insider trades
and social-media mentions are aggregated per bar; low-frequency kinds are visible from their publication date
on).
"""

from __future__ import annotations

#: the bar frequencies a strategy executes on (`strategy.EXECUTION_FREQUENCIES`; a rotation rebalances on them)
BAR_FREQUENCIES: tuple[str, ...] = ("1Min", "5Min", "15Min", "30Min", "1Hour", "1Day", "1Week", "1Month")

KIND_COLUMNS: dict[str, tuple[str, ...]] = {
    "ohlcv": ("open", "high", "low", "close", "volume"),
    "earnings": ("eps", "reported_eps", "estimated_eps", "surprise", "surprise_percentage"),
    "income_statement": ("revenue", "gross_profit", "operating_income", "net_income", "eps", "eps_diluted"),
    "balance_sheet": ("total_assets", "total_liabilities", "total_equity", "cash_and_equivalents",
                      "total_debt", "book_value"),
    "key_metrics": ("pe_ratio", "pb_ratio", "market_cap", "dividend_yield", "debt_to_equity", "roe"),
    "fundamentals": ("revenue", "net_income", "eps", "total_assets", "total_liabilities", "total_equity",
                     "book_value", "shares_outstanding"),
    "insider_trades": ("buy_count", "sell_count", "buy_shares", "sell_shares", "buy_value", "sell_value",
                       "net_shares", "net_value"),
    # corporate actions, visible from their ex-date's open: the latest cash dividend per share, and the latest
    # split as new shares per old share (4.0 for a 4-for-1 split, 0.1 for a 1-for-10 reverse split)
    "dividends": ("dividend",),
    "splits": ("split_ratio",),
    # posts naming the ticker (Reddit): count, mean VADER sentiment and trending rank of each bar's posts
    "social_mentions": ("mention_volume", "sentiment", "trending"),
    # the user's own position from their fills (broker export, SnapTrade): shares held, average cost per share,
    # and the open gain at the bar's close in percent
    "portfolio": ("shares", "cost_basis", "unrealized_pct"),
}

#: Event kinds counted per bar: each record counts once, on the bar it arrives; nothing is carried into a range
#: from before it, and a quiet period (no records) is an answer, not missing data.
COUNTED_KINDS: frozenset[str] = frozenset({"insider_trades", "social_mentions"})
