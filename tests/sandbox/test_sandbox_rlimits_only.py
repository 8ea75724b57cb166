"""Without working bwrap the sandbox refuses, unless the caller accepts rlimits-only isolation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scillm.sandbox import ISOLATION_NONE, ISOLATION_RLIMITS, isolation_available, run

LIMITS = {"timeout_s": 3, "memory_mb": 256}


@pytest.fixture
def no_bwrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCILLM_BWRAP", "/nonexistent/bwrap")


@pytest.fixture
def broken_bwrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A bwrap that cannot create namespaces, as in a locked-down container."""
    fake = tmp_path / "bwrap"
    fake.write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("SCILLM_BWRAP", str(fake))


@pytest.mark.usefixtures("no_bwrap")
def test_missing_bwrap_is_refused() -> None:
    result = run("print('never runs')", **LIMITS)
    assert result.status == "sandbox_error"
    assert "bubblewrap" in result.message and "allow_rlimits_only" in result.message
    assert result.isolation == ISOLATION_NONE and result.stdout == ""


@pytest.mark.usefixtures("broken_bwrap")
def test_bwrap_without_namespaces_is_refused() -> None:
    result = run("print('never runs')", **LIMITS)
    assert result.status == "sandbox_error"
    assert "No permissions to creating new namespace" in result.message
    report = isolation_available()
    assert report["isolated"] is False and "namespace" in report["problem"]
    assert report["isolation"] == ISOLATION_RLIMITS


@pytest.mark.usefixtures("broken_bwrap")
def test_opting_in_runs_with_rlimits_only_and_says_so() -> None:
    result = run("print(input())", stdin="limited", allow_rlimits_only=True, **LIMITS)
    assert (result.status, result.stdout) == ("ok", "limited\n")
    assert result.isolation == ISOLATION_RLIMITS


@pytest.mark.usefixtures("no_bwrap")
def test_rlimits_only_still_scrubs_the_environment_and_enforces_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCILLM_TEST_SECRET", "hunter2-do-not-leak")
    env = run("import json, os\nprint(json.dumps(sorted(os.environ)))", allow_rlimits_only=True)
    bomb = run("hoard = bytearray(8 << 30)", allow_rlimits_only=True, **LIMITS)
    loop = run("while True:\n    pass", allow_rlimits_only=True, timeout_s=1)
    assert json.loads(env.stdout) == ["HOME", "LANG", "PATH"]
    assert (bomb.status, loop.status) == ("memory_limit", "timeout")
    assert {env.isolation, bomb.isolation, loop.isolation} == {ISOLATION_RLIMITS}
