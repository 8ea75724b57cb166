"""The ``mini-agent/<target>`` provider through scillm.completion, against the mock server."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from agent_helpers import calls, tool_messages

import scillm
from scillm.agent import MCPStdioTools, tool

pytestmark = pytest.mark.requires("bwrap", apt="bubblewrap")

USER = [{"role": "user", "content": "What is 6 * 7?"}]
TINY_MCP = str(Path(__file__).with_name("mcp_tiny_server.py"))


def agent(srv: Any, **kwargs: Any) -> Any:
    return scillm.completion("mini-agent/openai/mock-model", USER, api_base=srv.base_url, **kwargs)


def test_the_answer_is_the_content_and_the_run_rides_along(scripted: Any) -> None:
    srv, script = scripted(calls(("exec_python", {"code": "print(6 * 7)"})), "42")
    resp = agent(srv, temperature=0, seed=7, max_iterations=4)
    assert resp.choices[0].message == {"role": "assistant", "content": "42"}
    assert (resp.choices[0].finish_reason, resp.model) == ("stop", "mini-agent/openai/mock-model")
    meta = resp["mini_agent"]
    assert meta["stopped_reason"] == "final_answer" and len(meta["iterations"]) == 2
    assert meta["tool_invocations"][0]["stdout"] == "42\n"
    assert resp.additional_kwargs["mini_agent"] is meta
    usage = resp.usage  # summed over both model calls
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens > 2
    first = script.bodies[0]
    assert (first["model"], first["temperature"], first["seed"]) == ("mock-model", 0, 7)
    assert "max_iterations" not in first  # agent options never reach the target


def test_limits_give_length(scripted: Any) -> None:
    srv, _ = scripted(calls(("exec_python", {"code": "print(1)"})))
    resp = agent(srv, max_iterations=2)
    assert resp.choices[0].finish_reason == "length"
    assert resp["mini_agent"]["stopped_reason"] == "max_iterations"


def test_streaming_gives_the_same_answer(scripted: Any) -> None:
    srv, _ = scripted("streamed")
    chunks = list(agent(srv, stream=True))
    assert "".join(c.choices[0].delta.get("content") or "" for c in chunks) == "streamed"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1]["mini_agent"]["stopped_reason"] == "final_answer"


def test_tools_pick_builtins_and_add_functions_and_mcp_servers(scripted: Any) -> None:
    @tool
    def lab_constant(name: str) -> float:
        """Look up a constant."""
        return {"g": 9.81}[name]

    srv, script = scripted(
        calls(("lab_constant", {"name": "g"}), ("add", {"a": 40, "b": 2}), ("exec_code", {})),
        "done",
    )
    exec_python = {"type": "function", "function": {"name": "exec_python"}}
    mcp = MCPStdioTools(sys.executable, [TINY_MCP])
    resp = agent(srv, tools=[exec_python, lab_constant, mcp])
    assert resp.choices[0].message.content == "done"
    offered = [t["function"]["name"] for t in script.bodies[0]["tools"]]
    assert offered == ["exec_python", "lab_constant", "add", "explode", "stall"]
    constant, added, missing = tool_messages(script.bodies[1])
    assert constant == {"ok": True, "result": 9.81}
    assert added == {"ok": True, "result": {"result": 42}}
    assert missing["error"].startswith("unknown tool 'exec_code'")


def test_use_tools_false_offers_none(scripted: Any) -> None:
    srv, script = scripted("no tools")
    assert agent(srv, use_tools=False).choices[0].message.content == "no tools"
    assert "tools" not in script.bodies[0]


def test_response_format_through_the_provider(scripted: Any) -> None:
    srv, _ = scripted('```json\n{"answer": 42}\n```')
    resp = agent(srv, response_format={"type": "json_object"})
    assert json.loads(resp.choices[0].message.content) == {"answer": 42}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tool_backend": "docker"}, "unknown tool_backend 'docker'"),
        ({"tool_backend": "http"}, "tool_backend 'http' and tool_http_base_url go together"),
        ({"max_seconds": 0}, "max_seconds must be a positive number"),
        ({"use_tools": "yes"}, "use_tools must be true or false"),
        ({"allowed_languages": ["rust"]}, "languages ['rust'] not runnable"),
        ({"tools": [{"type": "function", "function": {"name": "rm"}}]}, "tools names rm"),
        ({"tools": [42]}, "tools entry 42 is not"),
        ({"n": 2}, "n must be 1"),
        (
            {"response_format": {"type": "json_schema", "json_schema": 3}},
            "response_format['json_schema'] must be",
        ),
    ],
)
def test_bad_options_are_refused_before_any_call(
    scripted: Any, kwargs: dict[str, Any], message: str
) -> None:
    srv, script = scripted("unused")
    with pytest.raises(scillm.BadRequestError, match=message.replace("[", r"\[").replace("'", ".")):
        agent(srv, **kwargs)
    assert script.bodies == []


def test_the_target_must_be_named() -> None:
    with pytest.raises(scillm.BadRequestError, match="mini-agent/<target model>"):
        scillm.completion("mini-agent", USER)
    with pytest.raises(scillm.BadRequestError, match=r"unknown parameter.*max_iteration"):
        scillm.completion("mini-agent/openai/m", USER, max_iteration=3)


def test_no_tools_run_on_the_embedded_model() -> None:
    resp = scillm.completion(
        "mini-agent/local/smollm2",
        [{"role": "user", "content": "Say hello in one short sentence."}],
        use_tools=False,
        max_iterations=1,
        temperature=0,
        max_tokens=24,
    )
    content = resp.choices[0].message.content
    assert isinstance(content, str) and content.strip()
    assert resp.choices[0].finish_reason == "stop"
    assert resp["mini_agent"]["stopped_reason"] == "final_answer"
    assert resp.usage.completion_tokens > 0
