"""The aiohttp responses the mock sends: JSON, OpenAI errors, SSE streams and faults."""

from __future__ import annotations

from aiohttp import web

from scillm.testing.faults import Fault, error_body

JSON = "application/json"
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


def json_response(
    status: int, payload: bytes, headers: dict[str, str] | None = None
) -> web.Response:
    """``payload`` (already JSON-encoded) with ``status``."""
    return web.Response(status=status, body=payload, content_type=JSON, headers=headers)


def error(
    status: int, message: str, headers: dict[str, str] | None = None, *, kind: str | None = None
) -> web.Response:
    """An OpenAI-shaped error response."""
    return json_response(status, error_body(status, message, kind), headers)


async def stream(
    request: web.Request, parts: list[bytes], headers: dict[str, str]
) -> web.StreamResponse:
    """Send ``parts`` (SSE events) one write each, as a real server streams them."""
    response = web.StreamResponse(headers=headers)
    await response.prepare(request)
    for part in parts:
        await response.write(part)
    return response


async def cut(
    request: web.Request, parts: list[bytes], headers: dict[str, str]
) -> web.StreamResponse:
    """Send about half of the reply, then close the socket."""
    response = web.StreamResponse(headers=headers)
    if len(parts) > 1:  # SSE events: whole events, then silence
        sent = b"".join(parts[: len(parts) // 2])
    else:  # one JSON body: a Content-Length the payload never reaches
        payload = b"".join(parts)
        sent = payload[: len(payload) // 2]
        response.content_length = len(payload)
    await response.prepare(request)
    await response.write(sent)
    _close(request)
    return response


async def fault_response(request: web.Request, fault: Fault, streamed: bool) -> web.StreamResponse:
    """Serve an ``http``, ``malformed_json`` or ``drop_connection`` fault."""
    if fault.kind == "http":
        return web.Response(status=fault.status, body=fault.body, headers=fault.headers)
    if fault.kind == "malformed_json":
        if streamed:
            return await stream(request, [b"data: " + fault.body + b"\n\n"], SSE_HEADERS)
        return json_response(200, fault.body)
    _close(request)
    return web.Response()  # aiohttp fails quietly to write it to the closed socket


def _close(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()
