"""``completion`` / ``acompletion``: normalise, resolve the provider, send. Nothing else.

Arguments mean what they mean at every other door (:mod:`scillm._request`): bad input is refused
before any network call. A call that asks for something only the Router's pipeline does —
structured output (``response_format``, ``json_schema=``, ``response_mode``), retries
(``num_retries``, ``retry_*``), ``deterministic``, ``cache`` or retry callbacks — runs through a
process-wide Router with no model list (no retries unless asked, environment retry settings
ignored), so it is validated, retried and stamped exactly as on any Router. Every other call goes
straight to its provider, the fast path.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Literal, overload

from scillm import _sync
from scillm._request import DEFAULT_TIMEOUT_S, Request, call_timeout, default_timeout, normalise
from scillm.providers.base import Call, Provider
from scillm.providers.registry import default_model, resolve
from scillm.router.retry import RetryPolicy
from scillm.router.router import Router
from scillm.types import ChatCompletion, ChatCompletionChunk

__all__ = ["acompletion", "address", "completion"]

Messages = Sequence[Mapping[str, Any]]

_door: Router | None = None
_door_lock = threading.Lock()


def _door_router() -> Router:
    """The Router behind ``completion`` calls that need the pipeline (made on first use)."""
    global _door
    with _door_lock:
        if _door is None:
            _door = Router(retry_policy=RetryPolicy(max_retries=0), image_policy=False)
        return _door


def _timed(req: Request) -> Request:
    """``req`` with its timeout: ``SCILLM_TIMEOUT`` is read per call, as on the fast path."""
    if req.timeout is None:
        req.timeout = default_timeout()
    return req


def address(req: Request) -> tuple[Provider, Call]:
    """The provider of a normalised request and the :class:`Call` to give it."""
    provider, name = resolve(req.model or default_model(), req.custom_llm_provider)
    if req.params:  # without parameters there is nothing to check: no call
        req.check_provider(provider)
    call = Call(  # by position, in field order: matching ten keywords costs 0.3 µs a call
        name,
        req.messages,
        req.params,
        req.api_base,
        req.api_key,
        call_timeout(req.timeout, DEFAULT_TIMEOUT_S),
        req.extra_headers,
        req.extra_body,
        req.follow_redirects,
        req.max_response_bytes,
    )
    return provider, call


@overload
async def acompletion(
    model: str | None = ...,
    messages: Messages | None = ...,
    *,
    stream: Literal[False] = ...,
    **kwargs: Any,
) -> ChatCompletion: ...
@overload
async def acompletion(
    model: str | None = ...,
    messages: Messages | None = ...,
    *,
    stream: Literal[True],
    **kwargs: Any,
) -> AsyncIterator[ChatCompletionChunk]: ...
async def acompletion(
    model: str | None = None,
    messages: Messages | None = None,
    *,
    stream: bool = False,
    **kwargs: Any,
) -> ChatCompletion | AsyncIterator[ChatCompletionChunk]:
    """Chat completion (async). ``stream=True`` returns an async iterator of chunks.

        resp = await scillm.acompletion("local/smollm2", [{"role": "user", "content": "Hi"}])
        print(resp.choices[0].message.content)

    ``model`` is ``"<provider>/<model>"`` (see README); ``base_url`` is an alias of ``api_base``;
    ``timeout`` (seconds, default ``SCILLM_TIMEOUT`` or 600) bounds the whole request.
    """
    req = normalise(model, messages, kwargs, stream=stream)
    if req.needs_pipeline:
        result: ChatCompletion | AsyncIterator[ChatCompletionChunk]
        result = await _door_router().arun(_timed(req))
        return result
    provider, call = address(req)
    if stream:
        return await provider.astream(call)
    return await provider.acompletion(call)


@overload
def completion(
    model: str | None = ...,
    messages: Messages | None = ...,
    *,
    stream: Literal[False] = ...,
    **kwargs: Any,
) -> ChatCompletion: ...
@overload
def completion(
    model: str | None = ...,
    messages: Messages | None = ...,
    *,
    stream: Literal[True],
    **kwargs: Any,
) -> Iterator[ChatCompletionChunk]: ...
def completion(
    model: str | None = None,
    messages: Messages | None = None,
    *,
    stream: bool = False,
    **kwargs: Any,
) -> ChatCompletion | Iterator[ChatCompletionChunk]:
    """Chat completion (sync twin of :func:`acompletion`, same arguments).

    Runs on scillm's background event loop, so it also works inside Jupyter's running loop.
    ``stream=True`` returns an iterator of chunks (``close()`` it to stop early).
    """
    req = normalise(model, messages, kwargs, stream=stream)
    if req.needs_pipeline:
        router = _door_router()
        if stream:
            return _sync.SyncIterator(_sync.run(router.arun(_timed(req))))
        reply: ChatCompletion = _sync.run(router.arun(_timed(req)))
        return reply
    provider, call = address(req)
    if stream:
        return _sync.SyncIterator(_sync.run(provider.astream(call)))
    return _sync.run(provider.acompletion(call))
