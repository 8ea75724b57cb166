"""Run a prover process with a deadline, and find and identify the prover executables.

Each run gets its own process group so a timeout kills the prover and anything it started;
output is capped so one chatty item cannot exhaust memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Ran", "Toolchain", "find_toolchain", "run"]

OUTPUT_LIMIT = 1 << 20
READ_CHUNK = 1 << 16
VERSION_TIMEOUT_S = 20.0
# After the prover exits (or is killed), its pipes close at once; this only guards against a
# grandchild that left the process group and still holds them.
DRAIN_GRACE_S = 2.0
_VERSION = re.compile(r"version (\d+(?:\.\d+)+(?:-[\w.]+)?)")


@dataclass(frozen=True)
class Ran:
    """What a process printed; ``timed_out`` means it was killed at the deadline."""

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool


@dataclass(frozen=True)
class Toolchain:
    """A prover executable: where it is and its version, or why it cannot be used."""

    backend: str
    path: str | None
    version: str | None
    problem: str | None

    @property
    def available(self) -> bool:
        return self.problem is None

    def to_dict(self) -> dict[str, object]:
        return {
            "available": self.available,
            "version": self.version,
            "path": self.path,
            "detail": self.problem,
        }


async def run(argv: Sequence[str], *, timeout_s: float, cwd: str | None = None) -> Ran:
    """Run ``argv`` in ``cwd``; kill its process group if it outlives ``timeout_s``."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    readers = asyncio.gather(_read_capped(proc.stdout), _read_capped(proc.stderr))
    timed_out = False
    try:
        await asyncio.wait_for(proc.wait(), max(timeout_s, 0.0))
    except TimeoutError:
        timed_out = True
    except BaseException:
        readers.cancel()
        raise
    finally:
        # Also runs when the caller is cancelled: never leave a prover behind.
        if proc.returncode is None:
            _kill_group(proc.pid)
            await proc.wait()
    try:
        stdout, stderr = await asyncio.wait_for(readers, DRAIN_GRACE_S)
    except TimeoutError:
        stdout, stderr = "", ""
    return Ran(None if timed_out else proc.returncode, stdout, stderr, timed_out)


async def _read_capped(stream: asyncio.StreamReader) -> str:
    """Read to EOF, keeping the first ``OUTPUT_LIMIT`` bytes (the rest is drained and dropped)."""
    kept = bytearray()
    while chunk := await stream.read(READ_CHUNK):
        kept += chunk[: OUTPUT_LIMIT - len(kept)]
    return kept.decode("utf-8", "replace")


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


async def find_toolchain(
    backend: str, configured: str | None, env_var: str, default: str, install_hint: str
) -> Toolchain:
    """Resolve a prover: argument → ``env_var`` → ``default`` on PATH, then ask its version.

    A prover that is missing or does not answer ``--version`` is unavailable, with a message
    that says how to install or configure it.
    """
    wanted = configured or os.environ.get(env_var) or default
    path = shutil.which(wanted)
    if path is None:
        problem = f"{wanted!r} not found; {install_hint} (or set {env_var})"
        return Toolchain(backend, None, None, problem)
    try:
        ran = await run([path, "--version"], timeout_s=VERSION_TIMEOUT_S)
    except OSError as exc:
        return Toolchain(backend, path, None, f"{path} could not be started: {exc}")
    found = _VERSION.search(ran.stdout + ran.stderr)
    if ran.returncode != 0 or found is None:
        return Toolchain(backend, path, None, f"{path} --version did not report a version")
    return Toolchain(backend, path, found.group(1), None)
