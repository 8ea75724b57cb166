"""One tiny call per model, timed: what warm-ups and the doctor's provider checks send.

    results = await probe_all(targets, api_base=None, api_key=None, timeout=60, concurrency=4)
    results[0].as_dict()   # {"model", "ok", "elapsed_ms", "content" | "error"}

The call is the original's ping (``max_tokens`` 8, temperature 0) through scillm's Router with
no retries and no fallbacks: each result says how that model answered this one call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scillm.ops.targets import Target

__all__ = ["PING", "PING_PARAMS", "ProbeResult", "probe", "probe_all"]

PING = [{"role": "user", "content": "ping"}]
PING_PARAMS: dict[str, Any] = {"max_tokens": 8, "temperature": 0}


@dataclass(frozen=True)
class ProbeResult:
    """How ``target`` answered: ``content`` when ``ok``, else ``error``."""

    target: Target
    ok: bool
    elapsed_ms: float
    content: str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.target.model}
        if self.target.served_by is not None:
            out["deployment"] = self.target.served_by
        out.update(ok=self.ok, elapsed_ms=self.elapsed_ms)
        if self.ok:
            out["content"] = self.content
        else:
            out["error"] = self.error
        return out


async def probe(
    target: Target, *, api_base: str | None, api_key: str | None, timeout: float
) -> ProbeResult:
    """One ping to ``target`` (``api_base``/``api_key`` apply to ad-hoc targets; a router
    config's deployments already carry them). Never raises for a failed call."""
    from scillm.router import Router

    extra: dict[str, Any] = {}
    if target.deployment is None:
        given = (("api_base", api_base), ("api_key", api_key))
        extra = {key: value for key, value in given if value is not None}
    model_list = [target.deployment] if target.deployment is not None else None
    started = time.perf_counter()
    try:
        async with Router(model_list=model_list, num_retries=0, timeout=timeout) as router:
            reply = await router.acompletion(target.model, PING, **PING_PARAMS, **extra)
    except Exception as exc:  # a probe reports every failure, it never crashes the report
        return ProbeResult(target, False, _ms_since(started), error=_describe(exc))
    content = reply.choices[0].message.content if reply.choices else None
    return ProbeResult(target, True, _ms_since(started), content=content or "")


async def probe_all(
    targets: list[Target],
    *,
    api_base: str | None,
    api_key: str | None,
    timeout: float,
    concurrency: int,
    on_result: Callable[[ProbeResult], None] | None = None,
) -> list[ProbeResult]:
    """:func:`probe` every target, at most ``concurrency`` at once; results in target order.
    ``on_result`` is called with each result as it comes."""
    slots = asyncio.Semaphore(concurrency)

    async def bounded(target: Target) -> ProbeResult:
        async with slots:
            result = await probe(target, api_base=api_base, api_key=api_key, timeout=timeout)
        if on_result is not None:
            on_result(result)
        return result

    return list(await asyncio.gather(*(bounded(target) for target in targets)))


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)


def _describe(exc: BaseException) -> str:
    message = str(exc) or "(no message)"
    return f"{type(exc).__name__}: {message}"
