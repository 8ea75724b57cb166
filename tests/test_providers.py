"""Every provider family, exercised against a real loopback server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

import scillm
from scillm.providers import Call, register_provider, resolve
from scillm.providers.catalog import OPENAI_COMPATIBLE
from scillm.testing import Fault, MockLLMServer
from scillm.types import ChatCompletion, ChatCompletionChunk

USER = [{"role": "user", "content": "ping"}]


@pytest.mark.parametrize("spec", OPENAI_COMPATIBLE, ids=lambda s: s.name)
def test_openai_compatible_family_reads_base_and_key_from_env(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch, spec: Any
) -> None:
    for name in (*spec.base_env, *spec.key_env):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(spec.base_env[-1], mock_llm.base_url)
    monkeypatch.setenv(spec.key_env[-1], f"key-{spec.name}")
    resp = scillm.completion(f"{spec.name}/vendor/model-1", USER)
    assert resp.choices[0].message.content == "ping"
    req = mock_llm.last_request
    assert req.path == "/v1/chat/completions"
    assert req.body["model"] == "vendor/model-1"
    assert req.headers["authorization"] == f"Bearer key-{spec.name}"


def test_first_env_name_wins(mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHUTES_API_BASE", mock_llm.base_url)
    monkeypatch.setenv("CHUTES_BASE", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("CHUTES_API_KEY", "first")
    monkeypatch.setenv("CHUTES_API_TOKEN", "second")
    scillm.completion("chutes/m", USER)
    assert mock_llm.last_request.headers["authorization"] == "Bearer first"


def test_self_hosted_base_needs_no_key(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    scillm.completion("openai/m", USER, api_base=mock_llm.base_url)
    assert "authorization" not in mock_llm.last_request.headers


@pytest.mark.parametrize("prefix", ["ollama", "ollama_chat"])
@pytest.mark.parametrize("suffix", ["", "/v1", "/"])
def test_ollama_uses_its_v1_api_and_keeps_tag_colons(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch, prefix: str, suffix: str
) -> None:
    monkeypatch.setenv("OLLAMA_API_BASE", mock_llm.url + suffix)
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    resp = scillm.completion(f"{prefix}/qwen2.5:7b-instruct", USER)
    assert resp.choices[0].message.content == "ping"
    assert mock_llm.last_request.path == "/v1/chat/completions"
    assert mock_llm.last_request.body["model"] == "qwen2.5:7b-instruct"


@pytest.mark.parametrize("base_suffix", ["", "/v1"])
def test_codex_agent(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch, base_suffix: str
) -> None:
    monkeypatch.setenv("CODEX_AGENT_API_BASE", mock_llm.url + base_suffix)
    monkeypatch.setenv("CODEX_AGENT_API_KEY", "agent-key")
    resp = scillm.completion("codex-agent/gpt-5", USER, reasoning_effort="high")
    assert resp.choices[0].message.content == "ping"
    req = mock_llm.last_request
    assert req.path == "/v1/chat/completions"
    assert req.body["model"] == "gpt-5"
    assert req.body["reasoning_effort"] == "high"
    assert req.body["reasoning"] == {"effort": "high"}
    assert req.headers["authorization"] == "Bearer agent-key"


def test_codex_agent_explicit_provider_and_argument_key(mock_llm: MockLLMServer) -> None:
    scillm.completion(
        "codex/gpt-5",
        USER,
        custom_llm_provider="codex-agent",
        api_base=mock_llm.url + "/v1",
        api_key="arg-key",
    )
    assert mock_llm.last_request.body["model"] == "gpt-5"
    assert mock_llm.last_request.headers["authorization"] == "Bearer arg-key"


def test_codex_agent_without_a_base_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEX_AGENT_API_BASE", raising=False)
    with pytest.raises(scillm.BadRequestError, match="CODEX_AGENT_API_BASE"):
        scillm.completion("codex-agent/gpt-5", USER)


def test_litellm_backend_against_loopback(mock_llm: MockLLMServer) -> None:
    kwargs: dict[str, Any] = {"api_base": mock_llm.base_url, "api_key": "k"}
    resp = scillm.completion("litellm/openai/mock-model", USER, temperature=0, **kwargs)
    assert resp.choices[0].message.content == "ping"
    assert mock_llm.last_request.body["model"] == "mock-model"
    chunks = list(scillm.completion("litellm/openai/mock-model", USER, stream=True, **kwargs))
    assert "".join(c.choices[0].delta.get("content") or "" for c in chunks) == "ping"
    # Its retries are off: one 429 is one request, mapped with its Retry-After.
    mock_llm.clear()
    mock_llm.enqueue(Fault.rate_limit(retry_after=4))
    with pytest.raises(scillm.RateLimitError) as info:
        scillm.completion("litellm/openai/mock-model", USER, **kwargs)
    assert info.value.retry_after_s == 4
    assert len(mock_llm.requests) == 1


class Upper:
    """A third-party provider: upper-cases the OpenAI-compatible reply of the mock server."""

    name = "upper"

    def __init__(self, base: str) -> None:
        self.base = base

    async def acompletion(self, call: Call) -> ChatCompletion:
        resp = await scillm.acompletion("openai/" + call.model, call.messages, api_base=self.base)
        resp.choices[0].message.content = resp.choices[0].message.content.upper()
        return resp

    async def astream(self, call: Call) -> AsyncIterator[ChatCompletionChunk]:
        raise NotImplementedError


def test_register_a_third_party_provider(mock_llm: MockLLMServer) -> None:
    register_provider("upper", Upper(mock_llm.base_url), aliases=("shout",))
    assert scillm.completion("upper/m", USER).choices[0].message.content == "PING"
    assert resolve("shout/x")[1] == "x"
    assert "upper" in scillm.provider_names()
    with pytest.raises(ValueError, match="no '/'"):
        register_provider("a/b", Upper(mock_llm.base_url))


def test_a_registration_replaces_a_provider_already_resolved(mock_llm: MockLLMServer) -> None:
    first, second = Upper(mock_llm.base_url), Upper(mock_llm.base_url)
    register_provider("again", first)
    found = resolve("again/m")
    assert resolve("again/m") == found and getattr(found[0], "provider", None) is first
    register_provider("again", second)
    assert getattr(resolve("again/m")[0], "provider", None) is second
    assert resolve("nobody-registered/m")[0].name == "litellm"  # a prefix no one claims
    register_provider("nobody-registered", first)
    assert getattr(resolve("nobody-registered/m")[0], "provider", None) is first
