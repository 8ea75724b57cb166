"""Bad input and bad replies: clear errors from the one exception tree, nothing sent in vain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

import scillm
from scillm.testing import Fault, MockLLMServer

USER = [{"role": "user", "content": "hi"}]


def call(srv: MockLLMServer, **kwargs: Any) -> Any:
    return scillm.completion(
        "openai/m", kwargs.pop("messages", USER), api_base=srv.base_url, api_key="k", **kwargs
    )


@pytest.mark.parametrize(
    "messages",
    [
        None,
        [],
        "hello",
        [{"content": "no role"}],
        [{"role": "wizard", "content": "x"}],
        [{"role": "user"}],
        [{"role": "user", "content": 42}],
        ["just a string"],
    ],
)
def test_malformed_messages_fail_before_the_network(mock_llm: MockLLMServer, messages: Any) -> None:
    with pytest.raises(scillm.BadRequestError, match="messages"):
        call(mock_llm, messages=messages)
    assert mock_llm.requests == []


def test_unknown_parameter_is_refused_with_a_hint(mock_llm: MockLLMServer) -> None:
    with pytest.raises(scillm.BadRequestError, match=r"temprature.*extra_body"):
        call(mock_llm, temprature=0.5)
    assert mock_llm.requests == []


def test_unknown_provider_names_the_prefixes_and_the_extra() -> None:
    with pytest.raises(scillm.UnknownProviderError) as info:
        scillm.completion("x", USER, custom_llm_provider="nope")
    message = str(info.value)
    assert "openai/" in message and "ollama/" in message and "scillm[litellm]" in message


def test_unknown_local_model_lists_the_embedded_ones() -> None:
    with pytest.raises(scillm.UnknownProviderError, match="local/smollm2"):
        scillm.completion("local/gpt-99", USER)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, scillm.BadRequestError),
        (401, scillm.AuthenticationError),
        (403, scillm.AuthenticationError),
        (404, scillm.NotFoundError),
        (422, scillm.BadRequestError),
        (500, scillm.ServerError),
        (502, scillm.ServerError),
    ],
)
def test_http_errors_map_to_the_tree(mock_llm: MockLLMServer, status: int, cls: type) -> None:
    mock_llm.enqueue(Fault.http(status))
    with pytest.raises(cls) as info:
        call(mock_llm)
    err = info.value
    assert isinstance(err, scillm.APIError)
    assert err.status_code == status
    assert str(status) in str(err) and "openai/m" in str(err)
    assert err.body


def test_error_message_comes_from_the_server_body(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.http(400, body={"error": {"message": "context too long"}}))
    with pytest.raises(scillm.BadRequestError, match="context too long"):
        call(mock_llm)


def test_rate_limit_seconds(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.rate_limit(retry_after=7))
    with pytest.raises(scillm.RateLimitError) as info:
        call(mock_llm)
    assert info.value.retry_after_s == 7
    assert info.value.headers["retry-after"] == "7"


def test_rate_limit_http_date(mock_llm: MockLLMServer) -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    mock_llm.enqueue(Fault.rate_limit(retry_after_date=when))
    with pytest.raises(scillm.RateLimitError) as info:
        call(mock_llm)
    assert info.value.retry_after_s is not None
    assert 25 <= info.value.retry_after_s <= 31
    assert format_datetime(when, usegmt=True)[:16] in info.value.headers["retry-after"]


def test_rate_limit_retry_after_ms(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.rate_limit(retry_after_ms=1500))
    with pytest.raises(scillm.RateLimitError) as info:
        call(mock_llm)
    assert info.value.retry_after_s == 1.5


def test_service_unavailable_carries_retry_after(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.http(503, headers={"Retry-After": "3"}))
    with pytest.raises(scillm.ServerError) as info:
        call(mock_llm)
    assert info.value.retry_after_s == 3


def test_reply_that_is_not_json(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.malformed_json())
    with pytest.raises(scillm.APIError, match="not a JSON object") as info:
        call(mock_llm)
    assert info.value.body


def test_dropped_connection(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.drop_connection())
    with pytest.raises(scillm.ConnectionError):
        call(mock_llm)


def test_nothing_listening() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(scillm.ConnectionError, match="api_base"):
        scillm.completion("openai/m", USER, api_base=f"http://127.0.0.1:{port}/v1", api_key="k")


def test_timeout(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.delay(3))
    with pytest.raises(scillm.TimeoutError, match="timeout"):
        call(mock_llm, timeout=0.3)
    with pytest.raises(TimeoutError):  # also the builtin
        mock_llm.enqueue(Fault.delay(3))
        call(mock_llm, timeout=0.3)


def test_stream_cut_midway(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply("a b c d e f g h i j")
    mock_llm.enqueue(Fault.stream_cut())
    with pytest.raises(scillm.ConnectionError):
        list(call(mock_llm, stream=True))


def test_stream_http_error_raises_before_iteration(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.rate_limit(retry_after=2))
    with pytest.raises(scillm.RateLimitError):
        call(mock_llm, stream=True)


def test_missing_key_for_a_hosted_provider_names_the_env_var(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("GROQ_API_KEY", "GROQ_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(scillm.AuthenticationError, match="GROQ_API_KEY"):
        scillm.completion("groq/llama-3.1-8b-instant", USER)


def test_provider_without_a_default_base_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("RUNPOD_API_BASE", raising=False)
    with pytest.raises(scillm.BadRequestError, match="RUNPOD_API_BASE"):
        scillm.completion("runpod/m", USER)
