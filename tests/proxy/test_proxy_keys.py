"""Keys, limits and failover through a real gateway: each check with the request that tries to
get past it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import orjson
import pytest
from proxy_helpers import MASTER, TEAM_A, TEAM_B, Proxy, deployment, running_proxy

from scillm.testing import Fault, MockLLMServer

USER = [{"role": "user", "content": "one two three four"}]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockLLMServer]:
    with MockLLMServer() as server:
        yield server


@pytest.fixture(scope="module")
def proxy(mock: MockLLMServer) -> Iterator[Proxy]:
    config = {
        "model_list": [deployment("fast", mock.base_url), deployment("secret", mock.base_url)],
        "general_settings": {"master_key": MASTER},
        "virtual_keys": [
            {"key": TEAM_A, "key_alias": "team-a", "models": ["fast"], "rpm_limit": 5},
            {"key": TEAM_B, "key_alias": "team-b", "tpm_limit": 10},
        ],
    }
    with running_proxy(config) as served:
        yield served


def _post(proxy: Proxy, key: str | None, body: dict[str, object]) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.post(proxy.base_url + "/chat/completions", json=body, headers=headers)


def _error(resp: httpx.Response) -> dict[str, object]:
    body = resp.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}, body
    return dict(body["error"])


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer sk-wrong", f"Basic {MASTER}", f"Bearer {MASTER}x", MASTER],
)
def test_without_a_valid_key_401(proxy: Proxy, mock: MockLLMServer, header: str | None) -> None:
    before = len(mock.requests)
    headers = {"authorization": header} if header is not None else {}
    resp = httpx.post(
        proxy.base_url + "/chat/completions", json={"model": "fast", "messages": USER},
        headers=headers,
    )  # fmt: skip
    assert resp.status_code == 401
    assert _error(resp)["type"] == "authentication_error"
    assert httpx.get(proxy.base_url + "/models", headers=headers).status_code == 401
    assert len(mock.requests) == before


def test_master_and_virtual_keys_through_the_sdk(proxy: Proxy) -> None:
    nobody = openai.OpenAI(base_url=proxy.base_url, api_key="sk-nobody", max_retries=0)
    with nobody, pytest.raises(openai.AuthenticationError):
        nobody.chat.completions.create(model="fast", messages=USER)  # type: ignore[arg-type]
    with openai.OpenAI(base_url=proxy.base_url, api_key=MASTER, max_retries=0) as c:
        assert c.chat.completions.create(model="secret", messages=USER)  # type: ignore[arg-type]
    team = openai.OpenAI(base_url=proxy.base_url, api_key=TEAM_B, max_retries=0)
    with team, pytest.raises(openai.NotFoundError):
        team.chat.completions.create(model="nope", messages=USER)  # type: ignore[arg-type]


def test_a_key_calls_only_its_models(proxy: Proxy, mock: MockLLMServer) -> None:
    before = len(mock.requests)
    resp = _post(proxy, TEAM_A, {"model": "secret", "messages": USER})
    assert resp.status_code == 403
    assert _error(resp)["type"] == "permission_error"
    # Not around it by a provider/model string, an api_base of its own, or another spelling.
    for body in (
        {"model": "openai/mock-model", "messages": USER},
        {"model": "fast", "messages": USER, "api_base": "http://127.0.0.1:1/v1"},
        {"model": "fast", "messages": USER, "base_url": "http://127.0.0.1:1/v1"},
        {"model": "fast", "messages": USER, "custom_llm_provider": "openai"},
        {"model": "fast", "messages": USER, "api_key": "mine"},
        {"model": "fast", "messages": USER, "extra_headers": {"authorization": "Bearer x"}},
        {"model": "fast", "messages": USER, "max_response_bytes": 1},
        {"model": "fast", "messages": USER, "extra_body": {"model": "gpt-expensive"}},
    ):
        resp = _post(proxy, MASTER, body)
        assert resp.status_code in (400, 404), (body, resp.text)
    assert len(mock.requests) == before


def test_bad_bodies_are_400_before_any_call(proxy: Proxy, mock: MockLLMServer) -> None:
    before = len(mock.requests)
    for body in (
        {"messages": USER},
        {"model": ["fast"], "messages": USER},
        {"model": "fast", "messages": "hi"},
        {"model": "fast", "messages": USER, "temperature": "hot"},
        {"model": "fast", "messages": USER, "stream": "yes"},
        {"model": "fast", "messages": USER, "on_attempt": "print"},
    ):
        resp = _post(proxy, MASTER, body)
        assert resp.status_code == 400, (body, resp.text)
        assert _error(resp)["type"] == "invalid_request_error"
    assert len(mock.requests) == before


def test_unknown_fields_reach_the_provider_unless_dropped(
    proxy: Proxy, mock: MockLLMServer
) -> None:
    body = {"model": "fast", "messages": USER, "top_k": 5, "guided_json": {"type": "object"}}
    assert _post(proxy, MASTER, body).status_code == 200
    sent = mock.last_request.body
    assert sent is not None and sent["top_k"] == 5 and sent["model"] == "mock-model"
    config = {
        "model_list": [deployment("fast", mock.base_url)],
        "litellm_settings": {"drop_params": True},
    }
    with running_proxy(config) as dropping:
        assert _post(dropping, None, body).status_code == 200
    sent = mock.last_request.body
    assert sent is not None and "top_k" not in sent and "guided_json" not in sent


async def test_rpm_limit_holds_across_concurrent_clients(proxy: Proxy) -> None:
    clients = [
        openai.AsyncOpenAI(base_url=proxy.base_url, api_key=TEAM_A, max_retries=0) for _ in range(3)
    ]
    try:
        calls = [
            clients[i % 3].chat.completions.create(model="fast", messages=USER)  # type: ignore[arg-type]
            for i in range(12)
        ]
        results = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        for c in clients:
            await c.close()
    limited = [r for r in results if isinstance(r, openai.RateLimitError)]
    assert len(results) - len(limited) == 5, results
    assert len(limited) == 7
    assert all(int(r.response.headers["retry-after"]) >= 1 for r in limited)
    assert limited[0].body["code"] == "rate_limit_exceeded"  # type: ignore[index]


def test_tpm_limit(proxy: Proxy) -> None:
    first = _post(proxy, TEAM_B, {"model": "secret", "messages": USER})
    assert first.status_code == 200  # 4 + 4 words: under 10 when it starts
    second = _post(proxy, TEAM_B, {"model": "secret", "messages": USER})
    assert second.status_code == 200  # 16 tokens in the window now
    third = _post(proxy, TEAM_B, {"model": "secret", "messages": USER})
    assert third.status_code == 429 and "tpm_limit" in str(_error(third)["message"])


def test_token_budget_survives_a_restart(mock: MockLLMServer, tmp_path: Path) -> None:
    log = tmp_path / "usage.jsonl"
    config = {
        "model_list": [deployment("fast", mock.base_url)],
        "virtual_keys": [{"key": TEAM_A, "key_alias": "team-a", "max_budget_tokens": 5}],
    }
    with running_proxy(config, log) as proxy:
        assert _post(proxy, TEAM_A, {"model": "fast", "messages": USER}).status_code == 200
        spent = _post(proxy, TEAM_A, {"model": "fast", "messages": USER})
        assert spent.status_code == 429 and _error(spent)["code"] == "insufficient_quota"
    with running_proxy(config, log) as proxy:
        again = _post(proxy, TEAM_A, {"model": "fast", "messages": USER})
        assert again.status_code == 429 and _error(again)["type"] == "insufficient_quota"


def test_dollar_budget_from_prices(mock: MockLLMServer, tmp_path: Path) -> None:
    config = {
        "model_list": [
            deployment("fast", mock.base_url, input_cost_per_token=0.01, output_cost_per_token=0.02)
        ],
        "virtual_keys": [{"key": TEAM_A, "key_alias": "team-a", "max_budget": 0.1}],
    }
    log = tmp_path / "usage.jsonl"
    with running_proxy(config, log) as proxy:
        assert _post(proxy, TEAM_A, {"model": "fast", "messages": USER}).status_code == 200
        assert _post(proxy, TEAM_A, {"model": "fast", "messages": USER}).status_code == 429
    first = orjson.loads(log.read_text().splitlines()[0])
    assert first["cost_usd"] == pytest.approx(4 * 0.01 + 4 * 0.02)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_failover_within_a_group_and_to_a_fallback_group(
    mock: MockLLMServer, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{_dead_port()}/v1"
    with MockLLMServer() as broken:
        config = {
            "model_list": [
                deployment("pair", dead, id="dead"),
                deployment("pair", mock.base_url, id="alive"),
                deployment("flaky", broken.base_url, id="flaky"),
                deployment("backup", mock.base_url, id="backup"),
            ],
            "router_settings": {"num_retries": 1, "fallbacks": [{"flaky": ["backup"]}]},
            "general_settings": {"master_key": MASTER},
        }
        log = tmp_path / "usage.jsonl"
        with running_proxy(config, log) as proxy:
            for _ in range(4):
                resp = _post(proxy, MASTER, {"model": "pair", "messages": USER})
                assert resp.status_code == 200, resp.text
            broken.enqueue(*[Fault.http(500)] * 2)
            resp = _post(proxy, MASTER, {"model": "flaky", "messages": USER})
            assert resp.status_code == 200, resp.text
            assert len(broken.requests) == 2
    lines = [orjson.loads(line) for line in log.read_text().splitlines()]
    assert {line["scillm_router"]["deployment"] for line in lines[:4]} == {"alive"}
    last = lines[-1]["scillm_router"]
    assert (last["deployment"], last["fallback_group"]) == ("backup", "backup")
    assert last["retries"]["attempts"] == 3
