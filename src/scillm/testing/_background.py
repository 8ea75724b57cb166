"""Serve an aiohttp app on its own event loop in a daemon thread.

Running the server off the caller's loop lets sync code in the test thread, and clients on any
other event loop, call it; sync and async callers start and stop it the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import partial

from aiohttp import web

SHUTDOWN_TIMEOUT_S = 0.5
"""How long stop() lets in-flight requests (say, a long ``Fault.delay``) finish."""


@dataclass
class _Run:
    """The state of one start…stop cycle."""

    ready: Future[int] = field(default_factory=Future)
    stopped: Future[None] = field(default_factory=Future)
    stop_requested: threading.Event = field(default_factory=threading.Event)
    wake: Callable[[], object] | None = None
    thread: threading.Thread | None = None


class BackgroundServer:
    """Runs ``make_app()`` on ``host:port`` (0 = a free port), or on the listening ``sock``,
    in a daemon thread."""

    def __init__(
        self,
        make_app: Callable[[], web.Application],
        host: str,
        port: int,
        sock: socket.socket | None = None,
    ) -> None:
        self._make_app, self._host, self._wanted_port = make_app, host, port
        self._sock = sock
        self.port: int | None = None
        self._run: _Run | None = None

    def start(self) -> None:
        """Start and wait until the port is bound (raises what binding raised)."""
        run = self._launch()
        try:
            run.ready.result()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop and join the thread; a no-op when not running."""
        run = self._halt()
        if run is not None and run.thread is not None:
            run.thread.join()

    async def astart(self) -> None:
        """``start()`` without blocking the caller's event loop."""
        run = self._launch()
        try:
            await asyncio.wrap_future(run.ready)
        except BaseException:
            await self.astop()
            raise

    async def astop(self) -> None:
        """``stop()`` without blocking the caller's event loop."""
        run = self._halt()
        if run is not None and run.thread is not None:
            await asyncio.wrap_future(run.stopped)
            run.thread.join()

    def _launch(self) -> _Run:
        if self._run is not None:
            raise RuntimeError("MockLLMServer is already running")
        run = self._run = _Run()
        run.thread = threading.Thread(
            target=self._thread_main, args=(run,), name="scillm-mock-llm", daemon=True
        )
        run.thread.start()
        return run

    def _halt(self) -> _Run | None:
        run, self._run = self._run, None
        self.port = None
        if run is None:
            return None
        # Flag first, then wake: _serve publishes ``wake`` before it reads the flag, so a stop
        # that races a start is seen by at least one side.
        run.stop_requested.set()
        wake = run.wake
        if wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended on its own
                wake()
        return run

    def _thread_main(self, run: _Run) -> None:
        try:
            asyncio.run(self._serve(run))
        except BaseException as exc:
            if not run.ready.done():
                run.ready.set_exception(exc)
        finally:
            run.stopped.set_result(None)

    async def _serve(self, run: _Run) -> None:
        app = self._make_app()
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            if self._sock is not None:
                await web.SockSite(runner, self._sock).start()
            else:
                await web.TCPSite(runner, self._host, self._wanted_port).start()
            stop = asyncio.Event()
            run.wake = partial(asyncio.get_running_loop().call_soon_threadsafe, stop.set)
            if run.stop_requested.is_set():
                stop.set()
            self.port = int(runner.addresses[0][1])
            run.ready.set_result(self.port)
            await stop.wait()
        finally:
            await runner.cleanup()
