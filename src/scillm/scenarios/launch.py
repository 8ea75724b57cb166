"""Start the stack services a run needs and stop them after: :func:`launch` is the one door.

    stack = launch(["codeworld", "mock"], known={})   # returns once each answers (or is missing)
    stack.urls["codeworld"]                           # http://127.0.0.1:<free port>
    stack.missing.get("codex-sidecar")                # why it could not start (a missing tool)
    stack.stop()                                      # SIGTERM: the supervisor stops them all

The services run under ``scillm serve all NAME... --free-ports --json``, the same supervisor a
user starts (wiring, health checks, restarts, nothing left behind); its one ``ready`` line on
stdout says where each service is and what is missing. The Codex sidecar needs the mock server
(its Responses API) unless ``CODEX_SIDECAR_BASE_URL`` names another upstream.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Stack", "health_url", "launch"]

READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 15.0
DEPENDS = {"codex-sidecar": ("mock",)}
"""Services another one is wired to when it is started here."""


def health_url(name: str, base: str) -> str:
    """The URL that tells whether service ``name`` at ``base`` answers."""
    from scillm.service.catalog import service

    return base.rstrip("/") + service(name).health


@dataclass
class Stack:
    """Services started by :func:`launch`: their URLs, what could not start, and how to stop."""

    urls: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    logs: Path | None = None

    def stop(self) -> None:
        """Stop the supervisor (it stops every service); kill its group if it hangs."""
        proc, self.proc = self.proc, None
        if proc is not None:
            _signal(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                _signal(proc, signal.SIGKILL)
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
        if self.logs is not None:
            shutil.rmtree(self.logs, ignore_errors=True)
            self.logs = None


def launch(names: Sequence[str], known: Mapping[str, str]) -> Stack:
    """Start ``names`` (and what they are wired to, unless ``known`` has its URL) on free ports
    under ``scillm serve all``; return when the supervisor reports them ready."""
    wanted = list(dict.fromkeys(n for name in names for n in (*_deps(name, known), name)))
    logs = Path(tempfile.mkdtemp(prefix="scillm-scenarios-"))
    stack = Stack(logs=logs)
    with open(logs / "stack.log", "wb") as log:
        stack.proc = subprocess.Popen(
            [sys.executable, "-m", "scillm", "serve", "all", *wanted, "--free-ports", "--json"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
    try:
        _read_ready(stack)
    except BaseException:
        stack.stop()
        raise
    return stack


def _deps(name: str, known: Mapping[str, str]) -> tuple[str, ...]:
    if name == "codex-sidecar" and os.environ.get("CODEX_SIDECAR_BASE_URL"):
        return ()
    return tuple(d for d in DEPENDS.get(name, ()) if d not in known)


def _read_ready(stack: Stack) -> None:
    assert stack.proc is not None and stack.proc.stdout is not None
    timer = _Alarm(READY_TIMEOUT_S, stack.proc)
    with timer:
        line = stack.proc.stdout.readline()
    if not line:
        code = stack.proc.wait()
        why = "was stopped: no ready line in time" if timer.fired else f"exited with {code}"
        raise RuntimeError(f"scillm serve all {why}: {_last_lines(stack)}")
    ready: dict[str, Any] = json.loads(line)
    for row in ready["services"]:
        name, status = row["name"], row["status"]
        if status == "up":
            stack.urls[name] = row["url"]
        elif status == "skipped":
            stack.missing[name] = "; ".join(row["missing"]) or "skipped by scillm serve all"
        else:
            why = "; ".join(row["missing"]) or "see the log above"
            stack.failed[name] = f"scillm serve {name} is {status}: {why}"


class _Alarm:
    """Kill ``proc``'s group after ``seconds`` unless the block finished first."""

    def __init__(self, seconds: float, proc: subprocess.Popen[bytes]) -> None:
        import threading

        self.fired = False
        self._proc = proc
        self._timer = threading.Timer(seconds, self._fire)

    def _fire(self) -> None:
        self.fired = True
        _signal(self._proc, signal.SIGTERM)

    def __enter__(self) -> _Alarm:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


def _last_lines(stack: Stack) -> str:
    if stack.logs is None:
        return "(no log)"
    text = (stack.logs / "stack.log").read_text("utf-8", "replace").strip()
    return " | ".join(text.splitlines()[-5:]) or "(no output)"


def _signal(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
