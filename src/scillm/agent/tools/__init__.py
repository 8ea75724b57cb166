"""Tools for the agent: sandboxed code, Python functions, MCP stdio servers, HTTP tool servers."""

from scillm.agent.tools.base import ToolResult, ToolSource
from scillm.agent.tools.functions import FunctionTool, tool
from scillm.agent.tools.http import HttpTools
from scillm.agent.tools.mcp_stdio import MCPStdioTools
from scillm.agent.tools.sandboxed import SandboxTools
from scillm.agent.tools.toolbox import Toolbox, ToolInvocation

__all__ = [
    "FunctionTool",
    "HttpTools",
    "MCPStdioTools",
    "SandboxTools",
    "ToolInvocation",
    "ToolResult",
    "ToolSource",
    "Toolbox",
    "tool",
]
