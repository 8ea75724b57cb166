"""Helpers of the scenario tests: a clean environment, free ports, services started by hand."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parents[2]
PROJECT_CLI = ROOT / ".codex-cli" / "node_modules" / ".bin" / "codex"
INSTALL = "npm install --prefix .codex-cli @openai/codex@0.169.0"
SCILLM = [sys.executable, "-m", "scillm"]
URL_VARS = {
    "mock": "MOCK_LLM_URL",
    "agent": "MINI_AGENT_URL",
    "codex-sidecar": "CODEX_SIDECAR_URL",
    "codeworld": "CODEWORLD_URL",
    "certainly": "CERTAINLY_URL",
}
HEALTH = {"mock": "/health"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any stack URL, token or model choice, plus ``extra``."""
    names = {
        *URL_VARS.values(),
        *("CODEX_AGENT_API_BASE", "CODEWORLD_BASE", "SCILLM_CODEWORLD_BASE"),
        *("CERTAINLY_BRIDGE_BASE", "LEAN4_BRIDGE_BASE", "SCILLM_SERVICE_TOKEN", "CODEX_CMD"),
        "SCENARIOS_STOP_ON_FIRST_FAILURE",
    }
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in names and not k.startswith(("SCENARIO_", "CODEX_SIDECAR_"))
    }
    return env | extra


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{proc.args} exited {proc.returncode}"
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=30).close()
            return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout} s")


@contextlib.contextmanager
def services(commands: dict[str, list[str]]) -> Iterator[dict[str, str]]:
    """``scillm ARGS --port P`` for each name, all started at once and running until the block
    ends; yields their URLs."""
    ports = {name: free_port() for name in commands}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, args in commands.items():
            argv = [a.format(**{k.replace("-", "_"): u for k, u in urls.items()}) for a in args]
            procs[name] = subprocess.Popen(
                [*SCILLM, *argv, "--port", str(ports[name])],
                env=clean_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        for name, proc in procs.items():
            wait_healthy(urls[name] + HEALTH.get(name, "/healthz"), proc)
        yield urls
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
