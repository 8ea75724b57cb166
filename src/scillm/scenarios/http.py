"""Plain JSON over HTTP for the scenarios (stdlib only: no extra needed to check a stack)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

__all__ = ["Answer", "Unreachable", "request"]

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
"""No proxy from the environment: the stack's token goes to the stack only."""


class Unreachable(OSError):
    """Nothing answered at the URL (refused, reset, timed out, bad address)."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: its status and its body (parsed when it is JSON, else the text)."""

    status: int
    body: Any

    def error(self) -> str:
        """The error message of an OpenAI-shaped (or any) error body, in one line."""
        body = self.body
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return str(body["error"].get("message"))
        return str(body)[:300]


def request(
    url: str,
    body: Any = None,
    *,
    token: str | None = None,
    timeout: float = 30.0,
) -> Answer:
    """GET ``url`` (or POST ``body`` as JSON) and return the answer, errors statuses included;
    :class:`Unreachable` when nothing answers."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            return Answer(resp.status, _parse(resp.read()))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, _parse(exc.read()))
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unreachable(f"nothing answers at {url}: {reason}") from None


def _parse(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")
