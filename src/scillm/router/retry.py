"""Retry decisions as small pure functions: what is retryable, how long to wait, which policy.

The wait before retry ``k`` (1-based):

* the server said when (``Retry-After``, ``retry-after-ms``, and ``honor_retry_after``): that long,
  plus at most 10 % de-synchronising jitter (never less than the header);
* otherwise exponential backoff with jitter: ``b * (1 - retry_jitter_pct * U)``,
  ``b = min(retry_max_s, retry_base_s * 2**(k-1))``, ``U`` uniform in [0, 1) — so
  ``retry_jitter_pct=1`` is full jitter, ``0`` none.

``max_retries`` (``num_retries``, ``retry_max_attempts``) counts retries after the first failure.
Which policy a call gets, lowest to highest: the profile (the Router's ``retry_policy`` or the short
one; the long-run one when ``retry_enabled``), then ``SCILLM_RETRY_*`` (only without an explicit
``retry_policy``), then the Router's ``num_retries``, then the call's own ``retry_*`` keywords.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from scillm._config import resolve, twins
from scillm._request import RETRY_CHECKS
from scillm.errors import APIError, ConnectionError, ScillmError, TimeoutError

__all__ = ["RetryPolicy", "RetrySettings", "retry_delay", "should_retry"]

RETRYABLE_STATUS = frozenset({408, 429})
RETRY_AFTER_JITTER = 0.1

_KNOB_FIELDS = {
    "retry_max_attempts": "max_retries",
    "num_retries": "max_retries",
    "retry_base_s": "base_s",
    "retry_max_s": "max_s",
    "retry_jitter_pct": "jitter_pct",
    "retry_time_budget_s": "time_budget_s",
    "honor_retry_after": "honor_retry_after",
}
_ENV_KNOBS: dict[str, type] = {
    "retry_max_attempts": int,
    "retry_base_s": float,
    "retry_max_s": float,
    "retry_jitter_pct": float,
    "retry_time_budget_s": float,
    "honor_retry_after": bool,
    "retry_enabled": bool,
}


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
        if isinstance(self.max_retries, bool) or not self.max_retries >= 0:
            raise ValueError(f"max_retries must be an integer >= 0, got {self.max_retries!r}")
        for name in ("base_s", "max_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"retry {name} must be > 0, got {getattr(self, name)!r}")
        if not 0 <= self.jitter_pct <= 1:
            raise ValueError(f"retry_jitter_pct must be within [0, 1], got {self.jitter_pct!r}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ValueError(f"retry_time_budget_s must be > 0, got {self.time_budget_s!r}")

    @classmethod
    def long_run(cls) -> RetryPolicy:
        """The profile for long batch runs (``retry_enabled=True``), the seed's defaults."""
        return cls(max_retries=8, base_s=5.0, max_s=120.0, jitter_pct=0.25, time_budget_s=600.0)

    def with_knobs(self, knobs: Mapping[str, Any]) -> RetryPolicy:
        """This policy with ``retry_*``/``num_retries`` keyword values applied."""
        changes = {_KNOB_FIELDS[k]: v for k, v in knobs.items() if k in _KNOB_FIELDS}
        return replace(self, **changes) if changes else self


def env_knobs() -> dict[str, Any]:
    """``SCILLM_RETRY_*`` (or ``LITELLM_RETRY_*``) and ``SCILLM_HONOR_RETRY_AFTER`` as keywords."""
    sources = {knob: (kind, *twins(knob.upper())) for knob, kind in _ENV_KNOBS.items()}
    knobs = resolve({}, sources)
    for knob, value in knobs.items():
        try:
            RETRY_CHECKS[knob](knob, value)
        except ScillmError as exc:
            raise ValueError(f"{twins(knob.upper())[0]}: {exc}") from None
    return knobs


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """What a Router knows about retries; :meth:`policy` resolves one call's policy."""

    profile: RetryPolicy = field(default_factory=RetryPolicy)
    layers: tuple[Mapping[str, Any], ...] = ()
    explicit: bool = False  # a retry_policy was given: no environment applies

    @classmethod
    def of_router(cls, retry_policy: RetryPolicy | None, num_retries: int | None) -> RetrySettings:
        """An explicit ``retry_policy`` is used as given; otherwise the environment applies."""
        layers: list[Mapping[str, Any]] = [] if retry_policy is not None else [env_knobs()]
        if num_retries is not None:
            RETRY_CHECKS["num_retries"]("num_retries", num_retries)
            layers.append({"num_retries": num_retries})
        return cls(retry_policy or RetryPolicy(), tuple(layers), retry_policy is not None)

    def policy(
        self, call: Mapping[str, Any], provider_env: Mapping[str, Any] | None = None
    ) -> RetryPolicy:
        """The policy for a call with these ``retry_*`` keywords (highest precedence).

        ``provider_env`` holds a provider's own environment defaults (``CODEX_AGENT_*``): they
        rank with the environment, below the Router's explicit arguments.
        """
        layers = (*self.layers, call)
        if provider_env and not self.explicit:
            layers = (provider_env, *layers)
        enabled = next(
            (la["retry_enabled"] for la in reversed(layers) if "retry_enabled" in la), None
        )
        policy = RetryPolicy.long_run() if enabled else self.profile
        for layer in layers:
            policy = policy.with_knobs(layer)
        return policy


def should_retry(exc: BaseException) -> bool:
    """Retry 408, 429, 5xx, timeouts and connection errors; never other 4xx."""
    if isinstance(exc, TimeoutError | ConnectionError):
        return True
    if isinstance(exc, APIError) and exc.status_code is not None:
        return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500
    return False


def retry_delay(policy: RetryPolicy, retry_no: int, exc: ScillmError, rng: random.Random) -> float:
    """Seconds to wait before retry ``retry_no`` (1-based) after ``exc``."""
    retry_after = getattr(exc, "retry_after_s", None)
    if policy.honor_retry_after and retry_after is not None:
        return float(retry_after) * (1 + RETRY_AFTER_JITTER * rng.random())
    backoff = min(policy.max_s, policy.base_s * 2 ** (retry_no - 1))
    return float(backoff * (1 - policy.jitter_pct * rng.random()))
