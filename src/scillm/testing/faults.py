"""One-shot faults the mock serves instead of (or before) a normal reply.

    srv.enqueue(Fault.rate_limit(retry_after=0.1), Fault.http(503), Fault.drop_connection())

Each model request (chat completions or responses) consumes the oldest queued fault.
"""

from __future__ import annotations

import http
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, formatdate
from typing import Any, Literal, TypeAlias

import orjson

__all__ = ["Fault", "FaultKind", "error_body", "format_seconds"]

FaultKind: TypeAlias = Literal["http", "delay", "malformed_json", "drop_connection", "stream_cut"]

DEFAULT_RETRY_AFTER_S = 1.0
MALFORMED_BODY = b'{"id": "chatcmpl-mock", "choices": [{"message": {"content": "cut here'

_ERROR_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("not_found_error", "not_found"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


def error_body(status: int, message: str | None = None, kind: str | None = None) -> bytes:
    """An OpenAI-shaped ``{"error": {message, type, param, code}}`` body for ``status``."""
    fallback = ("invalid_request_error" if status < 500 else "server_error", None)
    default_kind, code = _ERROR_KINDS.get(status, fallback)
    if message is None:
        message = f"mock server: HTTP {status} {_phrase(status)}".rstrip()
    error = {"message": message, "type": kind or default_kind, "param": None, "code": code}
    return orjson.dumps({"error": error})


def format_seconds(seconds: float) -> str:
    """``Retry-After`` seconds: an integer when whole, else up to millisecond decimals."""
    if float(seconds).is_integer():
        return str(int(seconds))
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


@dataclass(frozen=True, slots=True)
class Fault:
    """A scripted misbehaviour; build one with the factory class methods."""

    kind: FaultKind
    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @classmethod
    def http(
        cls,
        status: int,
        body: str | bytes | Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        retry_after: float | None = None,
    ) -> Fault:
        """Answer ``status``; ``body`` defaults to an OpenAI-shaped error (dicts become JSON)."""
        out = {"Content-Type": "application/json"}
        if isinstance(body, str | bytes):
            out["Content-Type"] = "text/plain; charset=utf-8"
            raw = body.encode() if isinstance(body, str) else body
        else:
            raw = error_body(status) if body is None else orjson.dumps(body)
        if retry_after is not None:
            out["Retry-After"] = format_seconds(retry_after)
        return cls("http", status, raw, out | dict(headers or {}))

    @classmethod
    def rate_limit(
        cls,
        retry_after: float | None = None,
        *,
        retry_after_date: bool | datetime = False,
        retry_after_ms: float | None = None,
    ) -> Fault:
        """A 429 saying when to come back.

        ``retry_after`` seconds (default 1 unless only ``retry_after_ms`` is given) go into
        ``Retry-After``; ``retry_after_date=True`` sends them as an HTTP-date instead (computed
        now), a ``datetime`` sends that date; ``retry_after_ms`` adds ``retry-after-ms``.
        """
        headers: dict[str, str] = {}
        if isinstance(retry_after_date, datetime):
            headers["Retry-After"] = format_datetime(retry_after_date, usegmt=True)
        elif retry_after is not None or retry_after_ms is None or retry_after_date:
            seconds = DEFAULT_RETRY_AFTER_S if retry_after is None else retry_after
            if retry_after_date:
                headers["Retry-After"] = formatdate(time.time() + seconds, usegmt=True)
            else:
                headers["Retry-After"] = format_seconds(seconds)
        if retry_after_ms is not None:
            headers["retry-after-ms"] = format_seconds(retry_after_ms)
        return cls.http(429, headers=headers)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before answering normally (trips client timeouts)."""
        return cls("delay", seconds=seconds)

    @classmethod
    def malformed_json(cls) -> Fault:
        """Answer 200 with a body (or SSE event) that is not valid JSON."""
        return cls("malformed_json", body=MALFORMED_BODY)

    @classmethod
    def drop_connection(cls) -> Fault:
        """Close the socket without sending any HTTP response."""
        return cls("drop_connection")

    @classmethod
    def stream_cut(cls) -> Fault:
        """Send the status line, headers and about half the body, then close the socket."""
        return cls("stream_cut")


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return ""
