"""What every scillm HTTP service shares: the app door, errors, security, binding and running.

    from scillm.service import ApiError, ServiceConfig, create_service_app, read_json, run_service

    config = ServiceConfig.from_env("agent", port=8788)
    app = create_service_app("agent", config)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await read_json(request)          # 400 on bad JSON, too deep, surrogates
        ...
        raise ApiError(404, "model 'x' is not served here", code="model_not_found")

    run_service(app, config, "agent")            # binds first, then announces, then serves

Every reply that is an error has OpenAI's shape ``{"error": {"message", "type", "param",
"code"}}``, on every route (404/405/413/415/422 and 500 included, never a traceback). The
door (:class:`~scillm.service.guard.Guard`) checks the ``Host`` header, the bearer token, the
``Content-Type`` of bodies and their size before any route runs. FastAPI and uvicorn load only
when a service is built (``scillm[serve]``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scillm.service.config import LOOPBACK_HOSTS, ServiceConfig, is_loopback
from scillm.service.errors import ApiError, error_body, error_type

if TYPE_CHECKING:
    from scillm.service.app import create_service_app, json_response, read_json
    from scillm.service.run import PortBusy, bind, run_service

__all__ = [
    "LOOPBACK_HOSTS",
    "ApiError",
    "PortBusy",
    "ServiceConfig",
    "bind",
    "create_service_app",
    "error_body",
    "error_type",
    "is_loopback",
    "json_response",
    "read_json",
    "run_service",
]

_LAZY = {
    "create_service_app": "scillm.service.app",
    "json_response": "scillm.service.app",
    "read_json": "scillm.service.app",
    "PortBusy": "scillm.service.run",
    "bind": "scillm.service.run",
    "run_service": "scillm.service.run",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'scillm.service' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
