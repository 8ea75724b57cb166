"""Run several ``scillm serve NAME`` processes as one stack: start, watch, restart, stop.

    with Supervisor(plan(StackFile(), ["mock", "agent"], free_ports=True)) as stack:
        stack.urls["agent"]                      # http://127.0.0.1:PORT, healthy
        stack.statuses()                         # name, url, status, missing, pid, restarts

The supervisor binds every port before it starts anything (a busy port is one
:class:`~scillm.service.run.PortBusy`, nothing started) and hands each child its listening
socket (``--fd``), so a port stays held across restarts; the embedded model, which binds its
own, is only checked. A child that exits is restarted after a backoff that doubles up to
:data:`BACKOFF_MAX_S`; one that exits with status 2 (bad options) or 77 (skipped) is not.

Nothing outlives the supervisor: each child leads its own process group (grandchildren such
as ``coqc`` or a sandbox are in it) and :meth:`Supervisor.stop` sends the group SIGTERM, then
SIGKILL after :data:`GRACE_S`. Should the supervisor itself be killed, each child notices its
end of a pipe closing (:func:`watch_supervisor`) and kills its whole group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from scillm.service.stack import ServicePlan, child_env

__all__ = ["BACKOFF_MAX_S", "GRACE_S", "ServiceStatus", "Supervisor", "watch_supervisor"]

Status = Literal["up", "starting", "restarting", "failed", "skipped", "stopped"]

WATCH_ENV = "SCILLM_SUPERVISOR_FD"
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0
STEADY_S = 60.0
"""A child up this long has its backoff reset."""
GRACE_S = 5.0
TICK_S = 0.1
HEALTH_TIMEOUT_S = 1.0
EXIT_USAGE, EXIT_SKIP = 2, 77
NEAR = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
"""Wildcard addresses and the loopback address that reaches a service bound to them."""


@dataclass(frozen=True)
class ServiceStatus:
    """One row of the stack's table (and of ``--json``'s ready line)."""

    name: str
    url: str
    status: Status
    missing: tuple[str, ...]
    pid: int | None
    restarts: int

    def as_json(self) -> dict[str, Any]:
        """The row as the ready line carries it."""
        return {
            "name": self.name,
            "url": self.url,
            "status": self.status,
            "missing": list(self.missing),
            "pid": self.pid,
            "restarts": self.restarts,
        }


class _Child:
    """A service's process and the supervisor's view of it."""

    def __init__(self, service: ServicePlan, sock: socket.socket | None, port: int) -> None:
        self.service, self.sock, self.port = service, sock, port
        self.url = _url(service.host, port) if port else ""  # "": skipped, no port chosen
        # How this machine reaches it (the stack's wiring, health checks): not via 0.0.0.0.
        self.near_url = _url(NEAR.get(service.host, service.host), port)
        self.env: dict[str, str] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.status: Status = "skipped" if service.missing else "starting"
        self.missing = service.missing
        self.restarts = 0
        self.backoff = BACKOFF_START_S
        self.restart_at = 0.0
        self.up_since = 0.0

    def row(self) -> ServiceStatus:
        pid = self.proc.pid if self.proc is not None and self.proc.poll() is None else None
        return ServiceStatus(
            self.service.name, self.url, self.status, self.missing, pid, self.restarts
        )


class Supervisor:
    """Starts the planned services as child processes and keeps them running until stopped."""

    def __init__(
        self,
        services: Sequence[ServicePlan],
        *,
        token: str | None = None,
        health_timeout: float = 60.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.services, self.token, self.health_timeout = list(services), token, health_timeout
        self._log = log or _stderr
        self._children: list[_Child] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None
        self._watch: tuple[int, int] | None = None
        import urllib.request  # only a running supervisor needs it

        self._http = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> list[ServiceStatus]:
        """Bind, start every service, wait up to ``health_timeout`` for their health checks,
        then keep watching in a thread; the statuses then. PortBusy: nothing was started."""
        if self._children:
            raise RuntimeError("this Supervisor was already started")
        self._children = self._bind()
        urls = {c.service.name: c.near_url for c in self._children if c.status != "skipped"}
        self._watch = os.pipe()
        for child in self._children:
            child.env = child_env(child.service, urls, self.token)
            if child.status == "starting":
                self._spawn(child)
        deadline = time.monotonic() + self.health_timeout
        while time.monotonic() < deadline and any(
            c.status in ("starting", "restarting") for c in self._children
        ):
            self._tick()
            time.sleep(TICK_S)
        self._monitor = threading.Thread(target=self._watch_loop, name="scillm-supervisor")
        self._monitor.daemon = True
        self._monitor.start()
        return self.statuses()

    def stop(self) -> None:
        """Stop every child and its process group (SIGTERM, then SIGKILL after GRACE_S)."""
        self._stopping.set()
        if self._monitor is not None:
            self._monitor.join()
        running = [c.proc for c in self._children if c.proc is not None]
        for proc in running:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_S
        # A second Ctrl-C cuts the grace short.
        with contextlib.suppress(subprocess.TimeoutExpired, KeyboardInterrupt):
            for proc in running:
                proc.wait(max(0.0, deadline - time.monotonic()))
        for child in self._children:
            if child.proc is not None:
                _signal_group(child.proc, signal.SIGKILL)  # grandchildren that stayed behind
                child.proc.wait()
            if child.status != "skipped":
                child.status = "stopped"
            if child.sock is not None:
                child.sock.close()
        if self._watch is not None:
            for fd in self._watch:
                os.close(fd)
            self._watch = None

    def __enter__(self) -> Supervisor:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state --------------------------------------------------------------------------------

    def statuses(self) -> list[ServiceStatus]:
        """One row per service, in start order."""
        with self._lock:
            return [c.row() for c in self._children]

    @property
    def urls(self) -> dict[str, str]:
        """``{name: "http://host:port"}`` of the services that were started."""
        return {c.service.name: c.url for c in self._children if c.status != "skipped"}

    def wait(self) -> None:
        """Block until :meth:`stop` (from another thread or a signal handler)."""
        while not self._stopping.wait(0.5):
            pass

    # -- internals ----------------------------------------------------------------------------

    def _bind(self) -> list[_Child]:
        """Every port, before any process starts; on a busy one, release all and raise."""
        from scillm.service.run import bind

        children: list[_Child] = []
        try:
            for service in self.services:
                if service.missing:
                    children.append(_Child(service, None, service.port))
                    continue
                sock = bind(service.host, service.port)
                port = int(sock.getsockname()[1])
                if service.binds_itself:  # checked (and chosen, for port 0), then let go
                    sock.close()
                    children.append(_Child(service, None, port))
                else:
                    children.append(_Child(service, sock, port))
        except BaseException:
            for child in children:
                if child.sock is not None:
                    child.sock.close()
            raise
        return children

    def _spawn(self, child: _Child) -> None:
        service = child.service
        assert self._watch is not None
        argv = [sys.executable, "-m", "scillm", "serve", service.name]
        argv += ["--host", service.host, "--port", str(child.port)]
        fds = [self._watch[0]]
        if child.sock is not None:
            argv += ["--fd", str(child.sock.fileno())]
            fds.append(child.sock.fileno())
        child.proc = subprocess.Popen(
            [*argv, *service.options],
            stdin=subprocess.DEVNULL,
            stdout=2,  # our stderr: stdout is the caller's (``--json``)
            env={**child.env, WATCH_ENV: str(self._watch[0])},
            pass_fds=fds,
            start_new_session=True,  # its own process group, and no Ctrl-C from the terminal
        )
        child.status = "starting"

    def _watch_loop(self) -> None:
        while not self._stopping.wait(TICK_S):
            self._tick()

    def _tick(self) -> None:
        now = time.monotonic()
        for child in self._children:
            proc = child.proc
            if child.status == "restarting" and now >= child.restart_at:
                child.restarts += 1
                self._spawn(child)
            elif proc is not None and child.status in ("starting", "up"):
                code = proc.poll()
                if code is not None:
                    self._exited(child, code, now)
                elif child.status == "starting" and self._healthy(child):
                    with self._lock:
                        child.status, child.up_since = "up", now
                    if child.restarts:
                        self._log(f"{child.service.name} is up again at {child.url}")
                elif child.status == "up" and now - child.up_since > STEADY_S:
                    child.backoff = BACKOFF_START_S

    def _exited(self, child: _Child, code: int, now: float) -> None:
        name, proc = child.service.name, child.proc
        assert proc is not None
        _signal_group(proc, signal.SIGKILL)  # what it started goes with it
        how = f"signal {-code}" if code < 0 else f"status {code}"
        with self._lock:
            if code == EXIT_USAGE:
                child.status = "failed"
                child.missing = ("valid options: it exited with status 2, see its error above",)
            elif code == EXIT_SKIP:
                child.status = "skipped"
                child.missing = ("what it reported above (it exited with status 77)",)
            else:
                child.status, child.restart_at = "restarting", now + child.backoff
        if child.status == "restarting":
            self._log(f"{name} exited ({how}); restarting in {child.backoff:g} s")
            child.backoff = min(child.backoff * 2, BACKOFF_MAX_S)
        else:
            self._log(f"{name} exited ({how}); not restarting it")

    def _healthy(self, child: _Child) -> bool:
        try:
            with self._http.open(child.near_url + child.service.health, timeout=HEALTH_TIMEOUT_S):
                return True
        except OSError:
            return False


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Signal ``proc``'s process group (it leads one), if anything is left in it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _stderr(line: str) -> None:
    print(f"scillm serve: {line}", file=sys.stderr, flush=True)


def watch_supervisor() -> None:
    """In a supervised child: kill this process group once the supervisor is gone.

    The supervisor holds the write end of a pipe whose read end the child inherits (its
    number in ``SCILLM_SUPERVISOR_FD``); reading returns end-of-file when the supervisor
    exits, however it exits. A no-op outside a supervised process.
    """
    raw = os.environ.pop(WATCH_ENV, None)
    if raw is None:
        return
    fd = int(raw)
    os.set_inheritable(fd, False)

    def wait() -> None:
        try:
            while os.read(fd, 1):
                pass
        except OSError:
            return
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)
        os._exit(1)

    threading.Thread(target=wait, name="scillm-supervised", daemon=True).start()
