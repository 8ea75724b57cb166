"""The one error shape of scillm's services: OpenAI's ``{"error": {message, type, param, code}}``.

``type`` is one of OpenAI's strings, chosen from the status unless given; ``code`` is a short
machine-readable string (``"not_found"``, ``"request_too_large"``...) or None. No framework
import here: the shape is shared by the services and their tests.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "error_body", "error_type"]

TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    408: "timeout_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


def error_type(status: int) -> str:
    """OpenAI's ``type`` string for an HTTP status."""
    if status in TYPES:
        return TYPES[status]
    return "server_error" if status >= 500 else "invalid_request_error"


def error_body(
    message: str,
    status: int,
    *,
    type: str | None = None,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """The JSON body of an error reply."""
    return {
        "error": {
            "message": message,
            "type": type or error_type(status),
            "param": param,
            "code": code,
        }
    }


class ApiError(Exception):
    """Raise in a route to answer with an error: ``ApiError(404, "no such model", code=...)``.

    ``headers`` go on the reply (``Retry-After``, ``WWW-Authenticate``); ``extra`` adds
    top-level keys next to ``error`` (``{"ok": false}`` on a route whose clients expect it).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message = status, message
        self.type, self.param, self.code = type, param, code
        self.headers = headers
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The reply's JSON body."""
        body = error_body(
            self.message, self.status, type=self.type, param=self.param, code=self.code
        )
        return {**(self.extra or {}), **body}
