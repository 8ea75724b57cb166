"""scillm's exceptions: one tree, translated from every backend in one place.

    ScillmError                      base of everything scillm raises on purpose
    ├── APIError                     a provider answered with an error (or an unusable reply)
    │   ├── BadRequestError          400/422, or a request rejected before any network call
    │   ├── AuthenticationError      401/403, or a key that is required but missing
    │   ├── NotFoundError            404 (unknown model or path)
    │   ├── RateLimitError           429; ``retry_after_s`` parsed from the headers
    │   └── ServerError              5xx; ``retry_after_s`` set when a 503 says when to come back
    ├── TimeoutError                 the request did not finish in time (also builtin)
    ├── ConnectionError              could not connect, or the connection dropped (also builtin)
    ├── UnknownProviderError         a model string no provider claims (also a ValueError)
    ├── ContentValidationError       a reply that does not satisfy the requested schema
    ├── BudgetExceeded               a request/token/dollar budget ran out (also a RuntimeError)
    ├── ImagePolicyError             image payload over the configured limits (also a ValueError)
    └── EngineUnavailable            an engine (embedded model, sandbox, prover) is not installed

Every message says what was wrong and what to do about it.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

import orjson

from scillm._retry_after import parse_retry_after

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceeded",
    "ConnectionError",
    "ContentValidationError",
    "EngineUnavailable",
    "ImagePolicyError",
    "NotFoundError",
    "RateLimitError",
    "ScillmError",
    "ServerError",
    "TimeoutError",
    "UnknownProviderError",
    "error_from_response",
]

BODY_EXCERPT_CHARS = 500


class ScillmError(Exception):
    """Base class of every error scillm raises on purpose."""


class APIError(ScillmError):
    """A provider replied with an error status or an unusable body.

    ``status_code`` is None when the request was refused before reaching the network;
    ``headers`` has lower-cased names.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        body: str = "",
        headers: Mapping[str, str] | None = None,
        provider: str | None = None,
        model: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body
        self.headers: dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}
        self.provider = provider
        self.model = model
        self.retry_after_s: float | None = None


class BadRequestError(APIError):
    """The request was malformed (HTTP 400/422, or caught before sending)."""


class AuthenticationError(APIError):
    """Missing, invalid or insufficient credentials (HTTP 401/403)."""


class NotFoundError(APIError):
    """The model or endpoint does not exist (HTTP 404)."""


class RateLimitError(APIError):
    """HTTP 429. ``retry_after_s`` is the server's requested wait, when it gave one."""


class ServerError(APIError):
    """HTTP 5xx. A 503 may carry ``retry_after_s``."""


class TimeoutError(ScillmError, builtins.TimeoutError):
    """The request did not complete within its timeout."""


class ConnectionError(ScillmError, builtins.ConnectionError):
    """The server could not be reached, or the connection dropped mid-reply."""


class UnknownProviderError(ScillmError, ValueError):
    """No provider claims this model string."""


class ContentValidationError(ScillmError):
    """The reply does not satisfy the requested JSON schema."""


class BudgetExceeded(ScillmError, RuntimeError):
    """A request, token or dollar budget ran out (or a dollar budget cannot price a call).
    ``results`` holds what completed before it did."""

    def __init__(self, message: str, *, results: list[Any] | None = None) -> None:
        super().__init__(message)
        self.results: list[Any] = results or []


class ImagePolicyError(ScillmError, ValueError):
    """The image payload exceeds the configured policy limits."""


class EngineUnavailable(ScillmError):
    """An engine (embedded model, sandbox, prover) is not installed or not running."""


_STATUS_CLASSES: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    422: BadRequestError,
    429: RateLimitError,
}


def _server_message(body: str) -> str:
    """The error message inside an OpenAI-style error body, else an excerpt of the body."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:BODY_EXCERPT_CHARS]
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])[:BODY_EXCERPT_CHARS]
        if isinstance(err, str):
            return err[:BODY_EXCERPT_CHARS]
    return body[:BODY_EXCERPT_CHARS]


def error_from_response(
    status: int,
    body: str,
    headers: Mapping[str, str],
    *,
    provider: str | None = None,
    model: str | None = None,
) -> APIError:
    """Map an HTTP error reply to the exception class for its status code."""
    cls: type[APIError] = _STATUS_CLASSES.get(status) or (
        ServerError if status >= 500 else APIError
    )
    where = f"{provider}/{model}" if provider and model else (provider or model or "provider")
    message = f"{where} returned HTTP {status}: {_server_message(body)}"
    err = cls(
        message,
        status_code=status,
        body=body[:BODY_EXCERPT_CHARS],
        headers=headers,
        provider=provider,
        model=model,
    )
    if status in (429, 503):
        err.retry_after_s = parse_retry_after(headers)
    return err
