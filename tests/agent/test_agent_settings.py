"""The agent server's and the Codex sidecar's settings: argument > environment > default."""

from __future__ import annotations

from typing import Any

import pytest

from precedence import Setting, precedence_test
from scillm._config import twins
from scillm.agent.codex import CodexSidecarSettings
from scillm.agent.run import env_defaults
from scillm.agent.settings import DEFAULT_TRACE_FILE, AgentServerSettings

AGENT = AgentServerSettings.from_env
CODEX = CodexSidecarSettings.from_env


def options(**given: Any) -> dict[str, Any]:
    return env_defaults(given)


test_argument_beats_environment_beats_default = precedence_test(
    {
        "agent port": Setting(
            AGENT, "port", ("SCILLM_AGENT_PORT", "MINI_AGENT_API_PORT"), ("9001", 9001), 9002, "8o"
        ),
        "agent token": Setting(
            AGENT, "token", ("SCILLM_AGENT_TOKEN", "MINI_AGENT_API_TOKEN"), ("t-env",) * 2, "t-arg"
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
        "sidecar port": Setting(CODEX, "port", ("CODEX_SIDECAR_PORT",), ("9001", 9001), 9002, "8o"),
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
