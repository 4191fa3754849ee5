"""The provider contract: what every data source delivers, in one vocabulary.

A provider serves data *kinds* (``ohlcv``, ``earnings``, ``income_statement``, ``balance_sheet``,
``key_metrics``, ``fundamentals``, ``insider_trades``; columns in `ruleengine.schema.kinds.KIND_COLUMNS`) for
symbols given at run time. `Provider.fetch` returns one symbol's raw data for ``[start, end]`` in a
`pandas.DataFrame` that follows these conventions, so that alignment and resampling (``pit``, ``resample``)
never need to know where the data came from:

* **Prices** (kind ``ohlcv``): index named ``time``, tz-aware UTC, sorted, unique. Daily and coarser bars
  are labelled by their session date at 00:00 UTC (a date label, not an instant); intraday bars by their start
  instant converted to UTC. Columns ``open, high, low, close, volume`` as float64. The frame's
  ``attrs["frequency"]`` is the frequency actually delivered (``1Min`` ... ``1Day``), and
  ``attrs["timezone"]`` the exchange time zone (``America/New_York`` by default).
* **Events and fundamentals** (every other kind): one row per published record, index named
  ``available_at`` = the UTC instant from which the value may be used (announcement time, filing time,
  transaction date plus the reporting lag; see ``pit``), never the fiscal period end. The kind's columns as
  float64, plus optional informational columns (``period_end``, ``announce_time``, ``fiscal_year`` ...).
  Insider trades are one row per transaction with ``transaction_code``, ``shares``, ``price``; they are
  aggregated per bar to the kind's columns (``buy_count`` ...) when bound.
* ``attrs["provider"]`` names the provider; ``attrs["synthetic"] = True`` marks made-up data;
  ``attrs["price_basis"]`` says how prices are adjusted (``raw``, ``split-adjusted``, ``total-return``) where
  the provider states it (`Provider.price_basis`).

Failures raise `ruleengine.errors.RuleEngineError` with the D1xx codes (D110 symbol not found, D111 no data in
range, D112 request failed, D113 credentials/plan, D114 malformed payload); never a bare exception.

Beyond `kinds` and `fetch`, the contract has optional methods with generic defaults, so that callers (the
registry, the binder, live signals, the CLI) call them on any provider instead of probing for them:
`fetch_many` (one `fetch` per symbol), `fetch_matrix` (None: no array fast path), `available_range` (None:
unknown), `cannot_serve` (None: nothing to add to the registry's D109) and `quality_warnings` (none). Wrappers
(`ruleengine.data.cache.CachedProvider`) forward them.

Whether a provider is a *default* for slots that name none is data it declares: `default_rank` (its place in
the implicit order, lowest first; None: used only when named), `default_reason` (printed as why it was
chosen), `configured(env)` (whether the environment enables it, e.g. an API key) and `blocks_synthetic`
(when it is configured but cannot serve a slot, no synthetic provider stands in for it). See
`ruleengine.data.registry.ProviderRegistry.choose`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ..errors import Diagnostic, RuleEngineError

    #: `Provider.fetch_matrix`'s answer: (native frequency, union index, column -> (T, S) arrays plus
    #: ``_present`` and ``_symbols``, symbol -> its error)
    Matrix = tuple[str, pd.DatetimeIndex, dict[str, np.ndarray], dict[str, RuleEngineError]]

#: Kinds whose rows are prices at a bar frequency; all other kinds are published events.
PRICE_KINDS = frozenset({"ohlcv"})


@dataclass(frozen=True)
class KindInfo:
    """What a provider serves for one kind: its columns and frequencies, with a line of documentation."""

    columns: tuple[str, ...]
    frequencies: tuple[str, ...]
    doc: str = ""


@dataclass(frozen=True)
class FetchRequest:
    """One provider call: a symbol's data of one kind between two dates (inclusive), at a frequency."""

    symbol: str
    kind: str
    start: pd.Timestamp
    end: pd.Timestamp
    frequency: str = "1Day"
    extra: Mapping[str, str] = field(default_factory=dict)


class PerThreadClients:
    """For providers that keep a client library's client per thread in ``self._local`` (a `threading.local`,
    which cannot be pickled): pickled without it (sweep workers), and given a fresh one when unpickled."""

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_local", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        import threading

        self.__dict__.update(state)
        self._local = threading.local()


class Provider(ABC):
    """A source of market data. Subclasses set `name`, `description`, `kinds` and implement `fetch`."""

    name: str = ""
    description: str = ""
    synthetic: bool = False
    #: wrap in the on-disk cache when resolved (False for files and generated data: faster to redo)
    cacheable: bool = True
    #: place in the implicit default order (lowest first); None: this provider is used only when named
    default_rank: ClassVar[int | None] = None
    #: why it was chosen when it is the implicit default (shown by `ruleengine providers` and in errors)
    default_reason: ClassVar[str] = ""
    #: configured but unable to serve a slot: an error naming what it holds, never synthetic data instead
    blocks_synthetic: ClassVar[bool] = False
    #: environment variables holding the credentials it needs (empty: no key needed)
    credentials: ClassVar[tuple[str, ...]] = ()
    #: when its data become visible, in a line (`ruleengine providers`, the LLM prompt); empty: not stated
    point_in_time: ClassVar[str] = ""
    #: the adjustment basis of its prices (``raw``, ``split-adjusted``, ``total-return``), named in every
    #: output computed on them; None: not stated (files as stored, synthetic data)
    price_basis: str | None = None

    @classmethod
    def configured(cls, env: Mapping[str, str]) -> bool:
        """Whether `env` enables this provider as a default (checked before it is built: no import cost)."""
        return True

    @property
    @abstractmethod
    def kinds(self) -> Mapping[str, KindInfo]:
        """Kind name -> what this provider serves for it."""

    @abstractmethod
    def fetch(self, request: FetchRequest) -> pd.DataFrame:
        """One symbol's data for the request, following the module's conventions."""

    def serves(self, kind: str, frequency: str | None = None) -> bool:
        info = self.kinds.get(kind)
        return info is not None and (frequency is None or frequency in info.frequencies
                                     or kind not in PRICE_KINDS)

    def fetch_many(self, symbols: Iterable[str], kind: str, start: Any, end: Any, frequency: str = "1Day",
                   *, skip_missing: bool = False) -> dict[str, pd.DataFrame]:
        """symbol -> frame, in the order given; by default one `fetch` per symbol.

        The errors of all symbols are raised together, or the failing symbols are left out with
        ``skip_missing``.
        """
        import pandas as pd

        from ..errors import RuleEngineError

        out: dict[str, pd.DataFrame] = {}
        problems: list[Diagnostic] = []
        for symbol in symbols:
            try:
                out[symbol] = self.fetch(FetchRequest(symbol, kind, pd.Timestamp(start), pd.Timestamp(end),
                                                      frequency))
            except RuleEngineError as exc:
                problems += exc.diagnostics
        if problems and not skip_missing:
            raise RuleEngineError(problems)
        return out

    def fetch_matrix(self, symbols: list[str], start: Any, end: Any, frequency: str = "1Day",
                     columns: Iterable[str] = ("open", "high", "low", "close", "volume")) -> Matrix | None:
        """Prices of many symbols side by side, without a frame per symbol (the binder's fast path); None when
        this provider has no such path (the default), and the binder fetches frame by frame."""
        return None

    def available_range(self, symbol: str, kind: str = "ohlcv",
                        frequency: str = "1Day") -> tuple[pd.Timestamp, pd.Timestamp] | None:
        """First and last index value held for `symbol`; None when the provider cannot say (the default)."""
        return None

    def cannot_serve(self, kind: str, frequency: str, slot: str | None = None) -> Diagnostic | None:
        """Why this provider cannot serve `kind` at `frequency`, naming what it holds (D109 / D118); None
        (the default) when it has nothing to add to the registry's own D109."""
        return None

    def quality_warnings(self, symbols: Iterable[str], kind: str = "ohlcv") -> list[Diagnostic]:
        """Warnings about the stored data of these symbols (repeated rows, impossible bars), passed on with
        the bound data; none by default (only providers that check their files have any)."""
        return []

    def cache_key(self) -> str:
        """Identity of the underlying source for the on-disk cache (e.g. the file path or base URL)."""
        return self.name

    def describe(self) -> dict[str, object]:
        """A JSON-able description for `ruleengine providers` and the LLM system prompt."""
        return {"name": self.name, "description": self.description, "synthetic": self.synthetic,
                "kinds": {k: {"columns": list(v.columns), "frequencies": list(v.frequencies), "doc": v.doc}
                          for k, v in self.kinds.items()},
                "credentials": list(self.credentials), "point_in_time": self.point_in_time,
                "price_basis": self.price_basis}
