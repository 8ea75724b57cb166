"""The original's CODEX_AGENT_* retry variables, read as the Router's retry keywords."""

from __future__ import annotations

import pytest

import scillm
from scillm import Router
from scillm.providers.codex_agent import RETRY_ENV, CodexAgent
from scillm.testing import Fault, MockLLMServer

USER = [{"role": "user", "content": "ping"}]


@pytest.fixture(autouse=True)
def no_retry_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in RETRY_ENV:
        monkeypatch.delenv(name, raising=False)


def test_none_set_means_no_overrides() -> None:
    assert CodexAgent.retry_overrides() == {}


def test_the_variables_map_to_router_keywords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEX_AGENT_MAX_RETRIES", "2")
    monkeypatch.setenv("CODEX_AGENT_RETRY_BASE_MS", "120")
    monkeypatch.setenv("CODEX_AGENT_MAX_BACKOFF_MS", "1500")
    assert CodexAgent.retry_overrides() == {
        "num_retries": 2,
        "retry_base_s": 0.12,
        "retry_max_s": 1.5,
    }


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CODEX_AGENT_MAX_RETRIES", "two", "CODEX_AGENT_MAX_RETRIES='two' is not an integer"),
        ("CODEX_AGENT_MAX_RETRIES", "-1", "CODEX_AGENT_MAX_RETRIES=-1 must be >= 0"),
        ("CODEX_AGENT_RETRY_BASE_MS", "0", "CODEX_AGENT_RETRY_BASE_MS=0 must be > 0"),
        ("CODEX_AGENT_MAX_BACKOFF_MS", "fast", "CODEX_AGENT_MAX_BACKOFF_MS='fast' is not a"),
    ],
)
def test_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        CodexAgent.retry_overrides()


@pytest.mark.parametrize(
    ("retries", "router", "call", "requests"),
    [
        ("0", {}, {}, 1),  # the variables are the codex-agent defaults
        ("2", {}, {}, 3),
        ("2", {"num_retries": 0}, {}, 1),  # a Router's explicit argument beats them
        ("0", {}, {"num_retries": 1}, 2),  # and so does the call's
    ],
)
def test_the_variables_are_a_router_calls_codex_agent_defaults(
    mock_llm: MockLLMServer,
    monkeypatch: pytest.MonkeyPatch,
    retries: str,
    router: dict[str, int],
    call: dict[str, int],
    requests: int,
) -> None:
    monkeypatch.setenv("CODEX_AGENT_MAX_RETRIES", retries)
    monkeypatch.setenv("CODEX_AGENT_RETRY_BASE_MS", "10")
    mock_llm.enqueue(Fault.http(503), Fault.http(503), Fault.http(503))
    with pytest.raises(scillm.ServerError):
        Router(**router).completion(
            model="codex-agent/mini", messages=USER, api_base=mock_llm.base_url, **call
        )
    assert len(mock_llm.requests) == requests
