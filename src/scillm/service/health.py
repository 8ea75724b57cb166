"""A health probe worth polling: a good result is reused for a while, a bad one never.

    probe = CachedProbe(check_sandbox, ttl=30, good=lambda r: r["ok"])
    result = await probe()   # runs check_sandbox at most once per 30 s while it stays good

Polls that arrive while a probe runs wait for it instead of starting their own, so a
supervisor's polling costs one real check per ``ttl``; a failure shows on the very next poll
after it happens (up to ``ttl`` late) and its fix on the poll after the fix.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["CachedProbe"]

T = TypeVar("T")


class CachedProbe(Generic[T]):
    """``await probe()``: ``check()``'s result, reused for ``ttl`` seconds while ``good``."""

    def __init__(
        self, check: Callable[[], Awaitable[T]], ttl: float, good: Callable[[T], bool]
    ) -> None:
        self.check, self.ttl, self.good = check, ttl, good
        self._lock = asyncio.Lock()
        self._last: tuple[float, T] | None = None

    async def __call__(self) -> T:
        async with self._lock:
            last = self._last
            if last is not None and time.monotonic() - last[0] < self.ttl:
                return last[1]
            result = await self.check()
            self._last = (time.monotonic(), result) if self.good(result) else None
            return result
