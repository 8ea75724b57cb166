"""Retry decisions as small pure functions: what is retryable, and how long to wait.

Delay before retry ``k`` (1-based), with ``b = min(retry_max_s, retry_base_s * 2**(k-1))``:
``b * (1 - retry_jitter_pct * U)``, ``U`` uniform in [0, 1) — so ``retry_jitter_pct=1`` is full
jitter, ``0`` none. When the server sent ``Retry-After`` (and ``honor_retry_after``), the delay is
at least that. A retry that would end past ``retry_time_budget_s`` is not attempted.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Any

from scillm._config import env, twins
from scillm.errors import APIError, ConnectionError, ScillmError, TimeoutError

__all__ = ["RetryPolicy", "retry_delay", "should_retry"]

RETRYABLE_STATUS = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a call is retried (the short profile by default)."""

    max_retries: int = 2
    base_s: float = 0.5
    max_s: float = 8.0
    jitter_pct: float = 1.0
    time_budget_s: float | None = None
    honor_retry_after: bool = True

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")
        for name in ("base_s", "max_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"retry {name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.jitter_pct <= 1:
            raise ValueError(f"retry_jitter_pct must be within [0, 1], got {self.jitter_pct!r}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ValueError(f"retry_time_budget_s must be > 0, got {self.time_budget_s!r}")

    @classmethod
    def long_run(cls) -> RetryPolicy:
        """The profile for long batch runs (``retry_enabled=True``)."""
        return cls(max_retries=8, base_s=5.0, max_s=120.0, jitter_pct=0.25, time_budget_s=900.0)

    def with_env(self) -> RetryPolicy:
        """This policy updated from ``SCILLM_RETRY_*`` (or ``LITELLM_RETRY_*``) variables."""
        values: dict[str, Any] = {}
        for kwarg, _, cast in _KNOBS:
            raw = env(*twins(kwarg.upper()))
            if raw is not None:
                values[kwarg] = cast(raw)
        raw = env(*twins("RETRY_ENABLED"))
        if raw is not None:
            values["retry_enabled"] = _flag(raw)
        return self.with_overrides(values)

    def with_overrides(self, overrides: dict[str, Any]) -> RetryPolicy:
        """This policy with per-call ``retry_*`` kwargs applied (``retry_enabled`` first)."""
        if not overrides:
            return self
        policy = RetryPolicy.long_run() if overrides.get("retry_enabled") else self
        changes = {
            name: overrides[kwarg] for kwarg, name, _ in _KNOBS if overrides.get(kwarg) is not None
        }
        attempts = overrides.get("retry_max_attempts")
        if attempts is not None and not attempts >= 1:
            raise ValueError(f"retry_max_attempts must be >= 1, got {attempts!r}")
        if overrides.get("num_retries") is not None:
            changes["max_retries"] = int(overrides["num_retries"])
        return replace(policy, **changes) if changes else policy


def _flag(raw: str) -> bool:
    return raw.lower() in ("1", "true", "yes")


_KNOBS: tuple[tuple[str, str, Any], ...] = (
    ("retry_max_attempts", "max_retries", int),
    ("retry_base_s", "base_s", float),
    ("retry_max_s", "max_s", float),
    ("retry_jitter_pct", "jitter_pct", float),
    ("retry_time_budget_s", "time_budget_s", float),
    ("honor_retry_after", "honor_retry_after", _flag),
)


def should_retry(exc: BaseException) -> bool:
    """Retry 408, 429, 5xx, timeouts and connection errors; never other 4xx."""
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    if isinstance(exc, APIError) and exc.status_code is not None:
        return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500
    return False


def retry_delay(policy: RetryPolicy, retry_no: int, exc: ScillmError, rng: random.Random) -> float:
    """Seconds to wait before retry ``retry_no`` (1-based) after ``exc``."""
    backoff = min(policy.max_s, policy.base_s * 2 ** (retry_no - 1))
    delay = backoff * (1 - policy.jitter_pct * rng.random())
    retry_after = getattr(exc, "retry_after_s", None)
    if policy.honor_retry_after and retry_after is not None:
        delay = max(delay, float(retry_after))
    return float(delay)
