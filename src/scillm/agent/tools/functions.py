"""Python functions as tools: ``@tool`` derives the JSON schema from the type hints.

    @tool
    def add(a: int, b: int = 0) -> int:
        \"\"\"Add two integers.

        Args:
            a: the first number
        \"\"\"
        return a + b

The first docstring paragraph is the description; ``Args:`` lines describe parameters. Supported
hints: str, int, float, bool, None, list[...], dict[str, ...], tuple[...], Literal, Enum,
``X | None`` and Any. Async functions are awaited; sync ones run on a worker thread (a sync
function that outlives its timeout is reported and abandoned: Python cannot kill a thread).
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import re
import types
import typing
from collections.abc import Callable
from typing import Any, overload

import orjson

from scillm.agent.tools.base import ToolResult, function_spec

__all__ = ["FunctionTool", "json_schema_of", "tool"]

_ARG_LINE = re.compile(r"^\s+(\w+)\s*(?:\([^)]*\))?:\s*(.+)$")
_PRIMITIVES: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    Any: {},
}


class FunctionTool:
    """One Python function offered as a tool; still callable as the function itself."""

    def __init__(
        self, fn: Callable[..., Any], *, name: str | None = None, description: str | None = None
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.name):
            raise ValueError(f"tool name {self.name!r} must match [A-Za-z0-9_-]{{1,64}}")
        summary, arg_docs = _parse_docstring(inspect.getdoc(fn) or "")
        self.description = description or summary or self.name
        self.parameters = _parameters(fn, arg_docs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"FunctionTool({self.name!r})"

    async def list_tools(self) -> list[dict[str, Any]]:
        """This function's spec."""
        return [function_spec(self.name, self.description, self.parameters)]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], *, timeout_s: float
    ) -> ToolResult:
        """Call the function with ``arguments``; its return value becomes ``result``."""
        if inspect.iscoroutinefunction(self.fn):
            value = await asyncio.wait_for(self.fn(**arguments), timeout_s)
        else:
            value = await asyncio.wait_for(asyncio.to_thread(self.fn, **arguments), timeout_s)
        return ToolResult(ok=True, result=_jsonable(value))


@overload
def tool(fn: Callable[..., Any], /) -> FunctionTool: ...
@overload
def tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], FunctionTool]: ...
def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> FunctionTool | Callable[[Callable[..., Any]], FunctionTool]:
    """Make ``fn`` a tool (``@tool`` or ``@tool(name=..., description=...)``)."""
    if fn is not None:
        return FunctionTool(fn, name=name, description=description)
    return lambda f: FunctionTool(f, name=name, description=description)


def _parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph, and ``name: text`` lines of an ``Args:`` section."""
    summary = " ".join(doc.split("\n\n", 1)[0].split())
    args: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        if line.strip() in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
        elif in_args and (match := _ARG_LINE.match(line)):
            args[match.group(1)] = match.group(2).strip()
        elif in_args and line.strip() and not line.startswith((" ", "\t")):
            in_args = False
    return summary, args


def _parameters(fn: Callable[..., Any], arg_docs: dict[str, str]) -> dict[str, Any]:
    hints = typing.get_type_hints(fn)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise TypeError(f"tool {fn.__name__}: parameter {param.name!r} must be named")
        schema = json_schema_of(hints.get(param.name, Any), where=f"{fn.__name__}.{param.name}")
        if param.name in arg_docs:
            schema["description"] = arg_docs[param.name]
        if param.default is param.empty:
            required.append(param.name)
        elif _is_json(param.default):
            schema["default"] = param.default
        properties[param.name] = schema
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def json_schema_of(hint: Any, *, where: str = "value") -> dict[str, Any]:
    """The JSON schema of a type hint; TypeError for hints a model cannot fill in."""
    if hint in _PRIMITIVES:
        return dict(_PRIMITIVES[hint])
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [json_schema_of(arg, where=where) for arg in args]}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [member.value for member in hint]}
    if hint is list or origin is list:
        return {"type": "array", "items": json_schema_of(args[0], where=where) if args else {}}
    if origin is tuple and args and args[-1] is not Ellipsis:
        items = [json_schema_of(arg, where=where) for arg in args]
        return {"type": "array", "prefixItems": items, "minItems": len(args), "maxItems": len(args)}
    if origin is tuple:
        return {"type": "array", "items": json_schema_of(args[0], where=where) if args else {}}
    if hint is dict or (origin is dict and (not args or args[0] is str)):
        values = json_schema_of(args[1], where=where) if args else {}
        return {"type": "object", "additionalProperties": values}
    raise TypeError(
        f"tool parameter {where}: type {hint!r} has no JSON schema; use str, int, float, bool, "
        "list, dict[str, ...], tuple, Literal, an Enum, X | None or Any"
    )


def _is_json(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True


def _jsonable(value: Any) -> Any:
    """``value`` when JSON can carry it, else its ``str()``."""
    if isinstance(value, enum.Enum):
        return value.value
    return value if _is_json(value) else str(value)
