"""A broker's transaction export (CSV) -> the user's fills, one row per trade, in one vocabulary.

Three layouts, recognised by their header row:

* **generic** (documented here and in README): columns ``date`` (``YYYY-MM-DD``, or ``YYYY-MM-DD HH:MM`` in
  New York time, or an ISO instant with an offset), ``symbol``, ``action`` (``buy`` / ``sell``, any case),
  ``quantity`` (shares, > 0), ``price`` (per share), optional ``fees`` (total for the row, >= 0).
* **Schwab** ("Transactions" export of schwab.com, History > Transactions > Export): columns ``Date``,
  ``Action``, ``Symbol``, ``Description``, ``Quantity``, ``Price``, ``Fees & Comm``, ``Amount``. Dates are
  ``MM/DD/YYYY`` or ``MM/DD/YYYY as of MM/DD/YYYY`` (the trade date is the "as of" one); money is written
  ``$1,234.56`` (``-$...`` negative); quantities may have thousands separators. Actions ``Buy``,
  ``Reinvest Shares`` and ``Buy to Open`` add shares, ``Sell`` and ``Sell to Close`` remove them; dividends,
  interest, transfers, journals and fees move no shares and are skipped. A trailing ``Transactions Total``
  row is skipped.
* **Fidelity** ("Accounts History" / ``History_for_Account_*.csv`` of fidelity.com, Activity & Orders >
  Download): columns ``Run Date`` (``Date`` in newer exports), ``Action``, ``Symbol``, ``Quantity``,
  ``Price ($)``, optional ``Commission ($)`` and ``Fees ($)`` (both count as fees), and informational ones
  (``Account``, ``Security Description`` / ``Description``, ``Security Type`` / ``Type``, ``Accrued Interest
  ($)``, ``Amount ($)``, ``Cash Balance ($)``, ``Settlement Date``) in any order. The export puts blank lines
  (and sometimes account lines) before the header and disclaimer lines after the table: rows before the header
  are skipped, and the table ends at the first row after it with a single text cell that is not a date ("The
  data and information in this spreadsheet ...", "Date downloaded ..."). Dates are ``MM/DD/YYYY`` (or
  ``MM-DD-YYYY``), cells may start with a space. Actions starting ``YOU BOUGHT`` (also "... TO COVER",
  "... CLOSING TRANSACTION") and ``REINVESTMENT`` add shares, ``YOU SOLD`` (also "... SHORT") removes them;
  Fidelity writes a sale's quantity negative, the side comes from the action. Dividends, interest, transfers,
  journals and fees move no shares and are skipped; a row without an action is D150. The run date is the trade
  date (the settlement date is later).

A fill is visible from the moment it happened: a row with a time at that instant, a row with a date only at
that session's close (16:00 New York: a fill of day d is held on bar d). Every unreadable cell is a D150 error
naming ``file:line`` (the file's own line numbers: the header is line 1 unless lines precede it) and the
column; nothing is skipped without a rule above.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "fills.csv"
    >>> _ = path.write_text("date,symbol,action,quantity,price\\n2024-01-02,ACME,buy,40,10.5\\n")
    >>> read_fills(path)[["symbol", "quantity", "price"]].values.tolist()
    [['ACME', 40.0, 10.5]]
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import Diagnostic, RuleEngineError
from .pit import EXCHANGE_TZ

#: when a fill known only by its date happened: by that session's close (New York time)
SESSION_FILL = "16:00:00"

GENERIC_COLUMNS = ("date", "symbol", "action", "quantity", "price")
SCHWAB_COLUMNS = ("Date", "Action", "Symbol", "Quantity", "Price", "Fees & Comm")
#: Schwab actions that move shares: +1 adds, -1 removes.
SCHWAB_SIDES = {"buy": 1, "reinvest shares": 1, "buy to open": 1, "sell": -1, "sell to close": -1,
                "sell short": -1, "buy to close": 1}

_MONEY = re.compile(r"^\(?-?\$?-?[\d,]*\.?\d+\)?$")

#: Fidelity's columns a fill needs (the date is ``Run Date`` or, in newer exports, ``Date``)
FIDELITY_COLUMNS = ("Action", "Symbol", "Quantity", "Price ($)")
FIDELITY_DATES = ("Run Date", "Date")
FIDELITY_FEES = ("Commission ($)", "Fees ($)")
#: Fidelity action prefixes that move shares: +1 adds, -1 removes (the rest move none)
FIDELITY_SIDES = (("YOU BOUGHT", 1), ("REINVESTMENT", 1), ("YOU SOLD", -1))
#: the most lines read for Fidelity's header (blank and account lines come before it)
FIDELITY_PREAMBLE = 20
_DATE_CELL = re.compile(r"^\d{1,2}[/-]\d{1,2}[/-]\d{4}$")


class _Rows:
    """Cells of one file with their line numbers, turning every bad cell into one collected D150."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[Diagnostic] = []
        self.header_line = 1  # Fidelity's comes after blank and account lines

    def bad(self, line: int, column: str, value: str, what: str) -> None:
        self.problems.append(Diagnostic(
            "D150", f"{self.path.name}:{line}: column '{column}': {value!r} is not {what}",
            hint=f"fix or remove that row of {self.path} (the header is line {self.header_line})"))

    def number(self, line: int, column: str, value: str, *, positive: bool = False) -> float:
        text = value.strip().replace(",", "").replace("$", "")
        negative = text.startswith("(") and text.endswith(")")  # accounting negatives: (12.50)
        text = text.strip("()")
        try:
            out = float(text)
        except ValueError:
            self.bad(line, column, value, "a number")
            return float("nan")
        if not np.isfinite(out) or (positive and out <= 0):
            self.bad(line, column, value, "a positive number" if positive else "a finite number")
            return float("nan")
        return -out if negative else out

    def when(self, line: int, column: str, value: str, parse: Callable[[str], pd.Timestamp]) -> pd.Timestamp:
        try:
            return parse(value.strip())
        except (ValueError, TypeError):
            self.bad(line, column, value, "a date")
            return pd.NaT


def _generic_time(text: str) -> pd.Timestamp:
    t = pd.Timestamp(text)
    if t is pd.NaT:
        raise ValueError(text)
    if t.tzinfo is not None:
        return t.tz_convert("UTC")
    if t == t.normalize() and len(text) <= 10:
        t = t + pd.Timedelta(SESSION_FILL)
    return t.tz_localize(EXCHANGE_TZ).tz_convert("UTC")


def _schwab_time(text: str) -> pd.Timestamp:
    # "01/05/2024 as of 01/04/2024": the trade happened on the "as of" date
    day = text.split(" as of ")[-1].strip()
    t = pd.to_datetime(day, format="%m/%d/%Y")
    return (t + pd.Timedelta(SESSION_FILL)).tz_localize(EXCHANGE_TZ).tz_convert("UTC")


def _fidelity_time(text: str) -> pd.Timestamp:
    t = pd.to_datetime(text.replace("-", "/"), format="%m/%d/%Y")
    return (t + pd.Timedelta(SESSION_FILL)).tz_localize(EXCHANGE_TZ).tz_convert("UTC")


def _fidelity_header(lines: list[list[str]]) -> int | None:
    """The index of Fidelity's header row among the first lines, or None."""
    for i, row in enumerate(lines[:FIDELITY_PREAMBLE]):
        cells = [c.strip() for c in row]
        if all(c in cells for c in FIDELITY_COLUMNS) and any(d in cells for d in FIDELITY_DATES) \
                and "Fees & Comm" not in cells:
            return i
    return None


def read_fills(path: str | Path) -> pd.DataFrame:
    """The fills of a broker export: columns ``symbol``, ``quantity`` (signed: + bought, - sold), ``price``,
    ``fees``, ``line`` (in the file), indexed by ``available_at`` (UTC), in file order within an instant."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            lines = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RuleEngineError([Diagnostic("D114", f"cannot read the broker export {path}: {exc}",
                                          hint="give the CSV file the broker exported")]) from None
    if not lines:
        raise RuleEngineError([Diagnostic("D114", f"the broker export {path} is empty",
                                          hint="export the transactions again")])
    header = [h.strip() for h in lines[0]]
    rows = _Rows(path)
    fidelity = _fidelity_header(lines)
    if fidelity is not None:
        rows.header_line = fidelity + 1
        records = _fidelity([h.strip() for h in lines[fidelity]], lines[fidelity + 1:], fidelity + 2, rows)
    elif all(c in header for c in SCHWAB_COLUMNS):
        records = _schwab(header, lines[1:], rows)
    elif all(c in [h.lower() for h in header] for c in GENERIC_COLUMNS):
        records = _generic([h.lower() for h in header], lines[1:], rows)
    else:
        raise RuleEngineError([Diagnostic(
            "D114", f"{path.name}:1: not a known broker export layout (columns: {', '.join(header)})",
            hint="use the generic layout (date, symbol, action, quantity, price, fees), Schwab's "
                 "transactions export (Date, Action, Symbol, Description, Quantity, Price, Fees & Comm, Amount) "
                 "or Fidelity's accounts history (Run Date, Action, Symbol, ..., Quantity, Price ($), "
                 "Commission ($), Fees ($), ...)")])
    if rows.problems:
        raise RuleEngineError(rows.problems)
    frame = pd.DataFrame(records, columns=["available_at", "symbol", "quantity", "price", "fees", "line"])
    stamps = frame.pop("available_at")
    frame.index = pd.DatetimeIndex(pd.to_datetime(stamps, utc=True), name="available_at").as_unit("ns")
    return frame.sort_index(kind="mergesort")


def _cell(row: list[str], header: list[str], name: str) -> str:
    i = header.index(name)
    return row[i] if i < len(row) else ""


def _generic(header: list[str], body: list[list[str]], rows: _Rows) -> list[tuple[Any, ...]]:
    out = []
    for n, row in enumerate(body, start=2):
        if not any(c.strip() for c in row):
            continue
        at = rows.when(n, "date", _cell(row, header, "date"), _generic_time)
        symbol = _cell(row, header, "symbol").strip().upper()
        if not symbol:
            rows.bad(n, "symbol", "", "a symbol")
        action = _cell(row, header, "action").strip().lower()
        side = {"buy": 1, "sell": -1}.get(action)
        if side is None:
            rows.bad(n, "action", action, "buy or sell")
            side = 0
        qty = rows.number(n, "quantity", _cell(row, header, "quantity"), positive=True)
        price = rows.number(n, "price", _cell(row, header, "price"), positive=True)
        fees_text = _cell(row, header, "fees") if "fees" in header else ""
        fees = rows.number(n, "fees", fees_text) if fees_text.strip() else 0.0
        out.append((at, symbol, side * qty, price, abs(fees), n))
    return out


def _schwab(header: list[str], body: list[list[str]], rows: _Rows) -> list[tuple[Any, ...]]:
    out = []
    for n, row in enumerate(body, start=2):
        if not any(c.strip() for c in row) or _cell(row, header, "Date").strip().lower().startswith("transactions"):
            continue
        side = SCHWAB_SIDES.get(_cell(row, header, "Action").strip().lower())
        if side is None:  # dividends, interest, journals, fees: no shares move
            continue
        at = rows.when(n, "Date", _cell(row, header, "Date"), _schwab_time)
        symbol = _cell(row, header, "Symbol").strip().upper()
        if not symbol:
            rows.bad(n, "Symbol", "", "a symbol")
        qty = abs(rows.number(n, "Quantity", _cell(row, header, "Quantity"), positive=False))
        price = rows.number(n, "Price", _cell(row, header, "Price"), positive=True)
        fees_text = _cell(row, header, "Fees & Comm")
        fees = rows.number(n, "Fees & Comm", fees_text) if fees_text.strip() else 0.0
        out.append((at, symbol, side * qty, price, abs(fees), n))
    return out


def _fidelity(header: list[str], body: list[list[str]], first_line: int, rows: _Rows) -> list[tuple[Any, ...]]:
    """Fidelity's rows from the one after the header (file line `first_line`) to the disclaimers after the
    table (the module docstring's rules)."""
    date = next(d for d in FIDELITY_DATES if d in header)
    out = []
    for n, row in enumerate(body, start=first_line):
        filled = [c.strip() for c in row if c.strip()]
        if not filled:
            continue
        if len(filled) == 1 and not _DATE_CELL.match(row[0].strip()):
            break  # the disclaimers and "Date downloaded ..." after the table
        action = _cell(row, header, "Action").strip().upper()
        if not action:  # a cut row: nothing says whether shares moved
            rows.bad(n, "Action", "", "an action")
            continue
        side = next((sign for prefix, sign in FIDELITY_SIDES if action.startswith(prefix)), None)
        if side is None:  # dividends, interest, transfers, journals, fees: no shares move
            continue
        at = rows.when(n, date, _cell(row, header, date), _fidelity_time)
        symbol = _cell(row, header, "Symbol").strip().upper()
        if not symbol:
            rows.bad(n, "Symbol", "", "a symbol")
        qty = abs(rows.number(n, "Quantity", _cell(row, header, "Quantity"), positive=False))
        if qty == 0:
            rows.bad(n, "Quantity", _cell(row, header, "Quantity"), "a quantity other than 0")
        price = rows.number(n, "Price ($)", _cell(row, header, "Price ($)"), positive=True)
        fees = 0.0
        for column in FIDELITY_FEES:
            text = _cell(row, header, column) if column in header else ""
            fees += abs(rows.number(n, column, text)) if text.strip() else 0.0
        out.append((at, symbol, side * qty, price, fees, n))
    return out
