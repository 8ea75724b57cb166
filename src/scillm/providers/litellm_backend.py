"""The litellm backend, for providers scillm does not speak natively (``scillm[litellm]`` extra).

litellm is imported on first use, in a worker thread (it takes seconds), with its remote cost-map
fetch, debug banner and retries off: scillm does its own retries. Its exceptions are translated
into scillm's in :func:`_translate`, the one place that knows litellm's error classes.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

from scillm.errors import (
    APIError,
    ConnectionError,
    EngineUnavailable,
    ScillmError,
    TimeoutError,
    error_from_response,
)
from scillm.providers.base import Call
from scillm.types import ChatCompletion, ChatCompletionChunk

__all__ = ["LitellmBackend", "litellm_installed"]

INSTALL_HINT = "pip install 'scillm[litellm]' (or: uv sync --extra litellm)"

_import_lock = threading.Lock()


def litellm_installed() -> bool:
    """Whether the optional litellm backend can be imported (without importing it)."""
    return importlib.util.find_spec("litellm") is not None


def _import_litellm() -> ModuleType:
    with _import_lock:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        try:
            import litellm
        except ImportError as exc:
            raise EngineUnavailable(
                f"the litellm backend is not installed: {INSTALL_HINT}"
            ) from exc
        litellm.suppress_debug_info = True
        return litellm


class LitellmBackend:
    """Delegates a call to ``litellm.acompletion`` with the full litellm model string."""

    name = "litellm"

    async def _send(self, call: Call, stream: bool) -> Any:
        litellm = await asyncio.to_thread(_import_litellm)
        kwargs: dict[str, Any] = dict(call.params)
        if call.extra_body:
            kwargs["extra_body"] = call.extra_body
        if call.extra_headers:
            kwargs["extra_headers"] = call.extra_headers
        try:
            return await litellm.acompletion(
                model=call.model,
                messages=call.messages,
                api_base=call.api_base,
                api_key=call.api_key,
                timeout=call.timeout,
                stream=stream,
                num_retries=0,
                max_retries=0,
                **kwargs,
            )
        except ScillmError:
            raise
        except Exception as exc:
            raise _translate(exc, call.model) from exc

    async def acompletion(self, call: Call) -> ChatCompletion:
        """Complete through litellm; the reply is converted losslessly to a plain dict."""
        reply = await self._send(call, stream=False)
        return ChatCompletion(reply.model_dump())

    async def astream(self, call: Call) -> AsyncIterator[ChatCompletionChunk]:
        """Stream through litellm."""
        stream = await self._send(call, stream=True)
        return _chunks(stream, call.model)


async def _chunks(stream: Any, model: str) -> AsyncIterator[ChatCompletionChunk]:
    try:
        async for chunk in stream:
            yield ChatCompletionChunk(chunk.model_dump())
    except ScillmError:
        raise
    except Exception as exc:
        raise _translate(exc, model) from exc


def _translate(exc: Exception, model: str) -> ScillmError:
    """Map a litellm (or openai SDK) exception to scillm's tree, keeping status and headers."""
    name = type(exc).__name__
    if name in ("Timeout", "APITimeoutError"):
        return TimeoutError(f"litellm/{model} timed out: {exc}")
    if name == "APIConnectionError":
        return ConnectionError(f"litellm/{model} could not connect: {exc}")
    status = getattr(exc, "status_code", None)
    response = getattr(exc, "response", None)
    headers = dict(getattr(response, "headers", None) or {})
    message = str(getattr(exc, "message", None) or exc)
    if isinstance(status, int):
        return error_from_response(status, message, headers, provider="litellm", model=model)
    return APIError(f"litellm/{model} failed: {name}: {message}", provider="litellm", model=model)
