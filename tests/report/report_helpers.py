"""Helpers of the report tests: JSONL files, ``python -m scillm`` in a subprocess, the shared
batch run's inputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scillm.testing import MockLLMServer

SECRET_KEY = "sk-report-secret-4d1c"
HOSTILE_MODEL = "openai/</script><script>window.pwned=1</script>"
UNPRICED_MODEL = "openai/scillm-test-unpriced"
ROWS = 48


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def scillm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m scillm ARGS`` to completion, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "scillm", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def mock_env(server: MockLLMServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCILLM_", "LITELLM_"))}
    return {**env, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": SECRET_KEY}


def question(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": f"q{i}", "messages": [{"role": "user", "content": f"question {i}"}], **extra}


@dataclass
class BatchRun:
    output: Path
    done: subprocess.CompletedProcess[str]

    @property
    def rows(self) -> list[dict[str, Any]]:
        return read_jsonl(self.output)

    @property
    def report(self) -> Path:
        return self.output.with_name(self.output.stem + ".report.html")
