"""Run one process: feed its stdin, cap its output, enforce the wall clock, reap it with wait4."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Completed", "drain", "execute"]

READ_CHUNK = 1 << 16
# After the main process exits, others still holding its pipes get this long before we stop
# reading: a sandbox's dying pid namespace, or (rlimits-only) a daemonised descendant.
LINGER_S = 0.25


@dataclass(frozen=True)
class Completed:
    """What one process did, before any interpretation. ``signal`` is set when it was killed."""

    exit_code: int | None
    signal: int | None
    stdout: bytes
    stderr: bytes
    truncated: bool
    timed_out: bool
    output_exceeded: bool
    wall_ms: float
    cpu_ms: float
    max_rss_kb: int
    disk_kb: int | None = None  # what the run left in its tmpfs work dir and /tmp


@dataclass
class _Streams:
    """Output collected so far, and why collection stopped."""

    stdout: bytearray
    stderr: bytearray
    timed_out: bool = False
    exceeded: bool = False


def execute(
    argv: Sequence[str],
    *,
    stdin: bytes,
    timeout_s: float,
    output_limit: int,
    env: Mapping[str, str],
    cwd: str | None = None,
    pass_fds: Sequence[int] = (),
) -> Completed:
    """Run ``argv`` in its own process group; kill the group on timeout or too much output.

    CPU time and peak RSS come from ``wait4`` on the child: they include the descendants it
    reaped and, as Linux carries peak RSS across ``exec``, this process's own peak RSS.
    """
    started = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        cwd=cwd,
        pass_fds=tuple(pass_fds),
        start_new_session=True,
    )
    try:
        streams = _pump(proc, stdin, output_limit, deadline=started + timeout_s)
    finally:
        # Also reaps descendants left in the group; the zombie keeps the group id alive until wait4.
        _kill_group(proc.pid)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    wall_ms = (time.monotonic() - started) * 1000
    code = proc.returncode
    return Completed(
        exit_code=code if code >= 0 else None,
        signal=-code if code < 0 else None,
        stdout=bytes(streams.stdout[:output_limit]),
        stderr=bytes(streams.stderr[:output_limit]),
        truncated=max(len(streams.stdout), len(streams.stderr)) > output_limit,
        timed_out=streams.timed_out,
        output_exceeded=streams.exceeded,
        wall_ms=wall_ms,
        cpu_ms=(usage.ru_utime + usage.ru_stime) * 1000,
        max_rss_kb=usage.ru_maxrss,
    )


def _pump(proc: subprocess.Popen[bytes], stdin: bytes, limit: int, *, deadline: float) -> _Streams:
    """Move bytes until the outputs close, the deadline passes or an output exceeds ``limit``."""
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    streams = _Streams(bytearray(), bytearray())
    buffers = {proc.stdout.fileno(): streams.stdout, proc.stderr.fileno(): streams.stderr}
    in_fd = proc.stdin.fileno()
    pending = memoryview(stdin)
    pidfd = os.pidfd_open(proc.pid)
    exited_at: float | None = None
    with selectors.DefaultSelector() as selector:
        for fd in buffers:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        selector.register(pidfd, selectors.EVENT_READ)
        if pending:
            os.set_blocking(in_fd, False)
            selector.register(in_fd, selectors.EVENT_WRITE)
        else:
            proc.stdin.close()
        try:
            while any(fd in selector.get_map() for fd in buffers):
                now = time.monotonic()
                if now >= deadline:
                    streams.timed_out = True
                    break
                wait = deadline - now
                if exited_at is not None:
                    if now - exited_at >= LINGER_S:
                        break
                    wait = min(wait, exited_at + LINGER_S - now)
                for key, _ in selector.select(wait):
                    if key.fd == pidfd:
                        exited_at = now
                        selector.unregister(pidfd)
                    elif key.fd == in_fd:
                        pending = _feed(in_fd, pending)
                        if not pending:
                            selector.unregister(in_fd)
                            proc.stdin.close()
                    elif not _read_into(key.fd, buffers[key.fd]):
                        selector.unregister(key.fd)
                    if any(len(buffer) > limit for buffer in buffers.values()):
                        streams.exceeded = True
                        return streams
        finally:
            os.close(pidfd)
    # Whatever is still buffered in the pipes belongs to the result (bounded by ``limit``).
    for fd, buffer in buffers.items():
        while len(buffer) <= limit and _read_into(fd, buffer, drain=True):
            pass
    streams.exceeded = streams.exceeded or any(len(b) > limit for b in buffers.values())
    return streams


def drain(fd: int) -> bytes:
    """Everything readable now from a non-blocking pipe (b"" if nothing was written)."""
    buffer = bytearray()
    while _read_into(fd, buffer, drain=True):
        pass
    return bytes(buffer)


def _feed(fd: int, pending: memoryview) -> memoryview:
    """Write what the pipe takes now; a reader that went away gets nothing more."""
    try:
        return pending[os.write(fd, pending[:READ_CHUNK]) :]
    except BlockingIOError:
        return pending
    except BrokenPipeError:
        return pending[:0]


def _read_into(fd: int, buffer: bytearray, *, drain: bool = False) -> bool:
    """Append one chunk; False at end of file (or, when draining, when nothing is ready)."""
    try:
        chunk = os.read(fd, READ_CHUNK)
    except BlockingIOError:
        return not drain
    except OSError:
        return False
    buffer += chunk
    return bool(chunk)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
