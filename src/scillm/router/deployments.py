"""Deployments (litellm's ``model_list`` shape), their health, and how one is picked.

{"model_name": "gpt-5",                       # the group callers name
 "litellm_params": {"model": "openai/gpt-5",  # a scillm/litellm model string
                    "api_base": ..., "api_key": ..., "custom_llm_provider": ...,
                    "rpm": 600, "tpm": 1_000_000,
                    ...}}                     # any other key is a default call parameter
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scillm.errors import ScillmError
from scillm.providers.base import Provider
from scillm.providers.registry import resolve
from scillm.router.pacing import EndpointPacer, pacer_for

__all__ = ["STRATEGIES", "Deployment", "build_groups", "pick_order"]

STRATEGIES = ("simple-shuffle", "least-busy", "latency")
TRANSPORT_KEYS = ("api_base", "base_url", "api_key", "custom_llm_provider", "timeout")
PACING_KEYS = ("rpm", "tpm")
_EWMA = 0.3
FAILURE_WINDOW_S = 60.0
"""The window ``allowed_fails`` counts a deployment's failures in (litellm's: a minute)."""


@dataclass(slots=True, eq=False)
class Deployment:
    """One concrete endpoint of a model group, with the health the Router tracks for it."""

    group: str
    model: str
    provider: Provider
    provider_model: str
    api_base: str | None = None
    api_key: str | None = None
    timeout: float | None = None
    rpm: int | None = None
    tpm: int | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    in_flight: int = 0
    cooldown_until: float = 0.0
    failures: deque[float] = field(default_factory=deque)
    latency_s: float | None = None
    pacer: EndpointPacer = field(default_factory=EndpointPacer)
    provider_honours_timeout: bool = False  # the provider ends every call by Call.timeout

    def healthy(self, now: float) -> bool:
        return self.cooldown_until <= now

    def cool_down(self, seconds: float) -> None:
        self.cooldown_until = max(self.cooldown_until, time.monotonic() + seconds)

    def count_failure(self, now: float, allowed: int) -> bool:
        """Record a failure; True when more than ``allowed`` fell within the last
        :data:`FAILURE_WINDOW_S` (then the count starts over)."""
        failures = self.failures
        failures.append(now)
        while failures and failures[0] <= now - FAILURE_WINDOW_S:
            failures.popleft()
        if len(failures) <= allowed:
            return False
        failures.clear()
        return True

    def record_latency(self, seconds: float) -> None:
        prev = self.latency_s
        self.latency_s = seconds if prev is None else prev + _EWMA * (seconds - prev)


def deployment_from(group: str, params: Mapping[str, Any], ident: str) -> Deployment:
    """Build a deployment from ``litellm_params`` (raises ScillmError for an unusable model)."""
    model = params["model"]
    provider, provider_model = resolve(model, params.get("custom_llm_provider"))
    defaults = {
        k: v for k, v in params.items() if k not in (*TRANSPORT_KEYS, *PACING_KEYS, "model")
    }
    timeout = params.get("timeout")
    api_base = params.get("api_base") or params.get("base_url")
    pacer = pacer_for(provider.name, api_base, params.get("api_key"), provider_model)
    pacer.configure(params.get("rpm"), params.get("tpm"))
    return Deployment(
        group=group,
        model=model,
        provider=provider,
        provider_model=provider_model,
        api_base=api_base,
        api_key=params.get("api_key"),
        timeout=float(timeout) if timeout is not None else None,
        rpm=params.get("rpm"),
        tpm=params.get("tpm"),
        defaults=defaults,
        id=ident,
        pacer=pacer,
        provider_honours_timeout=getattr(provider, "honours_timeout", False) is True,
    )


def build_groups(model_list: Sequence[Mapping[str, Any]] | None) -> dict[str, list[Deployment]]:
    """Validate ``model_list`` and group its deployments by ``model_name``."""
    groups: dict[str, list[Deployment]] = {}
    for i, entry in enumerate(model_list or ()):
        where = f"model_list[{i}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where} must be a dict, got {type(entry).__name__}")
        name = entry.get("model_name")
        params = entry.get("litellm_params")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where} needs a non-empty 'model_name' string: {dict(entry)!r}")
        if not isinstance(params, Mapping) or not isinstance(params.get("model"), str):
            raise ValueError(
                f"{where} ({name!r}) needs 'litellm_params' with a 'model' string, e.g. "
                "{'model': 'openai/gpt-4o-mini', 'api_base': ...}"
            )
        info = entry.get("model_info")
        ident = str(info["id"]) if isinstance(info, Mapping) and "id" in info else f"{name}#{i}"
        try:
            deployment = deployment_from(name, params, ident)
        except ScillmError as exc:
            raise ValueError(f"{where} ({name!r}): {exc}") from exc
        groups.setdefault(name, []).append(deployment)
    return groups


def pick_order(
    deployments: Sequence[Deployment], strategy: str, rng: random.Random, *, stable: bool
) -> list[Deployment]:
    """Deployments in the order to try them: healthy ones by strategy, then cooling ones."""
    now = time.monotonic()
    healthy = [d for d in deployments if d.healthy(now)]
    cooling = sorted((d for d in deployments if not d.healthy(now)), key=lambda d: d.cooldown_until)
    if strategy == "least-busy":
        healthy.sort(key=lambda d: d.in_flight)
    elif strategy == "latency":
        healthy.sort(key=lambda d: d.latency_s or 0.0)
    elif not stable and len(healthy) > 1:
        weights = [float(d.rpm or d.tpm or 1) for d in healthy]
        first = rng.choices(range(len(healthy)), weights=weights)[0]
        healthy.insert(0, healthy.pop(first))
    return healthy + cooling
