"""Request and token budgets, enforced while scheduling (prompt + completion tokens count)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Budget"]


@dataclass
class Budget:
    """Limits for a Router; ``admit()`` before each call, ``record()`` after it."""

    max_tokens: int | None = None
    max_requests: int | None = None
    on_exhaust: Callable[[], Any] | None = None
    hard: bool = True
    requests: int = 0
    tokens: int = 0
    exhausted: str | None = None
    # Re-entrant: on_exhaust may look at the budget.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def admit(self) -> str | None:
        """Count one request, or return why it may not run (``"max_requests"``/``"max_tokens"``)."""
        with self._lock:
            full = self.max_requests is not None and self.requests >= self.max_requests
            if self.exhausted is None and full:
                self._exhaust("max_requests")
            if self.exhausted is not None:
                return self.exhausted
            self.requests += 1
            return None

    def record(self, usage: Any) -> None:
        """Add a reply's prompt + completion tokens; past ``max_tokens`` the budget is spent."""
        if not isinstance(usage, dict):
            return
        spent = int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)
        with self._lock:
            self.tokens += spent
            if self.max_tokens is not None and self.tokens >= self.max_tokens:
                self._exhaust("max_tokens")

    def _exhaust(self, reason: str) -> None:
        if self.exhausted is None:
            self.exhausted = reason
            if self.on_exhaust is not None:
                self.on_exhaust()
