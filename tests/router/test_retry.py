"""Retry decisions as a table: what is retried, how long to wait, where knobs come from."""

from __future__ import annotations

import random

import pytest

import scillm
from scillm import RetryPolicy, Router
from scillm.router.retry import RetrySettings, retry_delay, should_retry
from scillm.testing import Fault, MockLLMServer


def api_error(
    cls: type[scillm.APIError], status: int, retry_after: float | None = None
) -> scillm.APIError:
    err = cls("x", status_code=status)
    err.retry_after_s = retry_after
    return err


@pytest.mark.parametrize(
    ("exc", "retry"),
    [
        (api_error(scillm.RateLimitError, 429), True),
        (api_error(scillm.ServerError, 500), True),
        (api_error(scillm.ServerError, 503), True),
        (api_error(scillm.APIError, 408), True),
        (scillm.TimeoutError("t"), True),
        (scillm.ConnectionError("c"), True),
        (api_error(scillm.BadRequestError, 400), False),
        (api_error(scillm.AuthenticationError, 401), False),
        (api_error(scillm.NotFoundError, 404), False),
        (scillm.BadRequestError("refused before sending"), False),
    ],
)
def test_should_retry(exc: BaseException, retry: bool) -> None:
    assert should_retry(exc) is retry


def test_backoff_is_exponential_capped_and_full_jitter() -> None:
    policy = RetryPolicy(base_s=1, max_s=5, jitter_pct=0)
    err = api_error(scillm.ServerError, 500)
    rng = random.Random(0)
    assert [retry_delay(policy, k, err, rng) for k in (1, 2, 3, 4, 5)] == [1, 2, 4, 5, 5]
    jittered = RetryPolicy(base_s=1, max_s=5, jitter_pct=1)
    delays = [retry_delay(jittered, 3, err, rng) for _ in range(200)]
    assert min(delays) >= 0 and max(delays) <= 4 and min(delays) < 1 < 3 < max(delays)


def test_retry_after_is_the_wait_with_at_most_ten_percent_jitter() -> None:
    policy = RetryPolicy(base_s=1, max_s=5, jitter_pct=1)
    err = api_error(scillm.RateLimitError, 429, retry_after=1.0)
    rng = random.Random(1)
    waits = [retry_delay(policy, k, err, rng) for k in (1, 2, 3, 4, 5) for _ in range(40)]
    assert min(waits) >= 1.0 and max(waits) <= 1.1 and len(set(waits)) > 1
    ignore = RetryPolicy(base_s=1, max_s=5, jitter_pct=0, honor_retry_after=False)
    assert retry_delay(ignore, 1, err, random.Random(1)) == 1


def test_profiles_and_precedence() -> None:
    assert RetrySettings().policy({"retry_enabled": True}) == RetryPolicy.long_run()
    long_run = RetryPolicy.long_run()
    assert (long_run.max_retries, long_run.base_s, long_run.max_s) == (8, 5.0, 120.0)
    assert (long_run.jitter_pct, long_run.time_budget_s) == (0.25, 600.0)
    tuned = RetrySettings().policy({"retry_max_attempts": 5, "retry_base_s": 0.1})
    assert tuned.max_retries == 5 and tuned.base_s == 0.1
    assert RetrySettings().policy({"num_retries": 0}).max_retries == 0
    assert RetrySettings().policy({"retry_max_attempts": 0}).max_retries == 0


def test_explicit_beats_env_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCILLM_RETRY_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("SCILLM_RETRY_BASE_S", "0.25")
    from_env = RetrySettings.of_router(None, None).policy({})
    assert from_env.max_retries == 3 and from_env.base_s == 0.25
    explicit = RetrySettings.of_router(None, 0)
    assert explicit.policy({}).max_retries == 0
    assert explicit.policy({"retry_max_attempts": 4}).max_retries == 4  # the call is explicit too
    given = RetrySettings.of_router(RetryPolicy(max_retries=1), None).policy({})
    assert given == RetryPolicy(max_retries=1)  # an explicit policy is not overridden by env
    monkeypatch.setenv("SCILLM_RETRY_ENABLED", "1")
    assert RetrySettings.of_router(None, None).policy({}).time_budget_s == 600.0
    monkeypatch.setenv("SCILLM_RETRY_ENABLED", "maybe")
    with pytest.raises(ValueError, match="SCILLM_RETRY_ENABLED"):
        RetrySettings.of_router(None, None)


def test_router_num_retries_beats_the_environment(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCILLM_RETRY_MAX_ATTEMPTS", "3")
    mock_llm.enqueue(*[Fault.http(500)] * 4)
    with pytest.raises(scillm.ServerError):
        Router(num_retries=0).completion(
            model="openai/m",
            messages=[{"role": "user", "content": "x"}],
            api_base=mock_llm.base_url,
        )
    assert len(mock_llm.requests) == 1


def test_env_knobs_are_read_when_the_router_is_built(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LITELLM_RETRY_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("SCILLM_RETRY_BASE_S", "0.01")
    router = Router()
    mock_llm.enqueue(Fault.http(500), Fault.http(500))
    with pytest.raises(scillm.ServerError):
        router.completion(
            model="openai/m",
            messages=[{"role": "user", "content": "x"}],
            api_base=mock_llm.base_url,
        )
    assert len(mock_llm.requests) == 2


@pytest.mark.parametrize(
    "kwargs",
    [{"base_s": 0}, {"max_s": -1}, {"max_retries": -1}, {"jitter_pct": 2}, {"time_budget_s": 0}],
)
def test_nonsense_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_zero_retries_are_allowed_and_nonsense_rates_refused(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.http(500), Fault.http(500))
    with pytest.raises(scillm.ServerError):
        Router().completion(
            model="openai/m",
            messages=[{"role": "user", "content": "x"}],
            api_base=mock_llm.base_url,
            retry_max_attempts=0,
        )
    assert len(mock_llm.requests) == 1
    with pytest.raises(scillm.BadRequestError, match="retry_max_attempts"):
        Router().completion(
            model="openai/m",
            messages=[{"role": "user", "content": "x"}],
            api_base=mock_llm.base_url,
            retry_max_attempts=-1,
        )
    entry = {"model_name": "g", "litellm_params": {"model": "openai/m", "rpm": 0}}
    with pytest.raises(ValueError, match="rpm"):
        Router([entry])
    with pytest.raises(ValueError, match="tpm"):
        Router([{**entry, "litellm_params": {"model": "openai/m"}}], rate_limits={"g": {"tpm": -5}})


def test_time_budget_gives_up_instead_of_overrunning(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.rate_limit(retry_after=30))
    with pytest.raises(scillm.RateLimitError):
        Router().completion(
            model="openai/m",
            messages=[{"role": "user", "content": "x"}],
            api_base=mock_llm.base_url,
            retry_time_budget_s=2,
        )
    assert len(mock_llm.requests) == 1
