"""The Certainly bridge over HTTP: a thin face over :class:`.bridge.Bridge`.

    uvicorn "scillm.certainly.server:create_app" --factory   # or: scillm serve certainly

- ``POST /bridge/complete``: the original envelope (``messages``, ``items`` and/or
  ``lean4_requirements``, ``backend``, ``options``, ``lean4_flags``) → verdicts. 400 for a
  malformed envelope or an unknown backend, 503 (``code: engine_unavailable``) when no prover
  the request needs is installed.
- ``GET /healthz``: checks a tiny true and a tiny false statement on every installed prover and
  reports versions and isolation; 200 when all behave, else 503 (also when none is installed)
  with ``problem`` saying what to fix. A good report is reused for :data:`HEALTH_TTL_S`.

The app is :func:`scillm.service.create_service_app`'s: its door checks Host, Origin, the
bearer token (``SCILLM_CERTAINLY_TOKEN``, ``CERTAINLY_TOKEN``, ``SCILLM_SERVICE_TOKEN``;
``/healthz`` stays open), JSON content type and body size, and every error has OpenAI's shape
``{"error": {message, type, param, code}}``. This is the only module of ``scillm.certainly``
that imports FastAPI.
"""

from __future__ import annotations

from typing import Any

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import Response
except ImportError:  # without the 'serve' extra, say so
    from scillm._extras import require

    require("fastapi", extra="serve", feature="the Certainly bridge")
    raise

from scillm.certainly.bridge import SELF_TEST, Bridge
from scillm.certainly.envelope import BridgeError
from scillm.certainly.settings import SERVICE_LEGACY, BridgeSettings
from scillm.service import ApiError, ServiceConfig, create_service_app, json_response, read_json
from scillm.service.health import CachedProbe

__all__ = ["HEALTH_TTL_S", "create_app"]

HEALTH_TTL_S = 3.0
"""How long a good health report is reused (a failed one never is)."""
CODES = {503: "engine_unavailable"}

Report = tuple[bool, dict[str, Any]]


def create_app(
    settings: BridgeSettings | None = None, config: ServiceConfig | None = None
) -> FastAPI:
    """The bridge app; ``settings`` default to :meth:`BridgeSettings.from_env`, the door
    (``config``) to ``ServiceConfig.from_env("certainly")``."""
    bridge = Bridge(settings or BridgeSettings.from_env())
    config = config or ServiceConfig.from_env("certainly", legacy=SERVICE_LEGACY).secured()
    app = create_service_app("certainly", config)
    health = CachedProbe(lambda: _health(bridge, config), HEALTH_TTL_S, lambda report: report[0])

    @app.post("/bridge/complete")
    async def complete(request: Request) -> Response:
        body = await read_json(request)
        try:
            return json_response(await bridge.complete(body))
        except BridgeError as exc:
            raise ApiError(exc.status, exc.message, code=CODES.get(exc.status)) from None

    @app.get("/healthz")
    async def healthz() -> Response:
        ok, report = await health()
        return json_response(report, 200 if ok else 503)

    return app


async def _health(bridge: Bridge, config: ServiceConfig) -> Report:
    ok, report = await bridge.health()
    report = {
        "ok": ok,
        "service": "certainly",
        "problem": None if ok else _problem(report["backends"]),
        **report,
        "auth": config.token is not None,
    }
    return ok, report


def _problem(backends: dict[str, dict[str, Any]]) -> str:
    """Why the bridge is not healthy, in words that say what to do."""
    installed = {name: info for name, info in backends.items() if info.get("available")}
    if not installed:
        why = "; ".join(f"{name}: {info.get('detail')}" for name, info in backends.items())
        return f"no prover is installed, so nothing can be checked ({why})"
    wrong = []
    for name, info in installed.items():
        check = info["proof_check"]
        if check["ok"]:
            continue
        (true, _), (false, _) = SELF_TEST[name]
        wrong.append(
            f"{name} {info.get('version') or ''} should prove {true!r} (got "
            f"{check['true_statement']}) and refuse a bogus proof of {false!r} (got "
            f"{check['false_statement']})"
        )
    return (
        "; ".join(wrong) + ". 'error' or 'timeout' means the prover could not run here: check "
        "its installation (run it by hand on a one-line theorem) and the sandbox (bubblewrap)"
    )
