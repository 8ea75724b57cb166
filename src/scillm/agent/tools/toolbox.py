"""The toolbox: several tool sources behind one dispatcher that never lets a call crash the loop.

An unknown tool, arguments that are not a JSON object or break the tool's schema, a tool that
raises, and a tool that runs past its timeout each come back as an ``ok=False`` result whose
``error`` tells the model what went wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from scillm.agent.tools.base import ToolResult, ToolSource, spec_name
from scillm.agent.tools.functions import FunctionTool

__all__ = ["DEFAULT_TOOL_TIMEOUT_S", "ToolInvocation", "Toolbox"]

DEFAULT_TOOL_TIMEOUT_S = 30.0
GRACE_S = 2.0  # sources enforce their own timeout; this only catches one that does not
MAX_SCHEMA_ERRORS = 3


@dataclass(frozen=True, slots=True)
class ToolInvocation:
    """One executed tool call, as recorded in a run's iterations."""

    name: str
    tool_call_id: str | None
    arguments: Any
    result: ToolResult
    t_ms: float

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-ready record: name, id, arguments, t_ms and the result's fields."""
        head = {"name": self.name, "tool_call_id": self.tool_call_id, "arguments": self.arguments}
        return {**head, **self.result.to_dict(), "t_ms": round(self.t_ms, 3)}


class Toolbox:
    """Tool sources (or plain functions, wrapped with ``@tool``) offered to a model together.

        async with Toolbox([SandboxTools(), add]) as box:
            box.specs                      # OpenAI tool specs
            await box.invoke(tool_call)    # -> ToolInvocation

    ``pick(source, name)``, when given, decides which of a source's tools are offered. Sources
    that are async context managers (MCP servers) are entered with the toolbox.
    """

    def __init__(
        self,
        sources: Iterable[ToolSource | Callable[..., Any]] = (),
        *,
        pick: Callable[[ToolSource, str], bool] | None = None,
        timeout_s: float = DEFAULT_TOOL_TIMEOUT_S,
    ) -> None:
        self.sources = [s if isinstance(s, ToolSource) else FunctionTool(s) for s in sources]
        self.pick = pick
        self.timeout_s = timeout_s
        self.specs: list[dict[str, Any]] = []
        self._owner: dict[str, ToolSource] = {}
        self._schemas: dict[str, dict[str, Any]] = {}
        self._stack = contextlib.AsyncExitStack()

    async def __aenter__(self) -> Toolbox:
        self.specs, self._owner, self._schemas = [], {}, {}
        self._stack = contextlib.AsyncExitStack()
        try:
            for source in self.sources:
                if hasattr(source, "__aenter__"):
                    await self._stack.enter_async_context(source)  # type: ignore[arg-type]
            for source in self.sources:
                for spec in await source.list_tools():
                    self._add(spec, source)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    @property
    def names(self) -> list[str]:
        """The offered tool names, in offering order."""
        return list(self._owner)

    def _add(self, spec: dict[str, Any], source: ToolSource) -> None:
        name = spec_name(spec)
        if self.pick is not None and not self.pick(source, name):
            return
        if name in self._owner:
            raise ValueError(f"two tool sources offer {name!r}: {self._owner[name]!r}, {source!r}")
        self._owner[name] = source
        self._schemas[name] = spec.get("function", spec).get("parameters") or {}
        self.specs.append(spec)

    async def invoke(
        self, call: Mapping[str, Any], *, timeout_s: float | None = None
    ) -> ToolInvocation:
        """Run an OpenAI ``tool_calls`` entry; whatever happens, a result comes back."""
        function = call.get("function")
        if not isinstance(function, Mapping):
            function = call
        name = str(function.get("name") or "")
        raw = function.get("arguments")
        started = time.perf_counter()
        arguments, problem = _parse_arguments(raw)
        if problem is None:
            problem = self._check(name, arguments)
        if problem is None and timeout_s is not None and timeout_s <= 0:
            problem = "not run: the time budget is spent"
        if problem is not None:
            result = ToolResult(ok=False, error=problem)
        else:
            limit = self.timeout_s if timeout_s is None else min(self.timeout_s, timeout_s)
            result = await self._call(name, arguments, limit)
        t_ms = (time.perf_counter() - started) * 1000
        shown = arguments if problem is None or arguments else raw
        return ToolInvocation(name, call.get("id"), shown, result, t_ms)

    def _check(self, name: str, arguments: dict[str, Any]) -> str | None:
        if name not in self._owner:
            return f"unknown tool {name!r}; available tools: {', '.join(self.names) or '(none)'}"
        errors = _schema_errors(arguments, self._schemas[name])
        if errors:
            return f"bad arguments for {name}: {'; '.join(errors)}"
        return None

    async def _call(self, name: str, arguments: dict[str, Any], timeout_s: float) -> ToolResult:
        source = self._owner[name]
        try:
            return await asyncio.wait_for(
                source.call_tool(name, arguments, timeout_s=timeout_s), timeout_s + GRACE_S
            )
        except TimeoutError:
            return ToolResult(ok=False, error=f"{name} timed out after {timeout_s:g} s; stopped")
        except Exception as exc:  # a broken tool is an observation, never a crashed run
            return ToolResult(ok=False, error=f"{name} failed: {type(exc).__name__}: {exc}")


def _parse_arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    if raw is None or raw == "":
        return {}, None
    if isinstance(raw, str):
        try:
            raw = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return {}, f"arguments are not valid JSON ({exc}); send one JSON object"
    if not isinstance(raw, dict):
        return {}, f"arguments must be a JSON object, got {type(raw).__name__}"
    return raw, None


def _schema_errors(arguments: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    import jsonschema

    try:
        validator = jsonschema.validators.validator_for(schema)(schema)
        errors = list(validator.iter_errors(arguments))
    except jsonschema.exceptions.SchemaError:
        return []  # the source's schema is broken; let the source judge the arguments
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in errors[:MAX_SCHEMA_ERRORS]
    ]
