"""What a client of the gateway is told when the Router's call fails: OpenAI's error shape.

A client error (400/404/422) and a 429 the Router gave up on keep their status; the upstream
refusing *the proxy's* credentials is the gateway's fault, not the client's, so it is 502, as
are other upstream failures; a timeout is 504 and a 503 that says when to come back stays 503.
"""

from __future__ import annotations

import math

from scillm.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    BudgetExceeded,
    ConnectionError,
    NotFoundError,
    RateLimitError,
    ServerError,
    TimeoutError,
)
from scillm.service.errors import ApiError

__all__ = ["api_error"]


def _retry_after(seconds: float | None) -> dict[str, str] | None:
    if seconds is None:
        return None
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def api_error(exc: Exception) -> ApiError:
    """The reply for a failure of the Router's call (or of the request's checks)."""
    message = str(exc)
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, RateLimitError):
        return ApiError(
            429, message, code="rate_limit_exceeded", headers=_retry_after(exc.retry_after_s)
        )
    if isinstance(exc, BadRequestError):
        status = exc.status_code if exc.status_code in (400, 413, 422) else 400
        return ApiError(status, message, code="invalid_request")
    if isinstance(exc, AuthenticationError):
        return ApiError(
            502,
            f"the upstream refused the proxy's credentials (fix the proxy's config): {message}",
            code="upstream_auth_failed",
        )
    if isinstance(exc, NotFoundError):
        return ApiError(
            502, f"the upstream does not know this model or path: {message}", code="upstream_error"
        )
    if isinstance(exc, ServerError) and exc.status_code == 503 and exc.retry_after_s is not None:
        return ApiError(
            503, message, code="upstream_unavailable", headers=_retry_after(exc.retry_after_s)
        )
    if isinstance(exc, TimeoutError):
        return ApiError(504, message, type="timeout_error", code="timeout")
    if isinstance(exc, BudgetExceeded):
        return ApiError(429, message, type="insufficient_quota", code="insufficient_quota")
    if isinstance(exc, APIError | ConnectionError):
        return ApiError(502, message, code="upstream_error")
    if isinstance(exc, ValueError):  # ImagePolicyError and other checks of the request
        return ApiError(400, message, code="invalid_request")
    return ApiError(502, message, code="upstream_error")
