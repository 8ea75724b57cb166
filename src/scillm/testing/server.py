"""``MockLLMServer``: an OpenAI-compatible LLM server on loopback, for offline tests.

    from scillm.testing import ECHO, Fault, MockLLMServer

    with MockLLMServer(reply="hello") as srv:        # or: async with MockLLMServer() as srv
        srv.enqueue(Fault.rate_limit(retry_after=0.1))
        ...  # point any OpenAI-compatible client at srv.base_url
        assert srv.last_request.body["model"] == "my-model"

The server runs on its own event loop in a daemon thread, so sync code in the test thread
and clients on any other event loop can call it. Endpoints: ``POST /v1/chat/completions``
(and ``/chat/completions``), ``POST /v1/responses`` (and ``/responses``), ``GET /v1/models``,
``GET /health`` (and ``/healthz``), and the Files/Batches APIs (``srv.batches``). Every model,
models and health request is recorded in ``srv.requests``.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import count
from typing import NamedTuple

import orjson
from aiohttp import web

from scillm.testing import _chat, _responses
from scillm.testing import _send as send
from scillm.testing._background import BackgroundServer
from scillm.testing.batches import MockBatches
from scillm.testing.faults import Fault
from scillm.testing.ratelimit import NOMINAL_RATE_LIMIT, Limiter, RateLimit
from scillm.testing.replies import (
    ECHO,
    JSONDict,
    Reply,
    ReplySpec,
    Turn,
    check_reply,
    resolve_reply,
)

__all__ = ["MockLLMServer", "MockStats", "RecordedRequest", "serve"]

MAX_BODY_BYTES = 64 * 1024 * 1024
"""Large enough for base64 images in test prompts."""
MAX_CHOICES = 128
SERVE_MAX_RECORDED = 10_000
"""``serve()`` runs for hours: its request log keeps only this many."""


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One received request; header names lower-cased, ``body`` None unless a JSON object."""

    method: str
    path: str
    headers: dict[str, str]
    body: JSONDict | None
    received_at: float


@dataclass(frozen=True, slots=True)
class MockStats:
    """Counters since start: requests received, 429s served by the rate limiter, faults served."""

    requests: int
    rate_limited: int
    faults: int


class _Wire(NamedTuple):
    prefix: str
    body: Callable[[Reply, Turn], JSONDict]
    events: Callable[[Reply, Turn], Iterator[bytes]]


_CHAT = _Wire("chatcmpl-mock", _chat.completion, _chat.chunks)
_RESPONSES = _Wire("resp_mock", _responses.response, _responses.events)


class MockLLMServer:
    """A scripted OpenAI-compatible server with fault injection; see the module docstring.

    ``reply``: a string, a ``Reply``, ``ECHO`` (the last user message's text), or a function of
    the request body returning a string, a ``Reply`` or a dict sent verbatim as the body. The
    function runs once per request; ``n`` choices repeat its reply. ``latency_s`` (an attribute,
    changeable at any time) delays every model reply, give or take up to ``latency_jitter_s``
    (uniformly). ``rate_limit`` enforces a ``RateLimit``;
    ``x-ratelimit-*`` headers are sent when it is set, or always with ``rate_limit_headers=True``
    (never with False). Token counts are whitespace-separated words. ``max_recorded`` keeps
    only the newest requests in the log (for long-running servers). ``sock``: serve on this
    listening socket instead of binding ``host:port``.
    """

    def __init__(
        self,
        reply: ReplySpec = ECHO,
        *,
        latency_s: float = 0.0,
        latency_jitter_s: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "mock-model",
        rate_limit: RateLimit | None = None,
        rate_limit_headers: bool | None = None,
        max_recorded: int | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        self.latency_s = latency_s
        self.latency_jitter_s = latency_jitter_s
        self._rng = random.Random()
        self.host, self.model = host, model
        self._reply = check_reply(reply)
        enforce = rate_limit is not None
        self._rate_headers = enforce if rate_limit_headers is None else rate_limit_headers
        track = enforce or self._rate_headers
        self._limiter = (
            Limiter(rate_limit or NOMINAL_RATE_LIMIT, enforce=enforce) if track else None
        )
        self._faults: deque[Fault] = deque()
        self._log: deque[RecordedRequest] = deque(maxlen=max_recorded)
        self._lock = threading.Lock()
        self._ids = count(1)
        self._counts = {"requests": 0, "rate_limited": 0, "faults": 0}
        self.batches = MockBatches(self._batch_reply)
        """The Files and Batches APIs (:mod:`scillm.testing.batches`) and their test controls."""
        self._server = BackgroundServer(self._app, host, port, sock)

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> MockLLMServer:
        """Start serving in a background thread; returns once the port is bound."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving (in-flight requests get ``SHUTDOWN_TIMEOUT_S``); a no-op if stopped."""
        self._server.stop()

    def __enter__(self) -> MockLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> MockLLMServer:
        await self._server.astart()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.astop()

    # -- public state -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port (raises RuntimeError when not running)."""
        if self._server.port is None:
            raise RuntimeError("MockLLMServer is not running: use start() or a with-block")
        return self._server.port

    @property
    def url(self) -> str:
        """``http://HOST:PORT``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``, the value OpenAI-compatible clients want."""
        return self.url + "/v1"

    def set_reply(self, reply: ReplySpec) -> None:
        """Change what later requests are answered with."""
        self._reply = check_reply(reply)

    def enqueue(self, *faults: Fault) -> None:
        """Queue one-shot faults; each model request consumes the oldest one."""
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"enqueue() takes Fault objects, got {fault!r}")
        self._faults.extend(faults)

    @property
    def pending_faults(self) -> int:
        """Faults queued but not yet served."""
        return len(self._faults)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    @property
    def last_request(self) -> RecordedRequest:
        """The newest recorded request (LookupError when none was received)."""
        with self._lock:
            if not self._log:
                raise LookupError("MockLLMServer has not received any request yet")
            return self._log[-1]

    def clear(self) -> None:
        """Forget the recorded requests."""
        with self._lock:
            self._log.clear()

    @property
    def stats(self) -> MockStats:
        """A snapshot of the server's counters."""
        return MockStats(**self._counts)

    # -- HTTP ---------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        for prefix in ("/v1", ""):
            app.router.add_post(prefix + "/chat/completions", self._chat_completions)
            app.router.add_post(prefix + "/responses", self._responses)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)
        app.router.add_get("/healthz", self._health)
        self.batches.add_routes(app)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        return app

    async def _record(self, request: web.Request) -> JSONDict | None:
        raw = await request.read()
        try:
            parsed: object = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        body = parsed if isinstance(parsed, dict) else None
        headers = {key.lower(): value for key, value in request.headers.items()}
        entry = RecordedRequest(request.method, request.path, headers, body, time.time())
        with self._lock:
            self._log.append(entry)
            self._counts["requests"] += 1
        return body

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if body is None or not isinstance(body.get("messages"), list):
            return send.error(400, "request body must be a JSON object with a 'messages' list")
        n = body.get("n")
        n = 1 if n is None else n
        if type(n) is not int or not 1 <= n <= MAX_CHOICES:
            return send.error(400, f"'n' must be an integer from 1 to {MAX_CHOICES}, got {n!r}")
        echo, prompt_tokens = _chat.prompt(body["messages"])
        return await self._answer(request, body, _CHAT, echo, prompt_tokens, n)

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        body = await self._record(request)
        if body is None or not isinstance(body.get("input"), str | list):
            return send.error(
                400, "request body must be a JSON object with an 'input' string or list"
            )
        echo, prompt_tokens = _responses.prompt(body)
        return await self._answer(request, body, _RESPONSES, echo, prompt_tokens, 1)

    async def _models(self, request: web.Request) -> web.Response:
        await self._record(request)
        model = {"id": self.model, "object": "model", "created": 0, "owned_by": "scillm-mock"}
        return send.json_response(200, orjson.dumps({"object": "list", "data": [model]}))

    async def _health(self, request: web.Request) -> web.Response:
        await self._record(request)
        return send.json_response(200, b'{"status":"ok"}')

    async def _not_found(self, request: web.Request) -> web.Response:
        await self._record(request)
        return send.error(404, f"mock server has no route for {request.method} {request.path}")

    # -- answering a model request ------------------------------------------------------------

    async def _answer(
        self,
        request: web.Request,
        body: JSONDict,
        wire: _Wire,
        echo: str,
        prompt_tokens: int,
        n: int,
    ) -> web.StreamResponse:
        """Latency, then a queued fault, then the rate limit, then the scripted reply."""
        delay = self.latency_s
        if self.latency_jitter_s > 0:
            delay += self._rng.uniform(-self.latency_jitter_s, self.latency_jitter_s)
        if delay > 0:
            await asyncio.sleep(delay)
        streamed = body.get("stream") is True
        fault = self._next_fault()
        if fault is not None and fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
        elif fault is not None and fault.kind != "stream_cut":
            return await send.fault_response(request, fault, streamed)
        refused = self._admit(prompt_tokens)
        if refused is not None:
            return refused
        try:
            reply = resolve_reply(self._reply, body, echo)
        except Exception as exc:
            return send.error(500, f"mock reply function failed: {exc!r}")
        if isinstance(reply, dict):
            return send.json_response(200, orjson.dumps(reply), self._rate_limit_headers())
        if self._limiter is not None:
            self._limiter.spend_tokens(reply.completion_tokens() * n, time.monotonic())
        turn = self._turn(body, wire, prompt_tokens, n)
        cut = fault is not None and fault.kind == "stream_cut"
        return await self._render(request, wire, reply, turn, streamed=streamed, cut=cut)

    async def _render(
        self,
        request: web.Request,
        wire: _Wire,
        reply: Reply,
        turn: Turn,
        *,
        streamed: bool,
        cut: bool,
    ) -> web.StreamResponse:
        headers = self._rate_limit_headers()
        if not streamed:
            payload = orjson.dumps(wire.body(reply, turn))
            if cut:
                return await send.cut(request, [payload], {"Content-Type": send.JSON} | headers)
            return send.json_response(200, payload, headers)
        events, headers = list(wire.events(reply, turn)), send.SSE_HEADERS | headers
        if cut:
            return await send.cut(request, events, headers)
        return await send.stream(request, events, headers)

    def _batch_reply(self, body: JSONDict) -> tuple[int, JSONDict]:
        """A batch request line's answer: the reply spec rendered as a chat completion."""
        messages = body.get("messages")
        if not isinstance(messages, list):
            return 400, {"error": {"message": "body needs a 'messages' list", "type": "invalid"}}
        echo, prompt_tokens = _chat.prompt(messages)
        try:
            reply = resolve_reply(self._reply, body, echo)
        except Exception as exc:
            return 500, {"error": {"message": f"mock reply function failed: {exc!r}"}}
        if isinstance(reply, dict):
            return 200, reply
        return 200, _CHAT.body(reply, self._turn(body, _CHAT, prompt_tokens, 1))

    def _turn(self, body: JSONDict, wire: _Wire, prompt_tokens: int, n: int) -> Turn:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        model = body.get("model")
        model = model if isinstance(model, str) else self.model
        ident = f"{wire.prefix}{next(self._ids)}"
        return Turn(ident, model, int(time.time()), prompt_tokens, n, include_usage)

    def _next_fault(self) -> Fault | None:
        try:
            fault = self._faults.popleft()
        except IndexError:
            return None
        with self._lock:
            self._counts["faults"] += 1
        return fault

    def _admit(self, prompt_tokens: int) -> web.Response | None:
        """None when the request may go on, else the 429 to send."""
        if self._limiter is None:
            return None
        now = time.monotonic()
        refused = self._limiter.admit(prompt_tokens, now)
        if refused is None:
            return None
        window, wait_s = refused
        with self._lock:
            self._counts["rate_limited"] += 1
        wait_s = math.ceil(wait_s * 1000) / 1000
        # As OpenAI does: whole seconds (rounded up) in Retry-After, the precise wait in -ms.
        headers = {
            "Retry-After": str(math.ceil(wait_s)),
            "retry-after-ms": str(int(wait_s * 1000)),
        }
        message = f"Rate limit reached for {window} (mock server). Please try again in {wait_s}s."
        return send.error(429, message, headers | self._rate_limit_headers(), kind=window)

    def _rate_limit_headers(self) -> dict[str, str]:
        if self._limiter is None or not self._rate_headers:
            return {}
        return self._limiter.headers(time.monotonic())


def serve(
    port: int,
    host: str = "127.0.0.1",
    reply: ReplySpec = ECHO,
    latency_s: float = 0.0,
    *,
    latency_jitter_s: float = 0.0,
    model: str = "mock-model",
    rate_limit: RateLimit | None = None,
    fd: int | None = None,
) -> None:
    """Run a ``MockLLMServer`` in the foreground until Ctrl-C or SIGTERM (``scillm serve mock``).

    Binds first (a busy port raises :class:`~scillm.service.run.PortBusy`, one line naming
    the port and the fix), then announces; ``fd``: serve on that inherited listening socket.
    """
    from scillm.service.run import bind

    sock = socket.socket(fileno=fd) if fd is not None else bind(host, port)
    server = MockLLMServer(
        reply,
        latency_s=latency_s,
        latency_jitter_s=latency_jitter_s,
        host=str(sock.getsockname()[0]),
        model=model,
        rate_limit=rate_limit,
        max_recorded=SERVE_MAX_RECORDED,
        sock=sock,
    )
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    with server, contextlib.suppress(KeyboardInterrupt):  # suppress from the banner on
        print(f"mock LLM server on {server.base_url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
