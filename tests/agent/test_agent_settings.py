"""The agent server's and the Codex sidecar's settings: argument > environment > default."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from precedence import Setting, precedence_test
from scillm._config import twins
from scillm.agent.codex import CodexSidecarSettings
from scillm.agent.codex import settings as codex_settings
from scillm.agent.run import env_defaults
from scillm.agent.settings import DEFAULT_TRACE_FILE, LEGACY_ENV, AgentServerSettings
from scillm.service import ServiceConfig

AGENT = AgentServerSettings.from_env
CODEX = CodexSidecarSettings.from_env
AGENT_DOOR = partial(ServiceConfig.from_env, "agent", legacy=LEGACY_ENV)
CODEX_DOOR = partial(ServiceConfig.from_env, "codex-sidecar", legacy=codex_settings.LEGACY_ENV)


def options(**given: Any) -> dict[str, Any]:
    return env_defaults(given)


test_argument_beats_environment_beats_default = precedence_test(
    {
        "agent host": Setting(
            AGENT_DOOR, "host", ("SCILLM_AGENT_HOST", "MINI_AGENT_API_HOST"), ("::1",) * 2, "lo"
        ),
        "agent port": Setting(
            AGENT_DOOR,
            "port",
            ("SCILLM_AGENT_PORT", "MINI_AGENT_API_PORT"),
            ("9001", 9001),
            9002,
            "8o",
        ),
        "agent token": Setting(
            AGENT_DOOR,
            "token",
            ("SCILLM_AGENT_TOKEN", "MINI_AGENT_API_TOKEN", "SCILLM_SERVICE_TOKEN"),
            ("t-env",) * 2,
            "t-arg",
        ),
        "agent tool bases": Setting(
            AGENT,
            "http_tool_bases",
            ("SCILLM_AGENT_HTTP_TOOL_BASES",),
            ("http://a/,http://b", ("http://a", "http://b")),
            ("http://c",),
        ),
        "agent tool headers": Setting(
            AGENT,
            "http_tool_headers",
            ("MINI_AGENT_TOOL_HTTP_HEADERS",),
            ('{"X-Key": "1"}', {"X-Key": "1"}),
            {"X-Key": "2"},
            '["X-Key"]',
        ),
        "max_iterations option": Setting(
            options, "max_iterations", twins("MINI_AGENT_MAX_ITERATIONS"), ("9", 9), 3, "nine"
        ),
        "max_seconds option": Setting(
            options, "max_seconds", twins("MINI_AGENT_MAX_SECONDS"), ("12.5", 12.5), 30.0, "soon"
        ),
        "sidecar host": Setting(
            CODEX_DOOR,
            "host",
            ("SCILLM_CODEX_SIDECAR_HOST", "CODEX_SIDECAR_HOST"),
            ("::1",) * 2,
            "lo",
        ),
        "sidecar port": Setting(
            CODEX_DOOR,
            "port",
            ("SCILLM_CODEX_SIDECAR_PORT", "CODEX_SIDECAR_PORT"),
            ("9001", 9001),
            9002,
            "8o",
        ),
        "sidecar token": Setting(
            CODEX_DOOR,
            "token",
            ("SCILLM_CODEX_SIDECAR_TOKEN", "CODEX_SIDECAR_TOKEN", "SCILLM_SERVICE_TOKEN"),
            ("t-env",) * 2,
            "t-arg",
        ),
        "sidecar concurrency": Setting(
            CODEX,
            "max_concurrency",
            ("CODEX_SIDECAR_MAX_CONCURRENCY", "MAX_CONCURRENCY"),
            ("8", 8),
            2,
            "many",
        ),
        "sidecar timeout": Setting(
            CODEX,
            "timeout_s",
            ("CODEX_SIDECAR_TIMEOUT_S", "ABS_TIMEOUT_S"),
            ("12.5", 12.5),
            3.0,
            "inf",
        ),
        "sidecar echo": Setting(
            CODEX, "echo", ("CODEX_SIDECAR_ECHO", "CODEX_ECHO_MODE"), ("1", True), False, "ture"
        ),
        "sidecar command": Setting(
            CODEX,
            "codex_cmd",
            ("CODEX_CMD",),
            ("codex --profile 'a b'", ("codex", "--profile", "a b")),
            ("other",),
            "codex 'unclosed",
        ),
    }
)


def test_stored_traces_is_a_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCILLM_AGENT_TRACE_PATH", raising=False)
    monkeypatch.delenv("MINI_AGENT_STORE_PATH", raising=False)
    for raw, expected in (("1", DEFAULT_TRACE_FILE), ("on", DEFAULT_TRACE_FILE), ("0", None)):
        monkeypatch.setenv("MINI_AGENT_STORE_TRACES", raw)
        assert AGENT().trace_path == expected
    monkeypatch.setenv("MINI_AGENT_STORE_TRACES", "ture")
    with pytest.raises(ValueError, match="MINI_AGENT_STORE_TRACES='ture' is not a flag"):
        AGENT()
    assert AGENT(trace_path="t.jsonl").trace_path == "t.jsonl"
    monkeypatch.setenv("SCILLM_AGENT_TRACE_PATH", "env.jsonl")
    assert AGENT().trace_path == "env.jsonl"


def test_server_defaults_given_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCILLM_MINI_AGENT_MAX_ITERATIONS", "nine")
    with pytest.raises(ValueError, match="SCILLM_MINI_AGENT_MAX_ITERATIONS='nine'"):
        AGENT()
    monkeypatch.setenv("LITELLM_MINI_AGENT_TOOL_BACKEND", "none")
    settings = AGENT(defaults={"max_iterations": 3})
    assert settings.defaults == {"max_iterations": 3, "tool_backend": "none"}


def test_the_door_defaults_to_loopback_and_catalog_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    for prefix in ("SCILLM_AGENT_", "MINI_AGENT_API_", "SCILLM_CODEX_SIDECAR_", "CODEX_SIDECAR_"):
        for field in ("HOST", "PORT", "TOKEN"):
            monkeypatch.delenv(prefix + field, raising=False)
    monkeypatch.delenv("SCILLM_SERVICE_TOKEN", raising=False)
    agent, codex = AGENT_DOOR(), CODEX_DOOR()
    assert (agent.host, agent.port, agent.token) == ("127.0.0.1", 8788, None)
    assert (codex.host, codex.port, codex.token) == ("127.0.0.1", 8077, None)
    with pytest.raises(TypeError):  # serving lives in the door, not in the settings
        AGENT(port=1)
    with pytest.raises(TypeError):
        CodexSidecarSettings(token="t")  # type: ignore[call-arg]
