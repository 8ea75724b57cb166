"""A long-lived prover process in the sandbox: what :class:`~scillm.certainly.coqtop.CoqTop` and
:class:`~scillm.certainly.lean_repl.LeanRepl` share.

The process runs as a fresh prover run does (:mod:`scillm.sandbox`: bubblewrap + seccomp +
rlimits, a fresh uid, a private work dir, only the toolchain's trees visible read-only, an
environment of its own), in its own process group, with pipes for stdin, stdout and stderr.
One of stdout/stderr carries the protocol; the other is read and dropped, so a chatty process
never blocks on a full pipe. :meth:`WarmProcess.close` kills the whole group and deletes the
work dir.

:class:`WarmPool` keeps idle processes for one batch, keyed by what they have loaded, and lends
one to one item at a time: a process is recycled after ``recycle_after`` items, after any
anomaly (it is closed or ``broken``), after a timeout, and when the item holding it was
cancelled; at most ``max_idle`` wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Generic, Literal, TypeVar

from scillm.certainly.process import OUTPUT_LIMIT, Toolchain
from scillm.sandbox.bwrap import WORKDIR, pick_uid, sandbox_argv
from scillm.sandbox.languages import this_python
from scillm.sandbox.limits import Limits
from scillm.sandbox.seccomp import filter_fd
from scillm.sandbox.stage import Plan, plan_isolation
from scillm.sandbox.waiter import spec_fd, waiter_argv
from scillm.sandbox.workdir import workdir

__all__ = ["CPU_BUDGET_S", "RECYCLE_AFTER", "SANDBOX_PATH", "WarmPool", "WarmProcess"]

SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
# A long-lived process: its CPU limit covers every run it makes before it is recycled.
CPU_BUDGET_S = 3600.0
RECYCLE_AFTER = 50


class WarmProcess:
    """One sandboxed long-lived process: :meth:`_spawn` starts it, :meth:`close` ends it."""

    def __init__(self) -> None:
        self.runs = 0  # items run so far
        self.broken = False  # a run answered as a fresh run would not: closed, run fresh
        self.path = Path()  # the work dir (the sandbox's WORKDIR)
        self._uid: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._stack = contextlib.ExitStack()
        self._drain: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int:
        """The process id of the sandbox (its process group holds the prover)."""
        assert self._proc is not None
        return self._proc.pid

    @property
    def alive(self) -> bool:
        """Whether the process is still running."""
        return self._proc is not None and self._proc.returncode is None

    async def close(self) -> None:
        """Kill the process (its whole sandbox) and delete its work dir."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        if self._drain is not None:
            self._drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drain
            self._drain = None
        self._stack.close()

    async def _spawn(
        self,
        toolchain: Toolchain,
        args: Sequence[str],
        memory_mb: int,
        files: Mapping[str, bytes],
        discard: Literal["stdout", "stderr"],
    ) -> None:
        """Start ``toolchain`` with ``args`` in a new work dir holding ``files``; the
        ``discard`` stream is read and dropped."""
        assert toolchain.path is not None
        isolated = await asyncio.to_thread(plan_isolation, True)
        assert isinstance(isolated, Plan)  # accepting rlimits-only, there is always a plan
        self._uid = pick_uid() if isolated.bwrap else None
        self.path = Path(self._stack.enter_context(workdir(dict(files), owner=self._uid)))
        python = this_python()
        home = WORKDIR if isolated.bwrap else str(self.path)
        env = {"PATH": SANDBOX_PATH, "HOME": home, "LANG": "C.UTF-8", **dict(toolchain.env)}
        limits = Limits(CPU_BUDGET_S, CPU_BUDGET_S, memory_mb, OUTPUT_LIMIT)
        spec = spec_fd([toolchain.path, *args], env, limits.rlimits(), self._uid)
        report_read, report_write = os.pipe()
        passed = [spec, report_write]
        self._stack.callback(os.close, report_read)
        command = waiter_argv(python.executable, spec, report_write)
        if isolated.bwrap is not None:
            status_read, status_write = os.pipe()
            self._stack.callback(os.close, status_read)
            seccomp = filter_fd()
            passed += [status_write, seccomp]
            command = sandbox_argv(
                isolated.bwrap,
                command,
                workdir=str(self.path),
                read_only=(*toolchain.binds, *python.prefixes),
                status_fd=status_write,
                seccomp_fd=seccomp,
                as_root=self._uid is not None,
            )
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=passed,
                start_new_session=True,
                env={},
                cwd=None if isolated.bwrap else str(self.path),
                limit=OUTPUT_LIMIT,
            )
        finally:
            for fd in passed:
                os.close(fd)
        stream = self._proc.stdout if discard == "stdout" else self._proc.stderr
        assert stream is not None
        self._drain = asyncio.create_task(_discard(stream))


P = TypeVar("P", bound=WarmProcess)


class WarmPool(Generic[P]):
    """Idle warm processes of one batch, keyed by what they have loaded; :meth:`_lease` lends
    one, :meth:`aclose` ends all."""

    def __init__(self, *, recycle_after: int, max_idle: int) -> None:
        if recycle_after < 1 or max_idle < 0:
            raise ValueError("recycle_after must be at least 1 and max_idle at least 0")
        self._recycle_after = recycle_after
        self._max_idle = max_idle
        self._idle: list[tuple[Hashable, P]] = []
        self.started = 0  # processes started so far (for tests and the bench)
        self.dropped = 0  # processes closed because a run could not be trusted (``broken``)

    @property
    def idle(self) -> tuple[P, ...]:
        """The processes waiting for an item, oldest first."""
        return tuple(process for _, process in self._idle)

    @asynccontextmanager
    async def _lease(
        self, key: Hashable, start: Callable[[], Awaitable[P | None]]
    ) -> AsyncIterator[P | None]:
        """An idle process with ``key``, else a new one from ``start`` (None: it did not start)."""
        for dead in [entry for entry in self._idle if not entry[1].alive]:
            self._idle.remove(dead)
            await dead[1].close()
        found = next((entry for entry in self._idle if entry[0] == key), None)
        if found is not None:
            self._idle.remove(found)
            process: P | None = found[1]
        else:
            process = await start()
            self.started += process is not None
        try:
            yield process
        except BaseException:
            if process is not None:
                await process.close()
            raise
        if process is not None:
            await self._give_back(key, process)

    async def _give_back(self, key: Hashable, process: P) -> None:
        self.dropped += process.broken
        if not process.alive or process.runs >= self._recycle_after:
            await process.close()
            return
        self._idle.append((key, process))
        while len(self._idle) > self._max_idle:
            await self._idle.pop(0)[1].close()

    async def aclose(self) -> None:
        """Close every idle process (leased ones close when given back after this)."""
        self._max_idle = 0
        idle, self._idle = self._idle, []
        for _, process in idle:
            await process.close()


async def _discard(stream: asyncio.StreamReader) -> None:
    """Read and drop a stream the protocol does not use."""
    while await stream.read(1 << 16):
        pass
