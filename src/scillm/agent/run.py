"""One agent request end to end, shared by the ``mini-agent`` provider and the agent server.

Request options (all optional): ``max_iterations``, ``max_seconds`` (``max_total_seconds``),
``enable_repair``, ``auto_run_code_on_code_block``, ``use_tools``, ``tool_backend``
(``sandbox`` — alias ``local`` —, ``http``, ``none``), ``allowed_languages``, ``shell_allow``,
``tool_http_base_url``, ``tool_http_headers``. ``tools`` entries that are OpenAI specs pick
tools by name; tool objects and functions (in-process only) are added. ``response_format`` is
held to at the end (:mod:`scillm.agent.answer`). Other OpenAI parameters go to every model call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scillm._config import Source, resolve, twins
from scillm._schema import SchemaPlan
from scillm.agent.answer import conform, plan_format
from scillm.agent.loop import AgentLoop
from scillm.agent.model import ScillmChat
from scillm.agent.records import AgentConfig, AgentResult
from scillm.agent.tools.base import ToolSource, spec_name
from scillm.agent.tools.http import HttpTools
from scillm.agent.tools.sandboxed import SandboxTools
from scillm.agent.tools.toolbox import Toolbox
from scillm.errors import BadRequestError

__all__ = [
    "AGENT_PARAMS",
    "TOOL_BACKENDS",
    "AgentRequest",
    "env_defaults",
    "execute",
    "parse_request",
]

TOOL_BACKENDS = ("sandbox", "local", "http", "none")
AGENT_PARAMS = frozenset(
    {
        "max_iterations",
        "max_seconds",
        "max_total_seconds",
        "enable_repair",
        "auto_run_code_on_code_block",
        "use_tools",
        "tool_backend",
        "allowed_languages",
        "shell_allow",
        "tool_http_base_url",
        "tool_http_headers",
    }
)
ENV_OPTIONS: dict[str, Source] = {
    "max_iterations": (int, *twins("MINI_AGENT_MAX_ITERATIONS")),
    "max_seconds": (float, *twins("MINI_AGENT_MAX_SECONDS")),
    "allowed_languages": (str, *twins("MINI_AGENT_LANGUAGES")),
    "tool_backend": (str, *twins("MINI_AGENT_TOOL_BACKEND")),
}
_NOT_FORWARDED = AGENT_PARAMS | {
    "tools",
    "tool_choice",
    "response_format",
    "stream",
    "stream_options",
    "n",
}
_KINDS = {int: "an integer", bool: "true or false", str: "a string", dict: "an object"}


@dataclass
class AgentRequest:
    """A checked request: loop limits, which tools, and what the final answer must look like."""

    config: AgentConfig
    use_tools: bool = True
    tool_backend: str = "sandbox"
    languages: tuple[str, ...] | None = None
    shell_allow: tuple[str, ...] = ()
    http_base: str | None = None
    http_headers: dict[str, str] = field(default_factory=dict)
    only: frozenset[str] | None = None
    extra_tools: list[ToolSource | Callable[..., Any]] = field(default_factory=list)
    plan: SchemaPlan | None = None
    forwarded: dict[str, Any] = field(default_factory=dict)


def env_defaults(given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Option defaults: ``given`` (None values are unset), then the environment, ``SCILLM_`` or
    ``LITELLM_`` prefixed: ``MINI_AGENT_MAX_ITERATIONS``, ``_MAX_SECONDS``, ``_LANGUAGES``
    (comma-separated), ``_TOOL_BACKEND``. A malformed number is a ValueError naming the
    variable."""
    return resolve(given or {}, ENV_OPTIONS)


def parse_request(
    params: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
) -> AgentRequest:
    """Check ``params`` (agent options, OpenAI parameters) over ``defaults``.

    BadRequestError says what is wrong.
    """
    given = {k: v for k, v in params.items() if v is not None}
    if "max_total_seconds" in given:  # the original's name
        given.setdefault("max_seconds", given.pop("max_total_seconds"))
    params = {**(defaults or {}), **given}
    reasoning = params.pop("reasoning", None)  # chat APIs take reasoning_effort
    if isinstance(reasoning, dict) and reasoning.get("effort") is not None:
        params.setdefault("reasoning_effort", reasoning["effort"])
    get = params.get
    if get("n") not in (None, 1):
        raise BadRequestError("the agent gives one answer per request: n must be 1")
    seconds = get("max_seconds")
    config = AgentConfig(
        max_iterations=_typed(params, "max_iterations", int, AgentConfig.max_iterations),
        max_seconds=AgentConfig.max_seconds if seconds is None else seconds,
        enable_repair=_typed(params, "enable_repair", bool, True),
        auto_run_code_on_code_block=_typed(params, "auto_run_code_on_code_block", bool, False),
    )
    backend = _typed(params, "tool_backend", str, "sandbox")
    if backend not in TOOL_BACKENDS:
        raise BadRequestError(
            f"unknown tool_backend {backend!r}; use one of {', '.join(TOOL_BACKENDS)}"
        )
    http_base = get("tool_http_base_url")
    if (backend == "http") != (http_base is not None):
        raise BadRequestError("tool_backend 'http' and tool_http_base_url go together")
    languages = get("allowed_languages")
    only, extra = _tool_entries(get("tools"))
    return AgentRequest(
        config=config,
        use_tools=_typed(params, "use_tools", bool, True),
        tool_backend=backend,
        languages=None if languages is None else tuple(_strings(languages, "allowed_languages")),
        shell_allow=tuple(_strings(get("shell_allow") or [], "shell_allow")),
        http_base=None if http_base is None else _typed(params, "tool_http_base_url", str, ""),
        http_headers=_headers(_typed(params, "tool_http_headers", dict, {})),
        only=only,
        extra_tools=extra,
        plan=plan_format(get("response_format")),
        forwarded={k: v for k, v in params.items() if k not in _NOT_FORWARDED},
    )


async def execute(
    request: AgentRequest,
    model: str,
    messages: list[dict[str, Any]],
    **completion_kwargs: Any,
) -> AgentResult:
    """Run the loop on ``model`` and hold its answer to ``response_format``."""
    kwargs = {**request.forwarded, **completion_kwargs}
    sandbox = _sandbox(request)
    backend: list[ToolSource] = []
    if request.use_tools and request.tool_backend in ("sandbox", "local"):
        backend.append(sandbox)
    if request.use_tools and request.http_base is not None:
        backend.append(HttpTools(request.http_base, headers=request.http_headers))
    extra = request.extra_tools if request.use_tools else []
    only = request.only
    toolbox = Toolbox(
        [*backend, *extra],
        pick=None if only is None else lambda src, name: src not in backend or name in only,
        timeout_s=request.config.tool_timeout_s,
    )
    runner = sandbox if request.config.auto_run_code_on_code_block else None
    async with toolbox:
        missing = sorted((only or frozenset()) - set(toolbox.names))
        if missing and request.use_tools:
            raise BadRequestError(
                f"tools names {', '.join(missing)}, which the agent does not have; it has: "
                f"{', '.join(toolbox.names) or '(none)'}"
            )
        loop = AgentLoop(ScillmChat(model, **kwargs), toolbox, request.config, runner)
        result = await loop.run(messages)
    if request.plan is not None and result.ok:
        fmt = ScillmChat(model, **kwargs, response_format=request.plan.response_format)
        await conform(result, messages, request.plan, fmt)
    return result


def _sandbox(request: AgentRequest) -> SandboxTools:
    try:
        return SandboxTools(languages=request.languages, shell_allow=request.shell_allow)
    except ValueError as exc:
        raise BadRequestError(str(exc)) from exc


def _tool_entries(
    tools: Any,
) -> tuple[frozenset[str] | None, list[ToolSource | Callable[..., Any]]]:
    """Builtin tools picked by OpenAI specs (by name), and tool objects/functions to add."""
    if tools is None:
        return None, []
    if not isinstance(tools, list | tuple):
        raise BadRequestError("tools must be a list of tool specs, tool objects or functions")
    names, extra = set(), []
    for entry in tools:
        if isinstance(entry, dict):
            try:
                names.add(spec_name(entry))
            except ValueError as exc:
                raise BadRequestError(str(exc)) from exc
        elif isinstance(entry, ToolSource) or callable(entry):
            extra.append(entry)
        else:
            raise BadRequestError(f"tools entry {entry!r} is not a spec, tool or function")
    return (frozenset(names) if names else None), extra


def _typed(params: Mapping[str, Any], name: str, kind: type, default: Any) -> Any:
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRequestError(f"{name} must be {_KINDS[kind]}, got {value!r}")
    return value


def _headers(value: dict[Any, Any]) -> dict[str, str]:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise BadRequestError("tool_http_headers must map header names to string values")
    return dict(value)


def _strings(value: Any, name: str) -> list[str]:
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise BadRequestError(f"{name} must be a list of strings, got {value!r}")
    return list(value)
