"""The Codex sidecar running the real Codex CLI against the mock Responses API (and SmolLM2)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from agent_helpers import Script, Step, serving

import scillm
from scillm.agent.codex import CodexSidecarSettings, codex_command, parse_events
from scillm.agent.codex.prompt import build_prompt
from scillm.agent.codex.runner import CodexJob
from scillm.agent.codex.sidecar import create_app
from scillm.service import ServiceConfig
from scillm.testing import Fault, MockLLMServer, Reply

USER = [{"role": "user", "content": "What is 6 * 7?"}]
TOKEN = "sidecar-t0ken"
PROJECT_CLI = Path(__file__).parents[2] / ".codex-cli" / "node_modules" / ".bin" / "codex"
INSTALL = "npm install --prefix .codex-cli @openai/codex@0.169.0"
Sidecar = Callable[..., tuple[str, MockLLMServer, Script]]
LEAN = (  # Codex without its multi-agent, goal, shell and web tools, skills and context blocks
    *("--disable", "multi_agent", "--disable", "goals", "--disable", "shell_tool"),
    *("-c", 'web_search="disabled"', "-c", "skills.bundled.enabled=false"),
    *("-c", "include_permissions_instructions=false", "-c", "include_environment_context=false"),
)


@pytest.fixture(scope="module")
def codex_cli() -> str:
    """The Codex CLI: CODEX_CMD, else ``codex`` on PATH, else the project-local install."""
    found = os.environ.get("CODEX_CMD") or shutil.which("codex")
    if found is None and PROJECT_CLI.exists():
        found = str(PROJECT_CLI)
    if found is None:
        reason = f"the Codex CLI is not installed: {INSTALL}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@pytest.fixture
def sidecar(codex_cli: str, scripted: Any) -> Iterator[Sidecar]:
    """``url, upstream, script = sidecar(step, ..., **settings)``: the sidecar on a mock model."""
    with contextlib.ExitStack() as stack:

        def start(
            *steps: Step, token: str | None = TOKEN, **settings: Any
        ) -> tuple[str, MockLLMServer, Script]:
            srv, script = scripted(*steps)
            settings = {
                "codex_cmd": (codex_cli,),
                "base_url": srv.base_url,
                "timeout_s": 60,
            } | settings
            app = create_app(CodexSidecarSettings(**settings), ServiceConfig(token=token))
            return stack.enter_context(serving(app)), srv, script

        yield start


def post(url: str, body: Any, token: str | None = TOKEN) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url + "/v1/chat/completions", json=body, headers=headers, timeout=90)


def test_codex_agent_provider_through_the_sidecar(sidecar: Sidecar) -> None:
    url, srv, _ = sidecar("The answer is 42.")
    resp = scillm.completion(
        "codex-agent/mock-model", USER, api_base=url, api_key=TOKEN, reasoning_effort="high"
    )
    assert resp.choices[0].message.content == "The answer is 42."
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == "mock-model" and resp.usage.prompt_tokens > 0
    assert resp["codex"]["thread_id"] and resp["codex"]["ignored_params"] == []
    (request,) = [r for r in srv.requests if r.path == "/v1/responses"]
    assert request.body["model"] == "mock-model"
    assert request.body["reasoning"]["effort"] == "high"
    assert request.body["input"][-1]["content"][0]["text"] == "What is 6 * 7?"
    chunks = list(
        scillm.completion("codex-agent/mock-model", USER, api_base=url, api_key=TOKEN, stream=True)
    )
    assert "".join(c.choices[0].delta.get("content") or "" for c in chunks) == "The answer is 42."
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_content_is_the_final_message_and_the_cli_sandbox_is_read_only(
    sidecar: Sidecar, tmp_path: Path
) -> None:
    target = tmp_path / "written-by-codex"
    command = {"cmd": f"echo ran-it; touch {target}"}

    def after_the_command(body: dict[str, Any]) -> str:
        (output,) = [i["output"] for i in body["input"] if i.get("type") == "function_call_output"]
        return f"Final. Saw: {'ran-it' in output}"

    url, _, script = sidecar(
        Reply("Let me check.", tool_calls=[{"name": "exec_command", "arguments": command}]),
        after_the_command,
        workdir=str(tmp_path),
    )
    reply = post(url, {"model": "mock-model", "messages": USER, "temperature": 0}).json()
    assert reply["choices"][0]["message"]["content"] == "Final. Saw: True"  # not the preamble
    assert reply["codex"]["ignored_params"] == ["temperature"]
    assert not target.exists() and len(script.bodies) == 2


def test_response_format_goes_to_the_cli_and_is_checked(sidecar: Sidecar) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    url, srv, _ = sidecar('{"answer": 42}')
    reply = post(url, {"messages": USER, "response_format": fmt}).json()
    assert json.loads(reply["choices"][0]["message"]["content"]) == {"answer": 42}
    assert srv.last_request.body["text"]["format"]["schema"] == schema
    url, _, _ = sidecar("forty-two")
    failed = post(url, {"messages": USER, "response_format": fmt})
    assert failed.status_code == 502
    assert "does not satisfy response_format" in failed.json()["error"]["message"]


def test_codex_failures_and_timeouts_are_errors(sidecar: Sidecar) -> None:
    url, srv, _ = sidecar("never")
    srv.enqueue(Fault.http(400))
    failed = post(url, {"messages": USER})
    assert failed.status_code == 502
    assert failed.json()["error"]["message"].startswith("Codex error (exit 1): ")
    assert (failed.json()["error"]["type"], failed.json()["error"]["code"]) == (
        "server_error",
        "upstream_error",
    )
    url, srv, _ = sidecar("late", timeout_s=1)
    srv.latency_s = 30
    with pytest.raises(scillm.ServerError, match="504"):
        scillm.completion("codex-agent/m", USER, api_base=url, api_key=TOKEN)


def test_runs_beyond_the_concurrency_limit_wait_their_turn(sidecar: Sidecar) -> None:
    url, srv, _ = sidecar("done", max_concurrency=1)
    srv.latency_s = 1.0  # each model reply takes a second

    def ask(_: int) -> int:
        return post(url, {"messages": USER}).status_code

    with ThreadPoolExecutor(2) as pool:
        assert list(pool.map(ask, range(2))) == [200, 200]
    first, second = sorted(r.received_at for r in srv.requests if r.path == "/v1/responses")
    assert second - first >= 1.0  # the second CLI started only after the first had its answer


def test_missing_cli_is_503_and_echo_never_runs_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-codex")
    with serving(create_app(CodexSidecarSettings(codex_cmd=(missing,)))) as url:
        failed = post(url, {"messages": USER}, token=None)
        assert failed.status_code == 503 and "npm install" in failed.json()["error"]["message"]
        assert failed.json()["error"]["code"] == "engine_unavailable"
        health = httpx.get(url + "/healthz")
        assert health.status_code == 503 and health.json()["ok"] is False
        (why,) = health.json()["missing"]
        assert why.startswith(f"the Codex CLI {missing!r} is not found: install it with `npm")
    with serving(create_app(CodexSidecarSettings(codex_cmd=(missing,), echo=True))) as url:
        reply = post(url, {"messages": USER}, token=None).json()
        assert (
            reply["echo"] is True
            and reply["choices"][0]["message"]["content"] == USER[0]["content"]
        )
        health = httpx.get(url + "/healthz").json()
        assert (health["ok"], health["echo"]) == (True, True)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"messages": USER, "tools": []}, 400, "cannot honour tools"),
        ({"messages": USER, "n": 2}, 400, "n > 1"),
        ({"messages": [{"role": "user", "content": "  "}]}, 400, "the prompt is empty"),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            400,
            "text parts only, not 'image_url'",
        ),
        ({"messages": USER, "reasoning_effort": "max"}, 400, "reasoning_effort 'max'"),
        ({"messages": USER, "max_iterations": 3}, 400, "unknown field(s) max_iterations"),
        ({"messages": "hi"}, 400, "messages must be a non-empty list"),
        (["not", "an", "object"], 400, "must be a JSON object"),
    ],
)
def test_bad_requests(tmp_path: Path, body: Any, status: int, message: str) -> None:
    settings = CodexSidecarSettings(codex_cmd=(str(tmp_path / "unused"),))
    with serving(create_app(settings, ServiceConfig(token=TOKEN))) as url:
        reply = post(url, body)
        assert reply.status_code == status and message in reply.json()["error"]["message"]
        error = reply.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error" and isinstance(error["code"], str)


def test_token_routes_and_methods(tmp_path: Path) -> None:
    settings = CodexSidecarSettings(codex_cmd=(str(tmp_path / "unused"),), echo=True)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with serving(create_app(settings, ServiceConfig(token=TOKEN))) as url:
        for token in (None, "wrong"):
            refused = post(url, {"messages": USER}, token=token)
            assert refused.status_code == 401
            assert refused.json()["error"]["type"] == "authentication_error"
        assert httpx.get(url + "/v1/models").status_code == 401
        assert httpx.get(url + "/v1/models", headers=auth).json()["data"][0]["id"] == "codex"
        health = httpx.get(url + "/healthz")  # no token needed
        assert health.status_code == 200 and health.json()["echo"] is True
        assert TOKEN not in health.text
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
        wrong = httpx.put(url + "/v1/chat/completions", headers=auth, json={})
        assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


def test_health_asks_the_cli_for_its_version(codex_cli: str, tmp_path: Path) -> None:
    with serving(create_app(CodexSidecarSettings(codex_cmd=(codex_cli,)))) as url:
        health = httpx.get(url + "/healthz")
        assert health.status_code == 200 and health.json()["missing"] == []
        assert health.json()["checks"]["codex_cli"]["version"].startswith("codex-cli ")
        assert "never started by /healthz" in health.json()["not_checked"][0]
    broken = tmp_path / "codex"
    broken.write_text("#!/bin/sh\necho 'codex: corrupt install' >&2\nexit 3\n")
    broken.chmod(0o755)
    with serving(create_app(CodexSidecarSettings(codex_cmd=(str(broken),)))) as url:
        health = httpx.get(url + "/healthz")
        assert health.status_code == 503
        (why,) = health.json()["missing"]
        assert f"{broken} failed on --version (exit 3: codex: corrupt install)" in why


def test_a_browser_page_cannot_reach_the_model(sidecar: Sidecar) -> None:
    """Without a token (the loopback default), a page the user visits cannot start Codex."""
    url, srv, _ = sidecar("hi", token=None)
    chat = url + "/v1/chat/completions"
    body = json.dumps({"messages": USER})
    form = httpx.post(chat, content=body, headers={"Content-Type": "text/plain"})
    assert form.status_code == 415 and form.json()["error"]["code"] == "unsupported_media_type"
    site = {"Origin": "https://evil.example", "Content-Type": "application/json"}
    assert httpx.post(chat, content=body, headers=site).status_code == 403
    rebound = {"Host": "evil.example", "Content-Type": "application/json"}
    assert httpx.post(chat, content=body, headers=rebound).status_code == 400
    assert srv.requests == []


def test_the_command_line_is_explicit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UPSTREAM_KEY", "k-123")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-codex")
    settings = CodexSidecarSettings(
        codex_cmd=("codex",), base_url="http://127.0.0.1:9/v1", key_env="UPSTREAM_KEY"
    )
    job = CodexJob("hi", model="m", effort="low", schema={"type": "object"})
    argv, env = codex_command(settings, job, tmp_path)
    assert argv[:3] == ["codex", "exec", "--json"] and argv[-3:] == ["-m", "m", "-"]
    assert argv[argv.index("-s") + 1] == "read-only"
    assert 'approval_policy="never"' in argv and "--ephemeral" in argv
    assert 'model_providers.scillm_upstream.base_url="http://127.0.0.1:9/v1"' in argv
    assert 'model_providers.scillm_upstream.env_key="UPSTREAM_KEY"' in argv
    assert 'model_reasoning_effort="low"' in argv
    assert json.loads(Path(argv[argv.index("--output-schema") + 1]).read_text()) == {
        "type": "object"
    }
    assert env["UPSTREAM_KEY"] == "k-123" and "OPENAI_API_KEY" not in env
    assert env["CODEX_HOME"] == env["HOME"] == str(tmp_path / "home")
    with pytest.raises(ValueError, match="sandbox 'yolo'"):
        CodexSidecarSettings(sandbox="yolo")
    monkeypatch.setenv("CODEX_SIDECAR_ECHO", "1")
    monkeypatch.setenv("CODEX_CMD", "/opt/codex/bin/codex --profile x")
    from_env = CodexSidecarSettings.from_env(timeout_s=5)
    assert (from_env.echo, from_env.codex_cmd, from_env.timeout_s) == (
        True,
        ("/opt/codex/bin/codex", "--profile", "x"),
        5,
    )


def test_events_keep_reasoning_apart_and_report_failures() -> None:
    lines = [
        {"type": "thread.started", "thread_id": "t1"},
        {"type": "item.completed", "item": {"type": "error", "message": "metadata missing"}},
        {"type": "item.completed", "item": {"type": "reasoning", "text": "think"}},
        {"type": "item.completed", "item": {"type": "agent_message", "text": "preamble"}},
        {"type": "item.completed", "item": {"type": "command_execution", "command": "ls"}},
        {"type": "item.completed", "item": {"type": "agent_message", "text": "final"}},
        {"type": "turn.completed", "usage": {"input_tokens": 10, "output_tokens": 3}},
    ]
    run = parse_events(b"\n".join(json.dumps(x).encode() for x in lines) + b"\nnot json\n")
    assert (run.content, run.reasoning, run.warnings) == ("final", ["think"], ["metadata missing"])
    assert run.usage["total_tokens"] == 13 and run.error is None
    assert run.side_data()["items"] == [{"type": "command_execution", "command": "ls"}]
    failed = parse_events(b'{"type":"turn.failed","error":{"message":"quota"}}')
    assert failed.error == "quota" and failed.content is None


def test_prompt_from_a_conversation() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": "Hello"},
        {"role": "user", "content": "Sum 1..3"},
    ]
    assert build_prompt(messages) == (
        "[system]\nBe brief.\n\n[user]\nHi\n\n[assistant]\nHello\n\n[user]\nSum 1..3"
    )


def test_the_real_cli_against_the_embedded_model(codex_cli: str, tmp_path: Path) -> None:
    """Codex's prompt trimmed to what a 135M model can use (its full prompt, ~4,600 tokens,
    does not fit the embedded server's 1,024-token slots)."""
    from scillm.local.embedded import get_server

    server = get_server()
    instructions = tmp_path / "instructions.md"
    instructions.write_text("You are a helpful assistant. Answer in one short sentence.\n")
    settings = CodexSidecarSettings(
        codex_cmd=(codex_cli,),
        base_url=server.base_url + "/v1",
        model=server.model_alias,
        extra_args=(*LEAN, "-c", f"model_instructions_file={json.dumps(str(instructions))}"),
        timeout_s=240,
    )
    user = [{"role": "user", "content": "Say hello."}]
    with serving(create_app(settings)) as url:
        resp = scillm.completion("codex-agent/smollm2", user, api_base=url)
    content = resp.choices[0].message.content
    assert isinstance(content, str) and content.strip()
    assert resp.usage.prompt_tokens > 0 and resp.usage.completion_tokens > 0
