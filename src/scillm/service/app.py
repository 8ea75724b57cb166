"""The FastAPI app every service starts from: the door, the error shape, JSON in and out.

``create_service_app(name, config)`` gives a FastAPI app with :class:`~.guard.Guard` in front,
CORS only when ``config.cors_origins`` names origins, no docs pages, and handlers that turn
every error into OpenAI's shape: :class:`~.errors.ApiError` raised by a route, unknown routes
(404), wrong methods (405), FastAPI's validation (422) and anything unexpected (500, logged
here, never sent).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

try:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import Response
    from starlette.exceptions import HTTPException
except ImportError:  # without the 'serve' extra, say so
    from scillm._extras import require

    require("fastapi", extra="serve", feature="scillm's HTTP services")
    raise

from scillm._version import __version__
from scillm.service.config import ServiceConfig
from scillm.service.errors import ApiError, error_body
from scillm.service.guard import OPEN_PATHS, Guard

__all__ = ["MAX_JSON_DEPTH", "create_service_app", "json_response", "read_json"]

MAX_JSON_DEPTH = 128
"""Deepest nesting of arrays and objects a request body may have."""
_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}
log = logging.getLogger("scillm.service")


def create_service_app(
    name: str, config: ServiceConfig, *, open_paths: frozenset[str] = OPEN_PATHS
) -> FastAPI:
    """A FastAPI app for service ``name`` behind ``config``'s door (see the module docstring)."""
    app = FastAPI(
        title=f"scillm {name}",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(Guard, config=config, open_paths=open_paths)
    if config.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(  # outermost: answers preflights before the door asks for a token
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["authorization", "content-type"],
        )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return json_response(exc.body(), exc.status, exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        status = exc.status_code
        if status == 404:
            message = f"Invalid URL ({request.method} {request.url.path})"
        elif status == 405:
            message = f"Method {request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        body = error_body(message, status, code=_CODES.get(status))
        return json_response(body, status, dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = exc.errors()
        first = problems[0] if problems else {}
        param = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
        message = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in problems
        )
        return json_response(error_body(message or "invalid request", 422, param=param), 422)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        message = f"the {name} service failed on this request ({type(exc).__name__}); see its log"
        return json_response(error_body(message, 500, code="internal_error"), 500)

    return app


async def read_json(request: Request, *, object_only: bool = True) -> Any:
    """The request's JSON body; :class:`ApiError` 400 when it is not JSON (unpaired surrogates
    and invalid UTF-8 included), nests deeper than :data:`MAX_JSON_DEPTH`, or (``object_only``)
    is not an object."""
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, f"the body is not valid JSON: {exc}", code="invalid_json") from None
    if _too_deep(body):
        raise ApiError(
            400,
            f"the body nests arrays/objects deeper than {MAX_JSON_DEPTH} levels",
            code="invalid_json",
        )
    if object_only and not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_json")
    return body


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        if depth > MAX_JSON_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in item if isinstance(child, dict | list))
    return False


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON reply serialised with orjson."""
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )
