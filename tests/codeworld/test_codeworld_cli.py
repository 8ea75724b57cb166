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
    for option in ("--host", "--port", "--concurrency", "--allow-rlimits-only"):
        assert option in result.output
    assert "8887" in result.output


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
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr:
            proc.stderr.close()
