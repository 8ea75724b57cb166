"""The ``mini-agent`` provider: ``mini-agent/<target model>`` runs the agent loop in-process.

    resp = scillm.completion("mini-agent/openai/gpt-4o-mini", messages, max_iterations=4,
                             tools=[my_function], api_base=..., api_key=...)
    resp.choices[0].message.content      # the final answer (a string)
    resp["mini_agent"]["stopped_reason"]  # final_answer, max_iterations, max_seconds, ...

``finish_reason`` is "stop" for a final answer and "length" for a run cut short by a limit.
``api_base``/``api_key``/``timeout``/``extra_*`` and OpenAI parameters go to the target model's
calls; the agent's own options are listed in :mod:`scillm.agent.run`. Tools run in the sandbox
(``tool_backend="sandbox"``) unless told otherwise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from scillm.agent.records import AgentResult
from scillm.agent.run import AGENT_PARAMS, env_defaults, execute, parse_request
from scillm.agent.wire import chunks, completion_body
from scillm.errors import BadRequestError
from scillm.providers.base import Call
from scillm.types import ChatCompletion, ChatCompletionChunk

__all__ = ["MiniAgentProvider", "agent_completion"]


class MiniAgentProvider:
    """Registered as ``mini-agent``; the model after the prefix is the target model."""

    name = "mini-agent"
    accepts = AGENT_PARAMS

    async def acompletion(self, call: Call) -> ChatCompletion:
        """Run the loop and answer with its final answer."""
        if call.model in ("", self.name):
            raise BadRequestError(
                "name the model the agent drives: model='mini-agent/<target model>', "
                "e.g. 'mini-agent/openai/gpt-4o-mini'"
            )
        request = parse_request(call.params, env_defaults())
        passed = {
            "api_base": call.api_base,
            "api_key": call.api_key,
            "timeout": call.timeout,
            "extra_headers": call.extra_headers,
            "extra_body": call.extra_body,
        }
        kwargs = {k: v for k, v in passed.items() if v is not None}
        result = await execute(request, call.model, call.messages, **kwargs)
        return ChatCompletion(agent_completion(result, f"{self.name}/{call.model}"))

    async def astream(self, call: Call) -> AsyncIterator[ChatCompletionChunk]:
        """The finished run as chunks (the answer exists only once the loop has stopped)."""
        body = await self.acompletion(call)
        options = call.params.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return _stream(chunks(body, include_usage=include_usage))


async def _stream(events: Any) -> AsyncIterator[ChatCompletionChunk]:
    for event in events:
        yield ChatCompletionChunk(event)


def agent_completion(result: AgentResult, model: str) -> dict[str, Any]:
    """A run as a ``chat.completion``: the answer, "stop"/"length", and ``mini_agent`` side data."""
    meta = {
        "stopped_reason": result.stopped_reason,
        "iterations": [it.to_dict() for it in result.iterations],
        "tool_invocations": [
            inv.to_dict() for it in result.iterations for inv in it.tool_invocations
        ],
        "messages": result.messages,
    }
    finish = "stop" if result.ok else "length"
    return completion_body(
        model, result.final_answer, finish, dict(result.usage), extra={"mini_agent": meta}
    )
