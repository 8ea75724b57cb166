"""The gateway's routes: every chat completion through one Router, keys checked, usage logged.

    POST /v1/chat/completions, /chat/completions   streamed (SSE) or not; n, tools, response_format
    GET  /v1/models, /models                       the groups the caller's key may call
    GET  /health/liveliness, /health/readiness, /healthz   open

A request body is normalised by scillm's one normaliser (:func:`scillm._request.normalise`) and
run by :meth:`Router.arun`, exactly as a library call: retries, pacing (one pacer per upstream
deployment for every client), fallbacks, the cache, schema-first when asked. What only the
proxy's config may choose (``api_base``, ``api_key``, ``custom_llm_provider``, ``extra_headers``,
redirects, the reply cap, ``extra_body``) is refused from clients, and ``model`` must be a group
of the config. Other unknown fields go to the provider as they are, unless ``drop_params``.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse

from scillm._request import (
    OPENAI_PARAMS,
    PIPELINE_KEYS,
    TRANSPORT_CHECKS,
    default_timeout,
    normalise,
)
from scillm._request import Request as Call
from scillm._version import __version__
from scillm.errors import ScillmError
from scillm.proxy.config import ProxyConfig
from scillm.proxy.keys import Account, KeyRing
from scillm.proxy.upstream import api_error
from scillm.proxy.usage import UsageLog, spent_by_alias
from scillm.router import Router
from scillm.service import ApiError, ServiceConfig, create_service_app, json_response, read_json
from scillm.service.errors import error_body

__all__ = ["Gateway", "create_app"]

OPEN_PATHS = frozenset({"/healthz", "/health/liveliness", "/health/readiness"})
CONFIG_ONLY = (
    "api_base", "api_key", "custom_llm_provider", "extra_headers", "follow_redirects",
    "max_response_bytes",
)  # fmt: skip
"""Request fields a client may not set: the proxy's config chooses them."""
TAKEN = frozenset({"model", "messages", "stream"})
KNOWN_FIELDS = (OPENAI_PARAMS | PIPELINE_KEYS | frozenset(TRANSPORT_CHECKS)) - TAKEN
"""Fields the normaliser takes; any other is sent to the provider as it is (``extra_body``),
or dropped with ``litellm_settings.drop_params``."""


class Gateway:
    """The gateway's state: one Router, the keys, the usage log."""

    def __init__(self, config: ProxyConfig, usage_log: str | None = None) -> None:
        self.config = config
        self.router = Router(config.model_list, **config.router)
        self.groups = frozenset(config.groups)
        self.keys = KeyRing(config.master_key, config.keys, config.prices)
        self.timeout = config.router.get("timeout") or default_timeout()
        self.log: UsageLog | None = None
        if usage_log is not None:
            self.keys.restore(spent_by_alias(usage_log))
            self.log = UsageLog(usage_log)

    def close(self) -> None:
        self.router.close()
        if self.log is not None:
            self.log.close()

    # -- one request --------------------------------------------------------------------------

    def request(self, body: dict[str, Any], account: Account) -> Call:
        """The client's body as a checked, normalised call the key may make (ApiError if not)."""
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise ApiError(400, "the body needs 'model': a model_name of the proxy", param="model")
        if model not in self.groups:
            raise ApiError(
                404,
                f"model {model!r} is not served here; this proxy serves: "
                f"{', '.join(sorted(m for m in self.groups if account.may_call(m)))}",
                code="model_not_found",
                param="model",
            )
        if "extra_body" in body:  # it could rename the upstream model, or replace messages
            raise ApiError(
                400,
                "extra_body is not accepted here: send provider-specific fields at the top "
                "level of the body",
                param="extra_body",
            )
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in body.items():
            if key in KNOWN_FIELDS:
                kwargs[key] = value
            elif key not in TAKEN and not self.config.drop_params:
                extra[key] = value  # passed through, as litellm's proxy does
        if extra:
            kwargs["extra_body"] = extra
        call = normalise(model, body.get("messages"), kwargs, stream=body.get("stream", False))
        for name in CONFIG_ONLY:
            if getattr(call, name) is not None:
                raise ApiError(
                    400,
                    f"{name} is set by the proxy's config; a client may not choose it",
                    param=name,
                )
        if call.timeout is not None:
            call.timeout = min(call.timeout, self.timeout)
        self.keys.admit(account, model)  # last: a request refused above costs the key nothing
        return call

    def record(
        self,
        rid: str,
        account: Account | None,
        model: Any,
        started: float,
        status: int,
        *,
        stream: bool = False,
        reply: dict[str, Any] | None = None,
        meta: dict[str, Any] | None = None,
        error: Exception | None = None,
    ) -> None:
        """Settle the key's usage and write the request's line to the usage log."""
        cost = None
        if reply is not None and account is not None:
            deployment = meta.get("deployment") if meta else None
            cost = self.keys.settle(account, reply.get("usage"), deployment)
        if self.log is None:
            return
        line: dict[str, Any] = {"id": rid}
        if error is not None:
            line["ok"] = False
            kind = (error.code or error.type) if isinstance(error, ApiError) else None
            line["error"] = {"type": kind or type(error).__name__, "message": str(error)[:500]}
        elif meta is not None and meta.get("error_type", "ok") != "ok":
            line["ok"] = False
            line["error"] = {"type": str(meta["error_type"]), "message": _reason(meta)}
        line.update(
            key_alias=account.alias if account is not None else None,
            model=model if isinstance(model, str) else None,
            status=status,
            stream=stream,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            ts=round(time.time(), 3),
        )
        if reply is not None:
            line["response"] = {k: reply.get(k) for k in ("id", "model", "usage")}
        if cost is not None:
            line["cost_usd"] = cost
        if meta is not None:
            line["scillm_router"] = meta
        self.log.write(line)


def _reason(meta: dict[str, Any]) -> str:
    errors = meta.get("validation_errors") or []
    detail = "; ".join(map(str, errors)) or meta.get("parse_error") or "the reply was empty"
    return f"{meta.get('error_type')}: {detail}"


def create_app(gateway: Gateway, service: ServiceConfig) -> FastAPI:
    """The gateway's FastAPI app behind the shared door (Host, Origin, JSON, body cap)."""
    app = create_service_app("proxy", service, open_paths=OPEN_PATHS)

    async def chat(request: Request) -> Response:
        started = time.perf_counter()
        rid = "req-" + secrets.token_hex(8)
        account: Account | None = None
        model: Any = None
        try:
            account = gateway.keys.authenticate(request.headers.get("authorization"))
            body = await read_json(request)
            model = body.get("model")
            call = gateway.request(body, account)
            if call.stream:
                return await _stream(gateway, call, rid, account, started)
            reply = await gateway.router.arun(call)
        except Exception as exc:
            expected = isinstance(exc, ApiError | ScillmError)
            status = api_error(exc).status if expected else 500
            meta = getattr(exc, "scillm_router", None)
            gateway.record(rid, account, model, started, status, meta=meta, error=exc)
            if not expected:
                raise  # the service's handler logs it and answers 500, without its details
            raise api_error(exc) from None
        meta = reply.pop("scillm_router", None)
        gateway.record(rid, account, model, started, 200, reply=reply, meta=meta)
        return Response(
            orjson.dumps(reply),
            media_type="application/json",
            headers={"x-request-id": rid},
        )

    app.add_route("/v1/chat/completions", chat, methods=["POST"])
    app.add_route("/chat/completions", chat, methods=["POST"])

    async def models(request: Request) -> Response:
        account = gateway.keys.authenticate(request.headers.get("authorization"))
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "scillm-proxy"}
            for name in gateway.config.groups
            if account.may_call(name)
        ]
        return json_response({"object": "list", "data": data})

    app.add_route("/v1/models", models, methods=["GET"])
    app.add_route("/models", models, methods=["GET"])

    @app.get("/health/liveliness")
    async def liveliness() -> Response:
        return json_response("I'm alive!")

    @app.get("/health/readiness")
    async def readiness() -> Response:
        return json_response(
            {"status": "healthy", "models": len(gateway.groups), "scillm_version": __version__}
        )

    @app.get("/healthz")
    async def healthz() -> Response:
        return json_response({"ok": True})

    return app


async def _stream(
    gateway: Gateway, call: Call, rid: str, account: Account, started: float
) -> Response:
    """Open the Router's stream (errors before the first byte are plain HTTP errors), then
    relay it as server-sent events; a failure mid-stream is one ``error`` event."""
    options = call.params.get("stream_options")
    wants_usage = isinstance(options, dict) and options.get("include_usage") is True
    if not wants_usage:  # the proxy counts tokens; the client gets what it asked for
        call.params["stream_options"] = {**(options or {}), "include_usage": True}
    chunks: AsyncIterator[Any] = await gateway.router.arun(call)

    async def events() -> AsyncIterator[bytes]:
        usage: Any = None
        ident: dict[str, Any] = {}
        meta: dict[str, Any] | None = None
        status, error = 200, None
        try:
            async for chunk in chunks:
                meta = chunk.pop("scillm_router", None) or meta
                if not ident:
                    ident = {"id": chunk.get("id"), "model": chunk.get("model")}
                if chunk.get("usage") is not None:
                    usage = chunk["usage"]
                    if not wants_usage:
                        del chunk["usage"]
                        if not chunk.get("choices"):
                            continue
                yield b"data: " + orjson.dumps(chunk) + b"\n\n"
            yield b"data: [DONE]\n\n"
        except ScillmError as exc:
            failure = api_error(exc)
            status, error = failure.status, exc
            meta = getattr(exc, "scillm_router", meta)
            yield b"data: " + orjson.dumps(error_body(failure.message, failure.status)) + b"\n\n"
        except asyncio.CancelledError:
            status = 499  # the client went away
            raise
        finally:
            reply = {**ident, "usage": usage} if error is None else None
            gateway.record(
                rid, account, call.model, started, status,
                stream=True, reply=reply, meta=meta, error=error,
            )  # fmt: skip

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"x-request-id": rid}
    )
