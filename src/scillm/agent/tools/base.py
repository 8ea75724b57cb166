"""What a tool call returns (:class:`ToolResult`) and what a tool source does (:class:`ToolSource`).

A tool source lists OpenAI function specs and runs calls by name; the toolbox puts several sources
behind one dispatcher. A failed call is a result with ``ok=False`` and an ``error``, never an
exception the loop must handle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import orjson

__all__ = ["OBSERVATION_LIMIT", "ToolResult", "ToolSource", "function_spec", "spec_name"]

OBSERVATION_LIMIT = 8000
"""Characters of each text field a model sees; longer output is cut (and says so)."""


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The outcome of one tool call: ``result`` for a value, or a process's ``rc``/streams."""

    ok: bool
    result: Any = None
    stdout: str = ""
    stderr: str = ""
    rc: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The non-empty fields, ``ok`` first."""
        fields = {"result": self.result, "stdout": self.stdout, "stderr": self.stderr}
        out: dict[str, Any] = {"ok": self.ok}
        out.update({k: v for k, v in fields.items() if v not in (None, "")})
        if self.rc is not None:
            out["rc"] = self.rc
        if self.error:
            out["error"] = self.error
        return out

    def observation(self, hint: str | None = None, limit: int = OBSERVATION_LIMIT) -> str:
        """The JSON the model reads: text fields cut at ``limit``, plus an optional ``hint``."""
        out = {k: _cut(v, limit) if isinstance(v, str) else v for k, v in self.to_dict().items()}
        if hint:
            out["hint"] = hint
        return orjson.dumps(out, default=str).decode()


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters cut]"


@runtime_checkable
class ToolSource(Protocol):
    """Tools behind one connection: builtins, a Python function, an MCP server, an HTTP server."""

    async def list_tools(self) -> list[dict[str, Any]]:
        """OpenAI specs: ``{"type": "function", "function": {name, description, parameters}}``."""
        ...

    async def call_tool(
        self, name: str, arguments: dict[str, Any], *, timeout_s: float
    ) -> ToolResult:
        """Run ``name``; a call still running after ``timeout_s`` is stopped and reported."""
        ...


def function_spec(name: str, description: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI function-tool spec."""
    return {
        "type": "function",
        "function": {"name": name, "description": description, "parameters": parameters},
    }


def spec_name(spec: dict[str, Any]) -> str:
    """The tool name of an OpenAI spec (or of a flat ``{"name": ...}`` one)."""
    inner = spec.get("function", spec)
    name = inner.get("name") if isinstance(inner, dict) else None
    if not isinstance(name, str) or not name:
        raise ValueError(f"tool spec without a name: {str(spec)[:120]}")
    return name
