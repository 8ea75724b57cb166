"""The ``scillm`` command line, run as a user runs it: in a subprocess."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import scillm

SCILLM = [sys.executable, "-m", "scillm"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_help_lists_the_commands() -> None:
    out = subprocess.run([*SCILLM, "--help"], capture_output=True, text=True, check=True).stdout
    assert "demo" in out and "mock-server" in out


def test_mock_server_command_serves_until_stopped() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [*SCILLM, "mock-server", "--port", str(port), "--reply", "pong"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "mock server did not start"
                time.sleep(0.1)
        resp = scillm.completion(
            "openai/m",
            [{"role": "user", "content": "ping"}],
            api_base=f"http://127.0.0.1:{port}/v1",
        )
        assert resp.choices[0].message.content == "pong"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()
