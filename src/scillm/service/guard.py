"""The door of every service (pure ASGI, so it costs little): who may ask, and with what body.

In order, before any route runs:

1. ``Host`` must name the bound host, a loopback name, or one of ``allowed_hosts`` (a page in
   the user's browser that rebinds its DNS name to 127.0.0.1 sends its own name): else 400.
   Bound to ``0.0.0.0``/``::`` without ``allowed_hosts``, any Host passes (a token is required).
2. A browser's ``Origin`` must be the service itself or one of ``cors_origins``: else 403.
3. The bearer token, when one is set, on every path but the open ones (``/healthz``): else 401.
4. A body (POST/PUT/PATCH) must say ``Content-Type: application/json`` (or ``…+json``): a
   cross-site form or ``text/plain`` post is a "simple" request browsers send without asking:
   else 415.
5. The body may be at most ``max_body_bytes``: a larger ``Content-Length`` gets 413 before
   anything is read; a chunked body is cut off, and answered 413, as soon as it passes the cap.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from scillm.service.config import ServiceConfig, is_loopback
from scillm.service.errors import error_body

__all__ = ["OPEN_PATHS", "Guard"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = frozenset({"/healthz"})
"""Paths served without the token: health checks by supervisors and compose."""
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})


class _TooLarge(Exception):
    pass


class Guard:
    """ASGI middleware enforcing a :class:`ServiceConfig` (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, config: ServiceConfig, open_paths: frozenset[str] = OPEN_PATHS
    ) -> None:
        self.app, self.config, self.open_paths = app, config, open_paths
        bound = config.host.strip("[]").lower()
        self.any_host = bound in WILDCARD_HOSTS and not config.allowed_hosts
        self.hosts = frozenset(
            {bound, "localhost", "127.0.0.1", "::1"} | {h.lower() for h in config.allowed_hosts}
        )
        self.origins = frozenset(o.rstrip("/").lower() for o in config.cors_origins)
        self.token = config.token.encode() if config.token else None
        self.cap = config.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = dict(scope["headers"])
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _reply(send, *refusal)
            return
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        await self._with_capped_body(scope, receive, send)

    def _refusal(
        self, scope: Scope, headers: dict[bytes, bytes]
    ) -> tuple[int, str, str, dict[str, str] | None] | None:
        """(status, message, code, headers) when the request is turned away, else None."""
        host = _hostname(headers.get(b"host", b"").decode("latin-1"))
        if not self.any_host and host not in self.hosts and not is_loopback(host):
            return (
                400,
                f"Host {host!r} is not allowed here (a DNS-rebinding guard): use "
                f"{self.config.host} or localhost, or start the service with --allowed-host "
                f"{host or 'NAME'}",
                "host_not_allowed",
                None,
            )
        origin = headers.get(b"origin")
        if origin is not None and not self._origin_ok(origin.decode("latin-1"), headers):
            return (
                403,
                "cross-origin requests are refused; start the service with --cors-origin "
                "ORIGIN to allow a web page's origin",
                "origin_not_allowed",
                None,
            )
        if self.token is not None and scope["path"] not in self.open_paths:
            scheme, _, given = headers.get(b"authorization", b"").partition(b" ")
            if scheme.lower() != b"bearer" or not hmac.compare_digest(given.strip(), self.token):
                return (
                    401,
                    "missing or wrong bearer token: send 'Authorization: Bearer <token>' "
                    "(the token the service printed at start, or the one it was given)",
                    "invalid_api_key",
                    {"WWW-Authenticate": "Bearer"},
                )
        if scope["method"] in BODY_METHODS:
            kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            if kind != b"application/json" and not kind.endswith(b"+json"):
                return (
                    415,
                    f"Content-Type {kind.decode('latin-1') or '(none)'!r} is not accepted: "
                    "send the body as JSON with 'Content-Type: application/json'",
                    "unsupported_media_type",
                    None,
                )
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.cap):
                return 413, self._too_large(), "request_too_large", None
        return None

    def _origin_ok(self, origin: str, headers: dict[bytes, bytes]) -> bool:
        origin = origin.rstrip("/").lower()
        if origin in self.origins:
            return True
        own = headers.get(b"host", b"").decode("latin-1").lower()
        return origin in (f"http://{own}", f"https://{own}")

    def _too_large(self) -> str:
        return (
            f"the request body is larger than this service's limit of {self.cap:,} bytes; "
            "send less, or start the service with a larger --max-body-bytes"
        )

    async def _with_capped_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        seen = 0
        started = False

        async def capped_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.cap:
                    raise _TooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, capped_receive, watched_send)
        except _TooLarge:
            if not started:
                await _reply(send, 413, self._too_large(), "request_too_large", None)


def _hostname(host: str) -> str:
    """The name in a ``Host`` header, without its port (``[::1]:80`` → ``::1``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


async def _reply(
    send: Send, status: int, message: str, code: str, headers: dict[str, str] | None
) -> None:
    body = orjson.dumps(error_body(message, status, code=code))
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
