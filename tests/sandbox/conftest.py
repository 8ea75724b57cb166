"""Shared limits and guards for the sandbox tests, which run the real isolation."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from scillm.sandbox import isolation_available


@pytest.fixture(scope="session")
def host() -> dict[str, Any]:
    """What isolation_available() says about this machine."""
    return isolation_available()


@pytest.fixture
def isolated(host: dict[str, Any]) -> None:
    """Skip where bwrap cannot isolate (fail in CI, which installs it: a skip would hide that)."""
    if not host["isolated"]:
        reason = f"no bwrap isolation here: {host['problem']}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def need(host: dict[str, Any]) -> Callable[[str], None]:
    """``need("c")`` skips the test where that language's toolchain is not installed."""

    def check(language: str) -> None:
        if host["languages"][language] is None:
            pytest.skip(f"{language} toolchain not installed")

    return check
