"""Signals, what the user did with them, performance rows and the notification outbox (`Store` mixin)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import Diagnostic, RuleEngineError
from ..sides import price_return_pct
from .models import NotificationRow, PerformanceRow, SignalRow, StrategyRow, VersionRow
from .records import NotificationRecord, SignalRecord
from .store_ids import is_row_id

T = TypeVar("T")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _naive_utc(value: Any) -> datetime:
    if value is None:
        return _now()
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):  # a date
        value = datetime(value.year, value.month, value.day)
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value


def _price(value: Any, what: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = math.nan
    if not math.isfinite(x) or x <= 0:
        raise RuleEngineError([Diagnostic("T107", f"{what} must be a positive number, got {value!r}", path="price",
                                          hint="e.g. --price 101.25")])
    return x


class SignalStoreMixin:
    """Signal and tracking methods of `ruleengine.store.Store`."""

    _read: Callable[..., Any]
    _write: Callable[..., Any]

    # ------------------------------------------------------------------ signals
    def save_signals(self, signals: Sequence[Any], *, notify_url: str | None = None) -> list[int]:
        """Store live signals (`StrategySignal`s of stored strategies) in one transaction; returns their ids.

        A signal already stored for the same strategy version, ticker, type, side (direction) and bar keeps
        its id (a scan run twice on one day stores it once). With `notify_url`, each newly stored signal also
        gets an outbox row in the same transaction, so a crash can never store a signal and lose its
        notification.
        """
        return [i for i, _new in self.save_signals_detailed(signals, notify_url=notify_url)]

    def save_signals_detailed(self, signals: Sequence[Any], *, notify_url: str | None = None
                              ) -> list[tuple[int, bool]]:
        """Like `save_signals`, with a flag per signal: True when it was new.

        Each signal's data provenance (``data_snapshot["providers"]``) is stored with it; a signal computed on
        synthetic data (or one whose snapshot does not say) is refused with T110.
        """
        for sig in signals:
            if sig.strategy_id is None or sig.strategy_version is None:
                raise RuleEngineError([Diagnostic(
                    "T107", f"signal for {sig.ticker} has no stored strategy", path="strategy_id",
                    hint="store the strategy first (ruleengine strategies add FILE) and run signals on its id")])
            snapshot = sig.data_snapshot or {}
            if snapshot.get("synthetic") is not False:
                raise RuleEngineError([Diagnostic(
                    "T110", f"not stored: the {sig.signal_type} signal for {sig.ticker} was computed on "
                    + ("SYNTHETIC data" if snapshot.get("synthetic") else "data of unknown provenance")
                    + "; only signals on real data are stored", path="signals",
                    hint="give real data: --data PATH (or RULEENGINE_DATA), --provider NAME, or set FMP_API_KEY")])

        def write(s: Session) -> list[tuple[int, bool]]:
            out: list[tuple[int, bool]] = []
            now = _now()
            for sig in signals:
                bar = _naive_utc(sig.bar_time)
                found = s.scalars(select(SignalRow.signal_id).where(
                    SignalRow.strategy_id == sig.strategy_id, SignalRow.ticker == sig.ticker,
                    SignalRow.bar_time == bar, SignalRow.signal_type == sig.signal_type,
                    SignalRow.direction == sig.direction,
                    SignalRow.strategy_version == sig.strategy_version)).first()
                if found is not None:
                    out.append((found, False))
                    continue
                row = SignalRow(strategy_id=sig.strategy_id, strategy_version=sig.strategy_version,
                                ticker=sig.ticker, signal_type=sig.signal_type,
                                generated_at=_naive_utc(sig.generated_at), bar_time=bar,
                                price_at_signal=float(sig.price_at_signal),
                                confidence_score=float(sig.confidence_score), reasoning=sig.reasoning.text,
                                reasoning_tree=sig.reasoning.model_dump(mode="json"),
                                data_snapshot=_json_safe(sig.data_snapshot), user_acted=False,
                                data_providers=dict(sig.data_snapshot.get("providers") or {}), synthetic=False,
                                direction=sig.direction)
                s.add(row)
                s.flush()
                if notify_url:
                    payload = {"event": "signal", "signal_id": row.signal_id,
                               **sig.model_dump(mode="json", exclude={"reasoning", "data_snapshot", "id"}),
                               "reasoning": sig.reasoning.text}
                    s.add(NotificationRow(signal_id=row.signal_id, url=notify_url, payload=payload, attempts=0,
                                          created_at=now))
                out.append((row.signal_id, True))
            return out

        return self._write(write)

    def get_signal(self, signal_id: int) -> SignalRecord:
        """One stored signal. Raises T103 for an unknown id."""
        return self._read(lambda s: _signal(_signal_row(s, signal_id)))

    def list_signals(self, strategy_id: int | None = None, *, since: Any = None, signal_type: str | None = None,
                     limit: int | None = None) -> list[SignalRecord]:
        """Stored signals, newest bar first; `since` filters on the bar time."""

        def read(s: Session) -> list[SignalRecord]:
            q = select(SignalRow).order_by(SignalRow.bar_time.desc(), SignalRow.signal_id.desc())
            if strategy_id is not None:
                q = q.where(SignalRow.strategy_id == strategy_id)
            if since is not None:
                q = q.where(SignalRow.bar_time >= _naive_utc(since))
            if signal_type is not None:
                q = q.where(SignalRow.signal_type == signal_type)
            if limit is not None:
                q = q.limit(limit)
            return [_signal(r) for r in s.scalars(q).all()]

        return self._read(read)

    def act(self, signal_id: int, price: float | Mapping[str, float] | None = None, when: Any = None, *,
            leg_times: Mapping[str, Any] | None = None) -> SignalRecord:
        """Record that the user took a signal (at `price`, default the signal's price).

        A pair's signal (ticker ``XLE/XLF``) takes one price per leg: ``{"XLE": 50.1, "XLF": 30.2}`` (default
        each leg's close on the signal's bar); they are recorded in ``acted_legs`` with each leg's time
        (`leg_times`, default `when`). A missing or unknown leg, or one price for a pair, is T116.

        Acting on an exit signal also closes the user's open positions of that strategy, ticker and side (a
        short's exit closes the acted short entries, not the long ones) at the price; acting on an entry of a
        long_short strategy closes those of the other side (the reversal of the fill contract). Raises T103 (unknown id)
        or T104 (already acted on).
        """

        def write(s: Session) -> SignalRecord:
            row = _signal_row(s, signal_id)
            if row.user_acted:
                raise RuleEngineError([Diagnostic(
                    "T104", f"signal {signal_id} ({row.ticker} {row.signal_type}) was already acted on at "
                    f"{row.acted_price:g} on {row.acted_at:%Y-%m-%d %H:%M}" if row.acted_at and row.acted_price
                    else f"signal {signal_id} was already acted on", path="signal_id",
                    hint=f"record its outcome with: ruleengine signals close {signal_id} {_price_args(row)}"
                    if row.signal_type == "entry" and row.outcome is None else "nothing more to record")])
            t = _naive_utc(when)
            legs = _leg_fills(row, price, t, leg_times, "act")
            p = _price(price if price is not None else row.price_at_signal, "the price") if legs is None \
                else next(iter(legs.values()))["price"]
            row.user_acted, row.acted_price, row.acted_at, row.acted_legs = True, p, t, legs
            closes = _closes(s, row)
            if closes is not None:
                open_rows = s.scalars(select(SignalRow).where(
                    SignalRow.strategy_id == row.strategy_id, SignalRow.ticker == row.ticker,
                    SignalRow.signal_type == "entry", SignalRow.direction == closes,
                    SignalRow.user_acted.is_(True), SignalRow.signal_id != row.signal_id,
                    SignalRow.outcome.is_(None))).all()
                for e in open_rows:
                    e.outcome = _outcome(s, e, p, legs, t, f"{row.signal_type} signal {signal_id}"
                                         + (" (reversal)" if row.signal_type == "entry" else ""))
            return _signal(row)

        return self._write(write)

    def close_signal(self, signal_id: int, price: float | Mapping[str, float] | None, when: Any = None, *,
                     leg_times: Mapping[str, Any] | None = None) -> SignalRecord:
        """Record the outcome of an acted entry signal: the user's exit price (and time); a pair's: one price per
        leg (``{"XLE": 51.0, "XLF": 29.8}``, T116 when a leg is missing or unknown), and its return counted from
        both legs' fills as the pair kernel counts a trade (`ruleengine.backtest.pairs.pair_fills_return`)."""

        def write(s: Session) -> SignalRecord:
            row = _signal_row(s, signal_id)
            if row.signal_type != "entry":
                raise RuleEngineError([Diagnostic("T107", f"signal {signal_id} is an exit signal; only entries "
                                                  "are closed", path="signal_id",
                                                  hint=f"act on it instead: ruleengine signals act {signal_id}")])
            if not row.user_acted:
                raise RuleEngineError([Diagnostic("T107", f"signal {signal_id} was not acted on", path="signal_id",
                                                  hint=f"first: ruleengine signals act {signal_id} "
                                                  f"{_price_args(row)}")])
            if row.outcome is not None:
                raise RuleEngineError([Diagnostic(
                    "T104", f"signal {signal_id} was already closed at {row.outcome.get('exit_price')}",
                    path="signal_id", hint="a closed signal cannot be closed again")])
            t = _naive_utc(when)
            given = {} if _pair_legs(row) and price is None else price  # a pair's: T116 names the legs
            legs = _leg_fills(row, given, t, leg_times, "close")
            p = _price(price, "the exit price") if legs is None else next(iter(legs.values()))["price"]
            row.outcome = _outcome(s, row, p, legs, t, "user")
            return _signal(row)

        return self._write(write)

    def set_hypothetical(self, updates: dict[int, dict[str, Any]]) -> None:
        """Store the hypothetical trade of each signal id (written by `ruleengine.live.track`)."""

        def write(s: Session) -> None:
            for sid, value in updates.items():
                row = _signal_row(s, sid)
                row.hypothetical = _json_safe(value)

        self._write(write)

    # ------------------------------------------------------------------ performance
    def save_performance(self, strategy_id: int, values: dict[str, Any]) -> None:
        """Create or refresh the strategy_performance row of a strategy."""

        def write(s: Session) -> None:
            now = _now()
            row = s.scalars(select(PerformanceRow).where(PerformanceRow.strategy_id == strategy_id)).first()
            if row is None:
                row = PerformanceRow(strategy_id=strategy_id, user_id="local", created_at=now, updated_at=now)
                s.add(row)
            for k, v in values.items():
                setattr(row, k, v)
            row.updated_at = now

        self._write(write)

    def performance(self, strategy_id: int) -> dict[str, Any] | None:
        """The strategy_performance row as a dict (None before the first `track`)."""

        def read(s: Session) -> dict[str, Any] | None:
            row = s.scalars(select(PerformanceRow).where(PerformanceRow.strategy_id == strategy_id)).first()
            if row is None:
                return None
            return {c.key: getattr(row, c.key) for c in PerformanceRow.__table__.columns}

        return self._read(read)

    # ------------------------------------------------------------------ outbox
    def pending_notifications(self, limit: int = 1000) -> list[NotificationRecord]:
        """Unsent outbox messages, oldest first."""

        def read(s: Session) -> list[NotificationRecord]:
            rows = s.scalars(select(NotificationRow).where(NotificationRow.sent_at.is_(None))
                             .order_by(NotificationRow.id).limit(limit)).all()
            return [_note(r) for r in rows]

        return self._read(read)

    def add_notification(self, url: str, payload: dict[str, Any], signal_id: int | None = None) -> int:
        def write(s: Session) -> int:
            row = NotificationRow(url=url, payload=_json_safe(payload), signal_id=signal_id, attempts=0,
                                  created_at=_now())
            s.add(row)
            s.flush()
            return row.id

        return self._write(write)

    def mark_notification(self, note_id: int, *, sent: bool, error: str | None = None, attempts: int = 1) -> None:
        """Record a delivery attempt: sent, or the error (the message stays in the outbox)."""

        def write(s: Session) -> None:
            row = s.get_one(NotificationRow, note_id)
            now = _now()
            row.attempts += attempts
            row.last_attempt_at = now
            row.last_error = error
            if sent:
                row.sent_at = now

        self._write(write)

    def strategy_ids_with_signals(self) -> list[int]:
        return self._read(lambda s: list(s.scalars(select(SignalRow.strategy_id).distinct()).all()))

    def count_signals(self) -> int:
        return self._read(lambda s: int(s.scalar(select(func.count(SignalRow.signal_id))) or 0))

    def _strategy_exists(self, strategy_id: int) -> bool:
        return self._read(lambda s: s.get(StrategyRow, strategy_id) is not None)


def _closes(s: Session, row: SignalRow) -> str | None:
    """The side of the acted positions that acting on `row` closes: an exit's own side; for an entry of a
    long_short strategy (its stored version's document) the other side; else None."""
    if row.signal_type == "exit":
        return row.direction
    document = s.scalars(select(VersionRow.strategy_definition).where(
        VersionRow.strategy_id == row.strategy_id, VersionRow.version == row.strategy_version)).first()
    if isinstance(document, dict) and document.get("direction") == "long_short":
        return "short" if row.direction == "long" else "long"
    return None


def _outcome(s: Session, row: SignalRow, price: float, legs: dict[str, Any] | None, when: datetime,
             by: str) -> dict[str, Any]:
    """The closed trade of an acted entry: its price return has the sign of its side (a short gains on a fall).
    A pair's (its snapshot holds ``pair``) is closed by both legs' fills (`legs`, `_leg_fills`) and its return
    is the pair kernel's on both legs' fills (`_pair_return`); a pair acted on with one price (before 0005) or
    closed by a one-price exit has none, with a note."""
    entry = row.acted_price or row.price_at_signal or price
    done = {"exit_price": price, "closed_at": when.isoformat(), "entry_price": entry, "closed_by": by}
    if not _pair_legs(row):
        return done | {"return_pct": price_return_pct(entry, price, row.direction)}
    if not row.acted_legs or not legs:
        return done | {"return_pct": None, "note": "a pair acted on or closed with one price: its return needs "
                       "both legs' fills (see its hypothetical trade)"}
    symbols = [leg["symbol"] for leg in _pair_legs(row)]
    got = _pair_return(s, row, [row.acted_legs[x]["price"] for x in symbols], [legs[x]["price"] for x in symbols],
                      (row.acted_at or when, when))
    return done | {"return_pct": got["return_pct"],
                   "legs": {x: {"entry_price": row.acted_legs[x]["price"], "exit_price": legs[x]["price"],
                                "entry_time": row.acted_legs[x]["time"], "exit_time": legs[x]["time"]}
                            for x in symbols}}


def _pair_return(s: Session, row: SignalRow, entry: list[float], exit_: list[float],
                times: tuple[datetime, datetime]) -> dict[str, float]:
    """A pair signal's trade on the user's fills (leg a's, leg b's), counted by the pair kernel with the fees and
    borrow cost of the signal's strategy version (`ruleengine.backtest.pairs.pair_fills_return`)."""
    from ..api import load_strategy
    from ..backtest.pairs import pair_fills_return
    from ..backtest.risk import resolve_risk

    document = s.scalars(select(VersionRow.strategy_definition).where(
        VersionRow.strategy_id == row.strategy_id, VersionRow.version == row.strategy_version)).one()
    risk = resolve_risk(load_strategy(document))  # as `StrategyRecord.strategy` loads a stored version
    return pair_fills_return((row.data_snapshot or {})["pair"], row.direction, (entry[0], entry[1]),
                             (exit_[0], exit_[1]), times, risk)


def _pair_legs(row: SignalRow) -> list[dict[str, Any]]:
    """A pair signal's legs (``data_snapshot["pair"]["legs"]``: slot, symbol, side, close); [] for one symbol."""
    return list(((row.data_snapshot or {}).get("pair") or {}).get("legs") or [])


def _price_args(row: SignalRow) -> str:
    """``--price P``; a pair's: ``--price XLE=P --price XLF=P``."""
    return " ".join(f"--price {leg['symbol']}=P" for leg in _pair_legs(row)) or "--price P"


def _leg_fills(row: SignalRow, price: Any, when: datetime, leg_times: Mapping[str, Any] | None,
               verb: str) -> dict[str, Any] | None:
    """Each leg's fill of a pair signal (symbol -> {"price", "time"}, in leg order) from `price` (symbol ->
    price; None: each leg's close on the signal's bar); None for a single-symbol signal given one price. T116
    for a pair given one price, a missing or an unknown leg, or a single symbol given prices by symbol."""
    legs = _pair_legs(row)
    symbols = [str(leg["symbol"]) for leg in legs]
    example = _price_args(row)
    if not legs:
        if isinstance(price, Mapping):
            raise RuleEngineError([Diagnostic(
                "T116", f"signal {row.signal_id} is for one symbol ({row.ticker}): it takes one price, not prices "
                f"by symbol ({', '.join(map(str, price))})", path="price", hint="e.g. --price 101.25")])
        return None
    if price is None:
        price = {str(leg["symbol"]): leg["close"] for leg in legs}
    if not isinstance(price, Mapping):
        raise RuleEngineError([Diagnostic(
            "T116", f"signal {row.signal_id} is a pair ({' and '.join(symbols)}): give each leg's fill price, not "
            f"one price ({price!r})", path="price", hint=f"ruleengine signals {verb} {row.signal_id} {example}")])
    given = {str(k).strip().upper(): v for k, v in price.items()}
    unknown = [k for k in given if k not in symbols]
    missing = [x for x in symbols if x not in given]
    if unknown or missing:
        problems = ([f"no leg {', '.join(unknown)}"] if unknown else []) + \
            ([f"no price for {', '.join(missing)}"] if missing else [])
        raise RuleEngineError([Diagnostic(
            "T116", f"signal {row.signal_id} is a pair with legs {' and '.join(symbols)}: " + "; ".join(problems),
            path="price", hint=f"ruleengine signals {verb} {row.signal_id} {example}")])
    times = {str(k).strip().upper(): v for k, v in (leg_times or {}).items()}
    return {x: {"price": _price(given[x], f"the price of {x}"),
                "time": _naive_utc(times.get(x, when)).isoformat()} for x in symbols}


def _signal_row(s: Session, signal_id: int) -> SignalRow:
    row = s.get(SignalRow, signal_id) if is_row_id(signal_id) else None
    if row is None:
        last = s.scalar(select(func.max(SignalRow.signal_id)))
        raise RuleEngineError([Diagnostic(
            "T103", f"no signal with id {signal_id}", path="signal_id",
            hint="no signals stored yet: ruleengine signals ID --symbols ... --save, or ruleengine scan"
            if last is None else f"signal ids go up to {last}; see ruleengine signals list")])
    return row


def _signal(r: SignalRow) -> SignalRecord:
    return SignalRecord(id=r.signal_id, strategy_id=r.strategy_id, strategy_version=r.strategy_version,
                        ticker=r.ticker, signal_type=r.signal_type, bar_time=r.bar_time, generated_at=r.generated_at,
                        price_at_signal=r.price_at_signal, confidence_score=r.confidence_score, reasoning=r.reasoning,
                        reasoning_tree=r.reasoning_tree, data_snapshot=r.data_snapshot, user_acted=bool(r.user_acted),
                        acted_at=r.acted_at, acted_price=r.acted_price, outcome=r.outcome, hypothetical=r.hypothetical,
                        data_providers=r.data_providers, synthetic=r.synthetic, direction=r.direction,
                        acted_legs=r.acted_legs)


def _note(r: NotificationRow) -> NotificationRecord:
    return NotificationRecord(id=r.id, signal_id=r.signal_id, url=r.url, payload=r.payload, attempts=r.attempts,
                              last_error=r.last_error, created_at=r.created_at, sent_at=r.sent_at)


def _json_safe(value: Any) -> Any:
    """JSON for the database: NaN/inf become None (JSON has no NaN; PostgreSQL's JSON rejects it)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # numpy scalars
        return _json_safe(value.item())
    return value
