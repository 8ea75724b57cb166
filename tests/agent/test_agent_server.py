"""The agent server on loopback, driven by scillm's codex-agent provider and by plain HTTP."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_helpers import Script, Step, calls, serving, tool_messages
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

import scillm
from scillm.agent.server import create_app
from scillm.agent.settings import AgentServerSettings
from scillm.service import ServiceConfig
from scillm.testing import Fault, MockLLMServer

pytestmark = pytest.mark.requires("bwrap", apt="bubblewrap")

USER = [{"role": "user", "content": "What is 6 * 7?"}]
TOKEN = "agent-t0ken"
Agent = Callable[..., tuple[str, MockLLMServer, Script]]


@pytest.fixture
def agent(scripted: Any) -> Iterator[Agent]:
    """``url, target, script = agent(step, ..., **settings)``: an agent server on a mock target."""
    with contextlib.ExitStack() as stack:

        def start(
            *steps: Step, token: str | None = TOKEN, **settings: Any
        ) -> tuple[str, MockLLMServer, Script]:
            srv, script = scripted(*steps)
            settings = {"target_model": "openai/mock-model", "target_api_base": srv.base_url} | (
                settings
            )
            app = create_app(AgentServerSettings.from_env(**settings), ServiceConfig(token=token))
            return stack.enter_context(serving(app)), srv, script

        yield start


def post(url: str, path: str, body: Any, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url + path, json=body, headers=headers, timeout=60)


def test_codex_agent_provider_drives_the_agent(agent: Agent) -> None:
    url, _, script = agent(calls(("exec_python", {"code": "print(6 * 7)"})), "It is 42.")
    resp = scillm.completion(
        "codex-agent/mini-agent", USER, api_base=url, api_key=TOKEN, reasoning_effort="low"
    )
    assert resp.choices[0].message.content == "It is 42."
    assert resp.choices[0].finish_reason == "stop"
    assert resp["mini_agent"]["stopped_reason"] == "final_answer"
    (inv,) = resp["mini_agent"]["tool_invocations"]
    assert (inv["name"], inv["stdout"], inv["ok"]) == ("exec_python", "42\n", True)
    # reasoning_effort reaches the target; its Responses-API twin `reasoning` does not.
    assert script.bodies[0]["reasoning_effort"] == "low" and "reasoning" not in script.bodies[0]
    assert tool_messages(script.bodies[1]) == [{"ok": True, "stdout": "42\n", "rc": 0}]
    # The base may also be given with /v1, and the key from CODEX_AGENT_API_KEY.
    again = scillm.completion("codex-agent/mini-agent", USER, api_base=url + "/v1", api_key=TOKEN)
    assert again.choices[0].message.content == "It is 42."


def test_codex_agent_streams_from_the_agent(agent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _, _ = agent("streamed answer")
    monkeypatch.setenv("CODEX_AGENT_API_BASE", url)
    monkeypatch.setenv("CODEX_AGENT_API_KEY", TOKEN)
    chunks = list(
        scillm.completion(
            "codex-agent/mini-agent", USER, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.get("content") or "" for c in chunks if c.choices)
    assert text == "streamed answer"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage["total_tokens"] > 0


def test_a_run_cut_short_is_length_not_stop(agent: Agent) -> None:
    url, _, _ = agent(calls(("exec_python", {"code": "print(1)"})))
    resp = scillm.completion(
        "codex-agent/mini-agent",
        USER,
        api_base=url,
        api_key=TOKEN,
        extra_body={"max_iterations": 2},
    )
    assert resp.choices[0].finish_reason == "length"
    assert resp.choices[0].message.content == ""
    assert resp["mini_agent"]["stopped_reason"] == "max_iterations"
    run = post(url, "/agent/run", {"messages": USER, "max_iterations": 1}).json()
    assert (run["ok"], run["stopped_reason"], run["metrics"]["iterations"]) == (
        False,
        "max_iterations",
        1,
    )


def test_target_failures_are_failures(agent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCILLM_RETRY_MAX_ATTEMPTS", "0")  # else the Router retries the target
    url, srv, _ = agent("never seen")
    srv.enqueue(Fault.http(500))
    with pytest.raises(scillm.ServerError, match="502"):
        scillm.completion("codex-agent/mini-agent", USER, api_base=url, api_key=TOKEN)
    srv.enqueue(Fault.rate_limit(retry_after=7))
    with pytest.raises(scillm.RateLimitError) as info:
        scillm.completion("codex-agent/mini-agent", USER, api_base=url, api_key=TOKEN)
    assert info.value.retry_after_s == 7
    srv.enqueue(Fault.http(503))
    failed = post(url, "/agent/run", {"messages": USER})
    assert failed.status_code == 502
    assert failed.json()["ok"] is False and "HTTP 503" in failed.json()["error"]["message"]
    error = failed.json()["error"]
    assert (error["type"], error["param"], error["code"]) == (
        "server_error",
        None,
        "upstream_error",
    )
    srv.enqueue(Fault.rate_limit(retry_after=3))
    limited = post(url, "/v1/chat/completions", {"messages": USER})
    assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
    assert limited.json() == {
        "error": {
            "message": limited.json()["error"]["message"],
            "type": "rate_limit_error",
            "param": None,
            "code": "rate_limited",
        }
    }
    assert "Traceback" not in limited.text


def test_agent_run_keeps_the_original_request_shape(agent: Agent) -> None:
    url, _, script = agent(calls(("exec_python", {"code": "print(2 + 2)"})), "4")
    body = {
        "messages": USER,
        "model": "mini-agent",
        "tool_backend": "local",
        "use_tools": True,
        "auto_run_code_on_code_block": False,
        "max_iterations": 3,
        "max_total_seconds": 60,
        "enable_repair": True,
    }
    run = post(url, "/agent/run", body).json()
    assert (run["ok"], run["final_answer"], run["stopped_reason"]) == (True, "4", "final_answer")
    assert run["metrics"]["used_model"] == "openai/mock-model"
    assert run["iterations"][0]["tool_invocations"][0]["stdout"] == "4\n"
    assert [m["role"] for m in run["messages"]] == ["user", "assistant", "tool", "assistant"]
    assert len(script.bodies) == 2


def test_no_tools_when_use_tools_is_false(agent: Agent) -> None:
    url, _, script = agent("plain")
    run = post(url, "/agent/run", {"messages": USER, "use_tools": False}).json()
    assert run["final_answer"] == "plain" and "tools" not in script.bodies[0]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"messages": USER, "tool_backend": "docker"}, 400, "unknown tool_backend 'docker'"),
        ({"messages": USER, "escalate_model": "x"}, 400, "unknown field(s) escalate_model"),
        ({"messages": []}, 400, "messages must be a non-empty list"),
        ({"messages": USER, "max_iterations": "3"}, 400, "max_iterations must be an integer"),
        ({"messages": USER, "model": "gpt-5"}, 404, "model 'gpt-5' is not served here"),
        (
            {"messages": USER, "tool_backend": "http", "tool_http_base_url": "http://10.0.0.1"},
            403,
            "not on this server's allow-list",
        ),
        ([1, 2], 400, "must be a JSON object"),
    ],
)
def test_bad_requests_are_refused_with_the_reason(
    agent: Agent, body: Any, status: int, message: str
) -> None:
    url, _, script = agent("unused")
    reply = post(url, "/agent/run", body)
    assert reply.status_code == status
    assert message in reply.json()["error"]["message"]
    assert reply.json()["ok"] is False
    assert set(reply.json()["error"]) == {"message", "type", "param", "code"}
    assert reply.json()["error"]["type"] in ("invalid_request_error", "permission_error")
    assert isinstance(reply.json()["error"]["code"], str)
    chat = post(url, "/v1/chat/completions", body)  # the same refusal, without "ok"
    same = {k: v for k, v in reply.json()["error"].items() if k != "message"}
    assert chat.status_code == status and "ok" not in chat.json()
    assert {k: v for k, v in chat.json()["error"].items() if k != "message"} == same
    assert message in chat.json()["error"]["message"]
    assert script.bodies == []  # nothing reached the model


def test_token_health_and_models(agent: Agent) -> None:
    url, _, script = agent("hi")
    for path in ("/v1/chat/completions", "/agent/run"):
        for token in (None, "wrong"):
            refused = post(url, path, {"messages": USER}, token=token)
            assert refused.status_code == 401
            assert refused.json()["error"]["type"] == "authentication_error"
    assert httpx.get(url + "/v1/models").status_code == 401
    with pytest.raises(scillm.AuthenticationError):
        scillm.completion("codex-agent/mini-agent", USER, api_base=url, api_key="wrong")
    assert script.bodies == []
    health = httpx.get(url + "/healthz")  # no token needed
    assert health.status_code == 200 and TOKEN not in health.text
    report = health.json()
    assert (report["ok"], report["missing"], report["checks"]["sandbox"]["ok"]) == (True, [], True)
    assert "target model" in report["not_checked"][0]
    assert report["target_model"] == "openai/mock-model"
    assert httpx.get(url + "/ready").json()["checks"] == report["checks"]
    assert script.bodies == []  # health never calls the model
    models = httpx.get(url + "/v1/models", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert [m["id"] for m in models["data"]] == ["mini-agent"]


def test_health_says_what_is_missing(agent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCILLM_BWRAP", "/nonexistent/bwrap")  # a host without bubblewrap
    url, _, _ = agent("hi")
    health = httpx.get(url + "/healthz")
    assert health.status_code == 503
    (missing,) = health.json()["missing"]
    assert missing.startswith("sandboxed tools cannot run: bubblewrap not found (install")
    # Runs without sandboxed tools by default do not need it.
    url, _, _ = agent("hi", defaults={"tool_backend": "none"})
    health = httpx.get(url + "/healthz")
    assert health.status_code == 200 and health.json()["checks"] == {}
    assert any("sandbox" in what for what in health.json()["not_checked"])


def test_unknown_routes_and_methods_have_the_openai_shape(agent: Agent) -> None:
    url, _, _ = agent("hi", token=None)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    missing = httpx.get(url + "/v1/nope", headers=auth)
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {
            "message": "Invalid URL (GET /v1/nope)",
            "type": "invalid_request_error",
            "param": None,
            "code": "not_found",
        }
    }
    wrong = httpx.get(url + "/v1/chat/completions", headers=auth)
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    assert httpx.delete(url + "/agent/run").status_code == 405


def test_a_browser_page_cannot_reach_the_model(agent: Agent) -> None:
    """Without a token (the loopback default), a page the user visits still cannot run code."""
    url, _, script = agent("hi", token=None)
    chat = url + "/v1/chat/completions"
    body = json.dumps({"messages": USER})
    form = httpx.post(chat, content=body, headers={"Content-Type": "text/plain"})
    assert form.status_code == 415 and form.json()["error"]["code"] == "unsupported_media_type"
    site = {"Origin": "https://evil.example", "Content-Type": "application/json"}
    assert httpx.post(chat, content=body, headers=site).status_code == 403
    rebound = {"Host": "evil.example", "Content-Type": "application/json"}
    assert httpx.post(chat, content=body, headers=rebound).status_code == 400
    assert script.bodies == []
    assert post(url, "/v1/chat/completions", {"messages": USER}, token=None).status_code == 200


def test_response_format_is_honoured(agent: Agent) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    url, _, script = agent("The answer is 42.", '{"answer": 42}')
    body = {"messages": USER, "response_format": fmt}
    reply = post(url, "/v1/chat/completions", body).json()
    assert json.loads(reply["choices"][0]["message"]["content"]) == {"answer": 42}
    asked = script.bodies[1]
    assert asked["response_format"] == fmt and "tools" not in asked
    assert "JSON Schema" in asked["messages"][-1]["content"]
    # An answer that still does not fit is a failure, not a 200 with prose.
    url, _, _ = agent("The answer is 42.")
    failed = post(url, "/v1/chat/completions", body)
    assert failed.status_code == 502
    assert "does not satisfy response_format" in failed.json()["error"]["message"]


def tool_server(seen: list[dict[str, Any]], fail_first: int) -> FastAPI:
    """A tiny HTTP tool server: one tool, a 503 for the first ``fail_first`` calls."""
    app = FastAPI()

    @app.get("/tools")
    async def tools() -> dict[str, Any]:
        params = {"type": "object", "properties": {"text": {"type": "string"}}}
        return {"tools": [{"name": "shout", "description": "Upper-case", "parameters": params}]}

    @app.post("/invoke")
    async def invoke(request: Request) -> Response:
        seen.append({"body": await request.json(), "auth": request.headers.get("authorization")})
        if len(seen) <= fail_first:
            return JSONResponse({"error": "busy"}, status_code=503, headers={"Retry-After": "0"})
        return PlainTextResponse(seen[-1]["body"]["arguments"]["text"].upper())

    return app


def test_http_tools_from_the_allow_list(agent: Agent, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    with serving(tool_server(seen, fail_first=1)) as tools_url:
        trace = tmp_path / "traces.jsonl"
        url, _, script = agent(
            calls(("shout", {"text": "hi sk-abcdefgh12345678"})),
            "done",
            http_tool_bases=(tools_url,),
            http_tool_headers={"Authorization": "Bearer tool-secret-1"},
            trace_path=str(trace),
        )
        body = {"messages": USER, "tool_backend": "http", "tool_http_base_url": tools_url + "/"}
        run = post(url, "/agent/run", body).json()
    assert run["ok"] is True
    assert [t["function"]["name"] for t in script.bodies[0]["tools"]] == ["shout"]
    assert tool_messages(script.bodies[1]) == [{"ok": True, "result": "HI SK-ABCDEFGH12345678"}]
    assert len(seen) == 2  # one POST, retried once after the 503
    assert seen[-1]["auth"] == "Bearer tool-secret-1"
    (line,) = trace.read_text().splitlines()
    assert "tool-secret-1" not in line and "sk-abcdefgh12345678" not in line and TOKEN not in line
    record = json.loads(line)
    assert record["endpoint"] == "/agent/run" and record["ok"] is True
    assert record["request"]["tool_http_base_url"] == tools_url + "/"
