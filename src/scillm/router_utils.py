"""The original's fan-out helpers (``litellm.router_utils``), over :class:`scillm.Router`.

    results = await gather_parallel_acompletions(router, requests, concurrency=8)
    for r in results:                      # one ParallelResult per request, input order
        print(r.index, r.exception or r.response.content)

Requests take every form :meth:`Router.parallel_acompletions` takes (``RouterParallelRequest``,
dicts, dataclasses, objects with ``model``/``messages``). ``concurrency`` None means the
Router's default (16, or 1 on a deterministic Router) — the original ran them all at once;
``<= 0`` means unbounded. A result's ``response`` is the :class:`RouterResult` (for a failed
request too: empty content and ``scillm_router.error_type``/``exception``, as the original).
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, cast

from scillm.router import Router, RouterParallelRequest, RouterResult

__all__ = [
    "ParallelResult",
    "RouterParallelRequest",
    "acompletion_as_completed",
    "gather_parallel_acompletions",
    "run_parallel_requests",
]

Requests = Iterable[Any] | AsyncIterable[Any]


@dataclass
class ParallelResult:
    """One request's outcome: ``exception`` is None when it succeeded."""

    index: int
    request: Any
    response: RouterResult | None
    exception: BaseException | None
    timing_ms: float | None = None


async def gather_parallel_acompletions(
    router: Router,
    requests: Requests,
    *,
    concurrency: int | None = None,
    preserve_order: bool = True,
) -> list[ParallelResult]:
    """Run ``requests`` through ``router``; one :class:`ParallelResult` per request.

    Failures never raise here (they are in ``exception``), except :class:`BudgetExceeded`
    from a hard budget, which carries the results.
    """
    results = await router.parallel_acompletions(
        requests, concurrency=concurrency, preserve_order=preserve_order
    )
    return [
        ParallelResult(r.index, r.request, r, r.error, r.meta.get("timing_ms")) for r in results
    ]


async def run_parallel_requests(
    router: Router,
    requests: Requests,
    preserve_order: bool = True,
    return_exceptions: bool = True,
    concurrency: int | None = None,
) -> list[tuple[int, RouterResult, BaseException | None]]:
    """Deprecated: ``(index, response, exception)`` tuples; use
    :func:`gather_parallel_acompletions` or :meth:`Router.parallel_acompletions`.

    With ``return_exceptions=False`` the first failure is raised and the rest cancelled.
    """
    warnings.warn(
        "run_parallel_requests is deprecated; use scillm.router_utils."
        "gather_parallel_acompletions or Router.parallel_acompletions",
        DeprecationWarning,
        stacklevel=2,
    )
    results = await router.parallel_acompletions(
        requests,
        concurrency=concurrency,
        preserve_order=preserve_order,
        return_exceptions=return_exceptions,
    )
    return [(r.index, r, r.error) for r in results]


async def acompletion_as_completed(
    router: Router, requests: Requests, *, concurrency: int = 5
) -> AsyncIterator[tuple[int, RouterResult]]:
    """``(index, response)`` for each request, in completion order (the original's
    ``litellm.extras.batch`` helper). A failed request raises its exception here, and the
    requests still running are cancelled; use :meth:`Router.parallel_as_completed` to get
    failures as results instead."""
    stream = router.parallel_as_completed(requests, concurrency=concurrency)
    async with aclosing(cast(AsyncGenerator[RouterResult, None], stream)) as results:
        async for result in results:
            if result.error is not None:
                raise result.error
            yield result.index, result
