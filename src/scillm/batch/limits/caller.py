"""One row → one Router call under the run's global :class:`~scillm.batch.limits.base.Limiter`.

Every attempt, retries included, first passes the limiter (so the global schedule counts it), and
the Router makes exactly one attempt per call. A 429 puts the whole endpoint in a cooldown as
long as its Retry-After (every worker honours it) and the row tries again; a 5xx or a dropped
connection is retried after a short backoff. Tokens are charged as prompt estimate +
``max_tokens`` and settled with the reply's usage. ``on_send`` hears of each row once, just
before its first attempt leaves (the scale-out worker logs it to count re-sent calls).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from scillm.batch.jobs import Job
from scillm.batch.limits.base import Limiter
from scillm.batch.rowcall import RowCaller, estimate_tokens
from scillm.batch.summary import BatchSummary
from scillm.cost import CostMeter
from scillm.errors import ConnectionError, RateLimitError, ServerError, TimeoutError
from scillm.router import Router

__all__ = ["LimitedRowCaller"]

MAX_ATTEMPTS = 8
DEFAULT_COOLDOWN_S = 1.0
"""The hold after a 429 that names no Retry-After."""
BACKOFF_S = 0.5
RETRIES_OF_FAILURES = 3
"""Attempts of a row whose calls fail with a 5xx, a dropped connection or a timeout."""


class LimitedRowCaller(RowCaller):
    """A :class:`RowCaller` whose every attempt is paced by a shared limiter."""

    def __init__(
        self,
        router: Router,
        defaults: dict[str, Any],
        summary: BatchSummary,
        limiter: Limiter,
        endpoint: str,
        meter: CostMeter | None = None,
        on_send: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(router, defaults, summary, meter=meter)
        self.limiter, self.endpoint = limiter, endpoint
        self.on_send = on_send
        self.calls = 0

    async def _call(self, job: Job, request: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        cost = estimate_tokens(request)
        limited = 0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            charged = await self.limiter.acquire(self.endpoint, cost)
            if attempt == 1 and self.on_send is not None:
                self.on_send(job.key)
            self.calls += 1
            try:
                reply = dict(await self.router.acompletion(**request, num_retries=0))
            except RateLimitError as exc:
                await self.limiter.settle(self.endpoint, charged, 0)
                wait = exc.retry_after_s if exc.retry_after_s is not None else DEFAULT_COOLDOWN_S
                await self.limiter.penalize(self.endpoint, wait)
                if attempt == MAX_ATTEMPTS:
                    return self._failure(job, exc, request, limited), False  # counts this 429
                self.summary.rate_limited += 1
                limited += 1
                continue
            except (ServerError, ConnectionError, TimeoutError) as exc:
                await self.limiter.settle(self.endpoint, charged, 0)
                if attempt < RETRIES_OF_FAILURES:
                    await asyncio.sleep(BACKOFF_S * 2**attempt)
                    continue
                return self._failure(job, exc, request, limited), False
            except Exception as exc:
                await self.limiter.settle(self.endpoint, charged, 0)
                return self._failure(job, exc, request, limited), False
            usage = reply.get("usage")
            spent = usage.get("total_tokens") if isinstance(usage, dict) else None
            spent = spent if isinstance(spent, int) else charged
            await self.limiter.settle(self.endpoint, charged, spent)
            return self._reply(job, reply, 0, request, limited)
        raise AssertionError("unreachable")
