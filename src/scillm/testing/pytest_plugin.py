"""pytest plugin: the ``mock_llm`` fixture, a running ``MockLLMServer`` per test.

Opt-in (installing scillm does not load it into every pytest run): in your top-level
``conftest.py`` write ``pytest_plugins = ["scillm.testing.pytest_plugin"]``, or run
``pytest -p scillm.testing.pytest_plugin``. Then::

    def test_pipeline(mock_llm):
        mock_llm.set_reply("hello")
        mock_llm.enqueue(Fault.http(503))
        ...  # call mock_llm.base_url
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scillm.testing.server import MockLLMServer

__all__ = ["mock_llm"]


@pytest.fixture
def mock_llm() -> Iterator[MockLLMServer]:
    """A started ``MockLLMServer`` (ECHO replies, no latency), stopped after the test."""
    with MockLLMServer() as server:
        yield server
