"""Opt-in JSONL traces of agent runs, with secrets redacted before anything is written.

Redacted: values under keys that name a secret (authorization, api_key, token, secret,
password, cookie), ``Bearer ...`` and ``sk-...`` strings, and every value the server knows to
be secret (its token, key and tool headers) wherever it appears.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

__all__ = ["REDACTED", "Tracer", "redact"]

REDACTED = "[redacted]"
_SECRET_KEY = re.compile(r"authorization|api[-_]?key|token|secret|password|cookie", re.I)
_SECRET_TEXT = re.compile(r"(?i)\bbearer\s+\S+|\bsk-[A-Za-z0-9_-]{8,}")
MIN_SECRET_LEN = 4  # shorter "secrets" would redact ordinary words


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """``value`` with secrets replaced by ``[redacted]`` (dicts and lists are copied)."""
    known = [s for s in secrets if len(s) >= MIN_SECRET_LEN]
    return _redact(value, known)


def _redact(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {
            k: REDACTED if _SECRET_KEY.search(str(k)) else _redact(v, secrets)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return _SECRET_TEXT.sub(REDACTED, value)
    return value


class Tracer:
    """Appends one redacted JSON line per run to ``path`` (thread-safe)."""

    def __init__(self, path: str | Path, secrets: Iterable[str] = ()) -> None:
        self.path = Path(path)
        self.secrets = list(secrets)
        self._lock = threading.Lock()

    def write(self, endpoint: str, request: Any, outcome: dict[str, Any]) -> None:
        """Record a run: when, where, what was asked, and what came of it."""
        line = {"ts": time.time(), "endpoint": endpoint, "request": request, **outcome}
        data = orjson.dumps(redact(line, self.secrets), default=str) + b"\n"
        with self._lock, self.path.open("ab") as out:
            out.write(data)
