"""``serve agent`` / ``serve codex-sidecar`` run as a user runs them: in a subprocess."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
import typer
from typer.testing import CliRunner

import scillm
from scillm.agent.cli import register
from scillm.testing import MockLLMServer

# The commands hang off a typer app the way scillm.cli registers feature modules.
CLI = (
    "import typer; from scillm.agent.cli import register; app = typer.Typer(); "
    "serve = typer.Typer(); app.add_typer(serve, name='serve'); register(app, serve); app()"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def command(*args: str) -> Iterator[str]:
    """Run ``serve ...`` until its /healthz answers; yields the base URL, then stops it."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "serve", *args, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stderr.close()  # type: ignore[union-attr]


@pytest.mark.requires("bwrap", apt="bubblewrap")
def test_serve_agent(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply("served")
    target = ["--target-model", "openai/mock-model", "--target-api-base", mock_llm.base_url]
    with command("agent", *target, "--max-iterations", "2") as url:
        resp = scillm.completion(
            "codex-agent/mini-agent", [{"role": "user", "content": "hi"}], api_base=url
        )
        assert resp.choices[0].message.content == "served"
        defaults = httpx.get(url + "/healthz").json()["settings"]["defaults"]
        assert defaults["max_iterations"] == 2


def test_serve_codex_sidecar_in_echo_mode() -> None:
    with command("codex-sidecar", "--echo") as url:
        assert httpx.get(url + "/healthz").json()["echo"] is True
        resp = scillm.completion(
            "codex-agent/x", [{"role": "user", "content": "ping"}], api_base=url
        )
        assert resp.choices[0].message.content == "ping" and resp["echo"] is True


def test_bad_settings_are_usage_errors() -> None:
    app, serve = typer.Typer(), typer.Typer()
    app.add_typer(serve, name="serve")
    register(app, serve)
    for args, bad in (
        (["agent", "--tool-backend", "docker"], "unknown tool_backend 'docker'"),
        (["codex-sidecar", "--sandbox", "yolo"], "sandbox 'yolo'"),
    ):
        done = CliRunner().invoke(app, ["serve", *args])
        assert done.exit_code == 2 and bad in done.output
