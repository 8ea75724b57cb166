"""Shared helpers for the agent tests: scripted model turns, the provider, loopback servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from agent_helpers import Script, Step

import scillm
from scillm.testing import MockLLMServer


@pytest.fixture(scope="session", autouse=True)
def mini_agent_provider() -> None:
    """The provider, registered the way scillm registers it (lazily), if it is not yet."""
    if "mini-agent" not in scillm.provider_names():
        scillm.register_provider("mini-agent", "scillm.agent.provider:MiniAgentProvider")


@pytest.fixture
def scripted() -> Iterator[Callable[..., tuple[MockLLMServer, Script]]]:
    """``srv, script = scripted(step, step, ...)``: a mock LLM server playing a script."""
    servers: list[MockLLMServer] = []

    def make(*steps: Step) -> tuple[MockLLMServer, Script]:
        script = Script(*steps)
        servers.append(MockLLMServer(reply=script).start())
        return servers[-1], script

    yield make
    for srv in servers:
        srv.stop()
