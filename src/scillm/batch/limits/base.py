"""One rate limit for every worker of a run: the ``Limiter`` protocol and the run's ``Rates``.

    await limiter.acquire(endpoint, cost)        # waits for one request and ``cost`` tokens
    await limiter.settle(endpoint, cost, spent)  # the reply's usage: refund (or charge) the rest
    await limiter.penalize(endpoint, 2.0)        # a 429 said Retry-After: 2 → everyone waits

:func:`scillm.batch.limits.backends.make_limiter` picks a backend by URL. Keys are namespaced by a
hash of the API key (:func:`namespace`), so separate jobs on one key share one budget.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["HEADROOM", "Limiter", "Rates", "namespace"]

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
