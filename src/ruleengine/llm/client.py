"""The model client: the official `openai` package, configured from settings/env, with bounded retries.

Settings come from the environment unless given: ``OPENAI_API_KEY``, ``OPENAI_BASE_URL`` (any OpenAI-compatible
server, e.g. a local one), ``RULEENGINE_MODEL`` (default ``gpt-4.1-mini``), ``RULEENGINE_LLM_TIMEOUT``
(seconds per request, default 60), ``RULEENGINE_LLM_MAX_RETRIES`` (default 2), ``RULEENGINE_LLM_DEADLINE``
(seconds for one call including retries, default 180) and ``RULEENGINE_LLM_PRICES`` (see `models`).

Why our own retry loop: the `openai` client honours ``Retry-After`` up to two minutes per retry, so a 429 with
``Retry-After: 120`` blocked a call for 240 s although ``timeout=1.5`` (measured, docs/security-notes.md).
The SDK's retries are therefore off (``max_retries=0``) and this module retries connection errors, timeouts,
408/409/429 and 5xx itself, waiting ``Retry-After`` or an exponential backoff but never more than
`LLMSettings.max_retry_wait` per wait, and never past the call's deadline.

Example:
    >>> s = LLMSettings.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "RULEENGINE_MODEL": "m"})
    >>> s.model, s.max_retries, s.api_key
    ('m', 2, None)
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .. import Diagnostic, RuleEngineError
from .models import estimate_cost, parse_prices, price_table

DEFAULT_MODEL = "gpt-4.1-mini"
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")  # these models reject a temperature other than the default


@dataclass(frozen=True)
class LLMSettings:
    """Where and how to call the model (see the module docstring for the environment variables)."""

    api_key: str | None = None
    base_url: str | None = None
    model: str = DEFAULT_MODEL
    timeout: float = 60.0
    max_retries: int = 2
    max_retry_wait: float = 10.0
    deadline: float = 180.0
    temperature: float | None = 0.0
    prices: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> LLMSettings:
        """Settings from the environment (`env`, default ``os.environ``); keyword arguments win.

        Raises:
            RuleEngineError: L107 for a malformed number or price table.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {"api_key": env.get("OPENAI_API_KEY") or None,
                                  "base_url": env.get("OPENAI_BASE_URL") or None,
                                  "model": env.get("RULEENGINE_MODEL") or DEFAULT_MODEL}
        for key, var, kind in (("timeout", "RULEENGINE_LLM_TIMEOUT", float),
                               ("max_retries", "RULEENGINE_LLM_MAX_RETRIES", int),
                               ("deadline", "RULEENGINE_LLM_DEADLINE", float)):
            raw = env.get(var)
            if raw:
                try:
                    values[key] = kind(raw)
                except ValueError:
                    raise _config_error(f"{var}={raw!r} is not a number", f"e.g. {var}=30") from None
        try:
            values["prices"] = price_table(parse_prices(env.get("RULEENGINE_LLM_PRICES")), env={})
        except ValueError as exc:
            raise _config_error(str(exc), "e.g. RULEENGINE_LLM_PRICES=my-model=0.5/1.5") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        if settings.temperature is not None and settings.model.startswith(_REASONING_PREFIXES):
            settings = replace(settings, temperature=None)
        return settings


def _config_error(message: str, hint: str) -> RuleEngineError:
    return RuleEngineError([Diagnostic("L107", message, hint=hint)])


@dataclass
class Usage:
    """Tokens and the estimated cost (US dollars; None when the model has no price) of one or more calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0
    calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        cost = None if self.cost_usd is None or other.cost_usd is None else self.cost_usd + other.cost_usd
        return Usage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens,
                     cost, self.calls + other.calls)

    def to_dict(self) -> dict[str, Any]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.total_tokens, "calls": self.calls,
                "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 6)}


@dataclass
class Completion:
    """One answered request: the assistant's text (or refusal), why it stopped, usage, timing, retries."""

    content: str | None
    refusal: str | None
    finish_reason: str | None
    model: str
    usage: Usage
    elapsed: float
    retries: int = 0


class ChatClient:
    """Chat completions with strict structured outputs through the official `openai` client.

    Args:
        settings: `LLMSettings` (default: from the environment).
        sleep: the wait function between retries (tests may record the waits).
    """

    def __init__(self, settings: LLMSettings | None = None, *, sleep: Any = time.sleep) -> None:
        self.settings = settings or LLMSettings.from_env()
        self._sleep = sleep
        self._client: Any = None

    @property
    def model(self) -> str:
        return self.settings.model

    def _openai(self) -> Any:
        if self._client is None:
            s = self.settings
            if not s.api_key and not s.base_url:
                raise _config_error("no model API configured",
                                    "set OPENAI_API_KEY (or OPENAI_BASE_URL for a local OpenAI-compatible server)")
            import openai

            # A local OpenAI-compatible server usually ignores the key, but the client insists on one.
            self._client = openai.OpenAI(api_key=s.api_key or "not-needed", base_url=s.base_url,
                                         timeout=s.timeout, max_retries=0)
        return self._client

    def complete(self, messages: Sequence[Mapping[str, str]], schema: Mapping[str, Any],
                 schema_name: str = "reply") -> Completion:
        """One structured-output request (retried while transient), as a `Completion`.

        Raises:
            RuleEngineError: L105 (timeout, connection, rate limit or server error after the retries),
                L106 (credentials, permission, bad request, unknown model), L107 (not configured).
        """
        import openai

        client = self._openai()
        s = self.settings
        kwargs: dict[str, Any] = {
            "model": s.model, "messages": [dict(m) for m in messages],
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": schema_name, "strict": True, "schema": dict(schema)}},
        }
        if s.temperature is not None:
            kwargs["temperature"] = s.temperature
        t0 = time.monotonic()
        retries = 0
        while True:
            remaining = s.deadline - (time.monotonic() - t0)
            try:
                response = client.chat.completions.create(**kwargs, timeout=max(0.1, min(s.timeout, remaining)))
                return self._completion(response, time.monotonic() - t0, retries)
            except (openai.AuthenticationError, openai.PermissionDeniedError, openai.BadRequestError,
                    openai.NotFoundError, openai.UnprocessableEntityError) as exc:
                raise self._rejected(exc) from None
            except (openai.APIConnectionError, openai.APIStatusError) as exc:  # timeouts are connection errors
                status = getattr(exc, "status_code", None)
                transient = status is None or status in (408, 409, 429) or status >= 500
                wait = self._wait(exc, retries)
                elapsed = time.monotonic() - t0
                if not transient or retries >= s.max_retries or elapsed + wait >= s.deadline:
                    raise self._failed(exc, retries + 1, elapsed) from None
                self._sleep(wait)
                retries += 1

    def _wait(self, exc: Exception, retries: int) -> float:
        """Retry-After (seconds) when the server sent it, else 0.5 s doubling with jitter; capped."""
        response = getattr(exc, "response", None)
        header = response.headers.get("retry-after") if response is not None else None
        wait: float | None = None
        if header:
            try:
                wait = float(header)
            except ValueError:
                wait = None
        if wait is None:
            wait = 0.5 * 2 ** retries * (1 + 0.25 * random.random())
        return max(0.0, min(wait, self.settings.max_retry_wait))

    def _completion(self, response: Any, elapsed: float, retries: int) -> Completion:
        try:
            choice = response.choices[0]
            message = choice.message
            usage = response.usage
            model = getattr(response, "model", None) or self.settings.model
        except (AttributeError, IndexError, TypeError):
            raise RuleEngineError([Diagnostic(
                "L105", f"the model API at {self._where()} answered with something that is not a chat completion",
                hint="check OPENAI_BASE_URL: it must point at an OpenAI-compatible /v1 endpoint")]) from None
        prompt_tokens = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
        cost = estimate_cost(str(model), prompt_tokens, completion_tokens, self.settings.prices or None)
        if cost is None:  # a dated or aliased name the server reports: try the configured one
            cost = estimate_cost(self.settings.model, prompt_tokens, completion_tokens, self.settings.prices or None)
        return Completion(content=getattr(message, "content", None), refusal=getattr(message, "refusal", None),
                          finish_reason=getattr(choice, "finish_reason", None), model=str(model),
                          usage=Usage(prompt_tokens, completion_tokens, cost, 1), elapsed=elapsed, retries=retries)

    def _where(self) -> str:
        return self.settings.base_url or "api.openai.com"

    def _failed(self, exc: Exception, attempts: int, elapsed: float) -> RuleEngineError:
        import openai

        tries = f"{attempts} attempt{'s' if attempts > 1 else ''}, {elapsed:.1f} s"
        if isinstance(exc, openai.APITimeoutError):
            msg = f"the model API at {self._where()} did not answer within {self.settings.timeout:g} s ({tries})"
            hint = "raise RULEENGINE_LLM_TIMEOUT or check that the server is up"
        elif isinstance(exc, openai.RateLimitError):
            msg = f"the model API at {self._where()} kept answering 429 rate limit ({tries})"
            hint = "wait and try again, or raise RULEENGINE_LLM_MAX_RETRIES / RULEENGINE_LLM_DEADLINE"
        elif isinstance(exc, openai.APIStatusError):
            msg = f"the model API at {self._where()} failed with HTTP {exc.status_code} ({tries}): {_detail(exc)}"
            hint = "try again later"
        else:
            msg = f"cannot reach the model API at {self._where()} ({tries}): {exc}"
            hint = "check OPENAI_BASE_URL and the network"
        return RuleEngineError([Diagnostic("L105", msg, hint=hint)])

    def _rejected(self, exc: Exception) -> RuleEngineError:
        status = getattr(exc, "status_code", "?")
        hint = {401: "check OPENAI_API_KEY", 403: "check the key's permissions and the project",
                404: f"check RULEENGINE_MODEL ({self.settings.model}) and OPENAI_BASE_URL"}.get(
            status if isinstance(status, int) else 0, "the server refused the request as sent")
        return RuleEngineError([Diagnostic(
            "L106", f"the model API at {self._where()} rejected the request (HTTP {status}): {_detail(exc)}",
            hint=hint)])


def _detail(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:300]
    return str(getattr(exc, "message", exc))[:300]
