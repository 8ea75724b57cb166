"""The agent server: the mini-agent loop behind an OpenAI-compatible HTTP face.

    app = create_app(AgentServerSettings.from_env(target_model="openai/gpt-4o-mini"))
    # scillm serve agent  →  http://127.0.0.1:8788

``GET /healthz`` (also ``/ready``; no token, no model call: a tiny sandboxed run when the
tools use the sandbox, 503 when something is missing), ``GET /v1/models``,
``POST /v1/chat/completions`` (also ``/chat/completions``; ``stream`` and ``response_format``
honoured; content is always a string) and ``POST /agent/run`` (the original's request shape).
The door (Host, Origin, bearer token, JSON content type, body cap) is
:mod:`scillm.service`'s. A run that fails is an error status with OpenAI's error body
(``/agent/run`` adds ``"ok": false``), never a 200: 400 bad request, 401 bad token, 403 tool
server not allowed, 404 unknown model, 429 target rate-limited (Retry-After passed on), 502
the target or the answer failed, 503 a tool server is down, 504 the target timed out. A run
cut short by its limits is a 200 with ``finish_reason: "length"`` (``/agent/run``: ``ok: false``).
"""

from __future__ import annotations

import time
from typing import Any

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import Response, StreamingResponse
except ImportError:  # without the 'serve' extra, say so
    from scillm._extras import require

    require("fastapi", extra="serve", feature="the agent server")
    raise

from scillm._request import OPENAI_PARAMS, normalise
from scillm.agent.provider import agent_completion
from scillm.agent.records import AgentResult
from scillm.agent.run import AGENT_PARAMS, execute, parse_request
from scillm.agent.settings import LEGACY_ENV, SERVICE, AgentServerSettings
from scillm.agent.traces import Tracer
from scillm.agent.wire import chunks, sse
from scillm.errors import (
    BadRequestError,
    ContentValidationError,
    EngineUnavailable,
    NotFoundError,
    RateLimitError,
    ScillmError,
    TimeoutError,
    UnknownProviderError,
)
from scillm.providers.registry import default_model
from scillm.service import ApiError, ServiceConfig, create_service_app, json_response, read_json
from scillm.service.health import CachedProbe

__all__ = ["HEALTH_TTL_S", "RUN_FIELDS", "create_app"]

RUN_FIELDS = frozenset({"messages", "model", "response_format"}) | AGENT_PARAMS
CHAT_FIELDS = frozenset({"messages", "model", "stream"}) | OPENAI_PARAMS | AGENT_PARAMS
OPEN_PATHS = frozenset({"/healthz", "/ready"})
HEALTH_TTL_S = 30.0
"""How long a /healthz verdict is reused, so polling it stays cheap."""
NOT_CHECKED = "the target model (never called by /healthz: a call may cost money)"


def create_app(
    settings: AgentServerSettings | None = None, config: ServiceConfig | None = None
) -> FastAPI:
    """The FastAPI app of the agent server (``settings`` default: ``from_env()``; ``config``,
    its door, default: ``ServiceConfig.from_env("agent")`` with the original's variables)."""
    settings = settings or AgentServerSettings.from_env()
    config = config or ServiceConfig.from_env(SERVICE, legacy=LEGACY_ENV)
    agent = _Agent(settings, config)
    app = create_service_app(SERVICE, config, open_paths=OPEN_PATHS)

    @app.exception_handler(ApiError)
    async def refused(request: Request, exc: ApiError) -> Response:
        return agent.failure(request, exc)

    @app.exception_handler(ScillmError)
    async def failed(request: Request, exc: ScillmError) -> Response:
        return agent.failure(request, run_error(exc))

    @app.get("/healthz")
    @app.get("/ready")
    async def healthz() -> Response:
        report = await agent.health()
        return json_response(report, 200 if report["ok"] else 503)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        entry = {"id": settings.model_id, "object": "model", "owned_by": "scillm"}
        return {"object": "list", "data": [entry | {"created": int(agent.started_at)}]}

    @app.post("/v1/chat/completions")
    @app.post("/chat/completions")
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
        return json_response(reply)

    @app.post("/agent/run")
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
        return json_response(out)

    return app


class _Agent:
    """What the endpoints share: settings, the tracer, health, and the request → run steps."""

    def __init__(self, settings: AgentServerSettings, config: ServiceConfig) -> None:
        self.settings = settings
        self.target = settings.target_model or default_model()
        self.started_at = time.time()
        secrets = [config.token, settings.target_api_key, *settings.http_tool_headers.values()]
        self.tracer = (
            Tracer(settings.trace_path, [s for s in secrets if s]) if settings.trace_path else None
        )
        self._checked = CachedProbe(self._check, HEALTH_TTL_S, lambda r: bool(r["ok"]))

    async def health(self) -> dict[str, Any]:
        """What /healthz reports: a tiny sandboxed run when runs use the sandbox by default
        (reused for :data:`HEALTH_TTL_S`); never a model call."""
        checked = await self._checked()
        return {
            "service": SERVICE,
            **checked,
            "started_at": self.started_at,
            "target_model": self.target,
            "model_id": self.settings.model_id,
            "defaults": self.settings.defaults,
        }

    async def _check(self) -> dict[str, Any]:
        defaults = self.settings.defaults
        uses = defaults.get("tool_backend", "sandbox") in ("sandbox", "local")
        not_checked = [NOT_CHECKED]
        if not (uses or defaults.get("auto_run_code_on_code_block")):
            not_checked.append("the sandbox (the default tools do not use it)")
            return {"ok": True, "missing": [], "checks": {}, "not_checked": not_checked}
        sandbox = await _sandbox_check()
        missing = [] if sandbox["ok"] else [f"sandboxed tools cannot run: {sandbox['detail']}"]
        checks = {"sandbox": sandbox}
        return {"ok": not missing, "missing": missing, "checks": checks, "not_checked": not_checked}

    async def body(self, request: Request, fields: frozenset[str]) -> dict[str, Any]:
        """The JSON object of the request, with only ``fields`` in it."""
        body: dict[str, Any] = await read_json(request)
        request.state.body = body
        unknown = sorted(set(body) - fields)
        if unknown:
            raise ApiError(
                400,
                f"unknown field(s) {', '.join(unknown)}; this endpoint takes: "
                f"{', '.join(sorted(fields))}",
                param=unknown[0],
                code="unknown_parameter",
            )
        model = body.get("model")
        if model not in (None, self.settings.model_id, self.target):
            raise ApiError(
                404,
                f"model {model!r} is not served here; use {self.settings.model_id!r}",
                param="model",
                code="model_not_found",
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
                raise ApiError(
                    403,
                    f"tool_http_base_url {request.http_base!r} is not on this server's "
                    "allow-list (SCILLM_AGENT_HTTP_TOOL_BASES, --http-tool-base)",
                    param="tool_http_base_url",
                    code="tool_server_not_allowed",
                )
            request.http_headers = {**self.settings.http_tool_headers, **request.http_headers}
        target = {
            "api_base": self.settings.target_api_base,
            "api_key": self.settings.target_api_key,
        }
        kwargs = {k: v for k, v in target.items() if v is not None}
        return await execute(request, self.target, messages, **kwargs)

    def failure(self, request: Request, exc: ApiError) -> Response:
        """The error reply (``/agent/run`` adds ``ok: false``), traced when tracing is on."""
        payload = exc.body()
        if request.url.path == "/agent/run":
            payload = {"ok": False, **payload}
        self.trace(request, getattr(request.state, "body", None), payload)
        return json_response(payload, exc.status, exc.headers)

    def trace(self, request: Request, body: Any, outcome: dict[str, Any]) -> None:
        if self.tracer is not None:
            self.tracer.write(request.url.path, body, outcome)


async def _sandbox_check() -> dict[str, Any]:
    """A tiny program in the sandboxed tools' sandbox (bubblewrap, no rlimits-only fallback)."""
    from scillm import sandbox

    result = await sandbox.arun("print(6 * 7)", timeout_s=20, memory_mb=256)
    if result.status == "ok" and result.stdout == "42\n":
        return {"ok": True, "detail": f"a python run worked ({result.isolation})"}
    detail = result.message or f"{result.status}: {(result.stderr or result.stdout)[:300]}"
    return {"ok": False, "detail": detail}


def run_error(exc: ScillmError) -> ApiError:
    """The reply for an error of a run: its status, OpenAI type and code, headers to pass on."""
    message = str(exc)
    if isinstance(exc, RateLimitError):
        after = exc.retry_after_s
        headers = None if after is None else {"Retry-After": str(max(1, round(after)))}
        return ApiError(429, message, code="rate_limited", headers=headers)
    if isinstance(exc, NotFoundError) and exc.status_code is None:
        return ApiError(404, message, code="model_not_found")
    if isinstance(exc, BadRequestError) and exc.status_code is None:
        return ApiError(400, message, code="invalid_value")  # refused before any call
    if isinstance(exc, TimeoutError):
        return ApiError(504, message, code="timeout")
    if isinstance(exc, EngineUnavailable):
        return ApiError(503, message, code="engine_unavailable")
    if isinstance(exc, UnknownProviderError):
        return ApiError(500, message, code="target_model_invalid")  # a server setting
    if isinstance(exc, ContentValidationError):
        return ApiError(502, message, code="invalid_response_format")
    return ApiError(502, message, code="upstream_error")  # the target or a tool server failed
