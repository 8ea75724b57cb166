"""The Certainly bridge over HTTP: a thin FastAPI face over :class:`.bridge.Bridge`.

    uvicorn "scillm.certainly.server:create_app" --factory   # or: scillm serve certainly

- ``POST /bridge/complete``: the original envelope (``messages``, ``items`` and/or
  ``lean4_requirements``, ``backend``, ``options``, ``lean4_flags``) → verdicts. 400 for a
  malformed envelope or an unknown backend, 503 when no prover the request needs is installed.
- ``GET /healthz``: checks a tiny true and a tiny false statement on every installed prover and
  reports versions and isolation; 200 when all behave, else 503 (also when none is installed).

Errors are ``{"error": {"message", "type", "status"}}``, which scillm's clients read.
This is the only module of ``scillm.certainly`` that imports FastAPI.
"""

from __future__ import annotations

import orjson

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
except ImportError:  # without the 'serve' extra, say so
    from scillm._extras import require

    require("fastapi", extra="serve", feature="the Certainly bridge")
    raise

from scillm.certainly.bridge import Bridge
from scillm.certainly.envelope import BridgeError
from scillm.certainly.settings import BridgeSettings

__all__ = ["create_app"]

ERROR_TYPES = {400: "invalid_request_error", 503: "engine_unavailable"}


def create_app(settings: BridgeSettings | None = None) -> FastAPI:
    """The bridge app; ``settings`` default to :meth:`BridgeSettings.from_env`."""
    bridge = Bridge(settings or BridgeSettings.from_env())
    app = FastAPI(title="scillm Certainly bridge", docs_url=None, redoc_url=None)

    @app.post("/bridge/complete")
    async def complete(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            return _error(BridgeError(400, f"the body is not valid JSON: {exc}"))
        try:
            return _json(await bridge.complete(body))
        except BridgeError as exc:
            return _error(exc)

    @app.get("/healthz")
    async def healthz() -> Response:
        ok, report = await bridge.health()
        return _json(report, 200 if ok else 503)

    return app


def _json(data: object, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def _error(exc: BridgeError) -> JSONResponse:
    kind = ERROR_TYPES.get(exc.status, "error")
    body = {"error": {"message": exc.message, "type": kind, "status": exc.status}}
    return JSONResponse(body, status_code=exc.status)
