"""Start the stack services a run needs and stop them after: :func:`launch` is the one door.

    stack = launch(["codeworld", "mock"], known={})   # returns once each answers (or is missing)
    stack.urls["codeworld"]                           # http://127.0.0.1:<free port>
    stack.missing.get("codex-sidecar")                # why it could not start (a missing tool)
    stack.stop()                                      # SIGTERM, then SIGKILL; nothing left behind

Each service is ``python -m scillm serve NAME --port P`` (the mock: ``mock-server``) in its own
process group on a free port, its stderr kept in a log for the error message. The Codex sidecar
runs the Codex CLI found on this machine against the stack's mock server (its Responses API)
unless ``CODEX_SIDECAR_BASE_URL`` names another upstream.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scillm.scenarios.http import Unreachable, request

__all__ = ["HEALTH", "Stack", "codex_cli", "health_url", "launch"]

READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0
HEALTH = {"mock": "/health"}
"""Health paths that differ from the catalog's ``/healthz``."""
DEPENDS = {"codex-sidecar": ("mock",)}
"""Services another one is wired to when it is started here."""
CODEX_INSTALL = "npm install -g @openai/codex (or set CODEX_CMD to the CLI)"


def health_url(name: str, base: str) -> str:
    """The URL that tells whether service ``name`` at ``base`` answers."""
    from scillm.service.catalog import service

    return base.rstrip("/") + HEALTH.get(name, service(name).health)


def codex_cli() -> str | None:
    """The Codex CLI: ``CODEX_CMD`` (when it names a program), ``codex`` on PATH, or a
    project-local ``.codex-cli``."""
    given = os.environ.get("CODEX_CMD")
    if given:
        words = shlex.split(given)
        return given if words and shutil.which(words[0]) else None
    found = shutil.which("codex")
    if found:
        return found
    local = Path.cwd() / ".codex-cli" / "node_modules" / ".bin" / "codex"
    return str(local) if local.exists() else None


@dataclass
class Stack:
    """Services started by :func:`launch`: their URLs, what could not start, and how to stop."""

    urls: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: Path | None = None

    def stop(self) -> None:
        """SIGTERM every started process group; SIGKILL what is left after a grace period."""
        for proc in self.procs.values():
            _signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL)
                proc.wait()
            _signal(proc, signal.SIGKILL)  # the group's leftovers (CLI runs, sandboxes)
        self.procs.clear()
        if self.logs is not None:
            shutil.rmtree(self.logs, ignore_errors=True)
            self.logs = None


def launch(names: Sequence[str], known: Mapping[str, str]) -> Stack:
    """Start ``names`` (and what they are wired to, unless ``known`` has its URL) on free ports;
    return when every one answers its health URL, has exited, or could not start."""
    wanted = list(dict.fromkeys(n for name in names for n in (*_deps(name, known), name)))
    logs = Path(tempfile.mkdtemp(prefix="scillm-scenarios-"))
    stack = Stack(logs=logs)
    urls = dict(known)
    for name in wanted:
        problem = _missing(name)
        if problem:
            stack.missing[name] = problem
            continue
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - the child owns it
        with log:
            stack.procs[name] = subprocess.Popen(
                _command(name, port, urls),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        stack.urls[name] = urls[name] = url
    try:
        _wait(stack)
    except BaseException:
        stack.stop()
        raise
    return stack


def _deps(name: str, known: Mapping[str, str]) -> tuple[str, ...]:
    if name == "codex-sidecar" and os.environ.get("CODEX_SIDECAR_BASE_URL"):
        return ()
    return tuple(d for d in DEPENDS.get(name, ()) if d not in known)


def _missing(name: str) -> str | None:
    """What keeps ``name`` from starting here, in words a user can act on."""
    if name != "mock" and any(importlib.util.find_spec(m) is None for m in ("fastapi", "uvicorn")):
        return f"scillm serve {name} needs the 'serve' extra: pip install 'scillm[serve]'"
    if name == "codex-sidecar" and codex_cli() is None:
        given = os.environ.get("CODEX_CMD")
        found = f" (CODEX_CMD={given!r} is not a program here)" if given else ""
        return f"the Codex CLI is not installed{found}: {CODEX_INSTALL}"
    return None


def _command(name: str, port: int, urls: Mapping[str, str]) -> list[str]:
    scillm = [sys.executable, "-m", "scillm"]
    if name == "mock":
        return [*scillm, "mock-server", "--port", str(port)]
    command = [*scillm, "serve", name, "--port", str(port)]
    if name == "codex-sidecar":
        command += ["--codex-cmd", str(codex_cli())]
        if not os.environ.get("CODEX_SIDECAR_BASE_URL"):
            command += ["--base-url", urls["mock"].rstrip("/") + "/v1"]
    return command


def _wait(stack: Stack) -> None:
    pending = dict(stack.procs)
    deadline = time.monotonic() + READY_TIMEOUT_S
    while pending:
        for name, proc in list(pending.items()):
            if proc.poll() is not None:
                stack.failed[name] = _exit_message(stack, name, proc.returncode)
                del pending[name]
                continue
            with contextlib.suppress(Unreachable):
                request(health_url(name, stack.urls[name]), timeout=30)
                del pending[name]
        if pending and time.monotonic() > deadline:
            for name in pending:
                stack.failed[name] = f"scillm serve {name} did not answer in {READY_TIMEOUT_S:g} s"
            return
        if pending:
            time.sleep(0.2)


def _exit_message(stack: Stack, name: str, code: int) -> str:
    assert stack.logs is not None
    lines = (stack.logs / f"{name}.log").read_text("utf-8", "replace").strip().splitlines()
    last = lines[-1] if lines else "(no output)"
    return f"scillm serve {name} exited with status {code}: {last}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
