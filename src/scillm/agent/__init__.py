"""Agents: the mini-agent tool loop, its tools, and the servers in front of it.

    from scillm.agent import SandboxTools, arun_agent, tool

    @tool
    def lookup(key: str) -> str:
        \"\"\"Look a key up in the lab notebook.\"\"\"
        ...

    result = await arun_agent(messages, "openai/gpt-4o-mini", tools=[SandboxTools(), lookup])
    result.final_answer, result.stopped_reason, result.iterations

The loop is :mod:`scillm.agent.loop`; the ``mini-agent/<model>`` provider is
:mod:`scillm.agent.provider`; ``scillm serve agent`` is :mod:`scillm.agent.server`;
``scillm serve codex-sidecar`` is :mod:`scillm.agent.codex`. Importing this package loads
neither FastAPI nor the ``mcp`` package.
"""

from scillm.agent.loop import AgentLoop, arun_agent, run_agent
from scillm.agent.model import ChatModel, ScillmChat
from scillm.agent.records import STOP_REASONS, AgentConfig, AgentResult, IterationRecord
from scillm.agent.tools import (
    FunctionTool,
    HttpTools,
    MCPStdioTools,
    SandboxTools,
    Toolbox,
    ToolInvocation,
    ToolResult,
    ToolSource,
    tool,
)

__all__ = [
    "STOP_REASONS",
    "AgentConfig",
    "AgentLoop",
    "AgentResult",
    "ChatModel",
    "FunctionTool",
    "HttpTools",
    "IterationRecord",
    "MCPStdioTools",
    "SandboxTools",
    "ScillmChat",
    "ToolInvocation",
    "ToolResult",
    "ToolSource",
    "Toolbox",
    "arun_agent",
    "run_agent",
    "tool",
]
