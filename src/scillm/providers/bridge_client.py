"""Calling one of scillm's own services from a provider: the token, the URL, its errors.

    data = await post_to_service("codeworld", "the CodeWorld bridge", base, "/bridge/complete",
                                 envelope, call, legacy=SERVICE_LEGACY)

The token is ``call.api_key``, else the variables the service itself reads
(:func:`~scillm.service.config.token_names`). A 401 becomes an AuthenticationError saying how to
pass the token; a 503 whose ``error.code`` is ``engine_unavailable`` becomes EngineUnavailable.
"""

from __future__ import annotations

from typing import Any

import orjson

from scillm import _http
from scillm._config import env
from scillm.errors import AuthenticationError, EngineUnavailable, ServerError
from scillm.providers.base import Call
from scillm.service.config import token_names

__all__ = ["post_to_service"]


async def post_to_service(
    service: str,
    label: str,
    base: str,
    path: str,
    body: dict[str, Any],
    call: Call,
    *,
    legacy: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """POST ``body`` to ``base`` + ``path`` (``path`` not repeated when ``base`` ends with it)."""
    names = token_names(service, legacy)
    headers = {"Content-Type": "application/json", **(call.extra_headers or {})}
    token = call.api_key or env(*names)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = base.rstrip("/").removesuffix(path) + path
    endpoint = _http.Endpoint(url, headers, service)
    try:
        data, _ = await _http.post_json(endpoint, body, timeout=call.timeout, model=call.model)
    except AuthenticationError as exc:
        raise AuthenticationError(
            f"{label} at {base} refused the request ({exc.message}); pass its token as "
            f"api_key=, or set {names[0]}",
            status_code=exc.status_code,
            body=exc.body,
            headers=exc.headers,
            provider=service,
            model=call.model,
        ) from exc
    except ServerError as exc:
        if exc.status_code == 503 and _error_code(exc.body) == "engine_unavailable":
            raise EngineUnavailable(f"{label} at {base}: {exc}") from exc
        raise
    return data


def _error_code(body: str) -> object:
    """``error.code`` of an error reply's body (None when it has none)."""
    try:
        error = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return error.get("code") if isinstance(error, dict) else None
