"""Run prover processes in scillm's sandbox, in a private work dir per item.

Every prover process (compile, audit) is one ``scillm.sandbox`` stage: bubblewrap namespaces
(no network, a fresh root showing ``/usr`` and the prover's ``binds`` read-only, the work dir
writable at ``/sandbox``, nothing else of the host), rlimits, a fresh uid for a root caller, and
a kill at the deadline. Where bubblewrap cannot isolate, the stage runs on the host under the
same rlimits ("rlimits-only"); :mod:`scillm.certainly.screen` is then the only barrier, and
``available_backends()`` says so.

The stages run on a dedicated thread pool (the sandbox API is blocking), so hung provers never
starve the event loop's default executor, which aiohttp uses for DNS.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from scillm.certainly.process import OUTPUT_LIMIT, Ran, Toolchain
from scillm.sandbox.bwrap import pick_uid
from scillm.sandbox.languages import Toolchain as SandboxToolchain
from scillm.sandbox.limits import Limits
from scillm.sandbox.result import SandboxResult
from scillm.sandbox.stage import Plan, plan_isolation, run_stage
from scillm.sandbox.workdir import workdir

__all__ = ["WorkDir", "isolation", "read_private", "work_dir"]

PROVER_THREADS = 64  # an upper bound only: callers' worker gates decide how many run at once
_T = TypeVar("_T")
_pool: ThreadPoolExecutor | None = None


async def _in_pool(function: Callable[..., _T], *args: object) -> _T:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(PROVER_THREADS, thread_name_prefix="scillm-prover")
    return await asyncio.get_running_loop().run_in_executor(_pool, function, *args)


async def _plan() -> Plan:
    plan = await _in_pool(plan_isolation, True)
    assert isinstance(plan, Plan)  # accepting rlimits-only, there is always a plan
    return plan


async def isolation() -> str:
    """What protects the host from a prover here: ``bwrap+rlimits`` or ``rlimits-only``."""
    return (await _plan()).isolation


class WorkDir:
    """One item's private work dir; :meth:`run` starts a sandboxed prover process in it.

    ``path`` is the directory on the host; the process sees it as its working directory.
    """

    def __init__(
        self, path: Path, plan: Plan, uid: int | None, toolchain: Toolchain, memory_mb: int
    ) -> None:
        assert toolchain.path is not None
        self.path = path
        self._plan = plan
        self._uid = uid
        self._tool = SandboxToolchain(toolchain.path, toolchain.binds)
        self._env = dict(toolchain.env)
        self._memory_mb = memory_mb

    async def run(self, args: Sequence[str], timeout_s: float) -> Ran:
        """Run the prover with ``args``; killed (``timed_out``) when ``timeout_s`` runs out."""
        if timeout_s <= 0:
            return Ran(None, "", "", True)
        limits = Limits(
            timeout_s=timeout_s,
            cpu_s=timeout_s,
            memory_mb=self._memory_mb,
            output_bytes=OUTPUT_LIMIT,
        )
        argv = [self._tool.executable, *args]
        result = await _in_pool(
            run_stage,
            self._plan,
            self._uid,
            self._tool,
            str(self.path),
            argv,
            b"",
            limits,
            self._env,
        )
        return _ran(result)

    def write(self, name: str, text: str) -> None:
        """Add a file for the prover; never follows anything a previous run left at ``name``."""
        path = self.path / name
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        if self._uid is not None:
            os.chown(path, self._uid, self._uid)


@asynccontextmanager
async def work_dir(
    toolchain: Toolchain, files: Mapping[str, str], memory_mb: int
) -> AsyncIterator[WorkDir]:
    """A fresh work dir holding ``files`` (relative paths), deleted afterwards."""
    plan = await _plan()
    uid = pick_uid() if plan.bwrap else None
    encoded = {name: text.encode() for name, text in files.items()}
    with workdir(encoded, owner=uid) as path:
        yield WorkDir(Path(path), plan, uid, toolchain, memory_mb)


def read_private(path: Path) -> str | None:
    """A file the prover wrote (None if absent), never following a link it may have planted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:  # absent, or a link
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read(OUTPUT_LIMIT).decode("utf-8", "replace")


def _ran(result: SandboxResult) -> Ran:
    if result.status == "timeout":
        return Ran(None, result.stdout, result.stderr, True)
    if result.status in ("ok", "runtime_error"):
        code = result.exit_code if result.exit_code is not None else -(result.signal or 1)
        return Ran(code, result.stdout, result.stderr, False)
    problem = f"the prover did not finish: {result.message or result.status}"
    return Ran(None, result.stdout, result.stderr, False, problem)
