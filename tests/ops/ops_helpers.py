"""Helpers for the ops tests: ``scillm doctor``/``warmup`` in a subprocess, as a user runs them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterable
from typing import Any

from click.testing import Result

from scillm.ops.targets import SLOT_ENV

SCILLM = [sys.executable, "-m", "scillm"]
COMMAND_TIMEOUT_S = 180
NOWHERE = "http://127.0.0.1:9/v1"  # nothing listens on the discard port
OWN_VARIABLES = ("SCILLM_", "LITELLM_", "CODEX_", "STRICT_", "OPENAI_")


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without scillm's, the slots', Codex's and OpenAI's variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_VARIABLES)}
    return {**env, **extra}


def start(args: Iterable[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """``python -m scillm ARGS`` started, stdout and stderr piped."""
    return subprocess.Popen(
        [*SCILLM, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def run(args: Iterable[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m scillm ARGS`` to completion, output captured."""
    return subprocess.run(
        [*SCILLM, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    """Wait for a started command; its output as ``run`` gives it."""
    out, err = proc.communicate(timeout=COMMAND_TIMEOUT_S)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def checks_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A doctor report's checks by name."""
    return {check["name"]: check for check in report["checks"]}


def json_out(done: subprocess.CompletedProcess[str]) -> Any:
    """The one JSON value a ``--json`` run printed (all of stdout)."""
    assert done.stdout.count("\n") == 1, done.stdout
    return json.loads(done.stdout)


def invoke(args: list[str], env: dict[str, str]) -> Result:
    """``scillm ARGS`` in this process (for refusals that happen before any call), with the
    slot, strictness and OpenAI variables unset unless ``env`` sets them."""
    from typer.testing import CliRunner

    from scillm.cli import app

    unset: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith(OWN_VARIABLES)
    }
    unset.update({name: None for name in SLOT_ENV})
    return CliRunner().invoke(app, args, env={**unset, **env})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
