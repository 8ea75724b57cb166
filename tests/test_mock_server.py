"""The mock LLM server itself, driven over real loopback HTTP with urllib and aiohttp."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import pytest

import scillm.testing
from scillm.testing import ECHO, Fault, MockLLMServer, RateLimit, Reply

USER = [{"role": "user", "content": "hello mock world"}]


def post(url: str, body: Any, raw: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    """POST JSON with urllib (a plain sync client); HTTP errors are returned, not raised."""
    data = raw if raw is not None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def chat(srv: MockLLMServer, **body: Any) -> tuple[int, dict[str, str], bytes]:
    return post(srv.base_url + "/chat/completions", {"model": "m", "messages": USER} | body)


def sse_data(raw: bytes) -> list[Any]:
    """The decoded ``data:`` payloads of an SSE body (``[DONE]`` kept as a string)."""
    out: list[Any] = []
    for line in raw.decode().splitlines():
        if line.startswith("data: "):
            payload = line[len("data: ") :]
            out.append(payload if payload == "[DONE]" else json.loads(payload))
    return out


# -- lifecycle ------------------------------------------------------------------------------


def test_sync_context_manager_serves_health_models_and_urls() -> None:
    with MockLLMServer(model="served-model") as srv:
        assert srv.url == f"http://127.0.0.1:{srv.port}"
        assert srv.base_url == srv.url + "/v1"
        for path in ("/health", "/healthz"):  # /healthz: as every scillm service
            with urllib.request.urlopen(srv.url + path, timeout=5) as resp:
                assert json.loads(resp.read()) == {"status": "ok"}
        with urllib.request.urlopen(srv.base_url + "/models", timeout=5) as resp:
            models = json.loads(resp.read())
        assert models["object"] == "list"
        assert models["data"][0]["id"] == "served-model"
    with pytest.raises(RuntimeError, match="not running"):
        _ = srv.port


def test_explicit_start_stop_and_restart() -> None:
    srv = MockLLMServer()
    assert srv.start() is srv
    with pytest.raises(RuntimeError, match="already running"):
        srv.start()
    assert chat(srv)[0] == 200
    srv.stop()
    srv.stop()  # idempotent
    srv.start()
    try:
        assert chat(srv)[0] == 200
    finally:
        srv.stop()


def test_a_busy_port_fails_start_cleanly() -> None:
    with MockLLMServer() as first:
        second = MockLLMServer(port=first.port)
        with pytest.raises(OSError):
            second.start()
        with pytest.raises(RuntimeError):
            _ = second.port


async def test_async_context_manager_with_aiohttp_client() -> None:
    async with MockLLMServer(reply="async hi") as srv, aiohttp.ClientSession() as session:
        body = {"model": "m", "messages": USER}
        async with session.post(srv.base_url + "/chat/completions", json=body) as resp:
            assert resp.status == 200
            data = await resp.json()
    assert data["choices"][0]["message"]["content"] == "async hi"


def test_fixture_yields_a_running_server(mock_llm: MockLLMServer) -> None:
    status, _, raw = chat(mock_llm)
    assert status == 200
    assert json.loads(raw)["choices"][0]["message"]["content"] == "hello mock world"


async def test_stop_does_not_wait_for_a_long_delay_fault() -> None:
    srv = MockLLMServer()
    await srv.__aenter__()
    srv.enqueue(Fault.delay(60))
    async with aiohttp.ClientSession() as session:
        body = {"model": "m", "messages": USER}
        request = asyncio.create_task(session.post(srv.base_url + "/chat/completions", json=body))
        while not srv.requests:
            await asyncio.sleep(0.01)
        started = time.monotonic()
        await srv.__aexit__(None, None, None)
        assert time.monotonic() - started < 10
        with pytest.raises(aiohttp.ClientError):
            await request


def test_public_surface_is_pinned() -> None:
    assert scillm.testing.__all__ == sorted(scillm.testing.__all__)
    for name in scillm.testing.__all__:
        assert hasattr(scillm.testing, name), name


def test_serve_binds_first_and_serves_an_inherited_socket_until_sigterm() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port = sock.getsockname()[1]
    with pytest.raises(OSError, match=f"port {port} on 127.0.0.1 is already in use"):
        scillm.testing.serve(port)
    code = f"from scillm.testing import serve; serve(0, reply='on fd', fd={sock.fileno()})"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stderr=subprocess.PIPE, text=True, pass_fds=[sock.fileno()]
    )
    sock.close()  # the child holds it now
    try:
        assert proc.stderr is not None
        assert f"127.0.0.1:{port}/v1" in proc.stderr.readline()
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        _, _, raw = post(url, {"model": "m", "messages": USER})
        assert json.loads(raw)["choices"][0]["message"]["content"] == "on fd"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def test_serve_runs_in_the_foreground_until_ctrl_c() -> None:
    code = "from scillm.testing import serve; serve(0, reply='from cli')"
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        base_url = banner.split()[4]
        assert base_url.startswith("http://127.0.0.1:")
        _, _, raw = post(base_url + "/chat/completions", {"model": "m", "messages": USER})
        assert json.loads(raw)["choices"][0]["message"]["content"] == "from cli"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


# -- replies --------------------------------------------------------------------------------


def test_completion_is_a_full_openai_object_that_echoes_the_model() -> None:
    with MockLLMServer() as srv:
        status, headers, raw = chat(srv, model="my-org/my-model")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    data = json.loads(raw)
    assert data["id"].startswith("chatcmpl-")
    assert data["object"] == "chat.completion"
    assert isinstance(data["created"], int)
    assert data["model"] == "my-org/my-model"
    choice = data["choices"][0]
    assert choice["index"] == 0
    assert choice["message"] == {"role": "assistant", "content": "hello mock world"}
    assert choice["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}


def test_echo_reads_list_content_and_the_last_user_message() -> None:
    messages = [
        {"role": "system", "content": "be terse"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "image_url"}]},
    ]
    with MockLLMServer(reply=ECHO) as srv:
        _, _, raw = post(srv.url + "/chat/completions", {"model": "m", "messages": messages})
    data = json.loads(raw)
    assert data["choices"][0]["message"]["content"] == "second"
    assert data["usage"]["prompt_tokens"] == 5


def test_static_callable_reply_and_dict_replies_change_at_runtime() -> None:
    seen: list[dict[str, Any]] = []

    def scripted(body: dict[str, Any]) -> str:
        seen.append(body)
        return f"you said {len(body['messages'])} message(s)"

    with MockLLMServer(reply="static") as srv:
        assert json.loads(chat(srv)[2])["choices"][0]["message"]["content"] == "static"
        srv.set_reply(scripted)
        assert (
            json.loads(chat(srv)[2])["choices"][0]["message"]["content"] == "you said 1 message(s)"
        )
        assert seen[0]["messages"] == USER
        srv.set_reply(Reply("fixed", usage={"prompt_tokens": 99}))
        data = json.loads(chat(srv)[2])
        assert data["choices"][0]["message"]["content"] == "fixed"
        assert data["usage"] == {"prompt_tokens": 99, "completion_tokens": 1, "total_tokens": 4}
        srv.set_reply(lambda body: {"verbatim": True})
        assert json.loads(chat(srv, stream=True)[2]) == {"verbatim": True}


def test_a_bad_reply_is_refused_and_a_failing_function_is_a_500() -> None:
    with MockLLMServer() as srv:
        with pytest.raises(TypeError, match="reply must be"):
            srv.set_reply(42)  # type: ignore[arg-type]
        srv.set_reply(lambda body: 1 / 0)  # type: ignore[arg-type,return-value]
        status, _, raw = chat(srv)
    assert status == 500
    assert "ZeroDivisionError" in json.loads(raw)["error"]["message"]


def test_n_choices_and_their_usage() -> None:
    with MockLLMServer(reply="one two") as srv:
        data = json.loads(chat(srv, n=3)[2])
    assert [c["index"] for c in data["choices"]] == [0, 1, 2]
    assert {c["message"]["content"] for c in data["choices"]} == {"one two"}
    assert data["usage"]["completion_tokens"] == 6


def test_bad_requests_get_openai_shaped_errors() -> None:
    with MockLLMServer() as srv:
        url = srv.base_url + "/chat/completions"
        not_json = post(url, None, raw=b"{nope")
        no_messages = post(url, {"model": "m"})
        bad_n = chat(srv, n=0)
        no_route = post(srv.base_url + "/embeddings", {"input": "x"})
        assert srv.last_request.path == "/v1/embeddings"
    for status, _, raw in (not_json, no_messages, bad_n):
        assert status == 400
        error = json.loads(raw)["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"]
    assert no_route[0] == 404
    assert "/v1/embeddings" in json.loads(no_route[2])["error"]["message"]


def test_tool_calls_in_openai_shape() -> None:
    reply = Reply(content=None, tool_calls=[{"name": "add", "arguments": {"a": 1, "b": 2}}])
    with MockLLMServer(reply=reply) as srv:
        data = json.loads(chat(srv)[2])
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function"
    assert call["id"].startswith("call_")
    assert call["function"] == {"name": "add", "arguments": '{"a":1,"b":2}'}


# -- streaming ------------------------------------------------------------------------------


def test_stream_chunks_join_to_the_reply_then_usage_and_done() -> None:
    text = "a streamed  reply\nwith spacing "
    with MockLLMServer(reply=text) as srv:
        status, headers, raw = chat(srv, stream=True, stream_options={"include_usage": True})
    assert status == 200
    assert headers["Content-Type"] == "text/event-stream"
    *chunks, usage_chunk, done = sse_data(raw)
    assert done == "[DONE]"
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "m" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert len(chunks) > 4
    joined = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert joined == text
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"]["completion_tokens"] == 5


def test_stream_without_include_usage_has_no_usage_chunk() -> None:
    with MockLLMServer(reply="x y") as srv:
        events = sse_data(chat(srv, stream=True)[2])
    assert events[-1] == "[DONE]"
    assert all("usage" not in e for e in events[:-1])


def test_stream_tool_calls_use_the_delta_shape() -> None:
    args = {"query": "a fairly long argument value", "limit": 10}
    reply = Reply(
        "", tool_calls=[{"id": "call_9", "function": {"name": "search", "arguments": args}}]
    )
    with MockLLMServer(reply=reply) as srv:
        *chunks, done = sse_data(chat(srv, stream=True)[2])
    assert done == "[DONE]"
    deltas = [c["choices"][0]["delta"].get("tool_calls") for c in chunks]
    pieces = [d[0] for d in deltas if d]
    assert pieces[0]["id"] == "call_9" and pieces[0]["function"]["name"] == "search"
    assert len(pieces) > 2
    assert json.loads("".join(p["function"]["arguments"] for p in pieces)) == args
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


# -- Responses API --------------------------------------------------------------------------


def test_responses_api_non_streaming() -> None:
    body = {
        "model": "m",
        "instructions": "be brief",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "ping me"}]}],
    }
    with MockLLMServer() as srv:
        status, _, raw = post(srv.base_url + "/responses", body)
    assert status == 200
    data = json.loads(raw)
    assert data["object"] == "response"
    assert data["status"] == "completed"
    (message,) = data["output"]
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"][0] == {"type": "output_text", "text": "ping me", "annotations": []}
    usage = data["usage"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_tokens"]) == (4, 2, 6)


def test_responses_api_streaming_events() -> None:
    with MockLLMServer(reply="three little words") as srv:
        body = {"model": "m", "input": "hi", "stream": True}
        _, headers, raw = post(srv.url + "/responses", body)
    assert headers["Content-Type"] == "text/event-stream"
    names = [line[len("event: ") :] for line in raw.decode().splitlines() if line[:6] == "event:"]
    events = sse_data(raw)
    assert [e["type"] for e in events] == names
    assert names[0] == "response.created" and names[-1] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == "three little words"
    final = events[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == "three little words"
    assert final["usage"]["output_tokens"] == 3


# -- faults ---------------------------------------------------------------------------------


def test_faults_are_one_shot_and_served_in_order() -> None:
    with MockLLMServer() as srv:
        srv.enqueue(Fault.http(500), Fault.http(400, {"error": {"message": "custom"}}))
        assert srv.pending_faults == 2
        first, second, third = chat(srv), chat(srv), chat(srv)
        assert srv.pending_faults == 0
        assert srv.stats.faults == 2
    assert first[0] == 500
    assert json.loads(first[2])["error"]["type"] == "server_error"
    assert (second[0], json.loads(second[2])) == (400, {"error": {"message": "custom"}})
    assert third[0] == 200


def test_enqueue_refuses_what_is_not_a_fault() -> None:
    with MockLLMServer() as srv, pytest.raises(TypeError, match="Fault"):
        srv.enqueue(Fault.http)  # type: ignore[arg-type]


def test_http_fault_with_headers_and_retry_after() -> None:
    with MockLLMServer() as srv:
        srv.enqueue(Fault.http(503, retry_after=2), Fault.http(502, "<html>bad gateway</html>"))
        unavailable, gateway = chat(srv), chat(srv)
    assert unavailable[0] == 503
    assert unavailable[1]["Retry-After"] == "2"
    assert gateway[0] == 502
    assert gateway[1]["Content-Type"].startswith("text/plain")
    assert gateway[2] == b"<html>bad gateway</html>"


def test_rate_limit_faults_in_every_retry_after_form() -> None:
    later = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    with MockLLMServer() as srv:
        srv.enqueue(
            Fault.rate_limit(),
            Fault.rate_limit(retry_after=0.25),
            Fault.rate_limit(retry_after=30, retry_after_date=True),
            Fault.rate_limit(retry_after_date=later),
            Fault.rate_limit(retry_after_ms=1500),
        )
        replies = [chat(srv) for _ in range(5)]
    assert {status for status, _, _ in replies} == {429}
    assert json.loads(replies[0][2])["error"]["code"] == "rate_limit_exceeded"
    assert replies[0][1]["Retry-After"] == "1"
    assert replies[1][1]["Retry-After"] == "0.25"
    in_30s = parsedate_to_datetime(replies[2][1]["Retry-After"])
    assert timedelta(seconds=25) < in_30s - datetime.now(UTC) < timedelta(seconds=35)
    assert parsedate_to_datetime(replies[3][1]["Retry-After"]) == later
    assert replies[4][1]["retry-after-ms"] == "1500"
    assert "Retry-After" not in replies[4][1]


def test_delay_fault_then_a_normal_reply() -> None:
    with MockLLMServer(reply="late") as srv:
        srv.enqueue(Fault.delay(0.2))
        started = time.monotonic()
        status, _, raw = chat(srv)
        elapsed = time.monotonic() - started
    assert status == 200
    assert json.loads(raw)["choices"][0]["message"]["content"] == "late"
    assert 0.2 <= elapsed < 5


def test_latency_applies_to_every_reply_and_changes_at_runtime() -> None:
    with MockLLMServer(latency_s=0.15) as srv:
        started = time.monotonic()
        chat(srv)
        assert time.monotonic() - started >= 0.15
        srv.latency_s = 0.0
        assert chat(srv)[0] == 200


def test_malformed_json_for_plain_and_streamed_requests() -> None:
    with MockLLMServer() as srv:
        srv.enqueue(Fault.malformed_json(), Fault.malformed_json())
        plain, streamed = chat(srv), chat(srv, stream=True)
    assert plain[0] == 200 and plain[1]["Content-Type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(plain[2])
    assert streamed[1]["Content-Type"] == "text/event-stream"
    with pytest.raises(json.JSONDecodeError):
        sse_data(streamed[2])


async def test_drop_connection_and_stream_cut_are_seen_by_the_client() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "one two three four five"}]}
    async with MockLLMServer() as srv, aiohttp.ClientSession() as session:
        url = srv.base_url + "/chat/completions"
        srv.enqueue(Fault.drop_connection(), Fault.stream_cut(), Fault.stream_cut())
        with pytest.raises(aiohttp.ServerDisconnectedError):
            async with session.post(url, json=body) as resp:
                await resp.read()
        async with session.post(url, json=body) as resp:
            assert resp.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
        lines: list[bytes] = []
        async with session.post(url, json=body | {"stream": True}) as resp:
            with pytest.raises(aiohttp.ClientPayloadError):
                async for line in resp.content:
                    lines.append(line)
        assert any(line.startswith(b"data: {") for line in lines)
        assert b"data: [DONE]\n" not in lines
        async with session.post(url, json=body) as resp:
            assert resp.status == 200


async def test_faults_apply_to_the_responses_api_too() -> None:
    async with MockLLMServer() as srv, aiohttp.ClientSession() as session:
        srv.enqueue(Fault.http(429))
        async with session.post(srv.base_url + "/responses", json={"input": "x"}) as resp:
            assert resp.status == 429


# -- rate-limit emulation -------------------------------------------------------------------


def test_requests_per_window_limit_with_headers_and_recovery() -> None:
    with MockLLMServer(rate_limit=RateLimit(rpm=2, window_s=0.3)) as srv:
        ok = [chat(srv), chat(srv)]
        status, headers, raw = chat(srv)
        assert [s for s, _, _ in ok] == [200, 200]
        assert ok[0][1]["x-ratelimit-limit-requests"] == "2"
        assert ok[0][1]["x-ratelimit-remaining-requests"] == "1"
        assert ok[1][1]["x-ratelimit-remaining-requests"] == "0"
        assert ok[1][1]["x-ratelimit-reset-requests"].endswith("s")
        assert status == 429
        assert json.loads(raw)["error"]["type"] == "requests"
        wait_s = int(headers["retry-after-ms"]) / 1000
        assert 0 < wait_s <= 0.3
        assert headers["Retry-After"] == "1"  # whole seconds, rounded up, as OpenAI sends
        assert srv.stats.rate_limited == 1
        time.sleep(wait_s + 0.05)
        assert chat(srv)[0] == 200


def test_tokens_per_window_limit() -> None:
    with MockLLMServer(rate_limit=RateLimit(tpm=8, window_s=60)) as srv:
        first = chat(srv)  # 3 prompt + 3 completion tokens
        second = chat(srv)
        assert srv.stats.rate_limited == 1
    assert first[0] == 200
    assert first[1]["x-ratelimit-remaining-tokens"] == "2"
    assert "x-ratelimit-limit-requests" not in first[1]
    assert second[0] == 429
    assert json.loads(second[2])["error"]["type"] == "tokens"
    assert 59 < float(second[1]["Retry-After"]) <= 60


def test_rate_limit_headers_can_be_forced_on_or_off() -> None:
    with MockLLMServer(rate_limit_headers=True) as srv:
        headers = chat(srv)[1]
    assert int(headers["x-ratelimit-remaining-requests"]) > 0
    assert "x-ratelimit-remaining-tokens" in headers
    with MockLLMServer(rate_limit=RateLimit(rpm=1), rate_limit_headers=False) as srv:
        ok, limited = chat(srv), chat(srv)
    assert not any(key.startswith("x-ratelimit") for key in ok[1])
    assert limited[0] == 429 and "Retry-After" in limited[1]


# -- request log ----------------------------------------------------------------------------


def test_request_log_records_method_path_headers_and_body() -> None:
    with MockLLMServer() as srv:
        with pytest.raises(LookupError):
            _ = srv.last_request
        before = time.time()
        chat(srv, temperature=0)
        urllib.request.urlopen(srv.url + "/health", timeout=5).close()
        first, health = srv.requests
        assert srv.last_request == health
        srv.clear()
        assert srv.requests == []
        assert srv.stats.requests == 2
    assert (first.method, first.path) == ("POST", "/v1/chat/completions")
    assert first.headers["content-type"] == "application/json"
    assert first.body == {"model": "m", "messages": USER, "temperature": 0}
    assert before <= first.received_at <= time.time()
    assert (health.method, health.path, health.body) == ("GET", "/health", None)


def test_max_recorded_keeps_the_newest_requests() -> None:
    with MockLLMServer(max_recorded=2) as srv:
        for word in ("one", "two", "three"):
            post(
                srv.base_url + "/chat/completions",
                {"messages": [{"role": "user", "content": word}]},
            )
        kept = [r.body["messages"][0]["content"] for r in srv.requests if r.body]
        assert kept == ["two", "three"]
        assert srv.stats.requests == 3


async def test_concurrent_clients_on_other_loops_are_all_recorded() -> None:
    async def burst(base_url: str, count: int) -> list[int]:
        async with aiohttp.ClientSession() as session:

            async def one(i: int) -> int:
                body = {"model": "m", "messages": [{"role": "user", "content": f"n{i}"}]}
                async with session.post(base_url + "/chat/completions", json=body) as resp:
                    return int(resp.status)

            return await asyncio.gather(*(one(i) for i in range(count)))

    with MockLLMServer() as srv:
        here = await burst(srv.base_url, 48)
        there = await asyncio.to_thread(asyncio.run, burst(srv.base_url, 16))
        recorded = srv.requests
    assert here + there == [200] * 64
    assert len(recorded) == 64
    assert {r.body["messages"][0]["content"] for r in recorded if r.body} == {
        f"n{i}" for i in range(48)
    }
