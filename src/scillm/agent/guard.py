"""What both servers share at the door: refusing a request, and the optional bearer token."""

from __future__ import annotations

import hmac

try:
    from fastapi import Request
    from fastapi.responses import JSONResponse
except ImportError:  # without the 'serve' extra, say so
    from scillm._extras import require

    require("fastapi", extra="serve", feature="the agent servers")
    raise

from scillm.agent.wire import error_body

__all__ = ["Refused", "check_bearer", "refusal"]


class Refused(Exception):
    """A request turned away before anything ran; ``status`` is the HTTP status to send."""

    def __init__(self, status: int, message: str, kind: str) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def check_bearer(request: Request, token: str | None) -> None:
    """Refuse (401) a request without ``Authorization: Bearer <token>``, when a token is set."""
    if token is None:
        return
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise Refused(401, "missing or wrong bearer token", "authentication_error")


def refusal(exc: Refused) -> JSONResponse:
    """The OpenAI-style error reply for ``exc``."""
    return JSONResponse(error_body(exc.message, exc.kind, code=exc.status), status_code=exc.status)
