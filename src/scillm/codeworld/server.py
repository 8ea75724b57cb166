"""The CodeWorld bridge: a thin face over the engine (``scillm serve codeworld``).

    GET  /healthz           runs a tiny program in the sandbox; 200 with isolation and
                            languages, 503 (and ``problem``: what to fix) when it cannot
    POST /bridge/complete   the original's envelope (see :mod:`scillm.codeworld.request`)
                            → the CodeWorld payload

The app is :func:`scillm.service.create_service_app`'s: its door checks Host, Origin, the
bearer token (``SCILLM_CODEWORLD_TOKEN``, then ``CODEWORLD_TOKEN``, then
``SCILLM_SERVICE_TOKEN``; ``/healthz`` stays open), JSON content type and body size, and every
error has OpenAI's shape ``{"error": {message, type, param, code}}``. An invalid envelope is a
422 whose ``error.param`` names the first bad field, with FastAPI-style ``detail[].loc`` listing
every problem next to it; no usable sandbox is a 503 (``code: engine_unavailable``); a failing
item is an ``error`` result inside a 200, never a 500. A request's ``max_seconds`` is capped
by :attr:`BridgeSettings.max_seconds`.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import Response
except ImportError:  # without the 'serve' extra, say so
    from scillm._extras import require

    require("fastapi", extra="serve", feature="the CodeWorld bridge")
    raise

from scillm._version import __version__
from scillm.codeworld.engine import run_request
from scillm.codeworld.items import FUNCTION_LANGUAGES
from scillm.codeworld.request import STRATEGIES, parse_request
from scillm.codeworld.settings import SERVICE_LEGACY, BridgeSettings
from scillm.codeworld.signals import Sessions
from scillm.codeworld.validation import InvalidRequest, where
from scillm.errors import EngineUnavailable
from scillm.sandbox import arun, isolation_available
from scillm.service import ApiError, ServiceConfig, create_service_app, json_response, read_json
from scillm.service.health import CachedProbe

__all__ = ["HEALTH_TTL_S", "create_app"]

PROBE = "print(6 * 7)"
HEALTH_TTL_S = 3.0
"""How long a good health report is reused (a failed one never is)."""

Report = tuple[bool, dict[str, Any]]


def create_app(
    settings: BridgeSettings | None = None, config: ServiceConfig | None = None
) -> FastAPI:
    """The bridge app; ``settings`` default to :meth:`BridgeSettings.from_env`, the door
    (``config``) to ``ServiceConfig.from_env("codeworld")``."""
    settings = settings or BridgeSettings.from_env()
    config = config or ServiceConfig.from_env("codeworld", legacy=SERVICE_LEGACY).secured()
    sessions = Sessions()
    app = create_service_app("codeworld", config)
    health = CachedProbe(lambda: _health(settings, config), HEALTH_TTL_S, lambda report: report[0])

    @app.get("/healthz")
    async def healthz() -> Response:
        ok, body = await health()
        return json_response(body, 200 if ok else 503)

    @app.post("/bridge/complete")
    async def complete(request: Request) -> Response:
        body = await read_json(request, object_only=False)  # a non-object is a 422 below
        try:
            parsed = parse_request(body)
        except InvalidRequest as exc:
            raise _invalid(exc) from None
        capped = min(parsed.config.max_seconds, settings.max_seconds)
        parsed = replace(parsed, config=replace(parsed.config, max_seconds=capped))
        try:
            payload = await run_request(parsed, settings, sessions)
        except EngineUnavailable as exc:
            raise ApiError(503, str(exc), code="engine_unavailable") from None
        return json_response(payload)

    return app


async def _health(settings: BridgeSettings, config: ServiceConfig) -> Report:
    """Run :data:`PROBE` in the sandbox as a request's code would run."""
    probe = await arun(
        PROBE, timeout_s=10, memory_mb=64, allow_rlimits_only=settings.allow_rlimits_only
    )
    host = await asyncio.to_thread(isolation_available)
    ok = probe.status == "ok" and probe.stdout.strip() == "42"
    return ok, {
        "ok": ok,
        "service": "codeworld",
        "version": __version__,
        "isolation": probe.isolation,
        "problem": None if ok else _problem(probe.status, probe.message, probe.stdout, host),
        "probe": {"status": probe.status, "wall_ms": probe.wall_ms},
        "languages": host["languages"],
        "function_languages": list(FUNCTION_LANGUAGES),
        "strategies": list(STRATEGIES),
        "auth": config.token is not None,
    }


def _problem(status: str, message: str, stdout: str, host: dict[str, Any]) -> str:
    """What keeps the sandbox from running code, and what to do about it."""
    if status == "sandbox_error":
        why = message or host["problem"] or "the sandbox could not start"
        return (
            f"the sandbox cannot run code: {why}. Install bubblewrap (apt install bubblewrap) "
            "where user namespaces are allowed, or start the bridge with --allow-rlimits-only "
            "to accept weaker isolation"
        )
    seen = stdout.strip()[:80] or "nothing"
    return (
        f"the sandbox ran the probe {PROBE!r} but it ended {status!r} and printed {seen!r} "
        f"instead of '42'{': ' + message if message else ''}; check that python3 runs "
        "inside bubblewrap here (bwrap --ro-bind / / python3 -c 'print(42)')"
    )


def _invalid(exc: InvalidRequest) -> ApiError:
    """The 422: ``error.param`` the first bad field, ``detail`` every problem."""
    detail = [
        {"loc": ["body", *p.loc], "msg": p.message, "type": "value_error"} for p in exc.problems
    ]
    first = exc.problems[0].loc if exc.problems else ()
    param = where(first) if first else None
    return ApiError(422, str(exc), param=param, code="invalid_request", extra={"detail": detail})
