"""The call pipeline every Router call takes, sync or async, model_list or ad-hoc.

    split scillm-only kwargs → route → deterministic policy → validate messages → image policy
    → structured-output plan → cache lookup → budget → send (retries, cooldown, group fallbacks)
    → validate / repair / one fallback call → meta stamping → cache store

Each step is a small function elsewhere in this package; this module only puts them in order.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from scillm._request import Request, default_timeout
from scillm._schema import SchemaPlan
from scillm.cost import price_name
from scillm.errors import (
    APIError,
    BadRequestError,
    BudgetExceeded,
    ConnectionError,
    RateLimitError,
    ScillmError,
    TimeoutError,
)
from scillm.providers.base import Call
from scillm.providers.codex_agent import CodexAgent
from scillm.providers.registry import default_model
from scillm.router.attempts import RetryRun, deadline_error
from scillm.router.budget import Budget
from scillm.router.cache import ResponseCache, cache_key
from scillm.router.deployments import Deployment, deployment_from, pick_order
from scillm.router.determinism import apply_determinism, sampling_of
from scillm.router.events import Telemetry, emit
from scillm.router.images import ImagePolicy, check_images
from scillm.router.pacing import Ticket, estimate_tokens
from scillm.router.retry import RetryPolicy, RetrySettings, should_retry
from scillm.router.structured import fallback_request, validate_reply
from scillm.runrecord import RecordLog, build_record
from scillm.types import ChatCompletion, ChatCompletionChunk

__all__ = ["Pipeline", "Prepared", "error_type_of"]

T = TypeVar("T")
Send = Callable[[Deployment, Call], Awaitable[T]]


@dataclass(slots=True)
class Prepared:
    """A call after the pre-network steps: where it may go and exactly what it will send."""

    route: list[list[Deployment]]
    request: Request
    params: dict[str, Any]
    policy: RetryPolicy
    timeout: float
    meta: dict[str, Any]
    cache_key: str | None = None
    started: float = field(default_factory=time.perf_counter)
    deadline: float = 0.0  # time.monotonic() by which the call must end; set when it starts
    last_error: ScillmError | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.request.messages

    @property
    def plan(self) -> SchemaPlan | None:
        return self.request.plan

    @property
    def callbacks(self) -> dict[str, Callable[..., Any]]:
        return self.request.options.callbacks


def error_type_of(exc: BaseException) -> str:
    """The meta ``error_type`` for a failure."""
    if isinstance(exc, BudgetExceeded):
        return "budget_exceeded"
    if isinstance(exc, RateLimitError):
        return "rate_limited"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, BadRequestError) and exc.status_code is None:
        return "bad_request"
    return "provider_error"


def _new_meta(
    deterministic: bool, params: dict[str, Any], plan: SchemaPlan | None
) -> dict[str, Any]:
    return {
        "deterministic": deterministic,
        "sampling": sampling_of(params),
        "schema_mode": plan.mode if plan else None,
        "response_format_used": plan.mode if plan else None,
        "fallback_used": False,
        "repaired": False,
        "json_valid": None,
        "schema_valid": None,
        "validation_errors": [],
        "parse_error": None,
        "error_type": "ok",
        "provider": None,
        "model": None,
        "deployment": None,
        "fallback_group": None,
        "cache_hit": False,
        "timing_ms": None,
        "queue_ms": 0.0,
        "retries": {
            "attempts": 0,
            "total_sleep_s": 0.0,
            "last_retry_after_s": None,
            "rate_limited": 0,
        },
    }


class Pipeline:
    """Holds the Router's configuration and runs calls through the steps in order."""

    def __init__(
        self,
        *,
        groups: dict[str, list[Deployment]],
        fallbacks: dict[str, list[str]],
        deterministic: bool,
        image_policy: ImagePolicy | None,
        cache: ResponseCache | None,
        retry: RetrySettings,
        strategy: str,
        timeout: float | None,
        cooldown_s: float,
        allowed_fails: int = 0,
        pace_from_headers: bool = True,
    ) -> None:
        self.groups = groups
        self.fallbacks = fallbacks
        self.deterministic = deterministic
        self.image_policy = image_policy
        self.cache = cache
        self.retry = retry
        self.policy = retry.policy({})
        self.strategy = strategy
        self.timeout = timeout if timeout is not None else default_timeout()
        self.cooldown_s = cooldown_s
        self.allowed_fails = allowed_fails
        self.pace_from_headers = pace_from_headers
        self.budget: Budget | None = None
        self.records: RecordLog | None = None
        self.telemetry = Telemetry()
        self.rng = random.Random()
        self._adhoc: dict[tuple[Any, ...], Deployment] = {}
        self._routes = {
            name: [group, *(groups[g] for g in fallbacks.get(name, ()))]
            for name, group in groups.items()
        }

    # -- before the network -------------------------------------------------------------------

    def prepare(self, req: Request) -> Prepared:
        """Every pre-network step; raises on bad input before anything is sent."""
        route = self._route(req)
        options = req.options
        params = req.params
        deterministic = (
            self.deterministic if options.deterministic is None else options.deterministic
        )
        if deterministic:
            params = apply_determinism(params)
        check_images(req.messages, self.image_policy)
        req.check_provider(route[0][0].provider)
        timeout = req.timeout if req.timeout is not None else self.timeout
        prep = Prepared(
            route=route,
            request=req,
            params=params,
            policy=self._policy(route, options.retry),
            timeout=timeout,
            meta=_new_meta(deterministic, params, req.plan),
        )
        use_cache = self.cache is not None and options.cache is not False
        if use_cache:
            prep.cache_key = cache_key(self._target(route), req.messages, params)
        return prep

    def _policy(self, route: list[list[Deployment]], retry: dict[str, Any]) -> RetryPolicy:
        """The call's retry policy; codex-agent deployments add ``CODEX_AGENT_*`` defaults."""
        provider_env = None
        first = route[0]
        if isinstance(first[0].provider, CodexAgent) and all(
            isinstance(d.provider, CodexAgent) for d in first
        ):
            provider_env = CodexAgent.retry_overrides()
        if not retry and not provider_env:
            return self.policy
        return self.retry.policy(retry, provider_env)

    def _route(self, req: Request) -> list[list[Deployment]]:
        """The deployment groups to try, in order: the named group, then its fallbacks."""
        model, provider, api_base = req.model, req.custom_llm_provider, req.api_base
        route = self._routes.get(model) if model is not None else None
        if route is not None and not (provider or api_base):
            return route
        if self.groups and not (provider or api_base or (model and "/" in model)):
            what = "no model" if model is None else f"unknown model group {model!r}"
            raise BadRequestError(
                f"{what}; this Router has: {', '.join(sorted(self.groups))}. Name one, or for "
                "an ad-hoc call pass custom_llm_provider/api_base, or a provider/model string."
            )
        name = model or default_model()
        key = (name, provider, api_base, req.api_key)
        deployment = self._adhoc.get(key)
        if deployment is None:
            params_for = {"model": name, "custom_llm_provider": provider, "api_base": api_base}
            deployment = deployment_from(
                name, {**params_for, "api_key": req.api_key}, f"adhoc:{name}"
            )
            self._adhoc[key] = deployment
        return [[deployment]]

    @staticmethod
    def _target(route: list[list[Deployment]]) -> list[dict[str, Any]]:
        """Where a call may be answered: every deployment of its first group (so editing the
        model list invalidates its cache entries)."""
        return [
            {"provider": d.provider.name, "base": d.api_base, "model": d.model, **d.defaults}
            for d in route[0]
        ]

    # -- the network --------------------------------------------------------------------------

    async def complete(self, prep: Prepared) -> ChatCompletion:
        """Run a prepared call to a stamped ChatCompletion (raises on provider failure)."""
        if prep.cache_key is not None and self.cache is not None:
            cached = await asyncio.to_thread(self.cache.get, prep.cache_key)
            if cached is not None:
                prep.meta["cache_hit"] = True
                resp = ChatCompletion(cached)
                self.validate(resp, prep)
                return self._stamp(resp, prep)
        self._admit(prep)
        try:
            resp = await self._with_deadline(prep, self._complete_once(prep))
        except ScillmError as exc:
            exc.scillm_router = self._stamp_meta(prep, error=exc)  # type: ignore[attr-defined]
            if self.records is not None:
                self._log(prep, None, type(exc).__name__)
            raise
        cacheable = prep.cache_key is not None and prep.meta["error_type"] == "ok"
        if cacheable and self.cache is not None:
            assert prep.cache_key is not None
            await asyncio.to_thread(self.cache.put, prep.cache_key, dict(resp))
        return self._stamp(resp, prep)

    async def _complete_once(self, prep: Prepared) -> ChatCompletion:
        plan = prep.plan
        try:
            resp = await self._send(prep, prep.messages, prep.params, _complete)
        except BadRequestError as exc:
            # A provider that rejects json_schema goes straight to the json_object fallback.
            if plan is None or plan.mode != "json_schema" or exc.status_code != 400:
                raise
            return await self._fallback(prep, plan)
        valid = self.validate(resp, prep)
        if plan is not None and not valid:
            return await self._fallback(prep, plan)
        return resp

    async def _fallback(self, prep: Prepared, plan: SchemaPlan) -> ChatCompletion:
        messages, params = fallback_request(prep.messages, prep.params, plan)
        prep.meta["fallback_used"] = True
        prep.meta["response_format_used"] = "json_object"
        resp = await self._send(prep, messages, params, _complete)
        self.validate(resp, prep)
        return resp

    def validate(self, resp: ChatCompletion, prep: Prepared) -> bool:
        """Record the reply's validity in meta; replace repaired JSON by its canonical form."""
        meta = prep.meta
        content = _content(resp)
        if prep.plan is None:
            meta["error_type"] = "ok" if content or _has_tool_calls(resp) else "empty_content"
            return True
        outcome, value = validate_reply(content, prep.plan)
        meta.update(
            json_valid=outcome.json_valid,
            schema_valid=outcome.schema_valid,
            repaired=outcome.repaired,
            parse_error=outcome.parse_error,
            validation_errors=outcome.validation_errors,
        )
        if outcome.ok and outcome.repaired:
            resp.choices[0].message.content = orjson.dumps(value).decode()
        if outcome.ok:
            meta["error_type"] = "ok"
        elif not content.strip():
            meta["error_type"] = "empty_content"
        else:
            meta["error_type"] = "invalid_json" if not outcome.json_valid else "schema_invalid"
        return outcome.ok

    async def open_stream(self, prep: Prepared) -> AsyncIterator[ChatCompletionChunk]:
        """Open a stream (retries happen until it opens); the last chunk carries the meta.

        The deadline bounds the stream too: each attempt's read timeout is the time left.
        """
        self._admit(prep)
        stream = await self._with_deadline(
            prep, self._send(prep, prep.messages, prep.params, _open)
        )
        return self._stamped_stream(stream, prep)

    async def _stamped_stream(
        self, stream: AsyncIterator[ChatCompletionChunk], prep: Prepared
    ) -> AsyncIterator[ChatCompletionChunk]:
        last: ChatCompletionChunk | None = None
        try:
            async for chunk in stream:
                if last is not None:
                    yield last
                last = chunk
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        if last is not None:
            last["scillm_router"] = self._stamp_meta(prep)
            if self.budget is not None:
                self._spent(last, prep.meta)  # its usage: stream_options include_usage
            if self.records is not None:
                self._log(prep, last.get("usage"))
            yield last

    def _with_deadline(self, prep: Prepared, work: Awaitable[T]) -> Awaitable[T]:
        """``work``, run by the call's deadline: ``timeout`` bounds everything, retries,
        pacing waits and fallbacks included. Attempts get the time left as their own timeout
        and waits never pass it, so only a provider that does not promise to honour
        ``Call.timeout`` (an engine, a custom handler) needs a guard around the call; for the
        others ``work`` is handed back as it is (no guard, no extra coroutine)."""
        prep.deadline = time.monotonic() + prep.timeout
        if _honour_timeouts(prep.route):
            return work
        return self._guarded(prep, work)

    @staticmethod
    async def _guarded(prep: Prepared, work: Awaitable[T]) -> T:
        """Await ``work`` under an ``asyncio.timeout`` of the call's ``timeout``."""
        guard = asyncio.timeout(prep.timeout)
        try:
            async with guard:
                return await work
        except asyncio.TimeoutError as exc:
            if not guard.expired() or isinstance(exc, ScillmError):
                raise
            cause = prep.last_error
            raise deadline_error(prep.timeout, prep.meta["retries"], cause) from cause

    def _admit(self, prep: Prepared) -> None:
        budget = self.budget
        if budget is None:
            return
        if budget.meter is not None:
            self._check_prices(budget, prep)
        if budget.admit() is not None:
            prep.meta["error_type"] = "budget_exceeded"
            raise BudgetExceeded(budget.message())

    @staticmethod
    def _check_prices(budget: Budget, prep: Prepared) -> None:
        """Refuse a call a dollar budget could not price, before anything is sent."""
        names = (price_name(d.provider.name, d.model) for group in prep.route for d in group)
        unknown = budget.unpriced(names)
        if unknown is not None:
            prep.meta["error_type"] = "budget_exceeded"
            raise BudgetExceeded(
                f"BudgetExceeded: max_cost_usd: the price of {unknown} is unknown, so this "
                "Router's dollar budget cannot count its calls; nothing was sent. Call a model "
                "the price list (genai-prices) knows, or use a Router without max_cost_usd"
            )

    def _send(
        self,
        prep: Prepared,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        send: Send[T],
    ) -> Awaitable[T]:
        """Try the route's groups in order; within a group, retry and fail over deployments.

        A route of one group (no fallbacks, the usual case) is that group's attempts as they
        are: its error is the call's, so no coroutine is needed around them.
        """
        if len(prep.route) == 1:
            return self._send_group(prep, prep.route[0], messages, params, send)
        return self._send_route(prep, messages, params, send)

    async def _send_route(
        self,
        prep: Prepared,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        send: Send[T],
    ) -> T:
        """The groups of a route with fallbacks, in order, until one answers."""
        last: ScillmError | None = None
        for index, group in enumerate(prep.route):
            if index:
                prep.meta["fallback_group"] = group[0].group
            try:
                return await self._send_group(prep, group, messages, params, send)
            except (APIError, ConnectionError) as exc:
                last = exc
            except TimeoutError as exc:
                if time.monotonic() >= prep.deadline:
                    raise
                last = exc
        assert last is not None
        raise last

    async def _send_group(
        self,
        prep: Prepared,
        group: list[Deployment],
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        send: Send[T],
    ) -> T:
        """Attempts on one group: pace, send, and on a retryable failure fail over or back off."""
        run = RetryRun(prep.policy, prep.meta["retries"], prep.deadline, prep.timeout)
        tokens = estimate_tokens(messages, params)
        stable = prep.meta["deterministic"]
        while True:
            deployment = (
                group[0]
                if len(group) == 1
                else pick_order(group, self.strategy, self.rng, stable=stable)[0]
            )
            try:
                ticket = await deployment.pacer.acquire(tokens, deadline=prep.deadline)
            except TimeoutError as exc:
                raise run.out_of_time() from exc
            prep.meta["queue_ms"] += round(ticket.waited_s * 1000, 3)
            timeout = run.attempt_timeout(deployment)
            if timeout <= 0:
                _release(deployment, ticket, None, self.pace_from_headers)
                raise run.out_of_time()
            call = self.call_for(prep, deployment, messages, params, timeout)
            run.stats["attempts"] += 1
            deployment.in_flight += 1
            t0 = time.perf_counter()
            try:
                result = await send(deployment, call)
            except ScillmError as exc:
                _release(deployment, ticket, exc, self.pace_from_headers)
                prep.last_error = exc
                delay = await self._after_failure(prep, run, group, deployment, exc)
                await asyncio.sleep(delay)
                continue
            except BaseException:
                _release(deployment, ticket, None, self.pace_from_headers)
                raise
            _release(deployment, ticket, result, self.pace_from_headers)
            deployment.record_latency(time.perf_counter() - t0)
            prep.meta.update(
                provider=deployment.provider.name, model=deployment.model, deployment=deployment.id
            )
            if prep.callbacks or self.telemetry.enabled:
                await emit(prep.callbacks, self.telemetry, run.payload("success", deployment))
            return result

    async def _after_failure(
        self,
        prep: Prepared,
        run: RetryRun,
        group: list[Deployment],
        deployment: Deployment,
        exc: ScillmError,
    ) -> float:
        """Cool the deployment down, ask ``run`` (:meth:`RetryRun.after`) for the wait, tell the
        callbacks; raise the error that ends the call (after ``on_giveup``) when there is none."""
        retryable = should_retry(exc)
        now = time.monotonic()
        if retryable:
            retry_after = getattr(exc, "retry_after_s", None)
            told = isinstance(exc, RateLimitError) or retry_after is not None
            if told or deployment.count_failure(now, self.allowed_fails):
                deployment.cool_down(max(self.cooldown_s, retry_after or 0.0))
        alternative = any(d.healthy(now) for d in group if d is not deployment)
        outcome = run.after(exc, retryable=retryable, alternative=alternative, rng=self.rng)
        if isinstance(outcome, float):
            payload = run.payload("retry", deployment, exc, next_sleep_s=outcome)
            await emit(prep.callbacks, self.telemetry, payload)
            return outcome
        await emit(prep.callbacks, self.telemetry, run.payload("giveup", deployment, exc))
        raise outcome

    @staticmethod
    def call_for(
        prep: Prepared,
        dep: Deployment,
        messages: list[dict[str, Any]],
        params: dict[str, Any],
        timeout: float,
    ) -> Call:
        req = prep.request
        return Call(  # by position, in field order: matching ten keywords costs 0.3 µs a call
            dep.provider_model,
            messages,
            {**dep.defaults, **params},
            dep.api_base,
            dep.api_key,
            timeout,
            req.extra_headers,
            req.extra_body,
            req.follow_redirects,
            req.max_response_bytes,
        )

    # -- after the network --------------------------------------------------------------------

    def _stamp_meta(self, prep: Prepared, error: BaseException | None = None) -> dict[str, Any]:
        meta = prep.meta
        meta["timing_ms"] = round((time.perf_counter() - prep.started) * 1000, 3)
        if error is not None:
            meta["error_type"] = error_type_of(error)
            meta["exception"] = f"{type(error).__name__}: {error}"[:200]
        return meta

    def _stamp(self, resp: ChatCompletion, prep: Prepared) -> ChatCompletion:
        resp["scillm_router"] = self._stamp_meta(prep)
        if self.budget is not None and not prep.meta["cache_hit"]:
            self._spent(resp, prep.meta)
        if self.records is not None:
            self._log(prep, resp.get("usage"))
        return resp

    def _log(self, prep: Prepared, usage: Any, error_type: str | None = None) -> None:
        """Append the call's run record to the Router's record log."""
        assert self.records is not None
        model = prep.request.model
        self.records.write(
            build_record(source="router", meta=prep.meta, usage=usage, model=model,
                         error_type=error_type)
        )  # fmt: skip

    def _spent(self, reply: ChatCompletion | ChatCompletionChunk, meta: dict[str, Any]) -> None:
        """Count a reply's tokens (and dollars) into the budget."""
        assert self.budget is not None
        self.budget.record(reply.get("usage"), price_name(meta["provider"], meta["model"]))


def _honour_timeouts(route: list[list[Deployment]]) -> bool:
    """Whether every deployment of ``route`` ends its calls by ``Call.timeout`` itself."""
    if len(route) == 1 and len(route[0]) == 1:
        return route[0][0].provider_honours_timeout
    return all(d.provider_honours_timeout for group in route for d in group)


def _release(deployment: Deployment, ticket: Ticket, outcome: object, quota: bool) -> None:
    """Hand the pacer back its ticket with what the attempt revealed about the endpoint (with
    ``quota`` False, never the ``x-ratelimit-*`` quota headers: an outside limiter paces)."""
    deployment.in_flight -= 1
    headers: Mapping[str, str] = {}
    status: int | None = None
    used: int | None = None
    retry_after: float | None = None
    if isinstance(outcome, ChatCompletion):
        status, headers = 200, outcome.response_headers
        usage = outcome.get("usage")
        if isinstance(usage, dict) and usage.get("total_tokens") is not None:
            used = int(usage["total_tokens"])
    elif isinstance(outcome, APIError):
        status, headers = outcome.status_code, outcome.headers
        retry_after = outcome.retry_after_s
    deployment.pacer.release(
        ticket,
        status=status,
        retry_after_s=retry_after,
        headers=headers if quota else {},
        used_tokens=used,
    )


# Plain functions handing back the provider's coroutine: an ``async def`` here would only add a
# coroutine (and a frame to every resume) per attempt.
def _complete(deployment: Deployment, call: Call) -> Awaitable[ChatCompletion]:
    return deployment.provider.acompletion(call)


def _open(deployment: Deployment, call: Call) -> Awaitable[AsyncIterator[ChatCompletionChunk]]:
    return deployment.provider.astream(call)


def _content(resp: ChatCompletion) -> str:
    choices = resp.get("choices") or []
    if not choices:
        return ""
    content = (choices[0].get("message") or {}).get("content")
    return content if isinstance(content, str) else ""


def _has_tool_calls(resp: ChatCompletion) -> bool:
    choices = resp.get("choices") or []
    return bool(choices and (choices[0].get("message") or {}).get("tool_calls"))
