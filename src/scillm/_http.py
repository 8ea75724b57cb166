"""The one transport seam: a pooled aiohttp session per event loop, orjson bodies, SSE parsing.

Every byte scillm sends to a provider goes through :func:`post_json` or :func:`post_stream`, and
every transport failure is translated into scillm's errors here and nowhere else.

aiohttp is imported on the first request, keeping ``import scillm`` fast.
A session belongs to the event loop that created it. It is closed when that loop shuts down its
async generators (``asyncio.run`` and ``asyncio.Runner`` do), or explicitly by :func:`aclose`.
"""

from __future__ import annotations

import asyncio
import io
import os
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from scillm.errors import (
    APIError,
    ConnectionError,
    TimeoutError,
    error_from_response,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = ["Endpoint", "aclose", "post_json", "post_stream", "session"]

DEFAULT_MAX_CONNECTIONS = 512
_BODY_EXCERPT = 300
_LARGE_BODY = 1 << 20  # aiohttp warns about raw bodies from this size on

_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
    weakref.WeakKeyDictionary()
)
_keepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncIterator[None]] = (
    weakref.WeakKeyDictionary()
)


class Endpoint:
    """Where a request goes and who it says it is (for error messages)."""

    __slots__ = ("headers", "provider", "url")

    def __init__(self, url: str, headers: Mapping[str, str], provider: str) -> None:
        self.url = url
        self.headers = dict(headers)
        self.provider = provider


async def _close_with_loop(sess: aiohttp.ClientSession) -> AsyncIterator[None]:
    """An async generator whose ``finally`` closes the session when its loop shuts down."""
    try:
        yield
    finally:
        await sess.close()


async def session() -> aiohttp.ClientSession:
    """The pooled session of the running event loop (created on first use)."""
    loop = asyncio.get_running_loop()
    sess = _sessions.get(loop)
    if sess is None or sess.closed:
        import aiohttp

        limit = int(os.environ.get("SCILLM_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS))
        connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0, ttl_dns_cache=300)
        sess = aiohttp.ClientSession(connector=connector, skip_auto_headers=("User-Agent",))
        _sessions[loop] = sess
        keeper = _close_with_loop(sess)
        await keeper.__anext__()
        _keepers[loop] = keeper
    return sess


async def aclose() -> None:
    """Close the running loop's pooled session (a new one is made on the next request)."""
    loop = asyncio.get_running_loop()
    sess = _sessions.pop(loop, None)
    _keepers.pop(loop, None)
    if sess is not None:
        await sess.close()


def _timeout(seconds: float | None) -> aiohttp.ClientTimeout:
    import aiohttp

    return aiohttp.ClientTimeout(total=seconds)


def _payload(body: Mapping[str, Any]) -> bytes | io.BytesIO:
    """The encoded body; large ones (inline images) as a stream so the event loop is not held."""
    data = orjson.dumps(body)
    return io.BytesIO(data) if len(data) >= _LARGE_BODY else data


def _excerpt(raw: bytes) -> str:
    return raw[:_BODY_EXCERPT].decode("utf-8", "replace")


async def post_json(
    endpoint: Endpoint, body: Mapping[str, Any], *, timeout: float | None, model: str
) -> tuple[dict[str, Any], Mapping[str, str]]:
    """POST ``body`` as JSON; return the decoded JSON object of a 2xx reply and its headers."""
    import aiohttp

    sess = await session()
    try:
        async with sess.post(
            endpoint.url, data=_payload(body), headers=endpoint.headers, timeout=_timeout(timeout)
        ) as resp:
            raw = await resp.read()
            if resp.status >= 400:
                raise _status_error(resp, raw, endpoint, model)
            return _decode_object(raw, resp.status, resp.headers, endpoint, model), resp.headers
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise _transport_error(exc, endpoint, timeout) from exc


def _decode_object(
    raw: bytes, status: int, headers: Mapping[str, str], endpoint: Endpoint, model: str
) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise APIError(
            f"{endpoint.provider} replied to {endpoint.url} with a body that is not a JSON "
            f"object (HTTP {status}): {_excerpt(raw)!r}. Check that api_base points at an "
            "OpenAI-compatible server.",
            status_code=status,
            body=_excerpt(raw),
            headers=headers,
            provider=endpoint.provider,
            model=model,
        )
    return data


async def post_stream(
    endpoint: Endpoint, body: Mapping[str, Any], *, timeout: float | None, model: str
) -> AsyncGenerator[dict[str, Any], None]:
    """POST ``body`` and return an iterator over the JSON events of the SSE reply.

    The status is checked before this returns, so HTTP errors raise here, not mid-iteration.
    """
    import aiohttp

    sess = await session()
    try:
        resp = await sess.post(
            endpoint.url,
            data=_payload(body),
            headers=endpoint.headers,
            timeout=_timeout(timeout),
        )
        if resp.status >= 400:
            try:
                raw = await resp.read()
            finally:
                resp.release()
            raise _status_error(resp, raw, endpoint, model)
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise _transport_error(exc, endpoint, timeout) from exc
    return _sse_events(resp, endpoint, model, timeout)


def _status_error(
    resp: aiohttp.ClientResponse, raw: bytes, endpoint: Endpoint, model: str
) -> Exception:
    return error_from_response(
        resp.status,
        raw.decode("utf-8", "replace"),
        resp.headers,
        provider=endpoint.provider,
        model=model,
    )


async def _sse_events(
    resp: aiohttp.ClientResponse, endpoint: Endpoint, model: str, timeout: float | None
) -> AsyncGenerator[dict[str, Any], None]:
    """Yield each ``data:`` JSON object until ``[DONE]`` or the end of the body."""
    import aiohttp

    try:
        async for line in resp.content:
            if not line.startswith(b"data:"):
                continue
            payload = line[5:].strip()
            if payload == b"[DONE]":
                return
            if not payload:
                continue
            try:
                event = orjson.loads(payload)
            except orjson.JSONDecodeError:
                raise APIError(
                    f"{endpoint.provider} sent a stream event that is not JSON: "
                    f"{_excerpt(payload)!r}",
                    status_code=resp.status,
                    body=_excerpt(payload),
                    provider=endpoint.provider,
                    model=model,
                ) from None
            if isinstance(event, dict) and "error" in event and "choices" not in event:
                raise APIError(
                    f"{endpoint.provider} reported an error mid-stream: {event['error']}",
                    status_code=resp.status,
                    body=_excerpt(payload),
                    provider=endpoint.provider,
                    model=model,
                )
            yield event
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        raise _transport_error(exc, endpoint, timeout) from exc
    finally:
        resp.release()


def _transport_error(
    exc: BaseException, endpoint: Endpoint, timeout: float | None
) -> TimeoutError | ConnectionError:
    if isinstance(exc, asyncio.TimeoutError):
        return TimeoutError(
            f"{endpoint.provider} did not answer {endpoint.url} within {timeout} s; "
            "raise timeout= or check the server."
        )
    return ConnectionError(
        f"could not talk to {endpoint.provider} at {endpoint.url}: "
        f"{type(exc).__name__}: {exc}. Is the server running and api_base right?"
    )
