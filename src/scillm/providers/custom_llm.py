"""Third-party providers: litellm-style ``CustomLLM`` handlers, and the reply check every
provider registered from outside gets.

A handler (an object or class with ``completion``/``acompletion`` and optionally
``streaming``/``astreaming`` methods, as litellm's ``CustomLLM``) is called with litellm's
keyword arguments: ``model``, ``messages``, ``optional_params`` (the OpenAI parameters plus
``extra_body``), ``api_base``, ``api_key``, ``headers``, ``timeout``, ``model_response``,
``acompletion``, ``litellm_params``, ``custom_prompt_dict``, ``print_verbose``, ``logger_fn``,
``encoding``, ``logging_obj``, ``client`` (the last four are None) — only those a method names,
unless it takes ``**kwargs``. ``async def`` methods run on the event loop, plain ones in a worker
thread; a method inherited unchanged from litellm's ``CustomLLM`` base counts as missing.
``timeout`` bounds the call (a stream: until the handler hands over its iterator); a plain
method still running then is left to finish in its thread.

Its reply may be a dict, a :class:`ChatCompletion`, or an object with ``model_dump()``,
``dict()`` or ``json()`` (a litellm ``ModelResponse``); anything else is an :class:`APIError`
naming the provider. Exceptions become scillm's: one with an integer ``status_code`` (litellm's
``CustomLLMError``) maps like that HTTP status (429 → RateLimitError, retried by the Router).
"""

from __future__ import annotations

import asyncio
import builtins
import inspect
import logging
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import orjson

from scillm.errors import (
    APIError,
    BadRequestError,
    ConnectionError,
    ScillmError,
    TimeoutError,
    error_from_response,
)
from scillm.providers.base import Call, Provider
from scillm.providers.openai_compat import to_completion
from scillm.types import ChatCompletion, ChatCompletionChunk

__all__ = ["CheckedProvider", "CustomLLMProvider", "as_completion"]

log = logging.getLogger("scillm.providers")

_DONE = object()


def _describe(value: object) -> str:
    return f"{type(value).__name__} {str(value)[:80]!r}" if value is not None else "None"


def as_completion(result: object, provider: str, method: str) -> ChatCompletion:
    """``result`` as a ChatCompletion, or an APIError saying what ``provider`` returned."""
    if isinstance(result, ChatCompletion):
        return result
    data: object = result
    if not isinstance(data, Mapping):
        for name in ("model_dump", "dict", "json"):
            convert = getattr(result, name, None)
            if callable(convert):
                try:
                    data = convert()
                    if isinstance(data, str | bytes):
                        data = orjson.loads(data)
                except Exception:
                    continue
                break
    if not isinstance(data, Mapping):
        raise APIError(
            f"provider {provider!r} returned {_describe(result)} from {method}(); it must return "
            "the reply: a dict in the chat.completion shape, a ChatCompletion, or an object "
            "with model_dump()/dict()/json() (a litellm ModelResponse)",
            provider=provider,
        )
    return to_completion(dict(data), provider=provider)


class CheckedProvider:
    """A provider registered from outside, with its replies checked.

    ``acompletion`` must return the reply (a Mapping becomes a ChatCompletion); ``astream``
    an async iterator. Every other attribute (``name``, ``accepts``, ...) is the provider's own,
    except ``honours_timeout``: only scillm's own providers are trusted to end calls by
    ``Call.timeout``, so an outside one always runs inside the Router's deadline guard.
    """

    honours_timeout = False

    def __init__(self, provider: Provider, name: str) -> None:
        self.provider = provider
        self.name: str = getattr(provider, "name", None) or name

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.provider, attr)

    async def acompletion(self, call: Call) -> ChatCompletion:
        return as_completion(await self.provider.acompletion(call), self.name, "acompletion")

    async def astream(self, call: Call) -> AsyncIterator[ChatCompletionChunk]:
        stream = await self.provider.astream(call)
        if not hasattr(stream, "__aiter__"):
            raise APIError(
                f"provider {self.name!r} returned {_describe(stream)} from astream(); it must "
                "return an async iterator of chunks",
                provider=self.name,
            )
        return stream


def _own(handler: object, name: str) -> Callable[..., Any] | None:
    """The handler's method ``name``, unless missing or litellm's not-implemented base."""
    method = getattr(handler, name, None)
    if not callable(method):
        return None
    qualname = getattr(getattr(method, "__func__", method), "__qualname__", "")
    return None if qualname == f"CustomLLM.{name}" else method


def _accepted(method: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword names ``method`` takes (None: it takes ``**kwargs``, so all of them)."""
    params = inspect.signature(method).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return frozenset(p.name for p in params)


def _print_verbose(*args: Any, **_kwargs: Any) -> None:
    log.debug(" ".join(str(a) for a in args))


class CustomLLMProvider:
    """A litellm ``CustomLLM``-style handler as a scillm provider named ``name``."""

    def __init__(self, name: str, handler: object) -> None:
        self.name = name
        self.handler = handler
        complete = _own(handler, "acompletion") or _own(handler, "completion")
        if complete is None:
            raise TypeError(
                f"custom provider {name!r}: {type(handler).__name__} has neither a completion() "
                "nor an acompletion() method; implement one (litellm CustomLLM signature)"
            )
        self._complete = complete
        self._stream = _own(handler, "astreaming") or _own(handler, "streaming")
        self._keywords = {m: _accepted(m) for m in (self._complete, self._stream) if m is not None}

    def _kwargs(self, method: Callable[..., Any], call: Call, stream: bool) -> dict[str, Any]:
        optional = {**call.params, **(call.extra_body or {})}
        if stream:
            optional["stream"] = True
        names = self._keywords[method]
        wants_response = names is None or "model_response" in names
        every = {
            "model": call.model,
            "messages": call.messages,
            "api_base": call.api_base,
            "api_key": call.api_key,
            "optional_params": optional,
            "headers": dict(call.extra_headers or {}),
            "timeout": call.timeout,
            "model_response": _blank_response(call.model) if wants_response else None,
            "acompletion": inspect.iscoroutinefunction(method),
            "litellm_params": {},
            "custom_prompt_dict": {},
            "print_verbose": _print_verbose,
            "logger_fn": None,
            "encoding": None,
            "logging_obj": None,
            "client": None,
        }
        return every if names is None else {k: v for k, v in every.items() if k in names}

    async def _run(self, method: Callable[..., Any], call: Call, stream: bool) -> Any:
        kwargs = self._kwargs(method, call, stream)
        deadline = asyncio.timeout(call.timeout)
        try:
            async with deadline:
                if inspect.iscoroutinefunction(method) or inspect.isasyncgenfunction(method):
                    result = method(**kwargs)
                else:  # a plain method may block: keep it off the event loop
                    result = await asyncio.to_thread(method, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
                return result
        except ScillmError:
            raise
        except builtins.TimeoutError as exc:
            if not deadline.expired():
                raise self._translate(exc, call) from exc
            raise TimeoutError(
                f"custom provider {self.name!r} did not answer within timeout={call.timeout} s"
            ) from None
        except Exception as exc:
            raise self._translate(exc, call) from exc

    def _translate(self, exc: Exception, call: Call) -> ScillmError:
        """A handler's exception as scillm's (the original is chained as its cause)."""
        where = f"custom provider {self.name!r}"
        if isinstance(exc, builtins.ConnectionError):
            return ConnectionError(f"{where}: {exc}")
        if isinstance(exc, builtins.TimeoutError):
            return TimeoutError(f"{where}: {exc}")
        status = getattr(exc, "status_code", None)
        message = str(getattr(exc, "message", None) or exc)
        if isinstance(status, int) and status >= 400:
            headers = getattr(exc, "headers", None)
            return error_from_response(
                status,
                message,
                headers if isinstance(headers, Mapping) else {},
                provider=self.name,
                model=call.model,
            )
        return APIError(
            f"{where} raised {type(exc).__name__}: {message}", provider=self.name, model=call.model
        )

    async def acompletion(self, call: Call) -> ChatCompletion:
        result = await self._run(self._complete, call, stream=False)
        return as_completion(result, self.name, getattr(self._complete, "__name__", "completion"))

    async def astream(self, call: Call) -> AsyncIterator[ChatCompletionChunk]:
        if self._stream is None:
            raise BadRequestError(
                f"custom provider {self.name!r} cannot stream: {type(self.handler).__name__} "
                "has no streaming()/astreaming() method. Call it without stream=True.",
                provider=self.name,
                model=call.model,
            )
        chunks = await self._run(self._stream, call, stream=True)
        if hasattr(chunks, "__aiter__"):
            return self._convert(chunks, call)
        if hasattr(chunks, "__iter__") and not isinstance(chunks, str | bytes | Mapping):
            return self._convert(_threaded(iter(chunks)), call)
        raise APIError(
            f"provider {self.name!r} returned {_describe(chunks)} from streaming(); it must "
            "return an iterator of chunks",
            provider=self.name,
            model=call.model,
        )

    async def _convert(
        self, chunks: AsyncIterator[Any], call: Call
    ) -> AsyncIterator[ChatCompletionChunk]:
        stream_id = f"chatcmpl-{uuid.uuid4().hex}"
        try:
            async for chunk in chunks:
                yield _chunk(chunk, stream_id, call.model, self.name)
        except ScillmError:
            raise
        except Exception as exc:
            raise self._translate(exc, call) from exc
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()


async def _threaded(chunks: Iterator[Any]) -> AsyncIterator[Any]:
    """A sync iterator read in a worker thread, one item at a time."""
    while (item := await asyncio.to_thread(next, chunks, _DONE)) is not _DONE:
        yield item


def _blank_response(model: str) -> Any:
    """What litellm hands a handler to fill in: its ``ModelResponse`` when litellm is already
    imported, else the same shape as a ChatCompletion."""
    litellm = sys.modules.get("litellm")
    if litellm is not None and hasattr(litellm, "ModelResponse"):
        return litellm.ModelResponse(model=model)
    return ChatCompletion(
        {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": None},
                    "finish_reason": "stop",
                }
            ],
        }
    )


def _chunk(chunk: Any, stream_id: str, model: str, provider: str) -> ChatCompletionChunk:
    """A handler's chunk as a ChatCompletionChunk: an OpenAI-shaped chunk is kept whole; a
    litellm ``GenericStreamingChunk`` (text, is_finished, finish_reason, usage, index,
    tool_use) is translated."""
    data: object = chunk
    if not isinstance(data, Mapping):
        dump = getattr(chunk, "model_dump", None)
        data = dump() if callable(dump) else None
    if not isinstance(data, Mapping):
        raise APIError(
            f"provider {provider!r} streamed {_describe(chunk)}; a chunk must be a dict "
            "(OpenAI chunk or litellm GenericStreamingChunk)",
            provider=provider,
            model=model,
        )
    if "choices" in data:
        return ChatCompletionChunk(dict(data))
    delta: dict[str, Any] = {"content": data.get("text") or ""}
    if data.get("tool_use"):
        delta["tool_calls"] = [data["tool_use"]]
    out: dict[str, Any] = {
        "id": stream_id,
        "object": "chat.completion.chunk",
        "model": model,
        "choices": [
            {
                "index": data.get("index") or 0,
                "delta": delta,
                "finish_reason": data.get("finish_reason") if data.get("is_finished") else None,
            }
        ],
    }
    if data.get("usage"):
        out["usage"] = dict(data["usage"])
    return ChatCompletionChunk(out)
