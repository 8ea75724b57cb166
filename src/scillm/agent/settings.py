"""Settings of the agent server: argument → environment → default, resolved once at start.

| setting           | environment (first set wins)                               | default        |
|-------------------|------------------------------------------------------------|----------------|
| host, port        | SCILLM_AGENT_HOST / _PORT, MINI_AGENT_API_HOST / _PORT     | 127.0.0.1:8788 |
| target_model      | SCILLM_AGENT_TARGET_MODEL, MINI_AGENT_TARGET_MODEL         | scillm default |
| target_api_base   | SCILLM_AGENT_TARGET_API_BASE                               | provider's     |
| target_api_key    | SCILLM_AGENT_TARGET_API_KEY                                | provider's     |
| token             | SCILLM_AGENT_TOKEN, MINI_AGENT_API_TOKEN                   | none (no auth) |
| http_tool_bases   | SCILLM_AGENT_HTTP_TOOL_BASES (comma-separated)             | none allowed   |
| http_tool_headers | MINI_AGENT_TOOL_HTTP_HEADERS (a JSON object)               | {}             |
| trace_path        | SCILLM_AGENT_TRACE_PATH, or MINI_AGENT_STORE_TRACES=1 with | off            |
|                   | MINI_AGENT_STORE_PATH (default mini_agent_traces.jsonl)    |                |
| option defaults   | SCILLM_MINI_AGENT_MAX_ITERATIONS, _MAX_SECONDS, _LANGUAGES | 6, 180, all,   |
|                   | and _TOOL_BACKEND (or the LITELLM_ twins)                  | sandbox        |
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import orjson

from scillm._config import env
from scillm.agent.run import env_defaults, parse_request

__all__ = ["DEFAULT_PORT", "AgentServerSettings"]

DEFAULT_PORT = 8788
DEFAULT_TRACE_FILE = "mini_agent_traces.jsonl"


@dataclass(frozen=True)
class AgentServerSettings:
    """How ``scillm serve agent`` runs. ``defaults`` are request options the server applies
    when a request does not set them (``max_iterations``, ``tool_backend``, ...)."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    target_model: str | None = None
    target_api_base: str | None = None
    target_api_key: str | None = None
    model_id: str = "mini-agent"
    token: str | None = None
    http_tool_bases: tuple[str, ...] = ()
    http_tool_headers: dict[str, str] = field(default_factory=dict)
    trace_path: str | None = None
    defaults: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parse_request({}, self.defaults)  # a bad default fails at start, not per request
        object.__setattr__(
            self, "http_tool_bases", tuple(b.rstrip("/") for b in self.http_tool_bases if b)
        )

    @classmethod
    def from_env(cls, **given: Any) -> AgentServerSettings:
        """Settings from ``given`` (None means unset), then the environment, then defaults."""
        given = {k: v for k, v in given.items() if v is not None}
        found: dict[str, Any] = {
            "host": env("SCILLM_AGENT_HOST", "MINI_AGENT_API_HOST"),
            "port": _int(env("SCILLM_AGENT_PORT", "MINI_AGENT_API_PORT"), "SCILLM_AGENT_PORT"),
            "target_model": env("SCILLM_AGENT_TARGET_MODEL", "MINI_AGENT_TARGET_MODEL"),
            "target_api_base": env("SCILLM_AGENT_TARGET_API_BASE"),
            "target_api_key": env("SCILLM_AGENT_TARGET_API_KEY"),
            "token": env("SCILLM_AGENT_TOKEN", "MINI_AGENT_API_TOKEN"),
            "http_tool_bases": tuple((env("SCILLM_AGENT_HTTP_TOOL_BASES") or "").split(",")),
            "http_tool_headers": _headers(env("MINI_AGENT_TOOL_HTTP_HEADERS")),
            "trace_path": env("SCILLM_AGENT_TRACE_PATH") or _stored_traces(),
        }
        defaults = {**env_defaults(), **given.pop("defaults", {})}
        values = {k: v for k, v in found.items() if v is not None} | given
        return cls(**values, defaults=defaults)

    def public(self) -> dict[str, Any]:
        """The settings without secrets (for /healthz and logs)."""
        out = dataclasses.asdict(self)
        out["token"] = bool(self.token)
        out["target_api_key"] = bool(self.target_api_key)
        out["http_tool_headers"] = sorted(self.http_tool_headers)
        return out


def _int(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a port number") from None


def _headers(raw: str | None) -> dict[str, str] | None:
    if raw is None:
        return None
    try:
        headers = orjson.loads(raw)
    except orjson.JSONDecodeError:
        headers = None
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ValueError("MINI_AGENT_TOOL_HTTP_HEADERS must be a JSON object of strings")
    return headers


def _stored_traces() -> str | None:
    if env("MINI_AGENT_STORE_TRACES") != "1":
        return None
    return env("MINI_AGENT_STORE_PATH") or DEFAULT_TRACE_FILE
