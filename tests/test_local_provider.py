"""``local/smollm2`` end to end: scillm's API and the demo against the embedded model.

The model is tiny: these tests check structure (usage, streaming, schema-valid JSON,
reproducibility), never facts. Replies are kept short to keep the suite quick.
"""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

import scillm
from scillm import Router
from scillm.testing import MockLLMServer

MODEL = "local/smollm2"
ASK = [{"role": "user", "content": "Say hello."}]
CITY = {
    "name": "city",
    "schema": {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 30}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


def test_completion_has_content_and_usage() -> None:
    resp = scillm.completion(MODEL, ASK, max_tokens=8, temperature=0)
    assert isinstance(resp.choices[0].message.content, str)
    assert resp.choices[0].message.content.strip()
    assert resp.usage.completion_tokens <= 8
    assert resp.choices[0].finish_reason in ("stop", "length")


def test_temperature_zero_is_reproducible() -> None:
    first = scillm.completion(MODEL, ASK, max_tokens=12, temperature=0, seed=3)
    again = scillm.completion(MODEL, ASK, max_tokens=12, temperature=0, seed=3)
    assert first.choices[0].message.content == again.choices[0].message.content


async def test_async_stream_with_usage() -> None:
    stream = await scillm.acompletion(
        MODEL, ASK, stream=True, max_tokens=8, stream_options={"include_usage": True}
    )
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].usage.completion_tokens >= 1


def test_router_schema_first_on_the_embedded_model() -> None:
    router = Router(deterministic=True)
    resp = router.completion(
        model=MODEL,
        messages=[{"role": "user", "content": "A city as JSON."}],
        response_mode="schema_first",
        json_schema=CITY,
        max_tokens=40,
    )
    assert resp["scillm_router"]["schema_valid"] is True
    assert isinstance(orjson.loads(resp.choices[0].message.content)["city"], str)


async def test_parallel_fan_out_keeps_order() -> None:
    prompts = [f"Repeat the number {i}." for i in range(4)]
    results = await Router().parallel_acompletions(
        [
            {"model": MODEL, "messages": [{"role": "user", "content": p}], "max_tokens": 6}
            for p in prompts
        ],
        max_concurrency=4,
    )
    assert [r.index for r in results] == [0, 1, 2, 3]
    assert all(r.ok and r["usage"]["completion_tokens"] >= 1 for r in results)


def test_the_quickstart_demo_runs() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "scillm", "demo"], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr
    for step in (
        "1. completion",
        "2. streamed completion",
        "3. JSON-schema",
        "4. parallel fan-out",
    ):
        assert step in out.stdout
    assert "done in" in out.stdout


def test_a_shared_server_is_used_when_scillm_local_api_base_is_set(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCILLM_LOCAL_API_BASE", mock_llm.base_url + "/")
    monkeypatch.setenv("SCILLM_SERVICE_TOKEN", "stack-token")
    resp = scillm.completion(MODEL, ASK, max_tokens=8)
    assert resp.choices[0].message.content == "Say hello."  # the mock's echo
    sent = mock_llm.last_request
    assert sent.path == "/v1/chat/completions" and sent.body is not None
    assert sent.body["model"] == "smollm2"
    assert sent.headers["authorization"] == "Bearer stack-token"
    monkeypatch.setenv("SCILLM_LOCAL_TOKEN", "model-token")  # the service's own wins
    scillm.completion(MODEL, ASK, max_tokens=8)
    assert mock_llm.last_request.headers["authorization"] == "Bearer model-token"
    scillm.completion(MODEL, ASK, max_tokens=8, api_key="mine")  # and the call's over both
    assert mock_llm.last_request.headers["authorization"] == "Bearer mine"
