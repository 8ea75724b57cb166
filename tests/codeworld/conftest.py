"""Shared fixtures for the CodeWorld tests: real sandbox, scripted LLM on the mock server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import scillm
from scillm.sandbox import isolation_available
from scillm.testing import MockLLMServer

PROVIDER = "scillm.codeworld.provider:CodeWorldProvider"


@pytest.fixture(scope="session", autouse=True)
def codeworld_provider() -> None:
    """Register the provider as the package does (idempotent; public API, no patching)."""
    scillm.register_provider("codeworld", PROVIDER)


@pytest.fixture(scope="session")
def host() -> dict[str, Any]:
    return isolation_available()


@pytest.fixture
def isolated(host: dict[str, Any]) -> None:
    """Skip where bwrap cannot isolate (fail under CI, which installs it)."""
    if not host["isolated"]:
        reason = f"no bwrap isolation here: {host['problem']}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def need(host: dict[str, Any]) -> Callable[[str], None]:
    """``need("c")`` skips where that language's toolchain is missing (fails under CI)."""

    def check(language: str) -> None:
        if host["languages"][language] is None:
            if os.environ.get("CI"):
                pytest.fail(f"{language} toolchain not installed")
            pytest.skip(f"{language} toolchain not installed")

    return check


@dataclass
class Scripted:
    """A running mock LLM and the search arguments that point the generator at it."""

    server: MockLLMServer

    @property
    def args(self) -> dict[str, Any]:
        return {
            "generator_model": "openai/scripted",
            "generator_api_base": self.server.base_url,
            "generator_api_key": "sk-test",
        }

    def prompts(self) -> list[str]:
        """The last user message of every request the "LLM" received, in order."""
        return [r.body["messages"][-1]["content"] for r in self.server.requests if r.body]


@pytest.fixture
def scripted_llm() -> Iterator[Callable[[Callable[[str], str]], Scripted]]:
    """``scripted_llm(fn)``: a mock LLM server answering ``fn(last user message)``."""
    servers: list[MockLLMServer] = []

    def start(fn: Callable[[str], str]) -> Scripted:
        server = MockLLMServer(reply=lambda body: fn(body["messages"][-1]["content"]))
        server.start()
        servers.append(server)
        return Scripted(server)

    yield start
    for server in servers:
        server.stop()
