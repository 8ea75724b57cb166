"""Separate scillm's own call options from what goes to the provider.

Every Router call starts here: scillm-only keywords are popped into :class:`CallOptions` and
never reach a provider's body (a test reads the mock server's request log to prove it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["ROUTER_ONLY", "CallOptions", "split_kwargs"]


@dataclass(slots=True)
class CallOptions:
    """Per-call settings that steer scillm and are never sent."""

    response_mode: str | None = None
    json_schema: Any = None
    deterministic: bool | None = None
    cache: bool | None = None
    retry: dict[str, Any] = field(default_factory=dict)
    callbacks: dict[str, Callable[..., Any]] = field(default_factory=dict)


RETRY_KEYS = frozenset(
    {
        "retry_enabled",
        "honor_retry_after",
        "retry_max_attempts",
        "retry_time_budget_s",
        "retry_base_s",
        "retry_max_s",
        "retry_jitter_pct",
        "num_retries",
    }
)
CALLBACK_KEYS = frozenset({"on_attempt", "on_success", "on_giveup"})
_PLAIN = frozenset(f.name for f in fields(CallOptions)) - {"retry", "callbacks"}
ROUTER_ONLY = _PLAIN | RETRY_KEYS | CALLBACK_KEYS
"""Every keyword the Router consumes itself."""


def split_kwargs(kwargs: dict[str, Any]) -> tuple[CallOptions, dict[str, Any]]:
    """Pop scillm-only keywords out of ``kwargs``; return them and what is left for the provider."""
    rest = dict(kwargs)
    opts = CallOptions()
    for key in _PLAIN & rest.keys():
        setattr(opts, key, rest.pop(key))
    for key in RETRY_KEYS & rest.keys():
        opts.retry[key] = rest.pop(key)
    for key in CALLBACK_KEYS & rest.keys():
        opts.callbacks[key] = rest.pop(key)
    return opts, rest
