"""The bookkeeping of one call's attempts: counts, sleeps, budget, and the event payloads."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from scillm.errors import APIError, ScillmError
from scillm.router.deployments import Deployment
from scillm.router.retry import RetryPolicy

__all__ = ["RetryRun"]


@dataclass(slots=True)
class RetryRun:
    """Attempts of one call so far; ``stats`` is the ``scillm_router.retries`` meta dict."""

    policy: RetryPolicy
    stats: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    retries: int = 0
    first_error: ScillmError | None = None

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def remaining_time_s(self) -> float | None:
        budget = self.policy.time_budget_s
        return None if budget is None else max(0.0, budget - self.elapsed_s())

    def fits_budget(self, delay: float) -> bool:
        """Whether sleeping ``delay`` and trying again stays inside the time budget."""
        remaining = self.remaining_time_s()
        return remaining is None or delay < remaining

    def payload(
        self,
        event: str,
        deployment: Deployment,
        error: ScillmError | None = None,
        next_sleep_s: float | None = None,
    ) -> dict[str, Any]:
        """One event dict (the schema is documented in :mod:`scillm.router.events`)."""
        return {
            "event": event,
            "model": deployment.model,
            "deployment": deployment.id,
            "attempt": self.stats["attempts"],
            "status_code": error.status_code if isinstance(error, APIError) else None,
            "error_class": type(error).__name__ if error is not None else None,
            "retry_after_s": getattr(error, "retry_after_s", None),
            "next_sleep_s": next_sleep_s,
            "elapsed_s": round(self.elapsed_s(), 6),
            "cumulative_sleep_s": round(self.stats["total_sleep_s"], 6),
            "remaining_time_s": self.remaining_time_s(),
            "remaining_attempts": max(0, self.policy.max_retries - self.retries),
        }

    def give_up(self, error: ScillmError) -> ScillmError:
        """``error`` with ``.retry_stats`` attached and the first error of the call chained."""
        error.retry_stats = dict(self.stats)  # type: ignore[attr-defined]
        if self.first_error is not None and self.first_error is not error:
            error.__cause__ = self.first_error
        return error
