"""Row ids: 64-bit integers in every supported database.

A larger number names no row; SQLite's driver would raise OverflowError on it (``strategies show
99999999999999999999999``), so lookups check the range first and answer "no such id".
"""

from __future__ import annotations

_MAX_ID = 2**63 - 1


def is_row_id(value: int) -> bool:
    """True when `value` can be a row id (a query with it would not overflow the database integer)."""
    return -_MAX_ID <= value <= _MAX_ID
