"""``scillm serve codeworld``: registered on a typer app, and serving the bridge for real."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import typer
from typer.testing import CliRunner

from scillm.codeworld.cli import register

# The feature hook as scillm.cli runs it, on apps of our own.
APP = """
import typer
from scillm.codeworld.cli import register
app, serve = typer.Typer(), typer.Typer()
app.add_typer(serve, name="serve")
register(app, serve)
app()
"""


def apps() -> typer.Typer:
    app, serve = typer.Typer(), typer.Typer()
    app.add_typer(serve, name="serve")
    register(app, serve)
    return app


def test_the_command_is_registered_with_its_options() -> None:
    result = CliRunner().invoke(apps(), ["serve", "codeworld", "--help"])
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--token",
        "--max-body-bytes",
        "--allowed-host",
        "--cors-origin",
        "--concurrency",
        "--max-workers",
        "--timeout",
        "--max-seconds",
        "--allow-rlimits-only",
    ):
        assert option in result.output
    assert "8887" in result.output


def scillm(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m scillm ARGS`` as a user runs it (it must end by itself)."""
    cmd = [sys.executable, "-m", "scillm", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_a_busy_port_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = scillm("serve", "codeworld", "--port", str(port))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert result.stderr.startswith("error: ") and f"port {port}" in result.stderr
    assert "--port" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--concurrency", "-1"], "concurrency"),
        (["--timeout", "0"], "max_seconds"),
        (["--max-body-bytes", "0"], "--max-body-bytes"),
        (["--host", "0.0.0.0", "--token", ""], "without a token"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    result = scillm("serve", "codeworld", "--port", "0", *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert says in result.stderr and "Traceback" not in result.stderr


@pytest.mark.usefixtures("isolated")
def test_it_serves_the_bridge_until_stopped() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-c", APP, "serve", "codeworld", "--port", str(port)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
                    health = json.loads(r.read())
                    break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "the bridge did not come up"
                time.sleep(0.1)
        assert health["ok"] is True and health["service"] == "codeworld"
        assert health["auth"] is False  # loopback, no token configured
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()
