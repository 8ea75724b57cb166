"""The bookkeeping of one call's attempts: counts, sleeps, the deadline, and the event payloads."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from scillm.errors import APIError, ScillmError, TimeoutError
from scillm.router.deployments import Deployment
from scillm.router.retry import RetryPolicy

__all__ = ["RetryRun", "deadline_error"]


def deadline_error(
    timeout: float, stats: dict[str, Any], cause: BaseException | None
) -> TimeoutError:
    """The one error of a call that ran out of time: it keeps the retry stats and the cause."""
    err = TimeoutError(
        f"the call did not finish within timeout={timeout:g} s (retries included); "
        "raise timeout= or check the server"
    )
    err.retry_stats = dict(stats)  # type: ignore[attr-defined]
    err.__cause__ = cause
    return err


@dataclass(slots=True)
class RetryRun:
    """Attempts on one deployment group; ``stats`` is the ``scillm_router.retries`` meta dict.

    ``deadline`` (``time.monotonic()`` seconds) is the whole call's: no attempt or sleep may end
    after it. The retry time budget, when the policy has one, counts from ``started``.
    """

    policy: RetryPolicy
    stats: dict[str, Any]
    deadline: float
    timeout: float
    started: float = 0.0
    retries: int = 0
    first_error: ScillmError | None = None
    last_error: ScillmError | None = None

    def __post_init__(self) -> None:
        self.started = self.started or time.monotonic()

    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def remaining_time_s(self) -> float | None:
        """What is left of the retry time budget (None: the policy has none)."""
        budget = self.policy.time_budget_s
        return None if budget is None else max(0.0, budget - self.elapsed_s())

    def left_s(self) -> float:
        """Seconds until the call's deadline or the end of the retry budget, whichever is first."""
        left = self.deadline - time.monotonic()
        budget = self.remaining_time_s()
        return left if budget is None else min(left, budget)

    def attempt_timeout(self, deployment: Deployment) -> float:
        """An attempt's timeout: its deployment's, cut to the time the call has left."""
        left = self.deadline - time.monotonic()
        own = deployment.timeout
        return left if own is None else min(own, left)

    def record(self, error: ScillmError) -> None:
        self.first_error = self.first_error or error
        self.last_error = error

    def out_of_time(self) -> TimeoutError:
        """The deadline error, chained to the last attempt's error."""
        return deadline_error(self.timeout, self.stats, self.last_error)

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
            "last_error": f"{type(error).__name__}: {error}"[:200] if error is not None else None,
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
