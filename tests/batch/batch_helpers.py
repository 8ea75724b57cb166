"""Helpers for the batch tests: JSONL files and the ``scillm batch`` command in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

SCILLM_BATCH = [sys.executable, "-m", "scillm", "batch"]
COMMAND_TIMEOUT_S = 120


def write_jsonl(path: Path, rows: Iterable[Any]) -> Path:
    """One JSON value per line; a ``str`` row is written verbatim (for malformed lines)."""
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line parsed; fails on any line that is not a JSON object."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert all(isinstance(row, dict) for row in rows)
    return rows


def batch_env(base_url: str, **extra: str) -> dict[str, str]:
    """The environment for a ``scillm batch`` subprocess talking to a mock server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCILLM_", "LITELLM_"))}
    return {**env, "OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "test", **extra}


def start_batch_command(args: Iterable[str], env: Mapping[str, str]) -> subprocess.Popen[str]:
    """``python -m scillm batch ARGS`` started, stdout and stderr piped."""
    return subprocess.Popen(
        [*SCILLM_BATCH, *args],
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_batch_command(
    args: Iterable[str], env: Mapping[str, str], timeout: float = COMMAND_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """``python -m scillm batch ARGS`` to completion, output captured."""
    return subprocess.run(
        [*SCILLM_BATCH, *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
