"""``scillm.Router``: litellm's config shape, one pipeline for every call, lossless fan-out.

router = Router(model_list=[
    {"model_name": "fast", "litellm_params": {"model": "openai/gpt-4o-mini"}},
    {"model_name": "fast", "litellm_params": {"model": "vllm/qwen", "api_base": "..."}},
    {"model_name": "local", "litellm_params": {"model": "local/smollm2"}},
], fallbacks=[{"fast": ["local"]}], deterministic=True)
resp = router.completion(model="fast", messages=[{"role": "user", "content": "hi"}])
resp["scillm_router"]  # what happened: deployment, retries, timing, validation, cache ...
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from typing import Any

from scillm import _sync
from scillm._config import env, setting
from scillm._request import TRANSPORT_CHECKS, Request, normalise
from scillm.cost import CostMeter, budget_meter, price_name
from scillm.errors import BudgetExceeded, ScillmError
from scillm.providers.registry import DEFAULT_MODEL_ENV
from scillm.router.budget import Budget
from scillm.router.cache import ResponseCache, open_cache
from scillm.router.deployments import STRATEGIES, Deployment, build_groups
from scillm.router.images import ImagePolicy, image_policy_from
from scillm.router.parallel import RouterResult, fan_out, request_kwargs
from scillm.router.pipeline import Pipeline, error_type_of
from scillm.router.retry import RetryPolicy, RetrySettings
from scillm.runrecord import RecordLog
from scillm.types import ChatCompletionChunk

__all__ = ["DEFAULT_MAX_CONCURRENCY", "Router"]

DEFAULT_MAX_CONCURRENCY = 16


def _parse_fallbacks(
    fallbacks: list[Mapping[str, list[str]]] | None, groups: Mapping[str, Any]
) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for entry in fallbacks or ():
        if not isinstance(entry, Mapping):
            raise ValueError(f"fallbacks entries are {{group: [groups...]}} dicts, got {entry!r}")
        for source, targets in entry.items():
            targets = [targets] if isinstance(targets, str) else list(targets)
            unknown = [g for g in (source, *targets) if g not in groups]
            if unknown:
                raise ValueError(
                    f"fallbacks name unknown model groups {unknown}; groups: {sorted(groups)}"
                )
            out.setdefault(source, []).extend(targets)
    return out


def _check_timeout(timeout: object) -> None:
    try:
        TRANSPORT_CHECKS["timeout"]("timeout", timeout)
    except ScillmError as exc:
        raise ValueError(f"Router: {exc}") from None


def _cost_budget(max_cost_usd: float, groups: Mapping[str, list[Deployment]]) -> Budget:
    """A dollar budget for a Router; ValueError when it is none or cannot price a deployment."""
    budget = Budget(meter=budget_meter(max_cost_usd, "max_cost_usd"))
    names = (price_name(d.provider.name, d.model) for group in groups.values() for d in group)
    unknown = budget.unpriced(names)
    if unknown is not None:
        raise ValueError(
            f"max_cost_usd: the price of {unknown} (a deployment of this Router) is unknown, so "
            "the budget cannot count its calls; use models the price list (genai-prices) knows"
        )
    return budget


class Router:
    """Route calls over deployments with retries, fallbacks, validation and meta.

    ``completion``/``acompletion`` take the same arguments as :func:`scillm.completion` (one
    normaliser, :mod:`scillm._request`) plus scillm's own options (``response_mode``,
    ``json_schema``, ``deterministic``, ``cache``, ``retry_*``, ``num_retries``,
    ``on_attempt``/``on_success``/``on_giveup``), which are never sent to a provider.
    ``timeout`` is one deadline for the whole call, retries and waits included: the call's, else
    the Router's, else ``SCILLM_TIMEOUT`` (read when the Router is built), else 600 s; a
    deployment's ``timeout`` caps each of its attempts. ``num_retries`` (default 2, or
    ``SCILLM_RETRY_MAX_ATTEMPTS``) counts retries after
    the first failure. ``rate_limits={"group": {"rpm": ..., "tpm": ...}}`` paces a group like
    ``rpm``/``tpm`` in its ``litellm_params`` do. A deployment cools down for ``cooldown_s``
    after a 429 (or longer, as its Retry-After says) and after more than ``allowed_fails``
    other retryable failures within a minute (default 0: the first). ``max_cost_usd`` is a dollar
    budget for the Router's calls (their ``usage`` at :mod:`scillm.cost`'s prices): once spent,
    every new call raises :class:`~scillm.errors.BudgetExceeded` before anything is sent; a
    deployment whose price is unknown is refused (``ValueError`` here, BudgetExceeded for an
    ad-hoc call). ``record_path`` appends one run record (:mod:`scillm.runrecord`) per call to
    that JSONL file, as ``scillm batch`` rows and the proxy's usage log carry them.
    ``pace_from_headers=False`` (or ``SCILLM_PACE_FROM_HEADERS=0``) stops pacing from the
    provider's ``x-ratelimit-remaining-*`` headers, for when an outside limiter paces every
    process (``scillm batch --limits``); ``Retry-After`` still pauses.
    """

    def __init__(
        self,
        model_list: list[dict[str, Any]] | None = None,
        *,
        deterministic: bool = False,
        image_policy: ImagePolicy | Mapping[str, Any] | bool | None = None,
        cache: bool | str | ResponseCache | None = None,
        num_retries: int | None = None,
        timeout: float | None = None,
        routing_strategy: str = "simple-shuffle",
        fallbacks: list[Mapping[str, list[str]]] | None = None,
        max_concurrency: int | None = None,
        retry_policy: RetryPolicy | None = None,
        cooldown_s: float = 5.0,
        allowed_fails: int = 0,
        rate_limits: Mapping[str, Mapping[str, float]] | None = None,
        max_cost_usd: float | None = None,
        record_path: str | os.PathLike[str] | None = None,
        pace_from_headers: bool | None = None,
    ) -> None:
        if timeout is not None:
            _check_timeout(timeout)
        if type(allowed_fails) is not int or allowed_fails < 0:
            raise ValueError(f"allowed_fails must be an integer >= 0, got {allowed_fails!r}")
        if routing_strategy not in STRATEGIES:
            raise ValueError(f"routing_strategy {routing_strategy!r}; choose one of {STRATEGIES}")
        groups = build_groups(model_list)
        self.deterministic = deterministic
        self.max_concurrency = max_concurrency
        self._pipeline = Pipeline(
            groups=groups,
            fallbacks=_parse_fallbacks(fallbacks, groups),
            deterministic=deterministic,
            image_policy=image_policy_from(image_policy),
            cache=open_cache(cache),
            retry=RetrySettings.of_router(retry_policy, num_retries),
            strategy=routing_strategy,
            timeout=timeout,
            cooldown_s=cooldown_s,
            allowed_fails=allowed_fails,
            pace_from_headers=setting(pace_from_headers, True, bool, "SCILLM_PACE_FROM_HEADERS"),
        )
        for name, limits in (rate_limits or {}).items():
            if name not in groups:
                raise ValueError(f"rate_limits names unknown model group {name!r}")
            for deployment in groups[name]:
                deployment.pacer.configure(limits.get("rpm"), limits.get("tpm"))
        if max_cost_usd is not None:
            self._pipeline.budget = _cost_budget(max_cost_usd, groups)
        if record_path is not None:
            self._pipeline.records = RecordLog(record_path)
        self._closed = False

    @property
    def model_names(self) -> list[str]:
        """The model groups of ``model_list``."""
        return sorted(self._pipeline.groups)

    @property
    def pipeline(self) -> Pipeline:
        """The call pipeline every call of this Router runs through (for tools that prepare,
        send or validate a call step by step, such as provider batches)."""
        return self._pipeline

    @property
    def cache(self) -> ResponseCache | None:
        return self._pipeline.cache

    @staticmethod
    def resolve_default_model() -> str | None:
        """First set of SCILLM_DEFAULT_MODEL, SCILLM_MODEL, LITELLM_DEFAULT_MODEL, LITELLM_MODEL,
        DEFAULT_LITELLM_MODEL (None when none is)."""
        return env(*DEFAULT_MODEL_ENV)

    def set_budget(
        self,
        max_tokens: int | None = None,
        max_requests: int | None = None,
        on_exhaust: Callable[[], Any] | None = None,
        hard: bool = True,
        max_cost_usd: float | None = None,
    ) -> None:
        """Cap this Router's requests and tokens (prompt + completion) from now on, and with
        ``max_cost_usd`` its dollars (else a dollar budget it has keeps counting)."""
        before = self._pipeline.budget
        if max_cost_usd is not None:
            meter: CostMeter | None = _cost_budget(max_cost_usd, self._pipeline.groups).meter
        else:
            meter = before.meter if before is not None else None
        self._pipeline.budget = Budget(max_tokens, max_requests, on_exhaust, hard, meter=meter)

    @property
    def spent(self) -> CostMeter | None:
        """What this Router's calls have cost under its dollar budget (None: it has none)."""
        budget = self._pipeline.budget
        return budget.meter if budget is not None else None

    # -- single calls -------------------------------------------------------------------------

    async def acompletion(
        self, model: str | None = None, messages: Any = None, *, stream: bool = False, **kwargs: Any
    ) -> Any:
        """One call through the pipeline; ``stream=True`` returns an async iterator of chunks."""
        return await self.arun(normalise(model, messages, kwargs, stream=stream))

    def completion(
        self, model: str | None = None, messages: Any = None, *, stream: bool = False, **kwargs: Any
    ) -> Any:
        """Sync twin of :meth:`acompletion` (same pipeline, on scillm's background loop)."""
        req = normalise(model, messages, kwargs, stream=stream)
        if stream:
            chunks: AsyncIterator[ChatCompletionChunk] = _sync.run(self.arun(req))
            return _sync.SyncIterator(chunks)
        return _sync.run(self.arun(req))

    async def arun(self, req: Request) -> Any:
        """Run an already normalised request (what every door of scillm hands the pipeline)."""
        self._check_open()
        prep = self._pipeline.prepare(req)
        if req.stream:
            return await self._pipeline.open_stream(prep)
        return await self._pipeline.complete(prep)

    # -- fan-out ------------------------------------------------------------------------------

    def _limit(self, max_concurrency: int | None, concurrency: int | None) -> int | None:
        explicit = max_concurrency if max_concurrency is not None else concurrency
        if explicit is None:
            if self.deterministic:
                return 1
            explicit = self.max_concurrency or DEFAULT_MAX_CONCURRENCY
        return explicit if explicit > 0 else None

    async def _one(self, index: int, request: Any) -> RouterResult:
        queued = time.perf_counter()
        meta: dict[str, Any] = {"error_type": "provider_error"}
        try:
            kwargs = request_kwargs(request)
            model = kwargs.pop("model", None)
            messages = kwargs.pop("messages", None)
            prep = self._pipeline.prepare(normalise(model, messages, kwargs))
            meta = prep.meta
            prep.started = queued
            resp = await self._pipeline.complete(prep)
        except (ScillmError, TypeError, ValueError) as exc:
            meta = getattr(exc, "scillm_router", meta)
            meta["error_type"] = error_type_of(exc)
            meta["exception"] = f"{type(exc).__name__}: {exc}"[:200]
            return RouterResult.failure(index, request, exc, meta)
        return RouterResult(dict(resp), index=index, request=request)

    async def parallel_acompletions(
        self,
        requests: Iterable[Any] | AsyncIterable[Any],
        *,
        max_concurrency: int | None = None,
        concurrency: int | None = None,
        preserve_order: bool = True,
        return_exceptions: bool = True,
    ) -> list[RouterResult]:
        """Run many requests; one lossless result per request (input order by default).

        ``max_concurrency`` (alias ``concurrency``) defaults to the Router's, else 16; a
        deterministic Router runs serially unless it is given; ≤ 0 means unbounded. With
        ``return_exceptions=False`` the first failure is raised and the rest cancelled. Under a
        hard budget, :class:`BudgetExceeded` is raised at the end, carrying the results.
        """
        self._check_open()
        results: list[RouterResult] = []
        stop = not return_exceptions
        async for result in fan_out(
            requests, self._one, self._limit(max_concurrency, concurrency), stop_on_error=stop
        ):
            if stop and result.error is not None:
                raise result.error
            results.append(result)
        if preserve_order:
            results.sort(key=lambda r: r.index)
        budget = self._pipeline.budget
        skipped = any(r.meta.get("error_type") == "budget_exceeded" for r in results)
        if budget is not None and budget.hard and skipped:
            raise BudgetExceeded(budget.message(), results=results)
        return results

    async def parallel_as_completed(
        self,
        requests: Iterable[Any] | AsyncIterable[Any],
        *,
        max_concurrency: int | None = None,
        concurrency: int | None = None,
    ) -> AsyncIterator[RouterResult]:
        """Like :meth:`parallel_acompletions`, yielding each result as soon as it completes."""
        self._check_open()
        async for result in fan_out(requests, self._one, self._limit(max_concurrency, concurrency)):
            yield result

    # -- lifecycle ----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this Router is closed; create a new one")

    async def aclose(self) -> None:
        """Release the Router's resources (idempotent)."""
        self.close()

    def close(self) -> None:
        """Release the Router's resources (idempotent)."""
        if not self._closed:
            self._closed = True
            if self._pipeline.cache is not None:
                self._pipeline.cache.close()
            if self._pipeline.records is not None:
                self._pipeline.records.close()

    def __enter__(self) -> Router:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Router:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
