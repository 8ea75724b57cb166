"""The one transport seam: a pooled aiohttp session per event loop, orjson bodies, SSE parsing.

Every byte scillm sends to a provider goes through :func:`post_json` or :func:`post_stream`, and
every transport failure is translated into scillm's errors here and nowhere else.

Two limits keep a misbehaving server from hurting the caller:

* **Reply size.** At most ``max_response_bytes`` (per call, else ``SCILLM_MAX_RESPONSE_BYTES``,
  else :data:`DEFAULT_MAX_RESPONSE_BYTES` = 64 MiB) are read of a reply: a JSON body, a whole SSE
  stream, or an error body. A declared ``Content-Length`` over the cap is refused before reading;
  otherwise the bytes are counted as they arrive. Past the cap the connection is closed and an
  :class:`~scillm.errors.APIError` says so (an error reply keeps its status class, with the
  start of its body).
* **Redirects.** aiohttp's automatic redirects are off. A redirect is followed (at most
  :data:`MAX_REDIRECTS` hops; 307/308 keep the method and body, 301/302/303 become a GET) only
  while it stays on the origin (scheme, host, port) of the request, unless ``follow_redirects``
  (per call, else ``SCILLM_FOLLOW_REDIRECTS``) allows other origins — which then never receive
  the ``Authorization`` or any other caller header. Otherwise the prompt is not sent anywhere
  the caller did not name, and an :class:`~scillm.errors.APIError` names the ``Location``.

aiohttp is imported on the first request, keeping ``import scillm`` fast.
A session belongs to the event loop that created it. It is closed when that loop shuts down its
async generators (``asyncio.run`` and ``asyncio.Runner`` do), or explicitly by :func:`aclose`.
"""

from __future__ import annotations

import asyncio
import functools
import io
import math
import re
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Mapping
from typing import TYPE_CHECKING, Any

import orjson

from scillm._config import env_int, reader, setting
from scillm._version import __version__
from scillm.errors import (
    APIError,
    BadRequestError,
    ConnectionError,
    ScillmError,
    TimeoutError,
    error_from_response,
)

if TYPE_CHECKING:
    import aiohttp
    from yarl import URL

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "MAX_REDIRECTS",
    "USER_AGENT",
    "Endpoint",
    "aclose",
    "post_json",
    "post_stream",
    "session",
]

DEFAULT_MAX_CONNECTIONS = 512
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""Generous for any chat reply (a 100k-token stream is ~20 MB) yet far from exhausting memory."""
MAX_REDIRECTS = 5
USER_AGENT = f"scillm/{__version__}"
"""Sent unless the caller's headers name a ``User-Agent`` of their own."""
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_CROSS_ORIGIN_HEADERS = frozenset({"content-type"})
"""The only request headers a redirect to another origin may carry."""
_BODY_EXCERPT = 300
_HEAD = 4096
"""What is kept of an error body over the cap: enough for its message."""
_LARGE_BODY = 1 << 20  # aiohttp warns about raw bodies from this size on
_RAISE_CAP = "raise it with max_response_bytes=... or SCILLM_MAX_RESPONSE_BYTES"
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
"""Characters HTTP headers cannot carry (aiohttp refuses them after taking a connection)."""

_KEPT_TIMEOUTS = 16
_timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession] = (
    weakref.WeakKeyDictionary()
)
_keepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncIterator[None]] = (
    weakref.WeakKeyDictionary()
)
_last: tuple[weakref.ref[asyncio.AbstractEventLoop], aiohttp.ClientSession] | None = None
"""The loop and session of the latest lookup: a request on the same loop finds its session by
calling a weak reference, where ``_sessions`` would make a new one for the lookup."""


class Endpoint:
    """Where a request goes, who it says it is (for error messages), and its transport limits.

    The headers get ``User-Agent: scillm/<version>`` unless they carry one already (any case):
    set once here, it spares aiohttp from merging its own default into every request. They are
    kept as a read-only ``CIMultiDictProxy``, the form aiohttp turns every request's headers
    into, so that is done once per endpoint rather than once per request.

    ``follow_redirects`` and ``max_response_bytes`` left None are read from the environment
    (``SCILLM_FOLLOW_REDIRECTS``, ``SCILLM_MAX_RESPONSE_BYTES``) at request time. A URL that is
    not http(s), and headers that are not strings or hold a line break or other control
    character, are refused here, before any connection is taken.
    """

    __slots__ = ("follow_redirects", "headers", "max_response_bytes", "provider", "url")

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        provider: str,
        *,
        follow_redirects: bool | None = None,
        max_response_bytes: int | None = None,
    ) -> None:
        if not url[:8].lower().startswith(("http://", "https://")):
            raise BadRequestError(
                f"{provider} URL {url!r} is not http(s); set api_base to a URL such as "
                "http://localhost:8000/v1.",
                provider=provider,
            )
        from multidict import CIMultiDict, CIMultiDictProxy

        self.url = url
        given = dict(headers)
        if not any(type(k) is str and k.lower() == "user-agent" for k in given):
            given["User-Agent"] = USER_AGENT
        self.provider = provider
        try:  # one pass over all names and values
            text = "".join(given) + "".join(given.values())
            unsafe = _CONTROL.search(text) is not None
        except TypeError:
            unsafe = True
        if unsafe:
            raise _bad_header(given, provider)
        self.headers: Mapping[str, str] = CIMultiDictProxy(CIMultiDict(given))
        if max_response_bytes is not None:
            _check_cap(max_response_bytes, provider, None)
        self.follow_redirects = follow_redirects
        self.max_response_bytes = max_response_bytes

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the arguments it is made from (a headers proxy cannot be pickled)."""
        make = functools.partial(
            Endpoint,
            follow_redirects=self.follow_redirects,
            max_response_bytes=self.max_response_bytes,
        )
        return make, (self.url, dict(self.headers), self.provider)


def _bad_header(headers: Mapping[str, str], provider: str) -> BadRequestError:
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            return BadRequestError(
                f"header {name!r} must be a string name with a string value; check extra_headers.",
                provider=provider,
            )
        if _CONTROL.search(name) or _CONTROL.search(value):
            break
    return BadRequestError(
        f"header {name!r} holds a line break or another control character, which HTTP headers "
        "cannot carry; check api_key (a trailing newline from a file?) and extra_headers.",
        provider=provider,
    )


async def _close_with_loop(
    loop: asyncio.AbstractEventLoop, sess: aiohttp.ClientSession
) -> AsyncIterator[None]:
    """An async generator whose ``finally`` closes the session when its loop shuts down, and
    forgets it: the session holds its loop, so a kept entry would keep every finished loop."""
    global _last
    try:
        yield
    finally:
        if _sessions.get(loop) is sess:
            del _sessions[loop]
            _keepers.pop(loop, None)
        if _last is not None and _last[1] is sess:
            _last = None
        await sess.close()


def _pooled() -> aiohttp.ClientSession | None:
    """The running loop's open pooled session, if it has one (a request's path: no await)."""
    global _last
    loop = asyncio.get_running_loop()
    last = _last
    if last is not None and last[0]() is loop:
        sess: aiohttp.ClientSession | None = last[1]
    else:
        sess = _sessions.get(loop)
        if sess is not None:
            _last = (weakref.ref(loop), sess)
    return None if sess is None or sess.closed else sess


async def session() -> aiohttp.ClientSession:
    """The pooled session of the running event loop (created on first use)."""
    global _last
    sess = _pooled()
    if sess is None:
        import aiohttp

        loop = asyncio.get_running_loop()
        limit = env_int(DEFAULT_MAX_CONNECTIONS, "SCILLM_MAX_CONNECTIONS")
        connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0, ttl_dns_cache=300)
        sess = aiohttp.ClientSession(connector=connector)
        _sessions[loop] = sess
        _last = (weakref.ref(loop), sess)
        keeper = _close_with_loop(loop, sess)
        await keeper.__anext__()
        _keepers[loop] = keeper
    return sess


async def aclose() -> None:
    """Close the running loop's pooled session (a new one is made on the next request)."""
    global _last
    loop = asyncio.get_running_loop()
    sess = _sessions.pop(loop, None)
    _keepers.pop(loop, None)
    _last = None
    if sess is not None:
        await sess.close()


def _timeout(seconds: float | None) -> aiohttp.ClientTimeout:
    """``seconds`` for the whole exchange, body included, never rounded up to a whole second
    (aiohttp rounds long timeouts by default): a call's deadline is kept to the millisecond.

    The few usual values (a default, a configured timeout) are made once. For that, ``seconds``
    is cut down to whole milliseconds (never later, at most 1 ms sooner): a Router's attempt is
    given its call's time left, a hair under the call's timeout, which then maps to the same
    value call after call instead of a new ``ClientTimeout`` each time."""
    if seconds is not None and seconds >= 0.001:
        seconds = math.floor(seconds * 1000) / 1000
    made = _timeouts.get(seconds)
    if made is None:
        import aiohttp

        made = aiohttp.ClientTimeout(total=seconds, ceil_threshold=math.inf)
        if len(_timeouts) >= _KEPT_TIMEOUTS:  # a Router's time-left values never repeat
            _timeouts.clear()
        _timeouts[seconds] = made
    return made


def _unencodable(exc: TypeError, endpoint: Endpoint, model: str) -> BadRequestError:
    return BadRequestError(
        f"the request to {endpoint.provider} cannot be sent as JSON: {exc}. Pass only "
        "JSON values (str, numbers, bools, None, lists, dicts) in messages and parameters.",
        provider=endpoint.provider,
        model=model,
    )


def _payload(data: bytes) -> bytes | io.BytesIO:
    """The encoded body; large ones (inline images) as a stream so the event loop is not held."""
    return io.BytesIO(data) if len(data) >= _LARGE_BODY else data


def _error(
    endpoint: Endpoint,
    model: str,
    message: str,
    status: int | None,
    *,
    headers: Mapping[str, str] | None = None,
    body: str = "",
) -> APIError:
    """An :class:`APIError` about a reply (or a redirect) from ``endpoint``."""
    return APIError(
        message,
        status_code=status,
        body=body,
        headers=headers,
        provider=endpoint.provider,
        model=model,
    )


def _excerpt(raw: bytes) -> str:
    return raw[:_BODY_EXCERPT].decode("utf-8", "replace")


_read_cap = reader(int, "SCILLM_MAX_RESPONSE_BYTES")


def _env_cap(endpoint: Endpoint, model: str) -> int:
    """The reply cap of an endpoint without its own: ``SCILLM_MAX_RESPONSE_BYTES`` or the default.

    Requests read it as ``endpoint.max_response_bytes or _env_cap(...)``: an endpoint's own cap
    was checked when the endpoint was made, so a request that has one makes no call for it.
    """
    try:
        cap = _read_cap(None, DEFAULT_MAX_RESPONSE_BYTES)
    except ValueError as exc:  # a malformed environment value
        raise BadRequestError(str(exc), provider=endpoint.provider, model=model) from None
    return _check_cap(cap, endpoint.provider, model)


def _check_cap(cap: object, provider: str, model: str | None) -> int:
    if type(cap) is not int or cap <= 0:
        raise BadRequestError(
            f"max_response_bytes (or SCILLM_MAX_RESPONSE_BYTES) must be a positive number of "
            f"bytes, got {cap!r}; e.g. {DEFAULT_MAX_RESPONSE_BYTES} (64 MiB, the default).",
            provider=provider,
            model=model,
        )
    return cap


def _anywhere(endpoint: Endpoint, model: str) -> bool:
    """Whether redirects may leave the origin (read only when a redirect comes).

    A malformed environment value is a BadRequestError, as for the reply cap.
    """
    try:
        return setting(endpoint.follow_redirects, False, bool, "SCILLM_FOLLOW_REDIRECTS")
    except ValueError as exc:  # a malformed environment value
        raise BadRequestError(str(exc), provider=endpoint.provider, model=model) from None


async def post_json(
    endpoint: Endpoint, body: Mapping[str, Any], *, timeout: float | None, model: str
) -> tuple[dict[str, Any], Mapping[str, str]]:
    """POST ``body`` as JSON; return the decoded JSON object of a 2xx reply and its headers."""
    cap = endpoint.max_response_bytes or _env_cap(endpoint, model)
    try:
        data = orjson.dumps(body)
    except TypeError as exc:  # orjson.JSONEncodeError
        raise _unencodable(exc, endpoint, model) from None
    sess = _pooled() or await session()
    try:
        started = time.monotonic()
        resp = await _post(sess, endpoint, data, timeout)
        if resp.status in _REDIRECTS:
            resp = await _follow(sess, resp, endpoint, data, _deadline(started, timeout), model)
        async with resp:
            size = resp.content_length
            if size is not None and size <= cap and "Content-Encoding" not in resp.headers:
                raw, whole = await resp.read(), True  # _read's first case, without its coroutine
            else:
                raw, whole = await _read(resp, cap)
            if resp.status >= 400:
                raise _status_error(resp, raw, endpoint, model, None if whole else cap)
            if not whole:
                raise _too_large(resp, cap, endpoint, model)
            try:
                reply = orjson.loads(raw)
            except orjson.JSONDecodeError:
                reply = None
            if type(reply) is not dict:
                raise _not_object(raw, resp.status, resp.headers, endpoint, model)
            return reply, resp.headers
    except _failures() as exc:
        raise _transport_error(exc, endpoint, timeout, model) from exc


def _post(
    sess: aiohttp.ClientSession, endpoint: Endpoint, data: bytes, timeout: float | None
) -> Awaitable[aiohttp.ClientResponse]:
    """The POST of ``data`` to be awaited (no coroutine of scillm's own around aiohttp's).

    A redirect comes back as it is: the caller passes it to :func:`_follow`.
    """
    return sess.post(
        endpoint.url,
        data=data if len(data) < _LARGE_BODY else _payload(data),
        headers=endpoint.headers,
        timeout=_timeout(timeout),
        allow_redirects=False,
    )


def _deadline(started: float, timeout: float | None) -> float | None:
    """When a request sent at ``started`` (``time.monotonic()``) runs out of time."""
    return None if timeout is None else started + timeout


async def _follow(
    sess: aiohttp.ClientSession,
    resp: aiohttp.ClientResponse,
    endpoint: Endpoint,
    data: bytes,
    deadline: float | None,
    model: str,
) -> aiohttp.ClientResponse:
    """Follow ``resp``'s redirects while the rules in the module docstring allow them.

    Every hop shares the request's ``timeout``, ending at ``deadline`` (``time.monotonic()``).
    """
    from yarl import URL

    anywhere = _anywhere(endpoint, model)
    origin = _origin(resp.url)
    method, body, headers = "POST", data, endpoint.headers
    for _ in range(MAX_REDIRECTS):
        status, location = resp.status, resp.headers.get("Location")
        resp.release()  # a redirect's body is not read; an unread one closes the connection
        try:
            target = resp.url.join(URL(location or ""))
        except ValueError:
            target = resp.url
        if not location or target.host is None:
            raise _bad_redirect(status, location, resp.url, endpoint, model)
        if _origin(target) != origin:
            if not anywhere:
                raise _refused_redirect(status, target, endpoint, model)
            headers = {k: v for k, v in headers.items() if k.lower() in _CROSS_ORIGIN_HEADERS}
        if status in (301, 302, 303) and method == "POST":
            method, body = "GET", b""
            headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        left = None if deadline is None else max(deadline - time.monotonic(), 0.001)
        resp = await sess.request(
            method,
            target,
            data=_payload(body) if body else None,
            headers=headers,
            timeout=_timeout(left),
            allow_redirects=False,
        )
        if resp.status not in _REDIRECTS:
            return resp
    resp.release()
    raise _error(
        endpoint,
        model,
        f"{endpoint.provider} redirected {endpoint.url} more than {MAX_REDIRECTS} times (last "
        f"to {resp.headers.get('Location')!r}); point api_base at the final URL.",
        resp.status,
        headers=resp.headers,
    )


def _origin(url: URL) -> tuple[str, str | None, int | None]:
    return url.scheme, url.host, url.port


def _bad_redirect(
    status: int, location: str | None, url: URL, endpoint: Endpoint, model: str
) -> APIError:
    return _error(
        endpoint,
        model,
        f"{endpoint.provider} answered {url} with HTTP {status}, a redirect without a usable "
        f"Location ({location!r}); check api_base.",
        status,
    )


def _refused_redirect(status: int, target: URL, endpoint: Endpoint, model: str) -> APIError:
    return _error(
        endpoint,
        model,
        f"{endpoint.provider} redirected {endpoint.url} (HTTP {status}) to another origin, "
        f"{target}; scillm does not send your request to a host you did not name. Point "
        "api_base at the new URL, or allow it with follow_redirects=True (or "
        "SCILLM_FOLLOW_REDIRECTS=1: the Authorization and other headers are then not sent there).",
        status,
    )


async def _read(resp: aiohttp.ClientResponse, cap: int) -> tuple[bytes, bool]:
    """The reply body and True, or its first bytes (for an error message) and False when it
    exceeds ``cap``. A body over the cap closes the connection (it is never pooled half-read).
    """
    size = resp.content_length
    if size is not None:
        if size > cap:
            resp.close()
            return b"", False
        if "Content-Encoding" not in resp.headers:  # what is read is what was declared
            return await resp.read(), True
    parts: list[bytes] = []
    received = 0
    async for chunk in resp.content.iter_any():
        received += len(chunk)
        parts.append(chunk)
        if received > cap:
            resp.close()
            return _head(parts), False
    return b"".join(parts), True


def _head(parts: list[bytes]) -> bytes:
    """The first ``_HEAD`` bytes of ``parts``, without joining them all."""
    head = bytearray()
    for part in parts:
        head += part[: _HEAD - len(head)]
        if len(head) >= _HEAD:
            break
    return bytes(head)


def _too_large(resp: aiohttp.ClientResponse, cap: int, endpoint: Endpoint, model: str) -> APIError:
    size = resp.content_length
    declared = f" (Content-Length {size})" if size is not None and size > cap else ""
    return _error(
        endpoint,
        model,
        f"{endpoint.provider} replied to {endpoint.url} with more than {cap} bytes{declared}; "
        f"scillm stopped reading there. If such a reply is expected, {_RAISE_CAP}.",
        resp.status,
        headers=resp.headers,
    )


def _not_object(
    raw: bytes, status: int, headers: Mapping[str, str], endpoint: Endpoint, model: str
) -> APIError:
    return _error(
        endpoint,
        model,
        f"{endpoint.provider} replied to {endpoint.url} with a body that is not a JSON "
        f"object (HTTP {status}): {_excerpt(raw)!r}. Check that api_base points at an "
        "OpenAI-compatible server.",
        status,
        body=_excerpt(raw),
        headers=headers,
    )


async def post_stream(
    endpoint: Endpoint, body: Mapping[str, Any], *, timeout: float | None, model: str
) -> AsyncGenerator[dict[str, Any], None]:
    """POST ``body`` and return an iterator over the JSON events of the SSE reply.

    The status is checked before this returns, so HTTP errors raise here, not mid-iteration.
    """
    cap = endpoint.max_response_bytes or _env_cap(endpoint, model)
    try:
        data = orjson.dumps(body)
    except TypeError as exc:  # orjson.JSONEncodeError
        raise _unencodable(exc, endpoint, model) from None
    sess = _pooled() or await session()
    try:
        started = time.monotonic()
        resp = await _post(sess, endpoint, data, timeout)
        if resp.status in _REDIRECTS:
            resp = await _follow(sess, resp, endpoint, data, _deadline(started, timeout), model)
        if resp.status >= 400:
            try:
                raw, whole = await _read(resp, cap)
            finally:
                resp.release()
            raise _status_error(resp, raw, endpoint, model, None if whole else cap)
        size = resp.content_length
        if size is not None and size > cap:
            resp.close()
            raise _too_large(resp, cap, endpoint, model)
    except _failures() as exc:
        raise _transport_error(exc, endpoint, timeout, model) from exc
    return _sse_events(resp, endpoint, model, timeout, cap)


def _status_error(
    resp: aiohttp.ClientResponse, raw: bytes, endpoint: Endpoint, model: str, cut_at: int | None
) -> Exception:
    err = error_from_response(
        resp.status,
        raw.decode("utf-8", "replace"),
        resp.headers,
        provider=endpoint.provider,
        model=model,
    )
    if cut_at is not None:
        err.message += f" (the error body exceeded {cut_at} bytes; only its start was kept)"
        err.args = (err.message,)
    return err


async def _sse_events(
    resp: aiohttp.ClientResponse,
    endpoint: Endpoint,
    model: str,
    timeout: float | None,
    cap: int,
) -> AsyncGenerator[dict[str, Any], None]:
    """Yield each ``data:`` JSON object until ``[DONE]`` or the end of the body.

    Lines end in LF or CRLF and may be any length up to the reply cap; ``data:`` may omit the
    space; comments and other fields are skipped; the last event needs no newline. An event's
    ``data:`` lines are joined when its first line alone is not JSON; a line that is JSON on its
    own is yielded at once, so servers that omit the blank line between events still stream.
    """
    read, loads, JSONDecodeError = resp.content.readany, orjson.loads, orjson.JSONDecodeError
    received = 0
    partial: list[bytes] = []  # the start of a line whose end has not arrived
    pending: list[bytes] = []  # the data lines of a multi-line event
    ended = False
    try:
        while not ended:
            chunk = await read()
            if not chunk:  # the end: close the last line and the last event
                chunk, ended = b"\n\n", True
            else:
                received += len(chunk)
                if received > cap:
                    resp.close()
                    raise _too_large(resp, cap, endpoint, model)
            lines = chunk.split(b"\n")
            if len(lines) == 1:
                partial.append(chunk)
                continue
            if partial:
                partial.append(lines[0])
                lines[0] = b"".join(partial)
                partial.clear()
            tail = lines.pop()
            if tail:
                partial.append(tail)
            for line in lines:
                if line.startswith(b"data:"):
                    if pending:
                        pending.append(line[5:])
                        continue
                    try:
                        event = loads(line[5:])
                    except JSONDecodeError:
                        payload = line[5:].strip()
                        if payload == b"[DONE]":
                            return
                        if payload:
                            pending.append(payload)
                        continue
                elif pending and not line.strip():
                    event = _joined(pending, resp, endpoint, model)
                else:
                    continue
                if type(event) is not dict or ("error" in event and "choices" not in event):
                    raise _bad_event(event, resp, endpoint, model)
                yield event
    except _failures(sending=False) as exc:
        raise _transport_error(exc, endpoint, timeout, model) from exc
    finally:
        resp.release()


def _joined(
    lines: list[bytes], resp: aiohttp.ClientResponse, endpoint: Endpoint, model: str
) -> Any:
    """The JSON value of a multi-line event's data (``lines`` is emptied)."""
    payload = b"\n".join(lines)
    lines.clear()
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise _error(
            endpoint,
            model,
            f"{endpoint.provider} sent a stream event that is not JSON: {_excerpt(payload)!r}",
            resp.status,
            body=_excerpt(payload),
        ) from None


def _bad_event(
    event: Any, resp: aiohttp.ClientResponse, endpoint: Endpoint, model: str
) -> APIError:
    body = _excerpt(orjson.dumps(event))
    if isinstance(event, dict):
        message = f"{endpoint.provider} reported an error mid-stream: {event['error']}"
    else:
        message = f"{endpoint.provider} sent a stream event that is not a JSON object: {body!r}"
    return _error(endpoint, model, message, resp.status, body=body)


def _failures(*, sending: bool = True) -> tuple[type[Exception], ...]:
    """What :func:`_transport_error` translates: aiohttp's errors and timeouts, and while a
    request is built and sent, the ``ValueError`` aiohttp raises for a request it refuses.

    Named in ``except`` clauses, which evaluate it only when an exception is raised: the
    request's path does not run ``import aiohttp`` (about 0.2 µs) for it.
    """
    import aiohttp

    if sending:
        return aiohttp.ClientError, asyncio.TimeoutError, ValueError
    return aiohttp.ClientError, asyncio.TimeoutError


def _transport_error(
    exc: BaseException, endpoint: Endpoint, timeout: float | None, model: str
) -> ScillmError:
    """A timeout, a bad URL or header (not retried), or a connection failure."""
    import aiohttp

    if isinstance(exc, asyncio.TimeoutError):
        return TimeoutError(
            f"{endpoint.provider} did not answer {endpoint.url} within {timeout} s; "
            "raise timeout= or check the server."
        )
    if isinstance(exc, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        return BadRequestError(
            f"{endpoint.provider}: {exc} is not an http(s) URL scillm can request; check "
            "api_base (e.g. http://localhost:8000/v1).",
            provider=endpoint.provider,
            model=model,
        )
    if not isinstance(exc, aiohttp.ClientError):  # aiohttp refused the request as built
        return BadRequestError(
            f"the request to {endpoint.provider} at {endpoint.url} failed: "
            f"{type(exc).__name__}: {exc}. Check api_base and extra_headers.",
            provider=endpoint.provider,
            model=model,
        )
    return ConnectionError(
        f"could not talk to {endpoint.provider} at {endpoint.url}: "
        f"{type(exc).__name__}: {exc}. Is the server running and api_base right?"
    )
