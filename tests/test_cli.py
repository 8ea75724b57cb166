"""The ``scillm`` command line, run as a user runs it: in a subprocess."""

from __future__ import annotations

import os
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
    assert "demo" in out and "mock-server" in out and "--debug" in out


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


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SCILLM, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_a_bad_option_is_one_line_and_exit_2() -> None:
    for args in (["serve", "mock", "--bogus"], ["demo", "--model"], ["nope"]):
        done = _run(*args)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (args, lines)
        assert "--help" in lines[0]  # where to look next


def test_a_failure_is_one_line_and_exit_1_and_debug_shows_the_traceback() -> None:
    dead = f"http://127.0.0.1:{_free_port()}/v1"
    done = _run("demo", "--model", "openai/x", OPENAI_API_KEY="k", OPENAI_BASE_URL=dead)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: could not talk to openai"), lines
    debug = _run("demo", "--model", "openai/x", "--debug", OPENAI_API_KEY="k", OPENAI_BASE_URL=dead)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.splitlines()[-1] == lines[0]


def test_no_arguments_prints_the_help() -> None:
    done = _run()
    assert done.returncode == 2 and "serve" in done.stdout and done.stderr == ""


def test_serve_mock_on_a_busy_port_is_one_line_and_exit_2() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        for command in (["serve", "mock"], ["mock-server"]):
            done = _run(*command, "--port", str(port))
            assert done.returncode == 2
            assert done.stderr.splitlines() == [
                f"error: port {port} on 127.0.0.1 is already in use: stop what listens there "
                f"(ss -ltnp 'sport = :{port}') or choose another with --port"
            ]
