"""`Store`: strategies with versions, and backtest runs (signals, tracking and the outbox: `signals.py`).

Every write is one transaction (`Store._write`): a strategy version with its strategy row, a backtest with its
summary, a batch of signals with their notifications. A killed process therefore leaves either the whole
unit or nothing (tested with SIGKILL in tests/test_store_crash.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Self, TypeVar

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from ..errors import Diagnostic, RuleEngineError
from .database import _db_error, retry_locked
from .models import BacktestRow, StrategyRow, VersionRow
from .records import RunRecord, StrategyRecord
from .signals import SignalStoreMixin
from .store_ids import is_row_id

T = TypeVar("T")


def utcnow() -> datetime:
    """Now as a naive UTC datetime (the store's convention)."""
    return datetime.now(UTC).replace(tzinfo=None)


class Store(SignalStoreMixin):
    """The database of strategies, backtests, signals and performance. Open it with `open_store`.

    Example:
        >>> from ruleengine.store import open_store
        >>> store = open_store("sqlite:///:memory:")
        >>> rec = store.add_strategy("name: x\\ndata: {prices: {kind: ohlcv}}\\nentry: [close > 1]\\n")
        >>> (rec.id, rec.version, store.add_strategy(rec.strategy, strategy_id=rec.id).version)
        (1, 1, 1)
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = engine.execution_options(ruleengine_write=True)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transactions
    def _read(self, fn: Callable[[Session], T]) -> T:
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                return fn(session)
        except DatabaseError as exc:
            raise _db_error(self.engine, exc) from None
        except OverflowError as exc:
            raise _out_of_range(exc) from None

    def _write(self, fn: Callable[[Session], T]) -> T:
        """Run `fn` in one write transaction (BEGIN IMMEDIATE on SQLite), retried while the database is locked."""

        def once() -> T:
            with Session(self._writer, expire_on_commit=False) as session, session.begin():
                return fn(session)

        try:
            return retry_locked(once)
        except DatabaseError as exc:
            raise _db_error(self.engine, exc) from None
        except OverflowError as exc:
            raise _out_of_range(exc) from None

    # ------------------------------------------------------------------ strategies
    def add_strategy(self, strategy: Any, *, strategy_id: int | None = None, nl_input: str | None = None,
                     author: str = "user", universe: str | None = None) -> StrategyRecord:
        """Store a new strategy, or a new version of `strategy_id`; nothing stored is ever overwritten.

        Args:
            strategy: a `TradingStrategy`, a path, YAML/JSON text or a dict. Rule strategies must compile.
            strategy_id: add a version to this strategy; when its current version has the same content hash,
                that version is returned and nothing is written.
            nl_input: the natural-language request behind this version (what the user asked for).
            author: who made this version ("user", "llm", ...).
            universe: the symbols `ruleengine scan` runs it on (``"SPY,QQQ"``, ``"@file"``); None keeps
                the strategy's current universe. A relative ``@file`` is stored as its absolute path (a scan
                runs from any directory); a missing file is T107.

        Raises:
            RuleEngineError: the document's own diagnostics (it does not load or compile); T101 for an
                unknown `strategy_id`.
        """
        strat = _checked_strategy(strategy)
        universe = universe_spec(universe)
        digest = strat.strategy_hash()
        definition = strat.to_dict()
        now = utcnow()

        def write(s: Session) -> StrategyRecord:
            if strategy_id is None:
                row = StrategyRow(name=strat.name, description=strat.description, natural_language_input=nl_input or "",
                                  strategy_definition=definition, current_version=1, is_active=True,
                                  created_at=now, updated_at=now, universe=universe, user_id="local")
                s.add(row)
                s.flush()
                version = 1
            else:
                row = _strategy_row(s, strategy_id)
                latest = _version_row(s, strategy_id, row.current_version)
                if latest.content_hash == digest:
                    if universe is not None and universe != row.universe:
                        row.universe, row.updated_at = universe, now
                    return _record(row, latest)
                version = row.current_version + 1
                row.name, row.description, row.strategy_definition = strat.name, strat.description, definition
                row.natural_language_input, row.current_version, row.updated_at = nl_input or "", version, now
                if universe is not None:
                    row.universe = universe
            vrow = VersionRow(strategy_id=row.id, version=version, content_hash=digest,
                              natural_language_input=nl_input or "", author=author,
                              strategy_definition=definition, created_at=now)
            s.add(vrow)
            s.flush()
            return _record(row, vrow)

        return self._write(write)

    def get_strategy(self, id: int, version: int | None = None) -> StrategyRecord:
        """One strategy at `version` (default: its current version). Raises T101 for unknown ids/versions."""

        def read(s: Session) -> StrategyRecord:
            row = _strategy_row(s, id)
            return _record(row, _version_row(s, id, version or row.current_version))

        return self._read(read)

    def find_strategy(self, content_hash: str) -> StrategyRecord | None:
        """The newest stored version whose document has this content hash (None when there is none)."""

        def read(s: Session) -> StrategyRecord | None:
            vrow = s.scalars(select(VersionRow).where(VersionRow.content_hash == content_hash)
                             .order_by(VersionRow.id.desc()).limit(1)).first()
            return None if vrow is None else _record(s.get_one(StrategyRow, vrow.strategy_id), vrow)

        return self._read(read)

    def find_same_strategy(self, strategy: Any) -> StrategyRecord | None:
        """The newest stored version with the same document as `strategy` (a `TradingStrategy`), or None."""
        return self.find_strategy(strategy.strategy_hash())

    def list_strategies(self, include_inactive: bool = False) -> list[StrategyRecord]:
        """The current version of every (active) strategy, by id."""

        def read(s: Session) -> list[StrategyRecord]:
            q = select(StrategyRow, VersionRow).join(
                VersionRow, (VersionRow.strategy_id == StrategyRow.id)
                & (VersionRow.version == StrategyRow.current_version)).order_by(StrategyRow.id)
            if not include_inactive:
                q = q.where(StrategyRow.is_active.is_(True))
            return [_record(row, vrow) for row, vrow in s.execute(q).all()]

        return self._read(read)

    def history(self, id: int) -> list[StrategyRecord]:
        """Every version of a strategy, oldest first."""

        def read(s: Session) -> list[StrategyRecord]:
            row = _strategy_row(s, id)
            versions = s.scalars(select(VersionRow).where(VersionRow.strategy_id == id)
                                 .order_by(VersionRow.version)).all()
            return [_record(row, v) for v in versions]

        return self._read(read)

    def deactivate(self, id: int) -> StrategyRecord:
        """Mark a strategy inactive: `scan` and `list` (without --all) skip it; its history stays."""
        return self._set_active(id, False)

    def activate(self, id: int) -> StrategyRecord:
        return self._set_active(id, True)

    def _set_active(self, id: int, active: bool) -> StrategyRecord:
        def write(s: Session) -> StrategyRecord:
            row = _strategy_row(s, id)
            if row.is_active != active:
                row.is_active, row.updated_at = active, utcnow()
            return _record(row, _version_row(s, id, row.current_version))

        return self._write(write)

    def set_universe(self, id: int, universe: str | None) -> StrategyRecord:
        """Set (or clear, with None) the symbols `scan` runs the strategy on (``@file``: see `universe_spec`)."""
        universe = universe_spec(universe)

        def write(s: Session) -> StrategyRecord:
            row = _strategy_row(s, id)
            row.universe, row.updated_at = universe, utcnow()
            return _record(row, _version_row(s, id, row.current_version))

        return self._write(write)

    # ------------------------------------------------------------------ backtests
    def save_backtest(self, strategy_id: int, result: Any, *, version: int | None = None) -> int:
        """Store a `BacktestResult` (or its JSON dict) of a stored strategy; returns the run id.

        Summary columns over all runs of the result: trades and winners summed, win rate over all trades,
        the mean total return, the worst drawdown and the mean Sharpe ratio. The data provenance (providers per
        slot) is recorded with it.

        Raises:
            RuleEngineError: T110 when any run used synthetic data (synthetic results are never stored: they
                would sit next to real runs and feed the confidence of real signals).
        """
        data, providers = storable_result(result)
        summary = _summary(data)
        now = utcnow()

        def write(s: Session) -> int:
            row = _strategy_row(s, strategy_id)
            v = version or row.current_version
            document = _version_row(s, strategy_id, v).strategy_definition
            brow = BacktestRow(strategy_id=strategy_id, strategy_version=v, backtest_results=data, created_at=now,
                               data_providers=providers, synthetic=False,
                               direction=str(document.get("direction", "long")), **summary)
            s.add(brow)
            s.flush()
            return brow.backtest_id

        return self._write(write)

    def list_runs(self, strategy_id: int | None = None, limit: int = 50) -> list[RunRecord]:
        """Stored backtests, newest first (of one strategy when `strategy_id` is given)."""

        def read(s: Session) -> list[RunRecord]:
            if strategy_id is not None:
                _strategy_row(s, strategy_id)
            q = select(BacktestRow).order_by(BacktestRow.backtest_id.desc()).limit(limit)
            if strategy_id is not None:
                q = q.where(BacktestRow.strategy_id == strategy_id)
            return [_run(r) for r in s.scalars(q).all()]

        return self._read(read)

    def get_run(self, run_id: int) -> RunRecord:
        """One stored backtest with its full result. Raises T102 for an unknown id."""

        def read(s: Session) -> RunRecord:
            row = s.get(BacktestRow, run_id) if is_row_id(run_id) else None
            if row is None:
                last = s.scalar(select(func.max(BacktestRow.backtest_id)))
                raise _unknown("T102", f"no backtest run {run_id}", "ruleengine runs list" +
                               ("" if last is None else f" (run ids go up to {last})"), "run_id")
            return _run(row)

        return self._read(read)

    def latest_hit_rate(self, strategy_id: int) -> tuple[int, int] | None:
        """(winning trades, trades) of the strategy's newest stored backtest of its current version on real data.

        Live signals are computed on real data only, so only runs known to be on real data count: an old run
        on synthetic data (or of unknown provenance) never moves the confidence of a real signal.
        """

        def read(s: Session) -> tuple[int, int] | None:
            row = _strategy_row(s, strategy_id)
            b = s.scalars(select(BacktestRow).where(BacktestRow.strategy_id == strategy_id,
                                                    BacktestRow.strategy_version == row.current_version,
                                                    BacktestRow.synthetic.is_(False))
                          .order_by(BacktestRow.backtest_id.desc()).limit(1)).first()
            return None if b is None else (b.winning_trades, b.total_trades)

        return self._read(read)


# ---------------------------------------------------------------------------------------------- helpers


def _checked_strategy(strategy: Any) -> Any:
    """A `TradingStrategy` from any input; rule strategies are compiled (their errors raise here)."""
    from ..schema.strategy import TradingStrategy

    record_strategy = getattr(strategy, "strategy", None)
    if isinstance(record_strategy, TradingStrategy):  # a StrategyRecord or a CompiledStrategy
        strategy = record_strategy
    if not isinstance(strategy, TradingStrategy):
        from ..api import load_strategy

        strategy = load_strategy(str(strategy) if isinstance(strategy, Path) else strategy)
    if strategy.code is None:
        from ..strategies import signal_source

        signal_source(strategy)
    return strategy


def universe_spec(spec: str | None) -> str | None:
    """The universe as stored: ``@file`` with the file's absolute path (T107 when it does not exist); a
    point-in-time universe (``@sp500``, ``@sp500:PATH``: `ruleengine.data.universe`) with its table's."""
    from ..data.universe import universe_name

    if spec is None or not spec.strip().startswith("@"):
        return spec
    named = universe_name(spec)
    if named is not None:
        if named[1] is None:
            return f"@{named[0]}"  # the data folder's constituents table, read at each scan
        table = universe_spec("@" + named[1])
        return f"@{named[0]}:{str(table)[1:]}"
    path = Path(spec.strip()[1:]).expanduser()
    if not path.is_file():
        raise RuleEngineError([Diagnostic("T107", f"universe file '{path}' not found (looked in {Path.cwd()})",
                                          path="universe", hint="give an existing file of symbols, one per "
                                          "line (@path/to/universe.txt), or the symbols themselves: SPY,QQQ")])
    return "@" + str(path.resolve())


def _out_of_range(exc: OverflowError) -> RuleEngineError:
    """A number too large for the database's 64-bit integers (ids and versions are checked before this)."""
    return RuleEngineError([Diagnostic("T107", f"a number is out of range for the database: {exc}",
                                       hint="ids and counts are whole numbers below 2**63")])


def _unknown(code: str, message: str, hint: str, path: str) -> RuleEngineError:
    return RuleEngineError([Diagnostic(code, message, path=path, hint=f"see: {hint}")])


def storable_result(result: Any) -> tuple[dict[str, Any], dict[str, str] | None]:
    """(the result's JSON, slot -> provider) of a backtest result that may be stored.

    Raises:
        RuleEngineError: T110 when a run used synthetic data or does not say which data it used.
    """
    import json

    data = result if isinstance(result, dict) else json.loads(result.to_json())
    providers, synthetic = result_provenance(data)
    if synthetic is not False:
        raise RuleEngineError([Diagnostic(
            "T110", "not stored: this backtest ran on SYNTHETIC data (the sample provider), and synthetic "
            "results never enter the store" if synthetic else
            "not stored: the result does not say which data it ran on (results[*].data.synthetic)",
            path="result", hint="run it on real data: --data PATH (or RULEENGINE_DATA), --provider NAME, or "
            "set FMP_API_KEY")])
    return data, providers


def store_backtest(strategy: Any, result: Any, db: str | None = None) -> dict[str, Any]:
    """Store a backtest of `strategy` in the database `db` (``backtest --save``).

    The strategy is found by its content or added. Storability (T110: synthetic data) is checked before the
    database is opened, so a refused result leaves nothing behind.

    Returns:
        ``{"run_id", "strategy_id", "strategy_version"}``.

    Example:
        >>> store_backtest(compiled.strategy, result, "runs.db")  # doctest: +SKIP
        {'run_id': 1, 'strategy_id': 1, 'strategy_version': 1}
    """
    from . import open_store

    data, _providers = storable_result(result)  # T110 before anything is written (no strategy left behind)
    store = open_store(db)
    rec = store.find_same_strategy(strategy) or store.add_strategy(strategy)
    run_id = store.save_backtest(rec.id, data, version=rec.version)
    return {"run_id": run_id, "strategy_id": rec.id, "strategy_version": rec.version}


def result_provenance(data: dict[str, Any]) -> tuple[dict[str, str] | None, bool | None]:
    """(slot -> provider, synthetic) of a backtest result's JSON; synthetic None when a run does not say."""
    datas = ([data.get("data") or {}] if is_rotation(data)  # one account: one data record
             else [r.get("data") or {} for r in data.get("results") or []])
    if not datas or any("synthetic" not in d for d in datas):
        return None, None
    providers: dict[str, str] = {}
    for d in datas:
        providers.update({str(k): str(v) for k, v in (d.get("providers") or {}).items()})
    return providers, any(bool(d["synthetic"]) for d in datas)


def _strategy_row(s: Session, id: int) -> StrategyRow:
    row = s.get(StrategyRow, id) if is_row_id(id) else None
    if row is None:
        known = s.scalars(select(StrategyRow.id).order_by(StrategyRow.id)).all()
        ids = ", ".join(map(str, known[-20:])) if known else "none stored yet"
        raise _unknown("T101", f"no strategy with id {id}", f"ruleengine strategies list --all (ids: {ids})",
                       "strategy_id")
    return row


def _version_row(s: Session, id: int, version: int) -> VersionRow:
    v = s.scalars(select(VersionRow).where(VersionRow.strategy_id == id, VersionRow.version == version)
                  ).first() if is_row_id(version) else None
    if v is None:
        raise _unknown("T101", f"strategy {id} has no version {version}", f"ruleengine strategies history {id}",
                       "version")
    return v


def _record(row: StrategyRow, v: VersionRow) -> StrategyRecord:
    return StrategyRecord(id=row.id, name=str(v.strategy_definition.get("name", row.name)), version=v.version,
                          content_hash=v.content_hash, active=bool(row.is_active), created_at=v.created_at,
                          updated_at=row.updated_at, author=v.author, nl_input=v.natural_language_input or "",
                          definition=v.strategy_definition, current_version=row.current_version,
                          description=str(v.strategy_definition.get("description", "")), universe=row.universe)


def _run(r: BacktestRow) -> RunRecord:
    return RunRecord(id=r.backtest_id, strategy_id=r.strategy_id, strategy_version=r.strategy_version,
                     created_at=r.created_at, start=r.start_date, end=r.end_date, symbols=r.symbols, runs=r.runs,
                     total_trades=r.total_trades, winning_trades=r.winning_trades, win_rate=r.win_rate,
                     total_return_pct=r.total_return_pct, max_drawdown_pct=r.max_drawdown_pct,
                     sharpe_ratio=r.sharpe_ratio, result=r.backtest_results, data_providers=r.data_providers,
                     synthetic=r.synthetic, direction=r.direction)


def is_rotation(data: dict[str, Any]) -> bool:
    """True for a stored `RotationResult`'s JSON (one account rebalanced to weights, not runs of trades)."""
    return data.get("kind") == "rotation"


def _rotation_summary(data: dict[str, Any]) -> dict[str, Any]:
    """A rotation's summary columns: one run; no round-trip trades (its orders, holdings and turnover stay in
    the result JSON: `runs show` prints them), so trades and win rate are 0 and empty."""
    m = data.get("metrics") or {}
    symbols = ",".join(str(x) for x in data.get("symbols") or [])
    return {"start_date": _day(data.get("start")), "end_date": _day(data.get("end")),
            "symbols": symbols if len(symbols) <= 2000 else symbols[:1990] + f",... ({len(data['symbols'])})",
            "runs": 1, "total_trades": 0, "winning_trades": 0, "win_rate": None,
            **{k: m.get(k) if _finite(m.get(k)) else None
               for k in ("total_return_pct", "max_drawdown_pct", "sharpe_ratio")}}


def _summary(data: dict[str, Any]) -> dict[str, Any]:
    if is_rotation(data):
        return _rotation_summary(data)
    runs = data.get("results") or []
    if not runs:
        raise RuleEngineError([Diagnostic("T107", "the backtest result has no runs", path="result")])
    metrics = [r["metrics"] for r in runs]
    trades = sum(int(m.get("total_trades") or 0) for m in metrics)
    wins = sum(int(m.get("winning_trades") or 0) for m in metrics)
    sharpes = [m["sharpe_ratio"] for m in metrics if _finite(m.get("sharpe_ratio"))]
    returns = [m["total_return_pct"] for m in metrics if _finite(m.get("total_return_pct"))]
    dds = [m["max_drawdown_pct"] for m in metrics if _finite(m.get("max_drawdown_pct"))]
    prov = data.get("provenance") or {}
    first = runs[0].get("data") or {}
    labels = [str(r.get("label", "")) for r in runs]
    symbols = ",".join(dict.fromkeys(labels))
    return {"start_date": _day(prov.get("start") or first.get("start")),
            "end_date": _day(prov.get("end") or first.get("end")),
            "symbols": symbols if len(symbols) <= 2000 else symbols[:1990] + f",... ({len(labels)})",
            "runs": len(runs), "total_trades": trades, "winning_trades": wins,
            "win_rate": 100.0 * wins / trades if trades else None,
            "total_return_pct": sum(returns) / len(returns) if returns else None,
            "max_drawdown_pct": max(dds) if dds else None,
            "sharpe_ratio": sum(sharpes) / len(sharpes) if sharpes else None}


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _day(text: Any) -> date:
    if not text:
        return utcnow().date()
    return date.fromisoformat(str(text)[:10])
