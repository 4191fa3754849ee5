"""The provider registry: which provider serves a data slot, and what every provider offers.

Resolution order for a slot of kind K at frequency F (first match wins):

1. the slot's explicit ``provider:``;
2. ``--provider`` (``cli_provider``);
3. the configured default for K: the ``defaults`` mapping given to the registry (kind -> name, ``"*"`` for
   every kind), then the ``RULEENGINE_PROVIDER`` environment variable (``fmp`` for every kind, or
   ``ohlcv=local,earnings=fmp``, or both: ``sample,earnings=fmp``);
4. ``local`` when a data path is configured (``--data`` / ``RULEENGINE_DATA``) and it has K at F;
5. ``alpaca`` when ``ALPACA_API_KEY`` and ``ALPACA_SECRET_KEY`` are set and it serves K (prices), then ``fmp``
   when ``FMP_API_KEY`` is set and it serves K; ``reddit`` (social_mentions) when ``REDDIT_CLIENT_ID`` is set;
   ``portfolio`` (the user's fills) when ``RULEENGINE_PORTFOLIO`` is set, ``snaptrade`` when
   ``SNAPTRADE_CLIENT_ID`` is set;
6. ``sample`` (synthetic data; every output says so).

``yahoo`` needs no key and is never an implicit default: it is chosen by name (``--provider yahoo``, a slot's
``provider: yahoo`` or ``RULEENGINE_PROVIDER=yahoo``), so that an offline run never reaches for the network.

Choices 1-3 are explicit: a provider that does not serve K at F is an error (D109, naming the providers that
do). Choices 4-5 are implicit and fall through to the next when the provider lacks K, except that a data path
never falls through to synthetic data: a configured path that cannot serve a slot, with no FMP key to serve it
instead, is an error naming what the path holds (D109; D118 when it holds K only at a coarser frequency).

Choices 4-6 are not names written here: each provider class declares its place (`Provider.default_rank`:
local 10, alpaca 15, fmp 20, reddit 30, portfolio 40, snaptrade 45, sample 90), why it is chosen
(`default_reason`), when the environment enables it (`configured`) and whether a slot it cannot serve stops the
fall-through to synthetic data (`blocks_synthetic`). `choose` walks the registered providers in that order; the
last one it reaches is the last resort, chosen even when it lacks K (`resolve` then says so). A new provider
class with a
`default_rank` joins the order by being registered.

A registry made with ``real_only=True`` (live signals, scan, tracking: what they compute is acted on and
stored) never gives synthetic data: choice 6 becomes error D160 saying how to give real data, and an explicit
choice of a synthetic provider (``--provider sample``) is D160 too. Remote providers (those
without ``cacheable = False``) are wrapped in the on-disk `CachedProvider` unless caching is off.

Example:
    >>> reg = ProviderRegistry()
    >>> from ruleengine.data.sample import SampleProvider
    >>> reg.register(SampleProvider())
    >>> reg.resolve(None, "ohlcv", "1Day").name
    'sample'
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

from ..errors import Diagnostic, RuleEngineError, did_you_mean
from ..schema.kinds import KIND_COLUMNS
from .base import Provider
from .cache import DEFAULT_TTL, CachedProvider

ProviderFactory = Callable[[], Provider]


@dataclass
class _Entry:
    factory: ProviderFactory
    #: what declares the provider's default use (`Provider.default_rank` ...): its instance or class, read
    #: without building it; None for a bare factory (then the provider is used only when named)
    declared: Provider | type[Provider] | None
    instance: Provider | None = None
    cached: Provider | None = None


def parse_provider_setting(value: str | None) -> dict[str, str]:
    """``"fmp"`` -> {"*": "fmp"}; ``"sample,earnings=fmp"`` -> {"*": "sample", "earnings": "fmp"}."""
    out: dict[str, str] = {}
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        kind, sep, name = part.partition("=")
        if sep:
            out[kind.strip()] = name.strip()
        else:
            out["*"] = part
    return out


class ProviderRegistry:
    """Named providers (instances or lazy factories), default resolution and self-documentation.

    Args:
        defaults: kind -> provider name (``"*"``: every kind), above the environment variable.
        cache: wrap cacheable providers in `CachedProvider` when resolving.
        cache_dir: the cache folder (default ``$RULEENGINE_CACHE_DIR`` or the user cache dir).
        ttl: lifetime of cache entries holding the newest data.
        env: the environment to read (default ``os.environ`` at call time).
        real_only: refuse synthetic providers (D160) instead of falling back to them.
    """

    def __init__(self, defaults: Mapping[str, str] | None = None, *, cache: bool = True,
                 cache_dir: str | Path | None = None, ttl: timedelta | float = DEFAULT_TTL,
                 env: Mapping[str, str] | None = None, real_only: bool = False) -> None:
        self._entries: dict[str, _Entry] = {}
        self.defaults = dict(defaults or {})
        self.real_only = real_only
        self.cache, self.cache_dir, self.ttl = cache, cache_dir, ttl
        self._env = env

    @property
    def env(self) -> Mapping[str, str]:
        return self._env if self._env is not None else os.environ

    # ------------------------------------------------------------------ registration
    def register(self, provider: Provider | type[Provider] | ProviderFactory, name: str | None = None, *,
                 cls: type[Provider] | None = None) -> None:
        """Add a provider: an instance, a `Provider` class (built without arguments on first use), or a
        zero-argument factory (built on first use) under `name`.

        The provider's declared default use (`Provider.default_rank` ...) is read from the instance or class;
        a factory states the class it builds with `cls`, else its provider is used only when named.
        """
        if isinstance(provider, Provider):
            instance = provider
            self._entries[name or instance.name] = _Entry(lambda: instance, instance, instance)
            return
        if isinstance(provider, type) and issubclass(provider, Provider):
            self._entries[name or provider.name] = _Entry(provider, provider)
            return
        if not name:
            raise ValueError("a provider factory needs a name")
        # not a Provider nor a Provider class: the zero-argument factory of the signature
        self._entries[name] = _Entry(cast(ProviderFactory, provider), cls)

    def names(self) -> list[str]:
        """Registered provider names, in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def get(self, name: str, *, path: str | None = None) -> Provider:
        """The provider called `name` (instantiated on first use); D108 with a did-you-mean otherwise."""
        entry = self._entries.get(name)
        if entry is None:
            hint = did_you_mean(name, self._entries) or "known providers: " + ", ".join(self._entries)
            if name == "local":
                hint = "the local provider reads files: give --data PATH (or set RULEENGINE_DATA)"
            raise RuleEngineError([Diagnostic("D108", f"unknown provider '{name}'", path=path, hint=hint)])
        if entry.instance is None:
            try:
                entry.instance = entry.factory()
            except ImportError as exc:
                raise RuleEngineError([Diagnostic("D108", f"provider '{name}' is not available: {exc}",
                                                  path=path, hint="install its dependencies")]) from None
        return entry.instance

    # ------------------------------------------------------------------ resolution
    def _serves(self, name: str, kind: str, frequency: str) -> bool:
        try:
            return self.get(name).serves(kind, frequency)
        except RuleEngineError:
            return False

    def serving(self, kind: str, frequency: str | None = None) -> list[str]:
        """Names of the providers that serve `kind` (at `frequency`); unavailable ones are left out."""
        return [n for n in self._entries if self._serves(n, kind, frequency or "1Day")]

    def choose(self, slot_provider: str | None, kind: str, frequency: str = "1Day",
               cli_provider: str | None = None, *, slot: str | None = None) -> tuple[str, str, bool]:
        """(provider name, why it was chosen, whether the choice was explicit) for a slot.

        A configured data path that cannot serve the slot raises (see the module docstring)."""
        if slot_provider:
            return slot_provider, "the slot's provider:", True
        if cli_provider:
            return cli_provider, "--provider", True
        for key, where in ((kind, "configured default for " + kind), ("*", "configured default")):
            if key in self.defaults:
                return self.defaults[key], where, True
        setting = parse_provider_setting(self.env.get("RULEENGINE_PROVIDER"))
        for key in (kind, "*"):
            if key in setting:
                return setting[key], f"RULEENGINE_PROVIDER={self.env.get('RULEENGINE_PROVIDER')}", True
        return self._implicit_default(kind, frequency, slot)

    def _default_order(self) -> list[tuple[str, Provider | type[Provider]]]:
        """(name, declaration) of the providers that declare a default rank, lowest rank first (registration
        order among equals)."""
        ranked = [(d.default_rank, i, name, d) for i, (name, e) in enumerate(self._entries.items())
                  if (d := e.declared) is not None and d.default_rank is not None]
        return [(name, d) for _, _, name, d in sorted(ranked, key=lambda r: (r[0], r[1]))]

    def _implicit_default(self, kind: str, frequency: str, slot: str | None) -> tuple[str, str, bool]:
        """Choices 4-6 of the module docstring, from what the providers declare."""
        blocker: tuple[str, Provider] | None = None  # a configured source that cannot serve: no synthetic
        last: tuple[str, str] | None = None
        for name, declared in self._default_order():
            if not declared.configured(self.env):
                continue
            # A configured data path or API key that cannot be used is an error worth seeing: get() raises.
            provider = self.get(name)
            if provider.synthetic and blocker is not None:
                break
            if provider.serves(kind, frequency):
                return name, declared.default_reason, False
            if declared.blocks_synthetic and blocker is None:
                blocker = (name, provider)
            last = (name, declared.default_reason)
        if blocker is not None:  # an explicit data path never falls back to synthetic data
            name, provider = blocker
            raise RuleEngineError([provider.cannot_serve(kind, frequency, slot) or Diagnostic(
                "D109", f"provider '{name}' ({provider.description}) has no {kind} at {frequency}",
                path=f"data.{slot}" if slot else None, hint="give a source that holds it, or --provider")])
        if last is None:
            raise RuleEngineError([Diagnostic(
                "D109", f"no registered provider serves {kind} at {frequency}",
                path=f"data.{slot}" if slot else None,
                hint="name a provider for the slot: provider: in the slot, or --provider")])
        return (*last, False)  # the last resort, even without the kind: resolve() says it cannot serve it

    def resolve(self, slot_provider: str | None, kind: str, frequency: str = "1Day",
                cli_provider: str | None = None, *, slot: str | None = None) -> Provider:
        """The provider for a slot (see the module docstring for the order); D108 / D109 when it cannot be.

        `slot` names the data slot in diagnostics (``data.<slot>.provider``).
        """
        path = f"data.{slot}.provider" if slot and slot_provider else (f"data.{slot}" if slot else None)
        if kind not in KIND_COLUMNS:
            raise RuleEngineError([Diagnostic("D109", f"unknown data kind '{kind}'", path=path,
                                              hint=did_you_mean(kind, KIND_COLUMNS) or
                                              "known kinds: " + ", ".join(KIND_COLUMNS))])
        name, why, explicit = self.choose(slot_provider, kind, frequency, cli_provider, slot=slot)
        provider = self.get(name, path=path)
        if self.real_only and provider.synthetic:
            raise RuleEngineError([_real_data_required(kind, name, why if explicit else None, path)])
        if not provider.serves(kind, frequency):
            others = [n for n in self.serving(kind, frequency) if n != name]
            info = provider.kinds.get(kind)
            what = f"'{kind}' at {frequency}" if info is not None else f"'{kind}'"
            hint = (f"providers serving {kind} at {frequency}: {', '.join(others)}" if others
                    else f"no registered provider serves {kind} at {frequency}")
            why_not = provider.cannot_serve(kind, frequency, slot)  # a data path: what it holds (D109/D118)
            raise RuleEngineError([Diagnostic(
                why_not.code if why_not else "D109",
                f"provider '{name}' ({why}) does not serve {what}" + (f": {why_not.message}" if why_not else ""),
                path=path, hint=f"{why_not.hint}; {hint}" if why_not and why_not.hint else hint)])
        return self._maybe_cached(name, provider)

    def _maybe_cached(self, name: str, provider: Provider) -> Provider:
        if not self.cache or not provider.cacheable:
            return provider
        entry = self._entries[name]
        if entry.cached is None:
            entry.cached = CachedProvider(provider, ttl=self.ttl, cache_dir=self.cache_dir)
        return entry.cached

    # ------------------------------------------------------------------ documentation
    def defaults_by_kind(self, frequency: str = "1Day") -> dict[str, tuple[str, str]]:
        """kind -> (default provider, why) when no slot provider and no --provider are given."""
        out: dict[str, tuple[str, str]] = {}
        for kind in KIND_COLUMNS:
            try:
                name, why = self.choose(None, kind, frequency)[:2]
                if not self.get(name).serves(kind, frequency):  # the fallback need not serve every kind
                    others = self.serving(kind, frequency)
                    name, why = "", (f"{name} does not serve it; providers that do: {', '.join(others)}"
                                     if others else "no registered provider serves it")
                out[kind] = (name, why)
            except RuleEngineError as exc:
                out[kind] = ("", exc.diagnostics[0].message)
        return out

    def describe(self) -> list[dict[str, Any]]:
        """One JSON-able description per provider (unavailable ones with ``available: false``)."""
        defaults = self.defaults_by_kind()
        out: list[dict[str, Any]] = []
        for name in self._entries:
            try:
                info: dict[str, Any] = dict(self.get(name).describe())
                info["available"] = True
            except RuleEngineError as exc:
                info = {"name": name, "description": "", "synthetic": False, "kinds": {},
                        "available": False, "error": exc.diagnostics[0].message}
            info["name"] = name
            info["default_for"] = {k: why for k, (n, why) in defaults.items() if n == name}
            out.append(info)
        return out

    def describe_text(self) -> str:
        """Markdown for the LLM system prompt: providers, kinds, columns, frequencies and defaults."""
        lines = ["## Data providers", "",
                 "A data slot may name `provider:`; otherwise the default for its kind is used.", ""]
        for info in self.describe():
            if not info["available"]:
                lines += [f"### {info['name']} (unavailable: {info.get('error', '')})", ""]
                continue
            flag = " (SYNTHETIC data, not real prices)" if info.get("synthetic") else ""
            lines += [f"### {info['name']}{flag}", "", str(info.get("description", "")), ""]
            if info["default_for"]:
                lines += ["Default for: " + ", ".join(sorted(info["default_for"])), ""]
            if info.get("point_in_time"):  # providers that state their access and timing (sample does not)
                keys = info.get("credentials") or []
                lines += [("Needs " + " and ".join(keys) if keys else "No key needed")
                          + f". Point in time: {info['point_in_time']}.", ""]
            lines += ["| kind | frequencies | columns | notes |", "|---|---|---|---|"]
            for kind, k in info["kinds"].items():
                lines.append(f"| {kind} | {', '.join(k['frequencies'])} | {', '.join(k['columns'])} | "
                             f"{k.get('doc', '')} |")
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"


#: how a user gives real data (named in D160's hint; every item exists: options, variables, the providers command)
REAL_DATA_HINT = ("give real data: --data PATH (a Parquet/CSV file or folder; or set RULEENGINE_DATA), "
                  "--provider NAME (see: ruleengine providers; --provider yahoo needs no key), or set FMP_API_KEY "
                  "for the fmp provider")


def _real_data_required(kind: str, name: str, why: str | None, path: str | None) -> Diagnostic:
    """D160: real data are required and the resolution came to a synthetic provider."""
    if why is None:
        message = f"real market data are required for '{kind}', and none is configured (no data path, no " \
                  "provider, no Alpaca or FMP key); synthetic data are never used here"
    else:
        message = f"real market data are required, but provider '{name}' ({why}) gives SYNTHETIC data"
    return Diagnostic("D160", message, path=path, hint=REAL_DATA_HINT)


def fetch_many(provider: Provider, symbols: Iterable[str], kind: str, start: Any, end: Any,
               frequency: str = "1Day", *, skip_missing: bool = False) -> dict[str, Any]:
    """`Provider.fetch_many` as a function: symbol -> frame (its own fast path, or one fetch per symbol).

    Errors of all symbols are raised together, or the failing symbols are left out with ``skip_missing``.
    """
    return provider.fetch_many(symbols, kind, start, end, frequency, skip_missing=skip_missing)


def default_registry(data_path: str | Path | None = None, *, defaults: Mapping[str, str] | None = None,
                     no_cache: bool = False, cache_dir: str | Path | None = None,
                     ttl: timedelta | float = DEFAULT_TTL, real_only: bool = False,
                     **local_options: Any) -> ProviderRegistry:
    """{local (when `data_path` or ``RULEENGINE_DATA`` is given), sample, fmp, yahoo, alpaca, reddit, portfolio,
    snaptrade}; all but sample are built on first use (a bad path is reported when resolving; HTTP stacks are
    imported only then).

    `real_only`: never resolve to synthetic data (D160 instead; see `ProviderRegistry`).
    `local_options` go to `LocalProvider` (layout, time_column, columns, files, tz, kind, frequency).
    """
    from .fmp import FmpProvider
    from .portfolio import PortfolioProvider
    from .reddit import RedditProvider
    from .sample import SampleProvider
    from .snaptrade import SnapTradeProvider

    registry = ProviderRegistry(defaults, cache=not no_cache, cache_dir=cache_dir, ttl=ttl, real_only=real_only)
    path = data_path or os.environ.get("RULEENGINE_DATA") or None
    if path:
        from .local import LocalProvider

        registry.register(functools.partial(LocalProvider, path, **local_options), "local", cls=LocalProvider)
    registry.register(SampleProvider())
    registry.register(FmpProvider)
    from .alpaca import AlpacaProvider
    from .yahoo import YahooProvider

    registry.register(YahooProvider)
    registry.register(AlpacaProvider)
    registry.register(RedditProvider)
    registry.register(PortfolioProvider)
    registry.register(SnapTradeProvider)
    return registry
