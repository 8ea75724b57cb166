"""Opt-in response cache: SQLite, keyed by the sha256 of the canonical request.

The key covers everything that can change a reply: where it goes (provider, base, model) and what
is asked (messages and every body parameter, incl. seed, response_format and tools). Canonical
means key order does not matter: ``orjson`` with sorted keys.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson

from scillm._config import env

__all__ = ["ResponseCache", "cache_key", "default_cache_path", "open_cache"]


def default_cache_path() -> Path:
    """``responses.sqlite`` in ``$SCILLM_CACHE_DIR``, else ``$XDG_CACHE_HOME/scillm`` or
    ``~/.cache/scillm``."""
    root = env("SCILLM_CACHE_DIR") or os.path.join(
        env("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "scillm"
    )
    return Path(root) / "responses.sqlite"


def cache_key(target: Any, messages: list[dict[str, Any]], params: dict[str, Any]) -> str:
    """sha256 hex of the canonical JSON of the request."""
    blob = orjson.dumps(
        {"target": target, "messages": messages, "params": params},
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
        default=repr,
    )
    return hashlib.sha256(blob).hexdigest()


class ResponseCache:
    """A small thread-safe key → response store (one SQLite file, WAL mode)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, body BLOB NOT NULL)"
        )

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT body FROM responses WHERE key = ?", (key,)).fetchone()
        return orjson.loads(row[0]) if row else None

    def put(self, key: str, response: dict[str, Any]) -> None:
        body = orjson.dumps(response)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?)", (key, body))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_cache(arg: bool | str | os.PathLike[str] | ResponseCache | None) -> ResponseCache | None:
    """``None``/``False`` → no cache; ``True`` → the default path; a path → that file."""
    if arg is None or arg is False:
        return None
    if isinstance(arg, ResponseCache):
        return arg
    return ResponseCache(default_cache_path() if arg is True else arg)
