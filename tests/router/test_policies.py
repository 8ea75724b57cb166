"""Deterministic mode and the image policy."""

from __future__ import annotations

import base64

import pytest

import scillm
from precedence import Setting, precedence_test
from scillm import DeterminismWarning, Router
from scillm.router.determinism import apply_determinism
from scillm.testing import MockLLMServer

USER = [{"role": "user", "content": "hi"}]


def adhoc(srv: MockLLMServer) -> dict[str, str]:
    return {"model": "openai/m", "api_base": srv.base_url}


def test_deterministic_forces_sampling_and_records_it(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCILLM_DETERMINISTIC_SEED", "1234")
    resp = Router(deterministic=True).completion(messages=USER, **adhoc(mock_llm))
    body = mock_llm.last_request.body
    fixed = {"temperature": 0, "top_p": 1, "presence_penalty": 0, "frequency_penalty": 0}
    assert {k: body[k] for k in fixed} == fixed
    assert body["seed"] == 1234
    assert resp["scillm_router"]["sampling"] == {**fixed, "seed": 1234}


def test_call_seed_beats_the_global_seed(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCILLM_DETERMINISTIC_SEED", "1234")
    Router(deterministic=True).completion(messages=USER, seed=7, **adhoc(mock_llm))
    assert mock_llm.last_request.body["seed"] == 7


def deterministic(**given: object) -> dict[str, object]:
    return apply_determinism(given)


test_the_seed_is_the_call_s_then_the_environment_s = precedence_test(
    {"seed": Setting(deterministic, "seed", ("SCILLM_DETERMINISTIC_SEED",), ("12", 12), 7, "soon")}
)


def test_overriding_a_caller_value_warns(mock_llm: MockLLMServer) -> None:
    with pytest.warns(DeterminismWarning, match="temperature"):
        Router(deterministic=True).completion(messages=USER, temperature=0.9, **adhoc(mock_llm))
    assert mock_llm.last_request.body["temperature"] == 0


def test_per_call_deterministic(mock_llm: MockLLMServer) -> None:
    Router().completion(messages=USER, deterministic=True, **adhoc(mock_llm))
    assert mock_llm.last_request.body["top_p"] == 1
    Router().completion(messages=USER, **adhoc(mock_llm))
    assert "top_p" not in mock_llm.last_request.body


def _image(n_bytes: int) -> dict[str, object]:
    data = base64.b64encode(b"\0" * n_bytes).decode()
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}


def _with(*parts: dict[str, object]) -> list[dict[str, object]]:
    return [{"role": "user", "content": [{"type": "text", "text": "look"}, *parts]}]


def test_oversized_image_is_rejected_before_the_network(mock_llm: MockLLMServer) -> None:
    router = Router(image_policy={"max_each_bytes": 1000})
    with pytest.raises(scillm.ImagePolicyError, match=r"2,000 bytes.*max_each_bytes=1,000"):
        router.completion(messages=_with(_image(2000)), **adhoc(mock_llm))
    with pytest.raises(ValueError):  # also a ValueError, as in the original
        router.completion(messages=_with(_image(2000)), **adhoc(mock_llm))
    assert mock_llm.requests == []


def test_total_image_budget(mock_llm: MockLLMServer) -> None:
    router = Router(image_policy={"max_each_bytes": 1000, "max_total_bytes": 1500})
    with pytest.raises(scillm.ImagePolicyError, match="max_total_bytes=1,500"):
        router.completion(messages=_with(_image(800), _image(800)), **adhoc(mock_llm))


def test_default_policy_is_on_and_urls_pass(mock_llm: MockLLMServer) -> None:
    router = Router()
    with pytest.raises(scillm.ImagePolicyError):
        router.completion(messages=_with(_image(6_000_000)), **adhoc(mock_llm))
    url = {"type": "image_url", "image_url": {"url": "https://example.org/huge.png"}}
    router.completion(messages=_with(url, _image(10)), **adhoc(mock_llm))
    assert len(mock_llm.requests) == 1


def test_policy_can_be_disabled(mock_llm: MockLLMServer) -> None:
    Router(image_policy=False).completion(messages=_with(_image(6_000_000)), **adhoc(mock_llm))
    assert len(mock_llm.requests) == 1


def test_bad_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        Router(image_policy={"mode": "compress"})
    with pytest.raises(ValueError, match="unknown keys"):
        Router(image_policy={"max_size": 1})
