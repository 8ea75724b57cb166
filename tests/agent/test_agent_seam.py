"""The agent loop calls its model through the Router: a 429 mid-run is retried, not fatal."""

from __future__ import annotations

from pathlib import Path

import pytest

import scillm
from scillm.agent import ScillmChat, arun_agent
from scillm.testing import Fault, Reply, ScriptedModel

TASK = [{"role": "user", "content": "What is 2 + 3? Use the add tool."}]
ADD = Reply(tool_calls=[{"name": "add", "arguments": {"a": 2, "b": 3}}])


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


async def test_a_429_mid_run_is_retried_with_a_model_string() -> None:
    async with ScriptedModel([ADD, Fault.rate_limit(retry_after=0.2), "It is 5."]) as model:
        result = await arun_agent(TASK, model.model, tools=[add], api_base=model.base_url)
        requests = [r for r in model.server.requests if r.body]
    assert (result.final_answer, result.stopped_reason) == ("It is 5.", "final_answer")
    assert len(requests) == 3 and requests[2].body == requests[1].body
    assert requests[2].received_at - requests[1].received_at >= 0.2
    (inv,) = result.iterations[0].tool_invocations
    assert (inv.name, inv.arguments) == ("add", {"a": 2, "b": 3})


async def test_a_router_group_is_a_model_and_its_cache_replays_the_run(tmp_path: Path) -> None:
    async with ScriptedModel([ADD, Fault.http(503), "It is 5."]) as model:
        with model.router(cache=tmp_path / "c.sqlite") as router:
            first = await arun_agent(TASK, (router, "scripted"), tools=[add], temperature=0)
            again = await arun_agent(TASK, router, tools=[add], temperature=0)
        assert model.calls == 3
    assert first.final_answer == again.final_answer == "It is 5."
    assert first.messages == again.messages


async def test_a_failure_that_is_not_retryable_is_raised_at_once() -> None:
    async with ScriptedModel([Fault.http(401)]) as model:
        with pytest.raises(scillm.AuthenticationError):
            await arun_agent(TASK, model.router(), tools=[add])
        assert model.calls == 1
        with pytest.raises(ValueError, match="api_base/api_key go with a model string"):
            ScillmChat(model.router(), api_base="http://127.0.0.1:9")
