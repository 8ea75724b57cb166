"""Find and identify the prover executables with trusted probes (``--version``) on the host.

A probe gets a deadline and its own process group, and its output is capped. Items are never
run here; they run in the sandbox (:mod:`scillm.certainly.isolation`). A successful probe is
cached per executable file (path, inode, size, mtime), so a batch does not pay for it again.
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

from scillm._config import setting

__all__ = ["Ran", "Toolchain", "ask", "find_toolchain", "install_prefix", "run"]

OUTPUT_LIMIT = 1 << 20
READ_CHUNK = 1 << 16
PROBE_TIMEOUT_S = 20.0
# After the probe exits (or is killed), its pipes close at once; this only guards against a
# grandchild that left the process group and still holds them.
DRAIN_GRACE_S = 2.0
_VERSION = re.compile(r"version (\d+(?:\.\d+)+(?:-[\w.]+)?)")
_probes: dict[tuple[object, ...], Ran] = {}


@dataclass(frozen=True)
class Ran:
    """What a process printed; ``timed_out`` means it was killed at the deadline.

    ``problem`` says why a run ended without a prover verdict (memory or output limit, or the
    sandbox could not be built).
    """

    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    problem: str | None = None


@dataclass(frozen=True)
class Toolchain:
    """A prover executable: where it is and its version, or why it cannot be used.

    ``binds`` are the host paths the sandboxed prover must see (read-only): its install tree,
    library paths, configuration; ``env`` the environment it needs, since the sandbox passes on
    nothing else.
    """

    backend: str
    path: str | None
    version: str | None
    problem: str | None
    binds: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

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


async def run(argv: Sequence[str], *, timeout_s: float) -> Ran:
    """Run ``argv``; kill its process group if it outlives ``timeout_s``."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
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
        # Also runs when the caller is cancelled: never leave a process behind.
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


async def ask(path: str, *args: str) -> Ran:
    """Run the trusted probe ``path args``; a successful answer is cached per executable."""
    try:
        info = os.stat(path)
    except OSError:
        return await run([path, *args], timeout_s=PROBE_TIMEOUT_S)
    key = (path, info.st_ino, info.st_size, info.st_mtime_ns, args)
    if key not in _probes:
        ran = await run([path, *args], timeout_s=PROBE_TIMEOUT_S)
        if ran.returncode != 0:
            return ran
        _probes[key] = ran
    return _probes[key]


async def find_toolchain(
    backend: str, configured: str | None, env_var: str, default: str, install_hint: str
) -> Toolchain:
    """Resolve a prover: argument → ``env_var`` → ``default`` on PATH, then ask its version.

    A prover that is missing or does not answer ``--version`` is unavailable, with a message
    that says how to install or configure it.
    """
    wanted = setting(configured, default, str, env_var)
    path = shutil.which(wanted)
    if path is None:
        problem = f"{wanted!r} not found; {install_hint} (or set {env_var})"
        return Toolchain(backend, None, None, problem)
    try:
        ran = await ask(path, "--version")
    except OSError as exc:
        return Toolchain(backend, path, None, f"{path} could not be started: {exc}")
    found = _VERSION.search(ran.stdout + ran.stderr)
    if ran.returncode != 0 or found is None:
        return Toolchain(backend, path, None, f"{path} --version did not report a version")
    return Toolchain(backend, path, found.group(1), None)


def install_prefix(executable: str) -> str:
    """``/opt/tool/bin/tool`` → ``/opt/tool``: the tree that also holds the tool's libraries."""
    return os.path.dirname(os.path.dirname(os.path.realpath(executable)))
