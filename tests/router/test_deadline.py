"""The call contract's clock: one deadline per call, and Retry-After as the wait.

A hanging loopback server (every request delayed far past any timeout) shows that ``timeout=``
bounds the whole call whatever the retry settings; the mock's 429s show the waits.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import scillm
from scillm import Router
from scillm.testing import Fault, MockLLMServer

USER = [{"role": "user", "content": "hello"}]
HANG = Fault.delay(60)
SLACK_S = 0.15  # scheduling on a shared 2-core machine


def adhoc(mock_llm: MockLLMServer, **kwargs: Any) -> dict[str, Any]:
    return {"model": "openai/m", "messages": USER, "api_base": mock_llm.base_url, **kwargs}


def timed_failure(router: Router, **kwargs: Any) -> tuple[BaseException, float]:
    start = time.monotonic()
    with pytest.raises(scillm.ScillmError) as info:
        router.completion(**kwargs)
    return info.value, time.monotonic() - start


@pytest.mark.parametrize("retries", [0, 1, 3, 5])
def test_timeout_bounds_the_call_whatever_the_retries(
    mock_llm: MockLLMServer, retries: int
) -> None:
    mock_llm.enqueue(*[HANG] * 8)
    err, elapsed = timed_failure(Router(num_retries=retries), **adhoc(mock_llm, timeout=1.0))
    assert isinstance(err, scillm.TimeoutError)
    assert "timeout=1 s (retries included)" in str(err)
    assert 1.0 <= elapsed <= 1.1 + SLACK_S
    assert err.retry_stats["attempts"] == 1  # type: ignore[attr-defined]
    assert isinstance(err.__cause__, scillm.TimeoutError)  # the attempt's own timeout


def test_timeout_bounds_the_long_run_profile(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(*[HANG] * 8)
    kwargs = adhoc(mock_llm, timeout=1.0, retry_enabled=True)
    err, elapsed = timed_failure(Router(), **kwargs)
    assert isinstance(err, scillm.TimeoutError) and 1.0 <= elapsed <= 1.1 + SLACK_S


def test_deployment_timeout_caps_attempts_and_never_beats_the_call(
    mock_llm: MockLLMServer,
) -> None:
    entry = {"model": "openai/m", "api_base": mock_llm.base_url, "timeout": 0.3}
    router = Router([{"model_name": "g", "litellm_params": entry}], num_retries=20)
    mock_llm.enqueue(*[HANG] * 30)
    err, elapsed = timed_failure(
        router, model="g", messages=USER, timeout=1.2, retry_base_s=0.01, retry_max_s=0.01
    )
    assert isinstance(err, scillm.TimeoutError) and elapsed <= 1.32 + SLACK_S
    attempts = err.retry_stats["attempts"]  # type: ignore[attr-defined]
    assert attempts >= 3  # 0.3 s attempts inside a 1.2 s call
    slow = Router([{"model_name": "g", "litellm_params": {**entry, "timeout": 30}}])
    err, elapsed = timed_failure(slow, model="g", messages=USER, timeout=0.5)
    assert isinstance(err, scillm.TimeoutError) and elapsed <= 0.55 + SLACK_S


def test_router_timeout_applies_and_the_call_beats_it(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(*[HANG] * 4)
    err, elapsed = timed_failure(Router(timeout=0.4), **adhoc(mock_llm))
    assert isinstance(err, scillm.TimeoutError) and elapsed <= 0.44 + SLACK_S
    err, elapsed = timed_failure(Router(timeout=30), **adhoc(mock_llm, timeout=0.4))
    assert isinstance(err, scillm.TimeoutError) and elapsed <= 0.44 + SLACK_S


async def test_async_deadline_error_keeps_stats_and_cause(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.http(500), *[HANG] * 4)
    router = Router(num_retries=3)
    with pytest.raises(scillm.TimeoutError) as info:
        await router.acompletion(**adhoc(mock_llm, timeout=0.8, retry_base_s=0.01))
    stats = info.value.retry_stats  # type: ignore[attr-defined]
    assert stats["attempts"] == 2
    assert isinstance(info.value.__cause__, scillm.TimeoutError)
    assert info.value.scillm_router["error_type"] == "timeout"  # type: ignore[attr-defined]


def test_retry_after_is_the_wait_not_the_backoff(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.rate_limit(retry_after=1))
    start = time.monotonic()
    resp = Router().completion(**adhoc(mock_llm, retry_enabled=True))
    elapsed = time.monotonic() - start
    slept = resp["scillm_router"]["retries"]["total_sleep_s"]
    assert 1.0 <= slept <= 1.1  # the header, plus at most 10 % jitter (long-run backoff: 5 s)
    assert elapsed < 2.5


@pytest.mark.parametrize(("header", "low", "high"), [(0.2, 0.2, 0.22), (0, 0.5, 0.55)])
def test_small_retry_after_is_kept_and_zero_rests_half_a_second(
    mock_llm: MockLLMServer, header: float, low: float, high: float
) -> None:
    mock_llm.enqueue(Fault.rate_limit(retry_after=header))
    resp = Router().completion(**adhoc(mock_llm))
    assert low <= resp["scillm_router"]["retries"]["total_sleep_s"] <= high


def test_retry_after_ms_and_http_date(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.rate_limit(retry_after_ms=150))
    resp = Router().completion(**adhoc(mock_llm))
    assert 0.15 <= resp["scillm_router"]["retries"]["total_sleep_s"] <= 0.165
    mock_llm.enqueue(Fault.rate_limit(retry_after=2, retry_after_date=True))
    resp = Router().completion(**adhoc(mock_llm))
    assert 0.5 <= resp["scillm_router"]["retries"]["total_sleep_s"] <= 2.2


def test_a_huge_retry_after_fails_fast_naming_it(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.rate_limit(retry_after=999999))
    err, elapsed = timed_failure(Router(), **adhoc(mock_llm, timeout=20, retry_enabled=True))
    assert isinstance(err, scillm.RateLimitError)
    assert "retry after 999999 s" in str(err) and elapsed < 2
    assert len(mock_llm.requests) == 1


def test_a_pause_holds_back_only_its_own_model(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.rate_limit(retry_after=999999))
    first = Router()  # the pause lives as long as a Router points at the endpoint
    err, _ = timed_failure(first, **adhoc(mock_llm, model="openai/paused", timeout=5))
    assert isinstance(err, scillm.RateLimitError)
    start = time.monotonic()
    other = Router().completion(**adhoc(mock_llm, model="openai/other", timeout=5))
    assert other.choices[0].message.content and time.monotonic() - start < 2
    sent = len(mock_llm.requests)
    err, elapsed = timed_failure(Router(), **adhoc(mock_llm, model="openai/paused", timeout=5))
    assert isinstance(err, scillm.RateLimitError) and "paused" in str(err) and elapsed < 2
    assert len(mock_llm.requests) == sent  # nothing sent while the model is paused


def test_pacing_never_waits_past_the_deadline(mock_llm: MockLLMServer) -> None:
    entry = {"model": "openai/m", "api_base": mock_llm.base_url, "rpm": 1}
    router = Router([{"model_name": "g", "litellm_params": entry}])
    router.completion(model="g", messages=USER)  # the next slot is a minute away
    err, elapsed = timed_failure(router, model="g", messages=USER, timeout=1.0)
    assert isinstance(err, scillm.TimeoutError) and elapsed < 1.0
    assert "after the call's deadline" in str(err.__cause__)
    assert len(mock_llm.requests) == 1


class Hangs:
    """A provider that ignores ``Call.timeout`` while claiming to honour it: the Router's guard
    must end the call all the same (only scillm's own providers are taken at their word)."""

    name = "hangs"
    honours_timeout = True

    async def acompletion(self, call: Any) -> Any:
        await asyncio.sleep(60)

    async def astream(self, call: Any) -> Any:
        await asyncio.sleep(60)


def test_a_provider_that_ignores_its_timeout_is_still_cut_at_the_deadline() -> None:
    scillm.register_provider("hangs", Hangs())
    err, elapsed = timed_failure(Router(num_retries=3), model="hangs/m", messages=USER, timeout=0.5)
    assert isinstance(err, scillm.TimeoutError) and 0.5 <= elapsed <= 0.55 + SLACK_S
    assert "timeout=0.5 s (retries included)" in str(err)
