"""Token buckets that pace callers: ``TokenBucket`` (threads) and ``AsyncTokenBucket`` (asyncio).

    bucket = TokenBucket(rate_per_sec=5, capacity=10)      # starts full: 10 at once, then 5/s
    with bucket.acquire():
        call_the_api()

    abucket = AsyncTokenBucket(5, 10)
    async with (await abucket.acquire()):                  # the original form
        ...
    async with abucket:                                    # the same, shorter
        ...

Each caller *reserves* its token under a short lock and learns exactly how long to wait; it then
sleeps without any lock, and its body runs without one. Reservations are served in arrival order
(fair under contention), nobody passes without a token, and a bucket never grants more than
``capacity + rate_per_sec * elapsed`` tokens. ``timeout`` (or ``max_sleep_s``) makes ``acquire``
raise :class:`scillm.TimeoutError` at once when the wait would be longer, instead of waiting.
``acquire(amount)`` takes several tokens (say, a request's estimated LLM tokens for a tpm limit);
``adjust(n)`` settles afterwards: it returns unused tokens (``n > 0``) or charges more (``n < 0``).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from typing import Any, Self

from scillm._config import env_float, setting
from scillm.errors import TimeoutError

__all__ = ["AsyncTokenBucket", "TokenBucket", "token_bucket_from_env"]


class _Grant:
    """What ``acquire`` returns: a token is already taken, so entering and leaving do nothing."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


_GRANT = _Grant()


class _Reservations:
    """The token arithmetic both buckets share (virtual scheduling); thread-safe."""

    def __init__(
        self, rate_per_sec: float, capacity: float, max_sleep_s: float | None, name: str
    ) -> None:
        if not (rate_per_sec > 0 and math.isfinite(rate_per_sec)):
            raise ValueError(f"rate_per_sec must be a positive number, got {rate_per_sec!r}")
        if not (capacity > 0 and math.isfinite(capacity)):
            raise ValueError(f"capacity must be a positive number, got {capacity!r}")
        if max_sleep_s is not None and not max_sleep_s >= 0:
            raise ValueError(f"max_sleep_s must be >= 0 or None, got {max_sleep_s!r}")
        self.rate, self.capacity, self.max_sleep_s, self.name = (
            float(rate_per_sec),
            float(capacity),
            max_sleep_s,
            name,
        )
        self._lock = threading.Lock()
        self._tokens = self.capacity  # may go negative: the debt of callers already waiting
        self._stamp = time.monotonic()
        self._acquired = self._rejects = self._waiting = 0
        self._slept_total = self._last_sleep = 0.0

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def reserve(self, amount: float, timeout: float | None) -> float:
        """Take ``amount`` tokens now; return the seconds to wait until they are really there."""
        if not (amount > 0 and math.isfinite(amount)):
            raise ValueError(f"amount must be a positive number, got {amount!r}")
        limit = self.max_sleep_s if timeout is None else timeout
        with self._lock:
            self._refill()
            wait = max(0.0, (amount - self._tokens) / self.rate)
            if limit is not None and wait > limit:
                self._rejects += 1
                raise TimeoutError(
                    f"token bucket {self.name!r}: a token needs {wait:.3f} s, over the "
                    f"{limit} s allowed (rate {self.rate}/s, capacity {self.capacity:g}); "
                    "raise the timeout or lower the request rate"
                )
            self._tokens -= amount
            self._waiting += 1
        return wait

    def granted(self, wait: float) -> None:
        with self._lock:
            self._waiting -= 1
            self._acquired += 1
            self._slept_total += wait
            self._last_sleep = wait

    def cancel(self, amount: float) -> None:
        """A reserved caller gave up while waiting: its tokens go back."""
        with self._lock:
            self._waiting -= 1
            self._tokens += amount

    def adjust(self, tokens: float) -> None:
        with self._lock:
            self._refill()
            self._tokens = min(self.capacity, self._tokens + tokens)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            self._refill()
            return {
                "name": self.name,
                "acquired": self._acquired,
                "slept_s_total": self._slept_total,
                "rejects": self._rejects,
                "last_sleep_s": self._last_sleep,
                "waiting": self._waiting,
                "tokens": self._tokens,
            }


class _Bucket:
    """What both buckets share: construction, ``from_env``, settling and stats."""

    _DEFAULT_NAME = "default"

    def __init__(
        self,
        rate_per_sec: float,
        capacity: float,
        max_sleep_s: float | None = None,
        name: str | None = None,
    ) -> None:
        self._core = _Reservations(rate_per_sec, capacity, max_sleep_s, name or self._DEFAULT_NAME)

    @classmethod
    def from_env(
        cls,
        default_rate: float = 3.0,
        default_capacity: float = 6,
        default_max_sleep_s: float | None = None,
        name: str | None = None,
    ) -> Self:
        """A bucket from ``SCILLM_BUCKET_RATE``, ``SCILLM_BUCKET_CAPACITY`` and
        ``SCILLM_BUCKET_MAX_SLEEP_S``, each falling back to its default (read now); a malformed
        value is a ValueError naming the variable."""
        return cls(
            env_float(default_rate, "SCILLM_BUCKET_RATE"),
            env_float(default_capacity, "SCILLM_BUCKET_CAPACITY"),
            setting(None, default_max_sleep_s, float, "SCILLM_BUCKET_MAX_SLEEP_S"),
            name,
        )

    @property
    def rate_per_sec(self) -> float:
        return self._core.rate

    @property
    def capacity(self) -> float:
        return self._core.capacity

    def adjust(self, tokens: float) -> None:
        """Give back unused tokens (``tokens > 0``) or charge extra ones (``< 0``), no waiting."""
        self._core.adjust(tokens)

    def stats(self) -> dict[str, Any]:
        """``{name, acquired, slept_s_total, rejects, last_sleep_s, waiting, tokens}``."""
        return self._core.stats()


class TokenBucket(_Bucket):
    """A thread-safe token bucket; ``with bucket.acquire():`` blocks until a token is taken.

    ``rate_per_sec`` tokens per second refill up to ``capacity`` (the burst); it starts full.
    ``max_sleep_s`` caps every wait: past it ``acquire`` raises :class:`scillm.TimeoutError`
    (it never lets a caller through without a token). ``rejects`` counts those refusals.
    """

    def acquire(self, amount: float = 1.0, timeout: float | None = None) -> _Grant:
        """Block until ``amount`` tokens are taken; the result may be used in a ``with``."""
        wait = self._core.reserve(amount, timeout)
        try:
            if wait > 0:
                time.sleep(wait)
        except BaseException:
            self._core.cancel(amount)
            raise
        self._core.granted(wait)
        return _GRANT

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        return None


class AsyncTokenBucket(_Bucket):
    """The asyncio twin of :class:`TokenBucket`: ``async with (await bucket.acquire()):`` or
    ``async with bucket:``. Waiting never blocks the event loop, and one bucket may be shared
    by several event loops and threads."""

    _DEFAULT_NAME = "default-async"

    async def acquire(self, amount: float = 1.0, timeout: float | None = None) -> _Grant:
        """Wait until ``amount`` tokens are taken; the result may be used in an ``async with``."""
        wait = self._core.reserve(amount, timeout)
        try:
            if wait > 0:
                await asyncio.sleep(wait)
        except BaseException:
            self._core.cancel(amount)
            raise
        self._core.granted(wait)
        return _GRANT

    async def __aenter__(self) -> Self:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def token_bucket_from_env(
    default_rate: float = 3.0,
    default_capacity: float = 6,
    default_max_sleep_s: float | None = None,
    name: str | None = None,
) -> TokenBucket:
    """:meth:`TokenBucket.from_env` under the original's name."""
    return TokenBucket.from_env(default_rate, default_capacity, default_max_sleep_s, name)
