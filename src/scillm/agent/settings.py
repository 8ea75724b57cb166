"""Settings of the agent server: argument → environment → default, resolved once at start.

| setting           | environment (first set wins)                               | default        |
|-------------------|------------------------------------------------------------|----------------|
| target_model      | SCILLM_AGENT_TARGET_MODEL, MINI_AGENT_TARGET_MODEL         | scillm default |
| target_api_base   | SCILLM_AGENT_TARGET_API_BASE                               | provider's     |
| target_api_key    | SCILLM_AGENT_TARGET_API_KEY                                | provider's     |
| http_tool_bases   | SCILLM_AGENT_HTTP_TOOL_BASES (comma-separated)             | none allowed   |
| http_tool_headers | MINI_AGENT_TOOL_HTTP_HEADERS (a JSON object)               | {}             |
| trace_path        | SCILLM_AGENT_TRACE_PATH, or MINI_AGENT_STORE_TRACES=1 with | off            |
|                   | MINI_AGENT_STORE_PATH (default mini_agent_traces.jsonl)    |                |
| option defaults   | SCILLM_MINI_AGENT_MAX_ITERATIONS, _MAX_SECONDS, _LANGUAGES | 6, 180, all,   |
|                   | and _TOOL_BACKEND (or the LITELLM_ twins)                  | sandbox        |

MINI_AGENT_STORE_TRACES is a flag (1/0, true/false, yes/no, on/off). A malformed value is a
ValueError naming the variable; a variable is not read when its setting is given.

How the server is exposed (host, port 8788, bearer token, body cap...) is its
:class:`~scillm.service.ServiceConfig`: ``SCILLM_AGENT_HOST``/``_PORT``/``_TOKEN``, then the
original's ``MINI_AGENT_API_HOST``/``_PORT``/``_TOKEN`` (:data:`LEGACY_ENV`), then
``SCILLM_SERVICE_TOKEN``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import orjson

from scillm._config import Source, env, env_flag, resolve
from scillm.agent.run import env_defaults, parse_request

__all__ = ["LEGACY_ENV", "SERVICE", "AgentServerSettings"]

SERVICE = "agent"
"""The service's name in :data:`scillm.service.catalog.SERVICES` (port 8788)."""
LEGACY_ENV: dict[str, tuple[str, ...]] = {
    "host": ("MINI_AGENT_API_HOST",),
    "port": ("MINI_AGENT_API_PORT",),
    "token": ("MINI_AGENT_API_TOKEN",),
}
"""The original's names for the service's host, port and token (read after SCILLM_AGENT_*)."""
DEFAULT_TRACE_FILE = "mini_agent_traces.jsonl"


def _bases(raw: str, _name: str) -> tuple[str, ...]:
    return tuple(raw.split(","))


def _headers(raw: str, name: str) -> dict[str, str]:
    try:
        headers = orjson.loads(raw)
    except orjson.JSONDecodeError:
        headers = None
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ValueError(f'{name}={raw!r} is not a JSON object of strings; e.g. {{"X-Key": "v"}}')
    return headers


_SOURCES: dict[str, Source] = {
    "target_model": (str, "SCILLM_AGENT_TARGET_MODEL", "MINI_AGENT_TARGET_MODEL"),
    "target_api_base": (str, "SCILLM_AGENT_TARGET_API_BASE"),
    "target_api_key": (str, "SCILLM_AGENT_TARGET_API_KEY"),
    "http_tool_bases": (_bases, "SCILLM_AGENT_HTTP_TOOL_BASES"),
    "http_tool_headers": (_headers, "MINI_AGENT_TOOL_HTTP_HEADERS"),
    "trace_path": (str, "SCILLM_AGENT_TRACE_PATH"),
}


@dataclass(frozen=True)
class AgentServerSettings:
    """How ``scillm serve agent`` runs. ``defaults`` are request options the server applies
    when a request does not set them (``max_iterations``, ``tool_backend``, ...)."""

    target_model: str | None = None
    target_api_base: str | None = None
    target_api_key: str | None = None
    model_id: str = "mini-agent"
    http_tool_bases: tuple[str, ...] = ()
    http_tool_headers: dict[str, str] = field(default_factory=dict)
    trace_path: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parse_request({}, self.defaults)  # a bad default fails at start, not per request
        bases = tuple(b.strip().rstrip("/") for b in self.http_tool_bases if b.strip())
        for base in bases:
            if not base.startswith(("http://", "https://")):
                raise ValueError(f"HTTP tool server base {base!r} must start with http(s)://")
        object.__setattr__(self, "http_tool_bases", bases)

    @classmethod
    def from_env(cls, **given: Any) -> AgentServerSettings:
        """Settings from ``given`` (None means unset), then the environment, then defaults."""
        values = resolve(given, _SOURCES)
        if "trace_path" not in values and env_flag(False, "MINI_AGENT_STORE_TRACES"):
            values["trace_path"] = env("MINI_AGENT_STORE_PATH") or DEFAULT_TRACE_FILE
        values["defaults"] = env_defaults(values.get("defaults") or {})
        return cls(**values)

    def public(self) -> dict[str, Any]:
        """The settings without secrets (for /healthz and logs)."""
        out = dataclasses.asdict(self)
        out["target_api_key"] = bool(self.target_api_key)
        out["http_tool_headers"] = sorted(self.http_tool_headers)
        return out
