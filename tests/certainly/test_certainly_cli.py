"""``scillm serve certainly``: the command registers, documents itself, refuses bad settings in
one line (exit 2), and serves behind its token."""

from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
import typer
from typer.testing import CliRunner

from scillm.certainly.cli import register


def cli() -> typer.Typer:
    app = typer.Typer()
    serve = typer.Typer()
    app.add_typer(serve, name="serve")
    app.command("version")(lambda: None)  # a second command keeps "serve" a subcommand
    register(app, serve)
    return app


def scillm(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m scillm ARGS`` as a user runs it (it must end by itself)."""
    cmd = [sys.executable, "-m", "scillm", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_serve_certainly_is_registered_with_its_defaults() -> None:
    result = CliRunner().invoke(cli(), ["serve", "certainly", "--help"])
    assert result.exit_code == 0
    assert "127.0.0.1" in result.output and "8787" in result.output
    for option in (
        "--token",
        "--max-body-bytes",
        "--allowed-host",
        "--cors-origin",
        "--concurrency",
        "--max-workers",
        "--timeout",
        "--max-seconds",
        "--item-timeout",
        "--api-base",
        "--llm-api-base",
        "--api-key",
        "--allow-axiom",
    ):
        assert option in result.output, option


def test_a_busy_port_is_one_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = scillm("serve", "certainly", "--port", str(port))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""
    assert result.stderr.startswith("error: ") and f"port {port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--backend", "isabelle"], "unknown backend 'isabelle'"),
        (["--concurrency", "0"], "--concurrency"),
        (["--max-workers", "-3"], "--concurrency"),
        (["--timeout", "0"], "--timeout"),
        (["--item-timeout", "-1"], "--item-timeout"),
        (["--host", "0.0.0.0", "--token", ""], "without a token"),
    ],
)
def test_a_bad_option_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    result = scillm("serve", "certainly", "--port", "0", *args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert says in result.stderr and "Traceback" not in result.stderr


@pytest.mark.requires("coqc", apt="coq")
def test_it_announces_once_listening_and_serves_behind_its_token() -> None:
    cmd = [sys.executable, "-m", "scillm", "serve", "certainly", "--port", "0", "--token", "tk"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    try:
        ready, _, _ = select.select([proc.stderr], [], [], 60)
        assert ready, "the bridge announced nothing"
        line = proc.stderr.readline()
        assert line.startswith("scillm certainly on http://127.0.0.1:"), line
        url = line.split(" on ", 1)[1].split()[0]
        with urllib.request.urlopen(f"{url}/healthz", timeout=60) as resp:
            health = json.loads(resp.read())
        assert health["ok"] is True and health["auth"] is True and health["problem"] is None
        request = urllib.request.Request(
            f"{url}/bridge/complete",
            data=b'{"items": [{"code": "Theorem t : True. Proof. exact I. Qed."}]}',
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=60)
        assert refused.value.code == 401
        assert json.loads(refused.value.read())["error"]["type"] == "authentication_error"
        request.add_header("Authorization", "Bearer tk")
        with urllib.request.urlopen(request, timeout=60) as resp:
            assert json.loads(resp.read())["summary"]["proved"] == 1
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()
