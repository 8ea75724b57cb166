"""The OpenAI-compatible wire protocol: one class, configured by a frozen :class:`ProviderSpec`.

A provider of this family is data: where its base URL and key come from, and whether a key is
required. Behaviour that differs (codex-agent's body tweaks) lives in a small subclass.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from scillm import _http
from scillm._config import env
from scillm.errors import APIError, AuthenticationError, BadRequestError
from scillm.providers.base import Call
from scillm.types import ChatCompletion, ChatCompletionChunk, reply

__all__ = ["OpenAICompatible", "ProviderSpec"]

MAX_KEPT_ENDPOINTS = 256

_EXCERPT = 300
_CHECK_BASE = " Check that api_base points at an OpenAI-compatible chat completions server."


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """How to reach one OpenAI-compatible provider.

    ``base_env``/``key_env`` are read in order (first non-empty wins) after the call's own
    ``api_base``/``api_key``. A key is required only when the request goes to ``default_base``
    (a hosted service); a self-hosted base set by argument or env needs none. With
    ``append_v1`` the base is given without ``/v1`` (a trailing ``/v1`` is tolerated and stripped).
    """

    name: str
    base_env: tuple[str, ...] = ()
    key_env: tuple[str, ...] = ()
    default_base: str | None = None
    key_required: bool = False
    append_v1: bool = False
    aliases: tuple[str, ...] = ()


class OpenAICompatible:
    """Chat completions over ``POST {base}/chat/completions`` with Bearer auth.

    ``honours_timeout``: every request ends by ``Call.timeout`` (aiohttp's total timeout covers
    the whole exchange, stream included), so the Router needs no extra guard around it.
    """

    honours_timeout = True

    def __init__(self, spec: ProviderSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self._endpoints: dict[tuple[Any, ...], _http.Endpoint] = {}

    def endpoint(self, call: Call) -> _http.Endpoint:
        """Resolve base URL, key and headers for ``call`` (argument → env → default).

        Endpoints without ``extra_headers`` are kept (a few hundred at most): most calls reuse
        one, and building one checks every header.
        """
        spec = self.spec
        base = call.api_base or env(*spec.base_env)
        key = call.api_key or env(*spec.key_env)
        reuse = not call.extra_headers
        ident = (base, key, call.follow_redirects, call.max_response_bytes)
        if reuse:
            known = self._endpoints.get(ident)
            if known is not None:
                return known
        hosted = base is None
        base = base or spec.default_base
        if not base:
            raise BadRequestError(
                f"provider {spec.name!r} needs a base URL: pass api_base=... or set "
                f"{' / '.join(spec.base_env) or 'api_base'}.",
                provider=spec.name,
                model=call.model,
            )
        base = base.rstrip("/")
        if spec.append_v1:
            base = base.removesuffix("/v1") + "/v1"
        if not key and hosted and spec.key_required:
            raise AuthenticationError(
                f"provider {spec.name!r} needs an API key: pass api_key=... or set "
                f"{spec.key_env[0]}.",
                provider=spec.name,
                model=call.model,
            )
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if call.extra_headers:
            headers.update(call.extra_headers)
        endpoint = _http.Endpoint(
            base + "/chat/completions",
            headers,
            spec.name,
            follow_redirects=call.follow_redirects,
            max_response_bytes=call.max_response_bytes,
        )
        if reuse:
            if len(self._endpoints) >= MAX_KEPT_ENDPOINTS:
                self._endpoints.clear()
            self._endpoints[ident] = endpoint
        return endpoint

    def body(self, call: Call) -> dict[str, Any]:
        """The JSON body: model, messages, the caller's OpenAI params, then ``extra_body``."""
        body: dict[str, Any] = {"model": call.model, "messages": call.messages}
        body.update(call.params)
        if call.extra_body:
            body.update(call.extra_body)
        return body

    async def acompletion(self, call: Call) -> ChatCompletion:
        """One request, one :class:`ChatCompletion`."""
        endpoint = self.endpoint(call)
        data, headers = await _http.post_json(
            endpoint, self.body(call), timeout=call.timeout, model=call.model
        )
        return to_completion(data, headers, provider=self.name, model=call.model)

    async def astream(self, call: Call) -> AsyncIterator[ChatCompletionChunk]:
        """A streamed request; chunks are yielded as the server sends them."""
        endpoint = self.endpoint(call)
        body = self.body(call)
        body["stream"] = True
        events = await _http.post_stream(endpoint, body, timeout=call.timeout, model=call.model)
        return _chunks(events, self.name, call.model)


async def _chunks(
    events: AsyncGenerator[dict[str, Any], None], provider: str, model: str
) -> AsyncIterator[ChatCompletionChunk]:
    try:
        async for event in events:
            if "choices" in event and not _objects(event["choices"]):
                what = "a stream chunk whose choices are not a list of objects"
                raise _unusable(event, what, provider, model)
            yield reply(ChatCompletionChunk, event)
    finally:
        await events.aclose()  # release the connection even when the caller stops early


def to_completion(
    data: dict[str, Any],
    headers: Mapping[str, str] | None = None,
    *,
    provider: str | None = None,
    model: str | None = None,
) -> ChatCompletion:
    """Wrap a reply; a text reply's ``content`` is always a string (``None`` becomes ``""``).

    A reply without a non-empty list of choice objects is an :class:`APIError` carrying the
    server's message when it sent an error object. ``headers`` given means the reply came over
    HTTP: the error then says HTTP 200 and has that status.
    """
    choices = data.get("choices")
    if not choices or type(choices) is not list:
        raise _no_choices(data, choices, headers is not None, provider, model)
    for choice in choices:
        if type(choice) is not dict:
            raise _no_choices(data, choices, headers is not None, provider, model)
        message = choice.get("message")
        if (
            type(message) is dict
            and message.get("content") is None
            and not message.get("tool_calls")
        ):
            message["content"] = ""
    return reply(ChatCompletion, data, headers)


def _no_choices(
    data: dict[str, Any], choices: Any, over_http: bool, provider: str | None, model: str | None
) -> APIError:
    error = data.get("error")
    if error:
        what, hint = f"an error instead of choices: {_error_message(error)}", ""
    else:
        what = "choices that are not a list of objects" if choices else "a reply without choices"
        hint = _CHECK_BASE if over_http else ""
    return _unusable(data, what, provider, model, over_http=over_http, hint=hint)


def _objects(value: Any) -> bool:
    """Whether ``value`` is a list of JSON objects."""
    return type(value) is list and all(type(item) is dict for item in value)


def _error_message(error: Any) -> str:
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])[:_EXCERPT]
    return str(error)[:_EXCERPT]


def _unusable(
    data: Any,
    what: str,
    provider: str | None,
    model: str | None,
    *,
    over_http: bool = True,
    hint: str = _CHECK_BASE,
) -> APIError:
    excerpt = orjson.dumps(data)[:_EXCERPT].decode("utf-8", "replace")
    where = "/".join(part for part in (provider, model) if part) or "the provider"
    verb = "answered HTTP 200 with" if over_http else "returned"
    return APIError(
        f"{where} {verb} {what} (the reply began: {excerpt}).{hint}",
        status_code=200 if over_http else None,
        body=excerpt,
        provider=provider,
        model=model,
    )
