"""The tools on their own: sandboxed exec and its allow-list, MCP stdio, HTTP, Python functions."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Any, Literal

import pytest
from agent_helpers import serving
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from scillm.agent import FunctionTool, HttpTools, MCPStdioTools, SandboxTools, Toolbox, tool
from scillm.agent.codeblocks import code_blocks
from scillm.agent.history import prune_history
from scillm.agent.tools.functions import json_schema_of
from scillm.agent.traces import redact
from scillm.errors import EngineUnavailable
from scillm.testing import MockLLMServer

TINY_MCP = str(Path(__file__).with_name("mcp_tiny_server.py"))
bwrap = pytest.mark.requires("bwrap", apt="bubblewrap")


def call(name: str, arguments: Any, ident: str = "c1") -> dict[str, Any]:
    return {"id": ident, "type": "function", "function": {"name": name, "arguments": arguments}}


@bwrap
async def test_exec_shell_runs_only_allow_listed_commands_without_a_shell() -> None:
    async with Toolbox([SandboxTools(languages=("python",), shell_allow=("echo", "ls"))]) as box:
        assert box.names == ["exec_python", "exec_code", "exec_shell"]
        echoed = await box.invoke(call("exec_shell", '{"cmd": "echo hi; rm -rf / $HOME"}'))
        assert echoed.result.stdout == "hi; rm -rf / $HOME\n"  # one argv, no shell
        listed = await box.invoke(call("exec_shell", '{"cmd": ["ls", "/"]}'))
        assert "sandbox" in listed.result.stdout.split() and "work" not in listed.result.stdout
        for cmd in ("rm -rf /tmp", "/bin/ls", "echo2 x", "ls2"):
            refused = await box.invoke(call("exec_shell", {"cmd": cmd}))
            assert refused.result.error.startswith(f"command ['{cmd.split()[0]}'] is not allowed")
        bad = await box.invoke(call("exec_shell", {"cmd": "echo 'unclosed"}))
        assert bad.result.error.startswith("cannot split the command")


@bwrap
async def test_sandboxed_code_has_no_network_and_no_host_files(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-host-secret")
    code = (
        "import os, socket\n"
        "print(os.path.exists('/work'), os.environ.get('OPENAI_API_KEY'))\n"
        f"socket.create_connection(('127.0.0.1', {mock_llm.port}), timeout=2)\n"
    )
    async with Toolbox([SandboxTools()]) as box:
        inv = await box.invoke(call("exec_python", {"code": code}))
        assert inv.result.stdout == "False None\n"
        assert not inv.result.ok and "ConnectionRefusedError" in inv.result.stderr
        assert mock_llm.requests == []
        wrong = await box.invoke(call("exec_code", {"language": "cobol", "code": "x"}))
        assert "bad arguments for exec_code: language: 'cobol' is not one of" in wrong.result.error


def test_sandbox_tools_refuse_bad_configuration() -> None:
    with pytest.raises(ValueError, match="languages \\['rust'\\] not runnable"):
        SandboxTools(languages=("rust",))
    for bad in ("/bin/ls", "-c", "ls -l", ""):
        with pytest.raises(ValueError, match="bare command names"):
            SandboxTools(shell_allow=(bad,))


async def test_mcp_stdio_server_tools() -> None:
    async with Toolbox([MCPStdioTools(sys.executable, [TINY_MCP])], timeout_s=1) as box:
        assert box.names == ["add", "explode", "stall"]
        spec = box.specs[0]["function"]
        assert spec["description"] == "Add two integers."
        assert spec["parameters"]["required"] == ["a", "b"]
        added = await box.invoke(call("add", {"a": 2, "b": 3}))
        assert (added.result.ok, added.result.result) == (True, {"result": 5})
        exploded = await box.invoke(call("explode", {"message": "boom"}))
        assert not exploded.result.ok and "explode" in exploded.result.error
        stalled = await box.invoke(call("stall", {}))
        assert not stalled.result.ok and "timed out" in stalled.result.error
        wrong = await box.invoke(call("add", {"a": "two"}))
        assert wrong.result.error.startswith("bad arguments for add:")


async def test_an_mcp_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("import sys\nprint('no such config', file=sys.stderr)\nsys.exit(3)\n")
    with pytest.raises(EngineUnavailable, match=r"did not start(.|\n)*no such config"):
        async with MCPStdioTools(sys.executable, [str(broken)], start_timeout_s=10):
            pass


def http_tool_server(seen: list[Any], statuses: list[int]) -> FastAPI:
    app = FastAPI()

    @app.get("/tools")
    async def tools() -> list[dict[str, Any]]:
        return [{"type": "function", "function": {"name": "echo", "parameters": {}}}]

    @app.post("/invoke")
    async def invoke(request: Request) -> Response:
        seen.append(await request.json())
        status = statuses.pop(0) if statuses else 200
        body = {"ok": True, "result": seen[-1]["arguments"]} if status == 200 else {"e": status}
        return JSONResponse(body, status_code=status, headers={"Retry-After": "0"})

    return app


@pytest.mark.parametrize(
    ("statuses", "posts", "ok"),
    [([], 1, True), ([429, 502], 3, True), ([400], 1, False), ([404, 500], 1, False)],
)
async def test_http_tools_post_once_and_retry_only_429_and_5xx(
    statuses: list[int], posts: int, ok: bool
) -> None:
    seen: list[Any] = []
    with serving(http_tool_server(seen, statuses)) as url:
        async with Toolbox([HttpTools(url)]) as box:
            result = await box.invoke(call("echo", {"x": 1}))
    assert len(seen) == posts and seen[0] == {"name": "echo", "arguments": {"x": 1}}
    assert result.result.ok is ok
    if ok:
        assert result.result.result == {"x": 1}
    else:
        assert result.result.error.startswith("tool server answered HTTP 4")


async def test_an_unreachable_tool_server_is_unavailable() -> None:
    with pytest.raises(EngineUnavailable, match="unreachable"):
        await HttpTools("http://127.0.0.1:9", timeout_s=2).list_tools()


class Unit(enum.Enum):
    KELVIN = "K"
    CELSIUS = "C"


def test_schemas_from_type_hints() -> None:
    @tool(name="convert", description="Convert a temperature.")
    def convert(
        value: float,
        unit: Unit,
        tags: list[str] | None = None,
        mode: Literal["fast", "exact"] = "fast",
        extra: dict[str, int] | None = None,
    ) -> float:
        return value

    assert isinstance(convert, FunctionTool) and convert(1.5, Unit.KELVIN) == 1.5
    props = convert.parameters["properties"]
    assert props["value"] == {"type": "number"}
    assert props["unit"] == {"enum": ["K", "C"]}
    assert props["tags"] == {
        "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
        "default": None,
    }
    assert props["mode"] == {"enum": ["fast", "exact"], "default": "fast"}
    assert convert.parameters["required"] == ["value", "unit"]
    assert json_schema_of(tuple[int, str])["prefixItems"] == [
        {"type": "integer"},
        {"type": "string"},
    ]
    with pytest.raises(TypeError, match=r"f\.x: type .*bytes.* has no JSON schema"):

        @tool
        def f(x: bytes) -> None: ...


async def test_a_raising_function_is_an_observation() -> None:
    def divide(a: float, b: float) -> float:
        """Divide."""
        return a / b

    async with Toolbox([divide]) as box:
        inv = await box.invoke(call("divide", {"a": 1, "b": 0}))
    assert inv.result.error == "divide failed: ZeroDivisionError: division by zero"


def test_history_pruning_keeps_calls_with_their_results() -> None:
    system = {"role": "system", "content": "s"}
    task = {"role": "user", "content": "task"}
    turn = [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "a"}, {"id": "b"}]},
        {"role": "tool", "tool_call_id": "a", "content": "1"},
        {"role": "tool", "tool_call_id": "b", "content": "2"},
    ]
    messages = [system, task, *turn, {"role": "assistant", "content": "x"}, *turn]
    assert prune_history(messages, 20) is messages
    kept = prune_history(messages, 4)
    assert kept == [system, task, *turn]  # 5, not a tool result without its call
    assert prune_history(messages, 6) == [
        system,
        task,
        {"role": "assistant", "content": "x"},
        *turn,
    ]


def test_code_blocks_are_routed_by_their_label() -> None:
    text = "```py\na\n```\n```JS\nb\n```\n```\nc\n```\n```rust\nd\n```\n```sh\n\n```"
    blocks = code_blocks(text, ("python", "javascript", "bash"))
    assert [(b.language, b.code) for b in blocks] == [("python", "a\n"), ("javascript", "b\n")]


def test_redaction() -> None:
    record = {
        "headers": {"Authorization": "Bearer abc"},
        "api_key": "k",
        "note": "key sk-1234567890abcdef and bearer xyz and my-server-secret here",
        "list": ["my-server-secret"],
    }
    assert redact(record, ["my-server-secret", "ab"]) == {
        "headers": {"Authorization": "[redacted]"},
        "api_key": "[redacted]",
        "note": "key [redacted] and [redacted] and [redacted] here",
        "list": ["[redacted]"],
    }
