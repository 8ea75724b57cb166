"""Tools from an MCP server started over stdio (``mcp``, from the ``agent`` extra, imported here).

    async with MCPStdioTools("python", ["my_server.py"]) as tools:
        specs = await tools.list_tools()

The server process lives as long as the ``async with`` (the toolbox enters it for a run). It
gets only the ``mcp`` package's safe default environment plus ``env``; its stderr is kept and
quoted when it fails to start. A call past its timeout is abandoned and reported; an error the
tool reports (``isError``) comes back as ``ok=False``.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from scillm._extras import require
from scillm.agent.tools.base import ToolResult, function_spec
from scillm.errors import EngineUnavailable

if TYPE_CHECKING:
    from mcp.client.session import ClientSession

__all__ = ["MCPStdioTools"]

STDERR_EXCERPT = 2000


class MCPStdioTools:
    """The tools of one MCP server run as ``command args...`` and spoken to over stdio."""

    def __init__(
        self,
        command: str,
        args: Sequence[str] = (),
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        start_timeout_s: float = 30.0,
    ) -> None:
        require("mcp", extra="agent", feature="MCPStdioTools (tools from an MCP server)")
        self.command, self.args = command, list(args)
        self.env, self.cwd = dict(env or {}), cwd
        self.start_timeout_s = start_timeout_s
        self._stack: contextlib.AsyncExitStack | None = None
        self._session: ClientSession | None = None
        self._stderr: TextIO | None = None
        self._specs: list[dict[str, Any]] = []

    def __repr__(self) -> str:
        return f"MCPStdioTools({self.command!r}, {self.args!r})"

    async def __aenter__(self) -> MCPStdioTools:
        if self._stack is not None:
            raise RuntimeError(f"{self!r} is already running; use one per concurrent run")
        from mcp.client.session import ClientSession
        from mcp.client.stdio import StdioServerParameters, stdio_client

        params = StdioServerParameters(
            command=self.command, args=self.args, env=self.env or None, cwd=self.cwd
        )
        stack = self._stack = contextlib.AsyncExitStack()
        try:
            stderr = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 (the stack closes it)
            self._stderr = stack.enter_context(stderr)
            read, write = await stack.enter_async_context(stdio_client(params, self._stderr))
            # The session's default timeout bounds the start-up requests; calls pass their own.
            session = ClientSession(read, write, read_timeout_seconds=self.start_timeout_s)
            self._session = await stack.enter_async_context(session)
            await self._session.initialize()
            self._specs = await self._list()
        except Exception as exc:
            detail = self._stderr_tail()
            self._session = self._stack = None
            await stack.aclose()
            raise EngineUnavailable(
                f"MCP server {self.command} {' '.join(self.args)} did not start: "
                f"{type(exc).__name__}: {exc}" + (f"\nits stderr: {detail}" if detail else "")
            ) from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        stack, self._stack, self._session = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def list_tools(self) -> list[dict[str, Any]]:
        """The server's tools as OpenAI function specs (listed once, at start)."""
        self._require()
        return list(self._specs)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], *, timeout_s: float
    ) -> ToolResult:
        """One ``tools/call``; protocol errors and timeouts become ``ok=False`` results."""
        from mcp.shared.exceptions import MCPError

        session = self._require()
        try:
            result = await session.call_tool(name, arguments, read_timeout_seconds=timeout_s)
        except MCPError as exc:
            return ToolResult(ok=False, error=f"MCP error: {exc.error.message}")
        texts = [getattr(block, "text", None) for block in result.content]
        text = "\n".join(t for t in texts if isinstance(t, str))
        if result.is_error:
            return ToolResult(ok=False, error=text or "the MCP tool reported an error")
        value = result.structured_content if result.structured_content is not None else text
        return ToolResult(ok=True, result=value)

    async def _list(self) -> list[dict[str, Any]]:
        from mcp.types import PaginatedRequestParams

        session = self._require()
        specs: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params = PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            specs += [
                function_spec(t.name, t.description or t.name, t.input_schema) for t in page.tools
            ]
            cursor = page.next_cursor
            if not cursor:
                return specs

    def _require(self) -> ClientSession:
        if self._session is None:
            raise RuntimeError(f"{self!r} is not started: use it in `async with`")
        return self._session

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()[-STDERR_EXCERPT:].strip()
