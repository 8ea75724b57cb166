"""Fixtures of the scenario tests: the Codex CLI, and the whole stack under ``scillm serve all``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from scenario_helpers import INSTALL, PROJECT_CLI, URL_VARS


@pytest.fixture(scope="module")
def codex_cli() -> str:
    """The Codex CLI: ``codex`` on PATH, else the project-local install."""
    found = shutil.which("codex") or (str(PROJECT_CLI) if PROJECT_CLI.exists() else None)
    if found is None:
        reason = f"the Codex CLI is not installed: {INSTALL}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def stack(codex_cli: str) -> Iterator[dict[str, str]]:
    """The whole stack under ``scillm serve all`` (as the scenarios start it); yields the URL
    variables that point at it."""
    from scillm.scenarios.launch import launch

    started = launch(list(URL_VARS), {})
    try:
        assert not started.missing and not started.failed, (started.missing, started.failed)
        yield {URL_VARS[name]: url for name, url in started.urls.items()}
    finally:
        started.stop()
