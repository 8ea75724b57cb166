"""The gateway as its clients see it: the official openai SDK (sync, async, streaming) and
litellm, through a real proxy on 127.0.0.1 to the mock server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import orjson
import pytest
from proxy_helpers import MASTER, TEAM_A, Proxy, deployment, running_proxy

from scillm.testing import ECHO, MockLLMServer, Reply

USER = [{"role": "user", "content": "hello gateway"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockLLMServer]:
    with MockLLMServer() as server:
        yield server


@pytest.fixture(scope="module")
def log_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("proxy") / "usage.jsonl"


@pytest.fixture(scope="module")
def proxy(mock: MockLLMServer, log_path: Path) -> Iterator[Proxy]:
    config = {
        "model_list": [deployment("fast", mock.base_url), deployment("other", mock.base_url)],
        "general_settings": {"master_key": MASTER},
        "virtual_keys": [{"key": TEAM_A, "key_alias": "team-a", "models": ["fast"]}],
    }
    with running_proxy(config, log_path) as served:
        yield served


@pytest.fixture
def client(proxy: Proxy) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=proxy.base_url, api_key=MASTER, max_retries=0) as c:
        yield c


def test_openai_sync_completion_n_and_usage(client: openai.OpenAI, mock: MockLLMServer) -> None:
    mock.set_reply(Reply("hi there"))
    reply = client.chat.completions.create(model="fast", messages=USER, n=2, temperature=0.5)
    assert [c.message.content for c in reply.choices] == ["hi there", "hi there"]
    assert reply.usage is not None and reply.usage.total_tokens > 0
    sent = mock.last_request.body
    assert sent is not None
    assert (sent["model"], sent["n"], sent["temperature"]) == ("mock-model", 2, 0.5)
    assert "scillm_router" not in reply.model_extra  # meta goes to the log, not the client
    mock.set_reply(ECHO)


def test_tools_and_response_format_reach_the_provider(
    client: openai.OpenAI, mock: MockLLMServer
) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}
    mock.set_reply(Reply(None, tool_calls=[call]))
    try:
        reply = client.chat.completions.create(
            model="fast", messages=USER, tools=TOOLS, tool_choice="auto"
        )
    finally:
        mock.set_reply(ECHO)
    tool_calls = reply.choices[0].message.tool_calls
    assert tool_calls is not None and tool_calls[0].function.name == "lookup"
    sent = mock.last_request.body
    assert sent is not None and sent["tools"] == TOOLS and sent["tool_choice"] == "auto"

    mock.set_reply(Reply('{"city": "Paris"}'))
    city = {"type": "object", "properties": {"city": {"type": "string"}}}
    schema = {"name": "city", "schema": city}
    try:
        reply = client.chat.completions.create(
            model="fast",
            messages=USER,
            response_format={"type": "json_schema", "json_schema": schema},  # type: ignore[typeddict-item]
        )
    finally:
        mock.set_reply(ECHO)
    assert orjson.loads(reply.choices[0].message.content or "") == {"city": "Paris"}
    sent = mock.last_request.body
    assert sent is not None and sent["response_format"]["json_schema"]["name"] == "city"


def test_openai_streaming(client: openai.OpenAI, mock: MockLLMServer) -> None:
    chunks = list(client.chat.completions.create(model="fast", messages=USER, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        "hello gateway"
    )
    assert all(c.usage is None for c in chunks)  # not asked for: the proxy's own count is hidden
    asked = list(
        client.chat.completions.create(
            model="fast", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    assert asked[-1].usage is not None and asked[-1].usage.total_tokens > 0


async def test_openai_async_clients_share_the_gateway(proxy: Proxy) -> None:
    async with openai.AsyncOpenAI(base_url=proxy.base_url, api_key=MASTER, max_retries=0) as c:
        replies = await asyncio.gather(
            *(
                c.chat.completions.create(
                    model="fast", messages=[{"role": "user", "content": f"n{i}"}]
                )
                for i in range(16)
            )
        )
        assert sorted(r.choices[0].message.content or "" for r in replies) == sorted(
            f"n{i}" for i in range(16)
        )
        stream = await c.chat.completions.create(model="fast", messages=USER, stream=True)
        text = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
        assert "".join(text) == "hello gateway"


def test_models_lists_what_the_key_may_call(proxy: Proxy, client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == ["fast", "other"]
    with openai.OpenAI(base_url=proxy.base_url, api_key=TEAM_A) as team:
        assert [m.id for m in team.models.list()] == ["fast"]


def test_health_is_open(proxy: Proxy) -> None:
    for path in ("/health/liveliness", "/health/readiness", "/healthz"):
        assert httpx.get(proxy.url + path).status_code == 200, path


def test_litellm_as_a_client(proxy: Proxy) -> None:
    script = Path(__file__).with_name("litellm_client.py")
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, str(script), proxy.base_url, TEAM_A],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


def test_usage_log_has_batch_fields_and_no_key(
    client: openai.OpenAI, log_path: Path, proxy: Proxy
) -> None:
    client.chat.completions.create(model="fast", messages=USER)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="fast", messages=[])
    text = log_path.read_text()
    for secret in (MASTER, TEAM_A, "upstream"):
        assert secret not in text
    lines = [orjson.loads(line) for line in text.splitlines()]
    ok, bad = lines[-2], lines[-1]
    assert ok["key_alias"] == "master" and ok["model"] == "fast" and ok["status"] == 200
    assert ok["response"]["usage"]["total_tokens"] > 0 and "choices" not in ok["response"]
    assert ok["scillm_router"]["deployment"] == "fast#0"
    assert ok["scillm_router"]["retries"]["attempts"] == 1
    assert ok["latency_ms"] > 0 and "ok" not in ok
    assert bad["ok"] is False and bad["status"] == 400 and bad["error"]["message"]
