"""The agent loop against the mock LLM server scripting tool calls, with the real sandbox."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from agent_helpers import calls, tool_messages

import scillm
from scillm.agent import AgentConfig, SandboxTools, arun_agent, run_agent, tool
from scillm.testing import Reply

pytestmark = pytest.mark.requires("bwrap", apt="bubblewrap")

TASK = [{"role": "user", "content": "What is 6 * 7? Use Python."}]


async def run(srv: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("tools", [SandboxTools(languages=("python", "bash"))])
    return await arun_agent(TASK, "openai/mock-model", api_base=srv.base_url, **kwargs)


async def test_success_runs_the_tool_and_answers(scripted: Any) -> None:
    srv, script = scripted(calls(("exec_python", {"code": "print(6 * 7)"})), "It is 42.")
    result = await run(srv)
    assert (result.final_answer, result.stopped_reason, result.ok) == (
        "It is 42.",
        "final_answer",
        True,
    )
    first, second = script.bodies
    assert [t["function"]["name"] for t in first["tools"]] == ["exec_python", "exec_code"]
    assert tool_messages(second) == [{"ok": True, "stdout": "42\n", "rc": 0}]
    assert second["messages"][1]["tool_calls"][0]["id"] == "call_0"
    assert second["messages"][2]["tool_call_id"] == "call_0"
    (inv,) = result.iterations[0].tool_invocations
    assert (inv.name, inv.arguments, inv.result.stdout) == (
        "exec_python",
        {"code": "print(6 * 7)"},
        "42\n",
    )
    assert [len(it.tool_invocations) for it in result.iterations] == [1, 0]
    assert result.usage["total_tokens"] > 0
    assert [m["role"] for m in result.messages] == ["user", "assistant", "tool", "assistant"]


async def test_a_failure_is_fed_back_and_repaired(scripted: Any) -> None:
    srv, script = scripted(
        calls(("exec_python", {"code": "print(6 * 7 / 0)"})),
        calls(("exec_python", {"code": "print(6 * 7)"})),
        "42",
    )
    result = await run(srv)
    assert (result.final_answer, result.stopped_reason) == ("42", "final_answer")
    (failed,) = tool_messages(script.bodies[1])
    assert failed["ok"] is False and failed["rc"] == 1
    assert "ZeroDivisionError" in failed["stderr"] and failed["error"].startswith("runtime_error")
    assert "fix the arguments or code" in failed["hint"]
    assert tool_messages(script.bodies[2])[-1]["stdout"] == "42\n"


async def test_unknown_tool_and_bad_arguments_become_observations(scripted: Any) -> None:
    srv, script = scripted(
        calls(("nope", {}), ("exec_python", "{not json"), ("exec_python", {"cod": "x"})),
        "gave up",
    )
    result = await run(srv)
    assert result.final_answer == "gave up"
    unknown, not_json, bad_schema = tool_messages(script.bodies[1])
    assert unknown["error"] == "unknown tool 'nope'; available tools: exec_python, exec_code"
    assert not_json["error"].startswith("arguments are not valid JSON")
    assert "bad arguments for exec_python" in bad_schema["error"]
    assert "'code' is a required property" in bad_schema["error"]
    assert [inv.result.ok for inv in result.iterations[0].tool_invocations] == [False] * 3


async def test_max_iterations_stops_a_model_that_never_answers(scripted: Any) -> None:
    srv, script = scripted(
        Reply(
            "thinking...", tool_calls=[{"name": "exec_python", "arguments": {"code": "print(1)"}}]
        )
    )
    result = await run(srv, config=AgentConfig(max_iterations=3))
    assert result.stopped_reason == "max_iterations" and not result.ok
    assert len(script.bodies) == 3 and len(result.iterations) == 3
    assert result.final_answer == "thinking..."  # the last thing it said


async def test_max_seconds_stops_a_slow_model(scripted: Any) -> None:
    srv, _ = scripted("too late")
    srv.latency_s = 5.0
    result = await run(srv, config=AgentConfig(max_seconds=0.3))
    assert (result.stopped_reason, result.final_answer, result.iterations) == (
        "max_seconds",
        "",
        [],
    )


@pytest.mark.parametrize(("repair", "expected_calls"), [(True, 3), (False, 1)])
async def test_repeated_tool_failure_stops_the_run(
    scripted: Any, repair: bool, expected_calls: int
) -> None:
    srv, script = scripted(calls(("exec_python", {"code": "raise SystemExit(3)"})))
    result = await run(srv, config=AgentConfig(enable_repair=repair))
    assert result.stopped_reason == "tool_failures"
    assert len(script.bodies) == expected_calls
    last = json.loads(result.messages[-1]["content"])
    assert last["rc"] == 3 and ("hint" in last) is repair


async def test_a_hanging_tool_is_killed_at_its_timeout(scripted: Any) -> None:
    @tool
    async def wait_forever() -> str:
        """Never returns."""
        await asyncio.Event().wait()
        return "unreachable"

    srv, script = scripted(
        calls(("exec_python", {"code": "while True: pass"}), ("wait_forever", {})), "ok"
    )
    config = AgentConfig(tool_timeout_s=1)
    result = await run(srv, tools=[SandboxTools(), wait_forever], config=config)
    python, waited = tool_messages(script.bodies[1])
    assert python["error"] == "timeout: wall-clock limit of 1 s exceeded; killed"
    assert waited["error"] == "wait_forever timed out after 1 s; stopped"
    assert result.final_answer == "ok"


async def test_fenced_code_is_run_when_asked(scripted: Any) -> None:
    reply = "Let me compute:\n```python\nprint(2 ** 10)\n```\n```text\nnot code\n```"
    srv, script = scripted(reply, "```python\nprint(2 ** 10)\n```\nSo: 1024")
    config = AgentConfig(auto_run_code_on_code_block=True)
    result = await run(srv, tools=[], config=config)
    assert "tools" not in script.bodies[0]
    feedback = script.bodies[1]["messages"][-1]
    assert (
        feedback["role"] == "user"
        and '[python] {"ok":true,"stdout":"1024\\n","rc":0}' in feedback["content"]
    )
    # The same block again is not re-run: that reply is the final answer.
    assert result.stopped_reason == "final_answer" and result.final_answer.endswith("So: 1024")
    (inv,) = result.iterations[0].tool_invocations
    assert inv.arguments == {"language": "python", "code": "print(2 ** 10)\n"}


async def test_code_blocks_route_by_language(scripted: Any) -> None:
    reply = (
        "```js\nconsole.log(40 + 2)\n```\n```rust\nfn main() {}\n```\n```\nprint('unlabeled')\n```"
    )
    srv, _ = scripted(reply, "done")
    config = AgentConfig(auto_run_code_on_code_block=True)
    result = await run(srv, tools=[SandboxTools(languages=("javascript", "python"))], config=config)
    (inv,) = result.iterations[0].tool_invocations
    assert (inv.arguments["language"], inv.result.stdout) == ("javascript", "42\n")


async def test_same_script_same_conversation(scripted: Any) -> None:
    steps = (calls(("exec_python", {"code": "print(sum(range(10)))"})), "45")
    first = await run(scripted(*steps)[0])
    second = await run(scripted(*steps)[0])
    assert first.messages == second.messages and first.final_answer == second.final_answer == "45"


def test_sync_twin_and_python_function_tools(scripted: Any) -> None:
    @tool
    def add(a: int, b: int = 1) -> int:
        """Add two integers.

        Args:
            a: the first one
        """
        return a + b

    srv, script = scripted(calls(("add", {"a": 40, "b": 2}), ("add", {"a": "x"})), "42")
    result = run_agent(TASK, "openai/mock-model", tools=[add], api_base=srv.base_url)
    assert result.final_answer == "42"
    spec = script.bodies[0]["tools"][0]["function"]
    assert spec == {
        "name": "add",
        "description": "Add two integers.",
        "parameters": {
            "type": "object",
            "properties": {
                "a": {"type": "integer", "description": "the first one"},
                "b": {"type": "integer", "default": 1},
            },
            "required": ["a"],
            "additionalProperties": False,
        },
    }
    ok, bad = tool_messages(script.bodies[1])
    assert ok == {"ok": True, "result": 42}
    assert bad["error"] == "bad arguments for add: a: 'x' is not of type 'integer'"


async def test_model_errors_propagate(scripted: Any) -> None:
    from scillm.testing import Fault

    srv, _ = scripted("never")
    srv.enqueue(Fault.http(401))
    with pytest.raises(scillm.AuthenticationError):
        await run(srv)


def test_bad_limits_are_refused() -> None:
    with pytest.raises(scillm.BadRequestError, match="max_iterations must be an integer >= 1"):
        AgentConfig(max_iterations=0)
    with pytest.raises(scillm.BadRequestError, match="max_seconds must be a positive number"):
        AgentConfig(max_seconds=-1)
