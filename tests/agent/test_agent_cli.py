"""``scillm serve agent`` / ``serve codex-sidecar`` run as a user runs them: in a subprocess."""

from __future__ import annotations

import contextlib
import re
import selectors
import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from typer.testing import CliRunner

import scillm
from scillm.cli import app
from scillm.testing import MockLLMServer

SCILLM = (sys.executable, "-m", "scillm")
ANNOUNCED = re.compile(r"^scillm (agent|codex-sidecar) on (http://127\.0\.0\.1:\d+) \(Ctrl-C")


def first_line(proc: subprocess.Popen[str], timeout_s: float = 60) -> str:
    """The first line the process writes on stderr ("" if it exits or stays silent)."""
    assert proc.stderr is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stderr, selectors.EVENT_READ)
        if not sel.select(timeout_s):
            return ""
    return proc.stderr.readline()


@contextlib.contextmanager
def command(*args: str) -> Iterator[str]:
    """Run ``scillm serve ... --port 0``; yields the URL it announces, then stops it."""
    proc = subprocess.Popen(
        [*SCILLM, "serve", *args, "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = first_line(proc)
        announced = ANNOUNCED.match(line)
        assert announced, f"unexpected first line {line!r}"
        yield announced.group(2)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stderr.close()  # type: ignore[union-attr]


@pytest.mark.requires("bwrap", apt="bubblewrap")
def test_serve_agent(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply("served")
    target = ["--target-model", "openai/mock-model", "--api-base", mock_llm.base_url]
    with command("agent", *target, "--max-iterations", "2") as url:
        # Announced only once it listens: the very first request, without retrying, answers.
        health = httpx.get(url + "/healthz", timeout=60)
        assert health.status_code == 200, health.text
        assert health.json()["defaults"]["max_iterations"] == 2
        assert health.json()["checks"]["sandbox"]["ok"] is True
        resp = scillm.completion(
            "codex-agent/mini-agent", [{"role": "user", "content": "hi"}], api_base=url
        )
        assert resp.choices[0].message.content == "served"


def test_serve_codex_sidecar_in_echo_mode() -> None:
    options = ["--echo", "--max-concurrency", "2", "--timeout-s", "5", "--base-url", "http://x/v1"]
    with command("codex-sidecar", *options) as url:
        health = httpx.get(url + "/healthz", timeout=60).json()  # no retry: it listens
        assert (health["echo"], health["concurrency"], health["upstream"]) == (
            True,
            2,
            "http://x/v1",
        )
        resp = scillm.completion(
            "codex-agent/x", [{"role": "user", "content": "ping"}], api_base=url
        )
        assert resp.choices[0].message.content == "ping" and resp["echo"] is True


@pytest.mark.parametrize("service", ["agent", "codex-sidecar"])
def test_a_busy_port_is_one_line_and_exit_2(service: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*SCILLM, "serve", service, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use: stop what listens there "
        f"(ss -ltnp 'sport = :{port}') or choose another with --port"
    ]


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["agent", "--tool-backend", "docker"], "unknown tool_backend 'docker'"),
        (["agent", "--max-iterations", "0"], "max_iterations"),
        (["agent", "--http-tool-base", "file:///etc"], "must start with http(s)://"),
        (["agent", "--host", "0.0.0.0", "--token", ""], "refusing to serve on 0.0.0.0"),
        (["codex-sidecar", "--sandbox", "yolo"], "sandbox 'yolo'"),
        (["codex-sidecar", "--concurrency", "0"], "max_concurrency >= 1"),
        (["codex-sidecar", "--codex-cmd", "codex 'unclosed"], "--codex-cmd"),
        (["codex-sidecar", "--max-body-bytes", "0"], "--max-body-bytes"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(args: list[str], said: str) -> None:
    done = CliRunner().invoke(app, ["serve", *args])
    assert done.exit_code == 2, done.output
    (line,) = done.output.splitlines()
    assert line.startswith("error: ") and said in line
