"""Router: model_list routing, fallbacks, ad-hoc calls, and kwargs that never reach a provider."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import scillm
from scillm import Router
from scillm._request import OPENAI_PARAMS
from scillm.testing import Fault, MockLLMServer

USER = [{"role": "user", "content": "hello"}]


@pytest.fixture
def second_llm() -> Iterator[MockLLMServer]:
    with MockLLMServer(reply="from-second") as srv:
        yield srv


def group(name: str, *servers: MockLLMServer, **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "model_name": name,
            "litellm_params": {
                "model": "openai/m",
                "api_base": s.base_url,
                "api_key": "k",
                **extra,
            },
        }
        for s in servers
    ]


def test_scillm_only_kwargs_never_reach_the_provider(mock_llm: MockLLMServer) -> None:
    router = Router(group("g", mock_llm))
    router.completion(
        model="g",
        messages=USER,
        response_mode="schema_first",
        json_schema={"type": "object"},
        retry_enabled=False,
        honor_retry_after=True,
        retry_max_attempts=1,
        retry_time_budget_s=5,
        retry_base_s=0.1,
        retry_max_s=1,
        retry_jitter_pct=0.5,
        num_retries=1,
        on_attempt=print,
        on_success=print,
        on_giveup=print,
        deterministic=True,
        cache=False,
        timeout=10,
    )
    body = mock_llm.last_request.body
    assert body is not None
    assert set(body) <= OPENAI_PARAMS | {"model", "messages"}
    assert set(body) == {"model", "messages", "response_format", *scillm_fixed_sampling()}


def scillm_fixed_sampling() -> set[str]:
    return {"temperature", "top_p", "presence_penalty", "frequency_penalty"}


def test_deployment_defaults_from_litellm_params_are_sent(mock_llm: MockLLMServer) -> None:
    router = Router(group("g", mock_llm, max_tokens=7, rpm=60))
    router.completion(model="g", messages=USER)
    body = mock_llm.last_request.body
    assert body is not None and body["max_tokens"] == 7 and "rpm" not in body


def test_meta_records_what_happened(mock_llm: MockLLMServer) -> None:
    resp = Router(group("g", mock_llm)).completion(model="g", messages=USER)
    meta = resp["scillm_router"]
    assert resp.additional_kwargs["router"] is meta
    assert meta["error_type"] == "ok"
    assert meta["provider"] == "openai" and meta["model"] == "openai/m"
    assert meta["deployment"] == "g#0"
    retries = {"attempts": 1, "total_sleep_s": 0.0, "last_retry_after_s": None, "rate_limited": 0}
    assert meta["retries"] == retries
    assert meta["timing_ms"] > 0 and meta["cache_hit"] is False


def test_load_balances_across_deployments(
    mock_llm: MockLLMServer, second_llm: MockLLMServer
) -> None:
    router = Router(group("g", mock_llm, second_llm))
    for _ in range(30):
        router.completion(model="g", messages=USER)
    assert len(mock_llm.requests) > 0 and len(second_llm.requests) > 0


def test_failing_deployment_cools_down_and_the_other_answers_at_once(
    mock_llm: MockLLMServer, second_llm: MockLLMServer
) -> None:
    router = Router(group("g", mock_llm, second_llm), routing_strategy="least-busy")
    mock_llm.enqueue(Fault.rate_limit(retry_after=30))
    first = router.completion(model="g", messages=USER)
    assert first.choices[0].message.content == "from-second"
    # Another deployment was healthy, so the retry went there at once, without sleeping.
    assert first["scillm_router"]["retries"]["attempts"] == 2
    assert first["scillm_router"]["retries"]["total_sleep_s"] == 0.0
    # While it cools down, the failing deployment gets no traffic.
    for _ in range(3):
        router.completion(model="g", messages=USER)
    assert len(mock_llm.requests) == 1
    assert len(second_llm.requests) == 4


def test_allowed_fails_lets_a_deployment_fail_that_often_before_it_cools_down(
    mock_llm: MockLLMServer, second_llm: MockLLMServer
) -> None:
    router = Router(
        group("g", mock_llm, second_llm),
        routing_strategy="least-busy",  # ties keep the list's order: mock_llm first
        num_retries=0,
        allowed_fails=2,
        cooldown_s=60,
    )
    for _ in range(3):
        mock_llm.enqueue(Fault.http(500))
    for _ in range(3):
        with pytest.raises(scillm.ScillmError):
            router.completion(model="g", messages=USER)
    assert len(mock_llm.requests) == 3 and second_llm.requests == []
    # The third failure in a minute was one more than allowed: now it cools down.
    assert router.completion(model="g", messages=USER).choices[0].message.content == "from-second"
    assert len(mock_llm.requests) == 3


def test_a_429_cools_down_at_once_whatever_allowed_fails_says(
    mock_llm: MockLLMServer, second_llm: MockLLMServer
) -> None:
    router = Router(
        group("g", mock_llm, second_llm), routing_strategy="least-busy", num_retries=0,
        allowed_fails=5,
    )  # fmt: skip
    mock_llm.enqueue(Fault.rate_limit(retry_after=30))
    with pytest.raises(scillm.RateLimitError):
        router.completion(model="g", messages=USER)
    assert router.completion(model="g", messages=USER).choices[0].message.content == "from-second"
    with pytest.raises(ValueError, match="allowed_fails"):
        Router(group("g", mock_llm), allowed_fails=-1)


def test_fallback_groups_are_tried_in_order(
    mock_llm: MockLLMServer, second_llm: MockLLMServer
) -> None:
    model_list = group("primary", mock_llm) + group("backup", second_llm)
    router = Router(model_list, fallbacks=[{"primary": ["backup"]}], num_retries=0)
    mock_llm.enqueue(Fault.http(500))
    resp = router.completion(model="primary", messages=USER)
    assert resp.choices[0].message.content == "from-second"
    assert resp["scillm_router"]["fallback_group"] == "backup"


def test_last_error_is_raised_with_meta_when_everything_fails(mock_llm: MockLLMServer) -> None:
    router = Router(group("g", mock_llm), num_retries=1, retry_policy=None)
    mock_llm.enqueue(Fault.http(500), Fault.http(502))
    with pytest.raises(scillm.ServerError) as info:
        router.completion(model="g", messages=USER, retry_base_s=0.01, retry_max_s=0.01)
    assert info.value.status_code == 502
    assert info.value.scillm_router["error_type"] == "provider_error"  # type: ignore[attr-defined]
    assert len(mock_llm.requests) == 2


def test_client_errors_are_not_retried(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.http(400))
    with pytest.raises(scillm.BadRequestError):
        Router(group("g", mock_llm)).completion(model="g", messages=USER)
    assert len(mock_llm.requests) == 1


def test_retry_after_is_honoured(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.rate_limit(retry_after=0.6))
    resp = Router(group("g", mock_llm)).completion(model="g", messages=USER)
    retries = resp["scillm_router"]["retries"]
    assert retries["attempts"] == 2
    assert retries["last_retry_after_s"] == 0.6
    assert retries["total_sleep_s"] >= 0.6


def test_adhoc_call_takes_the_same_pipeline(mock_llm: MockLLMServer) -> None:
    resp = Router().completion(
        model="gpt-5",
        messages=USER,
        custom_llm_provider="codex-agent",
        api_base=mock_llm.url,
        api_key="agent-key",
        response_mode="schema_first",
        json_schema={"type": "object"},
    )
    assert mock_llm.last_request.path == "/v1/chat/completions"
    assert mock_llm.last_request.body["model"] == "gpt-5"
    assert mock_llm.last_request.headers["authorization"] == "Bearer agent-key"
    assert resp["scillm_router"]["provider"] == "codex-agent"
    assert resp["scillm_router"]["schema_mode"] == "json_schema"


def test_unknown_group_lists_the_groups(mock_llm: MockLLMServer) -> None:
    router = Router(group("alpha", mock_llm) + group("beta", mock_llm))
    with pytest.raises(scillm.BadRequestError, match="alpha, beta"):
        router.completion(model="gamma", messages=USER)


@pytest.mark.parametrize(
    ("model_list", "match"),
    [
        ([{"litellm_params": {"model": "openai/m"}}], r"model_list\[0\].*model_name"),
        ([{"model_name": "g"}], r"model_list\[0\].*litellm_params"),
        ([{"model_name": "g", "litellm_params": {"api_base": "x"}}], r"model_list\[0\]"),
        (["not a dict"], r"model_list\[0\] must be a dict"),
        (
            [{"model_name": "g", "litellm_params": {"model": "m", "custom_llm_provider": "zz"}}],
            r"model_list\[0\] \('g'\)",
        ),
    ],
)
def test_invalid_model_list_entries_fail_at_construction(model_list: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Router(model_list)


def test_invalid_fallbacks_and_strategy_fail_at_construction(mock_llm: MockLLMServer) -> None:
    with pytest.raises(ValueError, match="unknown model groups"):
        Router(group("g", mock_llm), fallbacks=[{"g": ["nope"]}])
    with pytest.raises(ValueError, match="routing_strategy"):
        Router(routing_strategy="fastest")


async def test_async_and_stream_take_the_pipeline(mock_llm: MockLLMServer) -> None:
    async with Router(group("g", mock_llm), deterministic=True) as router:
        resp = await router.acompletion(model="g", messages=USER)
        assert resp["scillm_router"]["deterministic"] is True
        stream = await router.acompletion(model="g", messages=USER, stream=True)
        chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.get("content") or "" for c in chunks) == "hello"
    assert chunks[-1]["scillm_router"]["deterministic"] is True
    assert mock_llm.last_request.body["temperature"] == 0


def test_sync_stream(mock_llm: MockLLMServer) -> None:
    with Router(group("g", mock_llm)) as router:
        chunks = list(router.completion(model="g", messages=USER, stream=True))
    assert chunks[-1]["scillm_router"]["error_type"] == "ok"
    with pytest.raises(RuntimeError, match="closed"):
        router.completion(model="g", messages=USER)


def test_a_retry_after_beyond_the_deadline_fails_at_once(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.rate_limit(retry_after=5))
    with pytest.raises(scillm.RateLimitError, match="retry after 5 s") as info:
        Router(group("g", mock_llm)).completion(model="g", messages=USER, timeout=0.5)
    assert info.value.retry_stats["attempts"] == 1  # type: ignore[attr-defined]
    assert len(mock_llm.requests) == 1


def test_resolve_default_model(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SCILLM_DEFAULT_MODEL", "SCILLM_MODEL", "LITELLM_DEFAULT_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LITELLM_MODEL", "openai/x")
    assert Router.resolve_default_model() == "openai/x"
    monkeypatch.setenv("SCILLM_MODEL", "openai/y")
    assert Router.resolve_default_model() == "openai/y"


def test_sync_and_async_twins_share_a_signature() -> None:
    import inspect

    assert (
        inspect.signature(Router.completion).parameters
        == inspect.signature(Router.acompletion).parameters
    )
