"""One rate limit for every worker of a run: the ``Limiter`` protocol and how to pick a backend.

    limiter = make_limiter("redis://127.0.0.1:6379/0", Rates(rpm=500, tpm=200_000), api_key)
    await limiter.acquire(endpoint, cost)        # waits for one request and ``cost`` tokens
    await limiter.settle(endpoint, cost, spent)  # the reply's usage: refund (or charge) the rest
    await limiter.penalize(endpoint, 2.0)        # a 429 said Retry-After: 2 → everyone waits

Backends: ``"memory"`` (one process: :class:`scillm.router.pacing.LocalLimiter`) and
``redis://…`` (every process of a cluster: :class:`scillm.scaleout.redis_gcra.RedisLimiter`).
Keys are namespaced by a hash of the API key, so separate jobs on one key share one budget.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["HEADROOM", "Limiter", "Rates", "make_limiter", "namespace"]

HEADROOM = 0.9
"""Pace at 90 % of the stated limits: providers quantise windows and latency jitters."""


@runtime_checkable
class Limiter(Protocol):
    """A rate limit shared by every caller of one endpoint."""

    async def acquire(self, endpoint: str, cost: int) -> int:
        """Wait until one request costing ``cost`` tokens may go; returns the tokens charged."""

    async def settle(self, endpoint: str, charged: int, spent: int) -> None:
        """Correct the token charge with the reply's usage (``spent`` of ``charged``)."""

    async def penalize(self, endpoint: str, retry_after_s: float) -> None:
        """Hold every caller of ``endpoint`` for ``retry_after_s`` seconds (a 429 said so)."""

    async def aclose(self) -> None:
        """Release connections."""


@dataclass(frozen=True, slots=True)
class Rates:
    """Requests and tokens a minute (None: not limited)."""

    rpm: float | None = None
    tpm: float | None = None

    def __post_init__(self) -> None:
        for name, value in (("rpm", self.rpm), ("tpm", self.tpm)):
            if value is not None and not value > 0:
                raise ValueError(f"--{name} must be a positive number, got {value}")


def namespace(api_key: str | None) -> str:
    """The key namespace of an API key: a short hash, never the key itself."""
    return hashlib.blake2b((api_key or "").encode(), digest_size=8).hexdigest()


def make_limiter(url: str, rates: Rates, api_key: str | None) -> Limiter:
    """The limiter named by ``url``: ``memory`` or ``redis://``/``rediss://``/``unix://``."""
    if url == "memory":
        from scillm.router.pacing import LocalLimiter

        return LocalLimiter(rates.rpm, rates.tpm)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from scillm.scaleout.redis_gcra import RedisLimiter

        return RedisLimiter(url, rates, namespace(api_key))
    raise ValueError(
        f"--limits must be 'memory' or a Redis URL like redis://host:6379/0, got {url!r}"
    )
