"""One call's attempts on a deployment group: the retry decision, counts, sleeps, the deadline,
and the event payloads."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

from scillm.errors import APIError, RateLimitError, ScillmError, TimeoutError
from scillm.router.deployments import Deployment
from scillm.router.retry import RetryPolicy, retry_delay

__all__ = ["RetryRun", "deadline_error"]


def _too_long(exc: ScillmError, retry_after: float | None, left: float) -> ScillmError:
    """``exc`` restated: the wait the server asked for does not fit in the time the call has."""
    if not isinstance(exc, APIError):
        return exc
    note = (
        f"; the server asked to retry after {retry_after:g} s, more than the {max(left, 0):.3g} s "
        "this call has left (timeout= / retry_time_budget_s), so it fails now"
    )
    error = type(exc)(
        exc.message + note,
        status_code=exc.status_code,
        body=exc.body,
        headers=exc.headers,
        provider=exc.provider,
        model=exc.model,
    )
    error.retry_after_s = exc.retry_after_s
    return error


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

    def after(
        self, exc: ScillmError, *, retryable: bool, alternative: bool, rng: random.Random
    ) -> float | ScillmError:
        """The wait before the next attempt after ``exc``, or the error that ends the call.

        A retry goes at once to a healthy ``alternative`` deployment, else after
        :func:`retry_delay`. Nothing starts past the deadline: an attempt that used up the call's
        time ends it with the deadline error, and a wait that would end after the deadline or the
        retry budget (a ``Retry-After`` beyond the time left included) ends it at once with the
        error that asked for it.
        """
        self.first_error = self.first_error or exc
        self.last_error = exc
        if isinstance(exc, RateLimitError):
            self.stats["rate_limited"] += 1
        if isinstance(exc, TimeoutError) and time.monotonic() >= self.deadline:
            return self.out_of_time()
        if not retryable or self.retries >= self.policy.max_retries:
            return self.give_up(exc)
        delay = 0.0 if alternative else retry_delay(self.policy, self.retries + 1, exc, rng)
        left = self.left_s()
        if delay >= left:
            retry_after = getattr(exc, "retry_after_s", None)
            asked = retry_after is not None and self.policy.honor_retry_after
            return self.give_up(_too_long(exc, retry_after, left) if asked else exc)
        self.retries += 1
        self.stats["total_sleep_s"] += delay
        self.stats["last_retry_after_s"] = getattr(exc, "retry_after_s", None)
        return delay

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
