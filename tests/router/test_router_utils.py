"""scillm.router_utils and scillm.extras.batch: the original's fan-out helpers over the Router."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import scillm
from scillm import Router
from scillm.extras import batch
from scillm.router_utils import (
    ParallelResult,
    RouterParallelRequest,
    acompletion_as_completed,
    gather_parallel_acompletions,
    run_parallel_requests,
)
from scillm.testing import MockLLMServer


def ask(srv: MockLLMServer, text: str) -> dict[str, Any]:
    return {
        "model": "openai/m",
        "messages": [{"role": "user", "content": text}],
        "api_base": srv.base_url,
    }


BAD = {"model": "no-such-group", "messages": [{"role": "user", "content": "x"}]}


def router(srv: MockLLMServer) -> Router:
    """One model group, so an unknown group name fails before any network call."""
    params = {"model": "openai/m", "api_base": srv.base_url}
    return Router(model_list=[{"model_name": "g", "litellm_params": params}])


async def test_gather_gives_one_parallel_result_per_request(mock_llm: MockLLMServer) -> None:
    typed = RouterParallelRequest("g", [{"role": "user", "content": "typed"}], temperature=0)
    requests: list[Any] = [
        typed,
        {"model": "g", "messages": [{"role": "user", "content": "d"}]},
        BAD,
    ]
    results = await gather_parallel_acompletions(router(mock_llm), requests, concurrency=2)
    assert all(isinstance(r, ParallelResult) for r in results)
    assert [r.index for r in results] == [0, 1, 2]
    ok, ok2, failed = results
    assert ok.request is typed and ok.exception is None
    assert ok.response is not None and ok.response.content == "typed" and ok2.response is not None
    assert ok.timing_ms == ok.response["scillm_router"]["timing_ms"] and ok.timing_ms > 0
    assert isinstance(failed.exception, scillm.BadRequestError)
    assert failed.response is not None and failed.response.content == ""  # error-shaped, as before
    assert failed.response["scillm_router"]["exception"].startswith("BadRequestError")


async def test_gather_without_order_still_has_every_result(mock_llm: MockLLMServer) -> None:
    requests = [ask(mock_llm, f"q{i}") for i in range(6)]
    results = await gather_parallel_acompletions(Router(), requests, preserve_order=False)
    assert sorted(r.index for r in results) == list(range(6))
    assert all(r.response is not None and r.response.content == f"q{r.index}" for r in results)


async def test_run_parallel_requests_is_deprecated_and_returns_tuples(
    mock_llm: MockLLMServer,
) -> None:
    requests = [{"model": "g", "messages": [{"role": "user", "content": "a"}]}, BAD]
    with pytest.warns(DeprecationWarning, match="gather_parallel_acompletions"):
        out = await run_parallel_requests(router(mock_llm), requests)
    (i0, r0, e0), (i1, r1, e1) = out
    assert (i0, r0.content, e0) == (0, "a", None)
    assert i1 == 1 and r1.content == "" and isinstance(e1, scillm.BadRequestError)
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(scillm.BadRequestError, match="unknown model group"),
    ):
        await run_parallel_requests(router(mock_llm), requests, return_exceptions=False)


async def test_as_completed_yields_index_and_response_fast_ones_first(
    mock_llm: MockLLMServer,
) -> None:
    with MockLLMServer(latency_s=0.4) as slow:
        pairs = [
            (i, r.content)
            async for i, r in acompletion_as_completed(
                Router(), [ask(slow, "slow"), ask(mock_llm, "fast")], concurrency=2
            )
        ]
    assert pairs == [(1, "fast"), (0, "slow")]


async def test_as_completed_is_bounded_and_lazy(mock_llm: MockLLMServer) -> None:
    pulled = done = ahead = 0

    def requests() -> Iterator[dict[str, Any]]:
        nonlocal pulled, ahead
        for i in range(40):
            pulled += 1
            ahead = max(ahead, pulled - done)
            yield ask(mock_llm, f"q{i}")

    async for index, response in batch.acompletion_as_completed(Router(), requests()):
        assert response.content == f"q{index}"
        done += 1
    assert done == 40
    assert ahead <= 6  # the default concurrency of 5, plus the one being pulled


async def test_as_completed_raises_a_failure_and_starts_nothing_more(
    mock_llm: MockLLMServer,
) -> None:
    pulled = 0

    def requests() -> Iterator[dict[str, Any]]:
        nonlocal pulled
        for item in [BAD, *[{"model": "g", "messages": BAD["messages"]}] * 10]:
            pulled += 1
            yield item

    seen = []
    with pytest.raises(scillm.BadRequestError, match="unknown model group"):
        async for index, _ in acompletion_as_completed(router(mock_llm), requests(), concurrency=1):
            seen.append(index)
    assert seen == [] and pulled == 1
    assert mock_llm.requests == []


def test_extras_batch_is_the_same_helper() -> None:
    assert batch.acompletion_as_completed is acompletion_as_completed
    assert RouterParallelRequest is scillm.RouterParallelRequest
