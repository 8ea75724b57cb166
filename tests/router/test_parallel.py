"""parallel_acompletions / parallel_as_completed, budgets and the response cache."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import scillm
from scillm import Router, RouterParallelRequest
from scillm.testing import Fault, MockLLMServer


def ask(srv: MockLLMServer, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": "openai/m",
        "messages": [{"role": "user", "content": text}],
        "api_base": srv.base_url,
        **extra,
    }


async def test_results_are_lossless_and_in_input_order(mock_llm: MockLLMServer) -> None:
    mock_llm.latency_s = 0.01
    results = await Router().parallel_acompletions([ask(mock_llm, f"q{i}") for i in range(20)])
    assert [r.content for r in results] == [f"q{i}" for i in range(20)]
    assert [r.index for r in results] == list(range(20))
    for r in results:
        assert r.ok and r.error is None and r.response is r
        assert r["id"] and r["usage"]["total_tokens"] > 0
        assert r.choices[0].finish_reason == "stop"
        assert r["scillm_router"]["error_type"] == "ok"


async def test_the_request_forms_of_the_original(mock_llm: MockLLMServer) -> None:
    @dataclass
    class Custom:
        model: str
        messages: list[dict[str, Any]]
        kwargs: dict[str, Any]

    base = {"api_base": mock_llm.base_url}
    msgs = [{"role": "user", "content": "x"}]
    requests: list[Any] = [
        RouterParallelRequest("openai/m", msgs, temperature=0.1, kwargs=base),
        {"model": "openai/m", "messages": msgs, "kwargs": base},
        Custom("openai/m", msgs, base),
        {**ask(mock_llm, "x"), "stream": True},
    ]
    results = await Router().parallel_acompletions(requests)
    assert [r.content for r in results] == ["x"] * 4
    assert mock_llm.requests[0].body is not None


async def test_a_failed_item_is_a_result_not_a_hole(mock_llm: MockLLMServer) -> None:
    bad = ask(mock_llm, "bad")
    bad["messages"] = "not a list"
    results = await Router(num_retries=0).parallel_acompletions(
        [ask(mock_llm, "a"), bad, ask(mock_llm, "c")]
    )
    assert [r.ok for r in results] == [True, False, True]
    failed = results[1]
    assert failed.content == "" and isinstance(failed.error, scillm.BadRequestError)
    assert failed.meta["error_type"] == "bad_request" and "messages" in failed.meta["exception"]
    assert failed.response is None


async def test_provider_errors_are_classified(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.rate_limit(retry_after=9))
    results = await Router(num_retries=0).parallel_acompletions(
        [ask(mock_llm, "a")], max_concurrency=1
    )
    assert results[0].meta["error_type"] == "rate_limited"
    assert isinstance(results[0].error, scillm.RateLimitError)


async def test_return_exceptions_false_raises_first_error_and_stops(
    mock_llm: MockLLMServer,
) -> None:
    mock_llm.enqueue(Fault.http(400))
    pulled: list[int] = []

    def requests() -> Iterator[dict[str, Any]]:
        for i in range(1000):
            pulled.append(i)
            yield ask(mock_llm, f"q{i}")

    with pytest.raises(scillm.BadRequestError):
        await Router().parallel_acompletions(requests(), max_concurrency=2, return_exceptions=False)
    assert len(pulled) < 10


async def test_input_is_consumed_lazily(mock_llm: MockLLMServer) -> None:
    in_flight_max = 0
    pulled = 0
    done = 0

    def requests() -> Iterator[dict[str, Any]]:
        nonlocal pulled, in_flight_max
        for i in range(300):
            pulled += 1
            in_flight_max = max(in_flight_max, pulled - done)
            yield ask(mock_llm, f"q{i}")

    async for _ in Router().parallel_as_completed(requests(), max_concurrency=8):
        done += 1
    assert done == 300
    assert in_flight_max <= 9  # never more than the limit pulled ahead of completion


async def test_as_completed_yields_fast_ones_first(mock_llm: MockLLMServer) -> None:
    with MockLLMServer(latency_s=0.4) as slow_server:
        order = [
            r.content
            async for r in Router().parallel_as_completed(
                [ask(slow_server, "slow"), ask(mock_llm, "fast")], max_concurrency=2
            )
        ]
    assert order == ["fast", "slow"]


async def test_deterministic_router_runs_serially(mock_llm: MockLLMServer) -> None:
    pulled = 0
    done = 0
    ahead = 0

    def requests() -> Iterator[dict[str, Any]]:
        nonlocal pulled, ahead
        for i in range(5):
            pulled += 1
            ahead = max(ahead, pulled - done)
            yield ask(mock_llm, f"q{i}")

    async for _ in Router(deterministic=True).parallel_as_completed(requests()):
        done += 1
    assert ahead == 1


async def test_request_budget_hard(mock_llm: MockLLMServer) -> None:
    router = Router()
    exhausted: list[bool] = []
    router.set_budget(max_requests=3, on_exhaust=lambda: exhausted.append(True))
    with pytest.raises(scillm.BudgetExceeded, match="max_requests") as info:
        await router.parallel_acompletions(
            [ask(mock_llm, f"q{i}") for i in range(5)], max_concurrency=1
        )
    results = info.value.results
    assert [r.meta["error_type"] for r in results] == ["ok"] * 3 + ["budget_exceeded"] * 2
    assert len(mock_llm.requests) == 3 and exhausted == [True]
    assert isinstance(info.value, RuntimeError)


async def test_token_budget_soft(mock_llm: MockLLMServer) -> None:
    router = Router()
    router.set_budget(max_tokens=10, hard=False)
    results = await router.parallel_acompletions(
        [ask(mock_llm, "one two three four five six") for _ in range(4)], max_concurrency=1
    )
    kinds = [r.meta["error_type"] for r in results]
    assert kinds[0] == "ok" and kinds[-1] == "budget_exceeded"
    with pytest.raises(scillm.BudgetExceeded):
        await router.acompletion(**ask(mock_llm, "more"))


async def test_cache_makes_a_deterministic_rerun_free(
    mock_llm: MockLLMServer, tmp_path: Path
) -> None:
    batch = [ask(mock_llm, f"q{i}") for i in range(10)]
    first = await Router(deterministic=True, cache=tmp_path / "c.sqlite").parallel_acompletions(
        batch
    )
    assert len(mock_llm.requests) == 10
    assert not any(r.meta["cache_hit"] for r in first)
    router = Router(deterministic=True, cache=tmp_path / "c.sqlite")
    again = await router.parallel_acompletions(batch)
    assert len(mock_llm.requests) == 10  # zero network calls
    assert all(r.meta["cache_hit"] for r in again)
    assert [r.content for r in again] == [r.content for r in first]
    # Any change to the request is a different key.
    await router.acompletion(**ask(mock_llm, "q0"), seed=99)
    assert len(mock_llm.requests) == 11
    router.close()


def test_cache_true_uses_the_user_cache_dir(
    mock_llm: MockLLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCILLM_CACHE_DIR", str(tmp_path))
    with Router(cache=True) as router:
        router.completion(**ask(mock_llm, "x"))
        assert router.cache is not None and len(router.cache) == 1
    assert (tmp_path / "responses.sqlite").exists()


def test_failed_replies_are_not_cached(mock_llm: MockLLMServer, tmp_path: Path) -> None:
    with Router(cache=tmp_path / "c.sqlite", num_retries=0) as router:
        mock_llm.enqueue(Fault.http(500))
        with pytest.raises(scillm.ServerError):
            router.completion(**ask(mock_llm, "x"))
        router.completion(**ask(mock_llm, "x"))
        router.completion(**ask(mock_llm, "x"))
    assert len(mock_llm.requests) == 2
