"""A run's configuration and what it returns: :class:`AgentConfig`, :class:`AgentResult`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from scillm.agent.tools.toolbox import DEFAULT_TOOL_TIMEOUT_S, ToolInvocation
from scillm.errors import BadRequestError

__all__ = ["STOP_REASONS", "AgentConfig", "AgentResult", "IterationRecord"]

STOP_REASONS = ("final_answer", "max_iterations", "max_seconds", "tool_failures")


@dataclass(frozen=True)
class AgentConfig:
    """Limits and behaviour of one run (see the module docstring)."""

    max_iterations: int = 6
    max_seconds: float | None = 180.0
    enable_repair: bool = True
    auto_run_code_on_code_block: bool = False
    max_tool_failures: int = 3
    max_history_messages: int = 50
    tool_timeout_s: float = DEFAULT_TOOL_TIMEOUT_S

    def __post_init__(self) -> None:
        for name in ("max_iterations", "max_tool_failures", "max_history_messages"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise BadRequestError(
                    f"{name} must be an integer >= 1, got {getattr(self, name)!r}"
                )
        for name in ("max_seconds", "tool_timeout_s"):
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, int | float) and math.isfinite(value) and value > 0
            ):
                raise BadRequestError(f"{name} must be a positive number of seconds, got {value!r}")


@dataclass
class IterationRecord:
    """One step: how long the model took and the tools it ran."""

    model_ms: float
    tool_invocations: list[ToolInvocation] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        calls = [inv.to_dict() for inv in self.tool_invocations]
        return {"model_ms": round(self.model_ms, 3), "tool_invocations": calls}


@dataclass
class AgentResult:
    """What a run produced; ``ok`` only when it ended with a final answer."""

    final_answer: str
    stopped_reason: str
    iterations: list[IterationRecord]
    messages: list[dict[str, Any]]
    usage: dict[str, int]

    @property
    def ok(self) -> bool:
        return self.stopped_reason == "final_answer"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: final_answer, stopped_reason, iterations, messages, usage."""
        return {
            "final_answer": self.final_answer,
            "stopped_reason": self.stopped_reason,
            "iterations": [it.to_dict() for it in self.iterations],
            "messages": self.messages,
            "usage": self.usage,
        }
