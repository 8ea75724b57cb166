"""The agent server: the mini-agent loop behind an OpenAI-compatible HTTP face.

    app = create_app(AgentServerSettings.from_env(target_model="openai/gpt-4o-mini"))
    # scillm serve agent  →  http://127.0.0.1:8788

``GET /healthz``, ``GET /ready`` (no model calls), ``GET /v1/models``,
``POST /v1/chat/completions`` (also ``/chat/completions``; ``stream`` and ``response_format``
honoured; content is always a string) and ``POST /agent/run`` (the original's request shape).
A run that fails is an error status with an OpenAI-style body (``/agent/run`` adds
``"ok": false``), never a 200: 400 bad request, 401 bad token, 403 tool server not allowed,
404 unknown model, 429 target rate-limited (Retry-After passed on), 502 the target or the
answer failed, 503 a tool server is down, 504 the target timed out. A run cut short by its
limits is a 200 with ``finish_reason: "length"`` (``/agent/run``: ``ok: false``).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

try:
    from fastapi import Depends, FastAPI, Request
    from fastapi.responses import JSONResponse, Response, StreamingResponse
except ImportError:  # without the 'serve' extra, say so
    from scillm._extras import require

    require("fastapi", extra="serve", feature="the agent server")
    raise

from scillm._request import OPENAI_PARAMS, normalise
from scillm.agent.guard import Refused, check_bearer
from scillm.agent.provider import agent_completion
from scillm.agent.records import AgentResult
from scillm.agent.run import AGENT_PARAMS, execute, parse_request
from scillm.agent.settings import AgentServerSettings
from scillm.agent.traces import Tracer
from scillm.agent.wire import chunks, error_body, sse
from scillm.errors import (
    BadRequestError,
    EngineUnavailable,
    NotFoundError,
    RateLimitError,
    ScillmError,
    TimeoutError,
    UnknownProviderError,
)
from scillm.providers.registry import default_model

__all__ = ["RUN_FIELDS", "create_app"]

RUN_FIELDS = frozenset({"messages", "model", "response_format"}) | AGENT_PARAMS
CHAT_FIELDS = frozenset({"messages", "model", "stream"}) | OPENAI_PARAMS | AGENT_PARAMS


def create_app(settings: AgentServerSettings | None = None) -> FastAPI:
    """The FastAPI app of the agent server (``settings`` default: ``from_env()``)."""
    settings = settings or AgentServerSettings.from_env()
    agent = _Agent(settings)
    app = FastAPI(title="scillm agent server", docs_url=None, redoc_url=None)
    guard = [Depends(agent.check_token)]

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return agent.failure(request, exc.status, exc.message, exc.kind)

    @app.exception_handler(ScillmError)
    async def failed(request: Request, exc: ScillmError) -> Response:
        status, headers = _status_of(exc)
        return agent.failure(request, status, str(exc), type(exc).__name__, headers)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "started_at": agent.started_at, **agent.health()}

    @app.get("/ready")
    async def ready() -> dict[str, Any]:
        return await agent.ready()

    @app.get("/v1/models", dependencies=guard)
    async def models() -> dict[str, Any]:
        entry = {"id": settings.model_id, "object": "model", "owned_by": "scillm"}
        return {"object": "list", "data": [entry | {"created": int(agent.started_at)}]}

    @app.post("/v1/chat/completions", dependencies=guard)
    @app.post("/chat/completions", dependencies=guard)
    async def chat(request: Request) -> Response:
        body = await agent.body(request, CHAT_FIELDS)
        result = await agent.run(body)
        reply = agent_completion(result, settings.model_id)
        agent.trace(request, body, {"ok": result.ok, **result.to_dict()})
        if body.get("stream") is True:
            opts = body.get("stream_options")
            usage = isinstance(opts, dict) and opts.get("include_usage") is True
            events = sse(chunks(reply, include_usage=usage))
            return StreamingResponse(events, media_type="text/event-stream")
        return JSONResponse(reply)

    @app.post("/agent/run", dependencies=guard)
    async def agent_run(request: Request) -> Response:
        started = time.perf_counter()
        body = await agent.body(request, RUN_FIELDS)
        result = await agent.run(body)
        metrics = {
            "iterations": len(result.iterations),
            "ttotal_ms": round((time.perf_counter() - started) * 1000, 3),
            "used_model": agent.target,
        }
        out = {"ok": result.ok, **result.to_dict(), "metrics": metrics}
        agent.trace(request, body, out)
        return JSONResponse(out)

    return app


class _Agent:
    """What the endpoints share: settings, the tracer, and the request → run steps."""

    def __init__(self, settings: AgentServerSettings) -> None:
        self.settings = settings
        self.target = settings.target_model or default_model()
        self.started_at = time.time()
        secrets = [settings.token, settings.target_api_key, *settings.http_tool_headers.values()]
        self.tracer = (
            Tracer(settings.trace_path, [s for s in secrets if s]) if settings.trace_path else None
        )

    def check_token(self, request: Request) -> None:
        """Refuse a request without the configured bearer token (when one is set)."""
        check_bearer(request, self.settings.token)

    def health(self) -> dict[str, Any]:
        return {"target_model": self.target, "settings": self.settings.public()}

    async def ready(self) -> dict[str, Any]:
        """Whether runs can use the sandbox (when they need it); no model is called."""
        from scillm.sandbox import isolation_available

        defaults = self.settings.defaults
        needs_sandbox = defaults.get("tool_backend", "sandbox") in ("sandbox", "local")
        hints = []
        if needs_sandbox or defaults.get("auto_run_code_on_code_block"):
            host = await asyncio.to_thread(isolation_available)
            if not host["isolated"]:
                hints.append(f"sandboxed tools will fail: {host['problem']}")
        return {"ok": not hints, "hints": hints, "target_model": self.target}

    async def body(self, request: Request, fields: frozenset[str]) -> dict[str, Any]:
        """The JSON object of the request, with only ``fields`` in it."""
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise BadRequestError("the request body must be a JSON object")
        request.state.body = body
        unknown = sorted(set(body) - fields)
        if unknown:
            raise BadRequestError(
                f"unknown field(s) {', '.join(unknown)}; this endpoint takes: "
                f"{', '.join(sorted(fields))}"
            )
        model = body.get("model")
        if model not in (None, self.settings.model_id, self.target):
            raise NotFoundError(
                f"model {model!r} is not served here; use {self.settings.model_id!r}"
            )
        return body

    async def run(self, body: dict[str, Any]) -> AgentResult:
        """Check the options (and the tool server allow-list), then run the loop."""
        params = {k: v for k, v in body.items() if k not in ("model", "messages", "stream")}
        openai = {k: v for k, v in params.items() if k in OPENAI_PARAMS}
        messages = normalise(None, body.get("messages"), openai).messages
        request = parse_request(params, self.settings.defaults)
        if request.http_base is not None:
            if request.http_base.rstrip("/") not in self.settings.http_tool_bases:
                raise Refused(
                    403,
                    f"tool_http_base_url {request.http_base!r} is not on this server's "
                    "allow-list (SCILLM_AGENT_HTTP_TOOL_BASES)",
                    "permission_error",
                )
            request.http_headers = {**self.settings.http_tool_headers, **request.http_headers}
        target = {
            "api_base": self.settings.target_api_base,
            "api_key": self.settings.target_api_key,
        }
        kwargs = {k: v for k, v in target.items() if v is not None}
        return await execute(request, self.target, messages, **kwargs)

    def failure(
        self,
        request: Request,
        status: int,
        message: str,
        kind: str,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """The error reply (``/agent/run`` adds ``ok: false``), traced when tracing is on."""
        payload = error_body(message, kind, code=status)
        if request.url.path == "/agent/run":
            payload = {"ok": False, **payload}
        self.trace(request, getattr(request.state, "body", None), payload)
        return JSONResponse(payload, status_code=status, headers=headers)

    def trace(self, request: Request, body: Any, outcome: dict[str, Any]) -> None:
        if self.tracer is not None:
            self.tracer.write(request.url.path, body, outcome)


def _status_of(exc: ScillmError) -> tuple[int, dict[str, str] | None]:
    """The HTTP status for an error of a run, and headers to pass on."""
    if isinstance(exc, RateLimitError):
        after = exc.retry_after_s
        return 429, None if after is None else {"Retry-After": str(max(1, round(after)))}
    if isinstance(exc, NotFoundError) and exc.status_code is None:
        return 404, None
    if isinstance(exc, BadRequestError) and exc.status_code is None:
        return 400, None  # refused before any call: the request is at fault
    if isinstance(exc, TimeoutError):
        return 504, None
    if isinstance(exc, EngineUnavailable):
        return 503, None
    if isinstance(exc, UnknownProviderError):
        return 500, None  # the configured target model: a server setting
    return 502, None  # the target model, a tool server or the answer's format failed
