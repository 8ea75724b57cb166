"""The core API against the real mock server over loopback: shapes, params, sync and async."""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Any

import orjson
import pytest

import scillm
from scillm.testing import MockLLMServer

USER = [{"role": "user", "content": "hello there"}]


def call(srv: MockLLMServer, **kwargs: Any) -> scillm.ChatCompletion:
    kwargs.setdefault("model", "openai/mock-model")
    return scillm.completion(messages=USER, api_base=srv.base_url, api_key="sk-test", **kwargs)


def test_completion_is_openai_shaped_with_dict_and_attribute_access(
    mock_llm: MockLLMServer,
) -> None:
    resp = call(mock_llm)
    assert resp.choices[0].message.content == "hello there"
    assert resp["choices"][0]["message"]["content"] == "hello there"
    assert resp.choices[0].message["content"] == "hello there"
    assert resp.object == "chat.completion"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    # Lossless: it serialises back to the same JSON the server sent.
    assert orjson.loads(orjson.dumps(resp))["id"] == resp.id


def test_request_on_the_wire(mock_llm: MockLLMServer) -> None:
    call(mock_llm, model="openai/my-org/my-model")
    req = mock_llm.last_request
    assert req.path == "/v1/chat/completions"
    assert req.body == {"model": "my-org/my-model", "messages": USER}
    assert req.headers["authorization"] == "Bearer sk-test"


def test_custom_llm_provider_keeps_the_whole_model_name(mock_llm: MockLLMServer) -> None:
    call(mock_llm, model="my-org/my-model", custom_llm_provider="openai")
    assert mock_llm.last_request.body["model"] == "my-org/my-model"
    call(mock_llm, model="openai/my-org/my-model", custom_llm_provider="openai")
    assert mock_llm.last_request.body["model"] == "my-org/my-model"


def test_openai_parameters_pass_through(mock_llm: MockLLMServer) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    params: dict[str, Any] = {
        "temperature": 0.2,
        "top_p": 0.9,
        "max_tokens": 12,
        "seed": 42,
        "stop": ["\n\n"],
        "n": 2,
        "tools": tools,
        "tool_choice": "auto",
        "response_format": {"type": "json_object"},
        "reasoning_effort": "high",
    }
    resp = call(
        mock_llm,
        extra_headers={"X-Trace": "t1"},
        extra_body={"top_k": 5},
        **params,
    )
    body = mock_llm.last_request.body
    assert body is not None
    for key, value in params.items():
        assert body[key] == value
    assert body["top_k"] == 5
    assert mock_llm.last_request.headers["x-trace"] == "t1"
    assert len(resp.choices) == 2


def test_none_valued_parameters_are_not_sent(mock_llm: MockLLMServer) -> None:
    call(mock_llm, temperature=None, max_tokens=None)
    body = mock_llm.last_request.body
    assert body is not None and "temperature" not in body and "max_tokens" not in body


def test_base_url_is_an_alias_of_api_base(mock_llm: MockLLMServer) -> None:
    resp = scillm.completion("openai/m", USER, base_url=mock_llm.base_url, api_key="k")
    assert resp.choices[0].message.content == "hello there"


def test_sync_stream_yields_chunks_that_join_to_the_reply(mock_llm: MockLLMServer) -> None:
    chunks = list(call(mock_llm, stream=True))
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices)
    assert text == "hello there"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert mock_llm.last_request.body["stream"] is True


def test_sync_stream_can_stop_early(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply("one two three four five six seven eight")
    with call(mock_llm, stream=True) as stream:
        first = next(stream)
    assert first.object == "chat.completion.chunk"
    assert call(mock_llm).choices[0].message.content.startswith("one")


async def test_acompletion_and_async_stream(mock_llm: MockLLMServer) -> None:
    resp = await scillm.acompletion(
        "openai/m", USER, api_base=mock_llm.base_url, api_key="k", temperature=0
    )
    assert resp.choices[0].message.content == "hello there"
    stream = await scillm.acompletion(
        "openai/m",
        USER,
        api_base=mock_llm.base_url,
        api_key="k",
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices) == (
        "hello there"
    )
    assert chunks[-1].usage.completion_tokens == 2


async def test_async_fan_out_keeps_every_reply(mock_llm: MockLLMServer) -> None:
    prompts = [f"question {i}" for i in range(40)]
    replies = await asyncio.gather(
        *(
            scillm.acompletion(
                "openai/m",
                [{"role": "user", "content": p}],
                api_base=mock_llm.base_url,
                api_key="k",
            )
            for p in prompts
        )
    )
    assert [r.choices[0].message.content for r in replies] == prompts


async def test_sync_call_works_inside_a_running_loop(mock_llm: MockLLMServer) -> None:
    # As in Jupyter: a loop is running in this thread, and the sync API still works.
    asyncio.get_running_loop()
    assert call(mock_llm).choices[0].message.content == "hello there"


def test_sync_calls_from_many_threads(mock_llm: MockLLMServer) -> None:
    results: dict[int, str] = {}

    def work(i: int) -> None:
        resp = scillm.completion(
            "openai/m",
            [{"role": "user", "content": f"t{i}"}],
            api_base=mock_llm.base_url,
            api_key="k",
        )
        results[i] = resp.choices[0].message.content

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: f"t{i}" for i in range(8)}


def test_tool_call_replies_are_kept(mock_llm: MockLLMServer) -> None:
    from scillm.testing import Reply

    tool_call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    mock_llm.set_reply(
        lambda body: Reply(content=None, tool_calls=[tool_call], finish_reason="tool_calls")
    )
    resp = call(mock_llm)
    message = resp.choices[0].message
    assert message.tool_calls[0].function.name == "f"
    assert resp.choices[0].finish_reason == "tool_calls"


def test_sync_and_async_twins_share_a_signature() -> None:
    sync, run_async = inspect.signature(scillm.completion), inspect.signature(scillm.acompletion)
    assert sync.parameters == run_async.parameters


def test_public_surface_is_pinned() -> None:
    assert scillm.__all__ == sorted(scillm.__all__)
    for name in scillm.__all__:
        assert hasattr(scillm, name), name


@pytest.mark.parametrize("module", ["aiohttp", "litellm", "xllamacpp", "typer", "fastapi"])
def test_import_scillm_stays_light(module: str) -> None:
    import subprocess
    import sys

    code = f"import sys, scillm; print({module!r} in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
