"""The one request normaliser: every door turns its arguments into a :class:`Request` here.

``scillm.completion``, the Router, ``scillm batch`` rows and the HTTP servers all call
:func:`normalise`, so the same argument means the same thing everywhere:

* ``model`` is None (the default model) or a non-empty string; ``messages`` a non-empty list of
  ``{"role", "content"}`` dicts;
* OpenAI body parameters are type-checked (``temperature="hot"`` is refused, ``None`` means
  "not given"); a provider's own keywords (``items=`` for CodeWorld) are checked against its
  ``accepts`` once the provider is known (:meth:`Request.check_provider`);
* transport keys: ``api_base`` (alias ``base_url``), ``api_key``, ``custom_llm_provider``,
  ``timeout`` (seconds, finite, > 0), ``extra_headers``, ``extra_body``, ``follow_redirects``,
  ``max_response_bytes``;
* every structured-output form becomes one :class:`~scillm._schema.SchemaPlan`;
* scillm's own options (``deterministic``, ``cache``, ``retry_*``/``num_retries``, ``on_*``
  callbacks) are collected in :class:`Options` and never sent.

Bad types and values raise :class:`BadRequestError` naming the argument, before anything is sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scillm._config import reader
from scillm._schema import SchemaPlan, plan_structured
from scillm.errors import BadRequestError

__all__ = [
    "CALLBACK_KEYS",
    "DEFAULT_TIMEOUT_S",
    "OPENAI_PARAMS",
    "PIPELINE_KEYS",
    "RETRY_KEYS",
    "Options",
    "Request",
    "call_timeout",
    "check_messages",
    "default_timeout",
    "normalise",
]

DEFAULT_TIMEOUT_S = 600.0
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


# -- value checks -----------------------------------------------------------------------------

Check = Callable[[str, Any], None]

# Type tuples made once: ``isinstance(x, A | B)`` builds a union object on every call, and these
# checks run for every request.
_NUMBER = (int, float)
_SEQUENCE = (list, tuple)
_TEXT_OR_MAPPING = (str, Mapping)
_TEXT_OR_PARTS = (str, list)


def _refuse(name: str, value: Any, wanted: str) -> BadRequestError:
    return BadRequestError(f"{name}={value!r:.80} is not {wanted}")


def _number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, _NUMBER) or not math.isfinite(value):
        raise _refuse(name, value, "a finite number")


def _positive(name: str, value: Any) -> None:
    _number(name, value)
    if not value > 0:
        raise _refuse(name, value, "a number > 0")


def _fraction(name: str, value: Any) -> None:
    _number(name, value)
    if not 0 <= value <= 1:
        raise _refuse(name, value, "a number within [0, 1]")


def _integer(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _refuse(name, value, "an integer")


def _count(name: str, value: Any) -> None:
    _integer(name, value)
    if value < 0:
        raise _refuse(name, value, "an integer >= 0")


def _at_least_one(name: str, value: Any) -> None:
    _integer(name, value)
    if value < 1:
        raise _refuse(name, value, "an integer >= 1")


def _flag(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise _refuse(name, value, "True or False")


def _text(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise _refuse(name, value, "a string")


def _nonempty_text(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise _refuse(name, value, "a non-empty string")


def _mapping(name: str, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise _refuse(name, value, "a dict")


def _list(name: str, value: Any) -> None:
    if not isinstance(value, _SEQUENCE):
        raise _refuse(name, value, "a list")


def _text_or_mapping(name: str, value: Any) -> None:
    if not isinstance(value, _TEXT_OR_MAPPING):
        raise _refuse(name, value, "a string or a dict")


def _stop(name: str, value: Any) -> None:
    if isinstance(value, str):
        return
    if not isinstance(value, _SEQUENCE) or not all(isinstance(s, str) for s in value):
        raise _refuse(name, value, "a string or a list of strings")


def _response_format(name: str, value: Any) -> None:
    if not isinstance(value, Mapping) and not isinstance(value, type):
        raise _refuse(name, value, "a dict such as {'type': 'json_object'} or a pydantic class")


def _headers(name: str, value: Any) -> None:
    _mapping(name, value)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise _refuse(name, value, "a dict of string header names to string values")


def _http_url(name: str, value: Any) -> None:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise _refuse(name, value, "an http:// or https:// URL")


def _callable(name: str, value: Any) -> None:
    if not callable(value):
        raise _refuse(name, value, "a function (or coroutine function)")


OPENAI_CHECKS: dict[str, Check] = {
    "audio": _mapping,
    "frequency_penalty": _number,
    "function_call": _text_or_mapping,
    "functions": _list,
    "logit_bias": _mapping,
    "logprobs": _flag,
    "max_completion_tokens": _at_least_one,
    "max_tokens": _at_least_one,
    "metadata": _mapping,
    "modalities": _list,
    "n": _at_least_one,
    "parallel_tool_calls": _flag,
    "prediction": _mapping,
    "presence_penalty": _number,
    "reasoning": _mapping,
    "reasoning_effort": _text,
    "response_format": _response_format,
    "seed": _integer,
    "service_tier": _text,
    "stop": _stop,
    "store": _flag,
    "stream_options": _mapping,
    "temperature": _number,
    "tool_choice": _text_or_mapping,
    "tools": _list,
    "top_logprobs": _count,
    "top_p": _number,
    "user": _text,
    "verbosity": _text,
    "web_search_options": _mapping,
}
OPENAI_PARAMS = frozenset(OPENAI_CHECKS)
"""Body parameters passed through to the provider; anything else belongs in ``extra_body``."""

TRANSPORT_CHECKS: dict[str, Check] = {
    "custom_llm_provider": _nonempty_text,
    "api_base": _http_url,
    "base_url": _http_url,
    "api_key": _text,
    "timeout": _positive,
    "extra_headers": _headers,
    "extra_body": _mapping,
    "follow_redirects": _flag,
    "max_response_bytes": _at_least_one,
}

RETRY_CHECKS: dict[str, Check] = {
    "retry_enabled": _flag,
    "honor_retry_after": _flag,
    "retry_max_attempts": _count,
    "num_retries": _count,
    "retry_time_budget_s": _positive,
    "retry_base_s": _positive,
    "retry_max_s": _positive,
    "retry_jitter_pct": _fraction,
}
RETRY_KEYS = frozenset(RETRY_CHECKS)
CALLBACK_KEYS = frozenset({"on_attempt", "on_success", "on_giveup"})
PLAIN_OPTION_CHECKS: dict[str, Check] = {
    "deterministic": _flag,
    "cache": _flag,
    "response_mode": _text,
    "json_schema": _mapping,
}
PIPELINE_KEYS = frozenset(PLAIN_OPTION_CHECKS) | RETRY_KEYS | CALLBACK_KEYS
"""Keywords that steer scillm's call pipeline (the Router) and are never sent."""


# -- the request ------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Options:
    """Per-call settings that steer the pipeline and are never sent (None: not given)."""

    deterministic: bool | None = None
    cache: bool | None = None
    retry: dict[str, Any] = field(default_factory=dict)
    callbacks: dict[str, Callable[..., Any]] = field(default_factory=dict)


_NONE: frozenset[str] = frozenset()
NO_OPTIONS = Options()
"""Shared by every request that gives no option; never changed."""


@dataclass(slots=True)
class Request:
    """One call's arguments, checked and in their one meaning."""

    model: str | None
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    stream: bool = False
    custom_llm_provider: str | None = None
    api_base: str | None = None
    api_key: str | None = None
    timeout: float | None = None
    extra_headers: dict[str, str] | None = None
    extra_body: dict[str, Any] | None = None
    follow_redirects: bool | None = None
    max_response_bytes: int | None = None
    plan: SchemaPlan | None = None
    options: Options = NO_OPTIONS  # replaced by the call's own Options when it gives any

    @property
    def needs_pipeline(self) -> bool:
        """Whether the call asks for something only the Router's pipeline does."""
        return self.plan is not None or self.options is not NO_OPTIONS

    def check_provider(self, provider: object) -> None:
        """Refuse keywords that are neither OpenAI parameters nor ones ``provider`` accepts."""
        if not self.params:
            return
        accepts: frozenset[str] = getattr(provider, "accepts", _NONE)
        unknown = [k for k in self.params if k not in OPENAI_PARAMS and k not in accepts]
        if unknown:
            name = getattr(provider, "name", None)
            extra = (
                f"; provider {name!r} also takes: {', '.join(sorted(accepts))}" if accepts else ""
            )
            raise BadRequestError(
                f"unknown parameter(s) {', '.join(sorted(unknown))}. scillm passes these OpenAI "
                f"parameters through: {', '.join(sorted(OPENAI_PARAMS))}{extra}; send anything "
                "else provider-specific in extra_body={...}."
            )


def check_messages(messages: object) -> list[dict[str, Any]]:
    """``messages`` as a list of dicts, or :class:`BadRequestError` saying what is wrong."""
    if not isinstance(messages, _SEQUENCE) or not messages:
        raise BadRequestError(
            "messages must be a non-empty list of {'role': ..., 'content': ...} dicts, "
            f"got {type(messages).__name__}: {str(messages)[:80]!r}"
        )
    checked: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        if type(msg) is dict and type(msg.get("content")) is str and msg.get("role") in ROLES:
            checked.append(msg)  # the usual message, which passes every check below
            continue
        if type(msg) is not dict and not isinstance(msg, Mapping):
            raise BadRequestError(
                f"messages[{i}] must be a dict with 'role' and 'content', "
                f"got {type(msg).__name__}: {str(msg)[:80]!r}"
            )
        role = msg.get("role")
        if role not in ROLES:
            raise BadRequestError(
                f"messages[{i}] has role {role!r}; use one of {', '.join(sorted(ROLES))}"
            )
        content = msg.get("content")
        if content is None and not (msg.get("tool_calls") or msg.get("function_call")):
            raise BadRequestError(
                f"messages[{i}] ({role}) has no 'content'; give a string or a list of parts"
            )
        if content is not None and not isinstance(content, _TEXT_OR_PARTS):
            raise BadRequestError(
                f"messages[{i}].content must be a string or a list of parts, "
                f"got {type(content).__name__}"
            )
        checked.append(msg if isinstance(msg, dict) else dict(msg))
    return checked


call_timeout = reader(float, "SCILLM_TIMEOUT")
"""``call_timeout(given, DEFAULT_TIMEOUT_S)``: ``given``, else ``SCILLM_TIMEOUT``, else 600 s."""


def default_timeout() -> float:
    """Seconds a call may take when no ``timeout`` is given: ``SCILLM_TIMEOUT`` or 600."""
    return call_timeout(None, DEFAULT_TIMEOUT_S)


def _not_a_model(model: object) -> BadRequestError:
    return BadRequestError(
        f"model={model!r:.80} is not a model name; pass a string such as 'openai/gpt-4o-mini', "
        "a Router model group, or None for the default model"
    )


def normalise(
    model: object, messages: object, kwargs: Mapping[str, Any], *, stream: object = False
) -> Request:
    """Check one call's arguments and give each its one meaning (see the module docstring)."""
    if stream is not False and stream is not True:
        raise _refuse("stream", stream, "True or False")
    if model is not None and not (isinstance(model, str) and model):
        raise _not_a_model(model)
    req = Request(model, check_messages(messages), {}, stream)
    params = req.params
    response_mode = json_schema = None
    for key, value in kwargs.items():
        if value is None:
            continue
        if key in OPENAI_CHECKS:  # membership, then the item: no method call per keyword
            OPENAI_CHECKS[key](key, value)
            params[key] = value
        elif key in TRANSPORT_CHECKS:
            TRANSPORT_CHECKS[key](key, value)
            if key in _AS_GIVEN:
                setattr(req, key, value)
            else:
                _set_transport(req, key, value)
        elif key in RETRY_CHECKS:
            RETRY_CHECKS[key](key, value)
            _own_options(req).retry[key] = value
        elif key in CALLBACK_KEYS:
            _callable(key, value)
            _own_options(req).callbacks[key] = value
        elif key in PLAIN_OPTION_CHECKS:
            PLAIN_OPTION_CHECKS[key](key, value)
            if key == "response_mode":
                response_mode = value
            elif key == "json_schema":
                json_schema = value
            else:
                setattr(_own_options(req), key, value)
        else:
            params[key] = value  # a provider's own keyword: checked by check_provider
    if "response_format" in params or json_schema is not None or response_mode is not None:
        req.plan, req.params = plan_structured(params, response_mode, json_schema)
    return req


def _own_options(req: Request) -> Options:
    if req.options is NO_OPTIONS:
        req.options = Options()
    return req.options


_AS_GIVEN = frozenset({"api_key", "custom_llm_provider", "follow_redirects", "max_response_bytes"})
"""Transport keys a request keeps as they were given (the others: :func:`_set_transport`)."""


def _set_transport(req: Request, key: str, value: Any) -> None:
    if key == "base_url" or key == "api_base":
        if req.api_base is not None and req.api_base != value:
            raise BadRequestError(
                f"api_base={req.api_base!r} and base_url={value!r} differ; they are one "
                "setting (base_url is an alias): pass one"
            )
        req.api_base = value
    elif key == "timeout":
        req.timeout = float(value)
    else:  # extra_headers, extra_body: the request's own copy
        setattr(req, key, dict(value))
