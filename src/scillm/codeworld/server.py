"""The CodeWorld bridge: a thin FastAPI face over the engine (``scillm serve codeworld``).

    GET  /healthz           runs a tiny program in the sandbox; 200 with isolation and
                            languages, 503 when the sandbox cannot run it
    POST /bridge/complete   the original's envelope (see :mod:`scillm.codeworld.request`)
                            → the CodeWorld payload

Invalid requests get 422 with every problem's field path (``detail[].loc``, FastAPI style);
no usable sandbox gets 503; a failing item is an ``error`` result inside a 200, never a 500.
With a token (``BridgeSettings.token``, env ``CODEWORLD_TOKEN``) requests to
``/bridge/complete`` need ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from typing import Any

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import Response
except ImportError:  # without the 'serve' extra, say so
    from scillm._extras import require

    require("fastapi", extra="serve", feature="the CodeWorld bridge")
    raise

from scillm import __version__
from scillm.codeworld.engine import run_request
from scillm.codeworld.items import FUNCTION_LANGUAGES
from scillm.codeworld.request import STRATEGIES, parse_request
from scillm.codeworld.settings import BridgeSettings
from scillm.codeworld.signals import Sessions
from scillm.codeworld.validation import InvalidRequest
from scillm.errors import EngineUnavailable
from scillm.sandbox import arun, isolation_available

__all__ = ["create_app"]

PROBE = "print(6 * 7)"


def create_app(settings: BridgeSettings | None = None) -> FastAPI:
    """The bridge app; ``settings`` default to :meth:`BridgeSettings.from_env`."""
    config = settings or BridgeSettings.from_env()
    sessions = Sessions()
    app = FastAPI(title="CodeWorld Bridge", version=__version__)

    @app.get("/healthz")
    async def healthz() -> Response:
        probe = await arun(
            PROBE, timeout_s=10, memory_mb=64, allow_rlimits_only=config.allow_rlimits_only
        )
        host = await asyncio.to_thread(isolation_available)
        ok = probe.status == "ok" and probe.stdout.strip() == "42"
        body = {
            "ok": ok,
            "service": "codeworld",
            "version": __version__,
            "isolation": probe.isolation,
            "problem": None if ok else (probe.message or host["problem"]),
            "probe": {"status": probe.status, "wall_ms": probe.wall_ms},
            "languages": host["languages"],
            "function_languages": list(FUNCTION_LANGUAGES),
            "strategies": list(STRATEGIES),
            "auth": config.token is not None,
        }
        return _json(body, 200 if ok else 503)

    @app.post("/bridge/complete")
    async def complete(request: Request) -> Response:
        if config.token and not _authorized(request, config.token):
            return _error(401, "authentication_error", "missing or wrong bearer token")
        try:
            body = json.loads(await request.body())
        except ValueError as exc:
            return _invalid([{"loc": ["body"], "msg": f"not valid JSON: {exc}"}], str(exc))
        try:
            parsed = parse_request(body)
        except InvalidRequest as exc:
            detail = [{"loc": ["body", *p.loc], "msg": p.message} for p in exc.problems]
            return _invalid(detail, str(exc))
        try:
            payload = await run_request(parsed, config, sessions)
        except EngineUnavailable as exc:
            return _error(503, "engine_unavailable", str(exc))
        return _json(payload, 200)

    return app


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def _invalid(detail: list[dict[str, Any]], message: str) -> Response:
    for entry in detail:
        entry["type"] = "value_error"
    body = {"detail": detail, "error": {"message": message, "type": "invalid_request_error"}}
    return _json(body, 422)


def _error(status: int, kind: str, message: str) -> Response:
    return _json({"error": {"message": message, "type": kind}}, status)


def _json(body: Any, status: int) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json")
