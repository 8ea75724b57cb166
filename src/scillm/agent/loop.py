"""The mini-agent loop: ask the model, run what it calls, show it what happened, repeat.

    result = await arun_agent(messages, "openai/gpt-4o-mini", tools=[SandboxTools(), add])
    result.final_answer, result.stopped_reason

A step queries the model, then runs its tool calls (or, with ``auto_run_code_on_code_block``,
the fenced code of its reply) and appends the observations. The run stops at a reply with nothing
to run (the final answer), after ``max_iterations`` steps, when ``max_seconds`` is spent, or after
``max_tool_failures`` steps in a row whose calls all failed (at the first, without
``enable_repair``). Model errors propagate: a failed run never passes for an answer.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from scillm.agent.codeblocks import CodeBlock, code_blocks
from scillm.agent.history import prune_history
from scillm.agent.model import ChatModel, ScillmChat
from scillm.agent.records import AgentConfig, AgentResult, IterationRecord
from scillm.agent.tools.base import ToolSource
from scillm.agent.tools.sandboxed import SandboxTools
from scillm.agent.tools.toolbox import Toolbox, ToolInvocation
from scillm.errors import APIError
from scillm.router.seam import ModelRef

__all__ = ["AgentLoop", "arun_agent", "run_agent"]

REPAIR_HINT = "The call failed: read the error, fix the arguments or code and try again, or answer."
CODE_OUTPUT = (
    "Output of the code you wrote (run in a sandbox):\n{}\n"
    "Continue; reply without a code block when you have the final answer."
)


class _Stop(Exception):
    """Ends the run early; ``reason`` is one of STOP_REASONS."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AgentLoop:
    """One run's state: the conversation, the records, the clock and the failure count."""

    def __init__(
        self,
        model: ChatModel,
        toolbox: Toolbox,
        config: AgentConfig | None = None,
        code_runner: SandboxTools | None = None,
    ) -> None:
        self.model, self.toolbox, self.config = model, toolbox, config or AgentConfig()
        self.code_runner = code_runner
        self.messages: list[dict[str, Any]] = []
        self.iterations: list[IterationRecord] = []
        self.usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        self.failures, self.last_text, self.deadline = 0, "", math.inf
        self.ran: set[tuple[str, str]] = set()

    async def run(self, messages: Iterable[Mapping[str, Any]]) -> AgentResult:
        """Run to a stop and return the result; the model's own errors are raised."""
        self.messages = [dict(m) for m in messages]
        if self.config.max_seconds is not None:
            self.deadline = time.monotonic() + self.config.max_seconds
        answer, reason = None, "max_iterations"
        try:
            for _ in range(self.config.max_iterations):
                answer = await self.step()
                if answer is not None:
                    reason = "final_answer"
                    break
        except _Stop as stop:
            reason = stop.reason
        final = answer if answer is not None else self.last_text
        return AgentResult(final, reason, self.iterations, self.messages, self.usage)

    async def step(self) -> str | None:
        """Query the model and act; the final answer when there was nothing to run."""
        message = await self.query()
        text = message.get("content") or ""
        self.last_text = text or self.last_text
        calls = message.get("tool_calls")
        self.messages.append(
            {
                "role": "assistant",
                "content": message.get("content"),
                **({"tool_calls": calls} if calls else {}),
            }
        )
        if calls:
            await self.run_tools(calls)
            return None
        blocks = []
        if self.config.auto_run_code_on_code_block and self.code_runner is not None:
            blocks = [
                b
                for b in code_blocks(text, self.code_runner.languages)
                if (b.language, b.code) not in self.ran
            ]
        if not blocks:
            return text
        await self.run_code(blocks)
        return None

    async def query(self) -> dict[str, Any]:
        """One model call on the pruned history, within what is left of the time budget."""
        left = self.left()
        if left <= 0:
            raise _Stop("max_seconds")
        history = prune_history(self.messages, self.config.max_history_messages)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(None if math.isinf(left) else left) as scope:
                reply = await self.model(history, self.toolbox.specs)
        except TimeoutError:
            if scope.expired():
                raise _Stop("max_seconds") from None
            raise
        self.iterations.append(IterationRecord((time.perf_counter() - started) * 1000))
        for key in self.usage:
            self.usage[key] += int((reply.get("usage") or {}).get(key) or 0)
        try:
            return dict(reply["choices"][0]["message"])
        except (KeyError, IndexError, TypeError):
            raise APIError(f"the model replied without a message: {str(reply)[:300]}") from None

    async def run_tools(self, calls: list[dict[str, Any]]) -> None:
        """Run each call in order and append one tool message per call id."""
        results = []
        for call in calls:
            inv = await self.toolbox.invoke(call, timeout_s=self.left())
            self.iterations[-1].tool_invocations.append(inv)
            observation = inv.result.observation(self.hint(inv.result.ok))
            self.messages.append(
                {"role": "tool", "tool_call_id": call.get("id"), "content": observation}
            )
            results.append(inv.result.ok)
        self.count_failures(not any(results))

    async def run_code(self, blocks: list[CodeBlock]) -> None:
        """Run fenced code blocks and show their output to the model as a user message."""
        assert self.code_runner is not None
        observations, results = [], []
        for block in blocks:
            self.ran.add((block.language, block.code))
            started = time.perf_counter()
            result = await self.code_runner.run_code(
                block.language, block.code, timeout_s=max(self.left(), 0.1)
            )
            t_ms = (time.perf_counter() - started) * 1000
            arguments = {"language": block.language, "code": block.code}
            inv = ToolInvocation("exec_code", None, arguments, result, t_ms)
            self.iterations[-1].tool_invocations.append(inv)
            observations.append(f"[{block.language}] {result.observation(self.hint(result.ok))}")
            results.append(result.ok)
        self.messages.append(
            {"role": "user", "content": CODE_OUTPUT.format("\n".join(observations))}
        )
        self.count_failures(not any(results))

    def hint(self, ok: bool) -> str | None:
        """The repair hint a failed call's observation carries (with enable_repair)."""
        return REPAIR_HINT if self.config.enable_repair and not ok else None

    def count_failures(self, all_failed: bool) -> None:
        """Stop after too many steps in a row whose calls all failed."""
        self.failures = self.failures + 1 if all_failed else 0
        limit = self.config.max_tool_failures if self.config.enable_repair else 1
        if self.failures >= limit:
            raise _Stop("tool_failures")

    def left(self) -> float:
        """Seconds left in the time budget (infinite without one)."""
        return self.deadline - time.monotonic()


async def arun_agent(
    messages: Iterable[Mapping[str, Any]],
    model: ModelRef | ChatModel,
    *,
    tools: Toolbox | Iterable[ToolSource | Callable[..., Any]] = (),
    config: AgentConfig | None = None,
    **completion_kwargs: Any,
) -> AgentResult:
    """Run the loop: ``model`` is a model string, a Router or ``(router, group)`` (called through
    the Router with ``completion_kwargs``), or a ChatModel.

    ``tools`` is a :class:`Toolbox` or its sources (tool sources, plain functions). Auto-run uses
    the first :class:`SandboxTools` among them, else a default one.
    """
    config = config or AgentConfig()
    chat = model if callable(model) else ScillmChat(model, **completion_kwargs)
    box = tools if isinstance(tools, Toolbox) else Toolbox(tools, timeout_s=config.tool_timeout_s)
    runner = None
    if config.auto_run_code_on_code_block:
        sandboxes = (s for s in box.sources if isinstance(s, SandboxTools))
        runner = next(sandboxes, None) or SandboxTools()
    async with box:
        return await AgentLoop(chat, box, config, runner).run(messages)


def run_agent(
    messages: Iterable[Mapping[str, Any]],
    model: ModelRef | ChatModel,
    *,
    tools: Toolbox | Iterable[ToolSource | Callable[..., Any]] = (),
    config: AgentConfig | None = None,
    **completion_kwargs: Any,
) -> AgentResult:
    """Sync twin of :func:`arun_agent` (same arguments), run on scillm's background loop."""
    from scillm import _sync

    return _sync.run(arun_agent(messages, model, tools=tools, config=config, **completion_kwargs))
