"""One sandboxed process (a compile or a run): choose the isolation, build the chain, judge it."""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from scillm.sandbox.bwrap import (
    BWRAP_ENV,
    WORKDIR,
    Staged,
    await_teardown,
    command_started,
    find_bwrap,
    pick_uid,
    sandbox_argv,
)
from scillm.sandbox.languages import Toolchain, this_python
from scillm.sandbox.limits import Limits
from scillm.sandbox.process import Completed, drain, execute
from scillm.sandbox.result import ISOLATION_BWRAP, ISOLATION_RLIMITS, SandboxResult
from scillm.sandbox.seccomp import filter_fd, supported
from scillm.sandbox.verdict import verdict
from scillm.sandbox.waiter import spec_fd, waiter_argv, with_report
from scillm.sandbox.workdir import workdir

__all__ = ["UIDS_ENV", "Plan", "plan_isolation", "run_stage"]

SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
# Read by CodeWorld's in-sandbox harness (scillm.codeworld._supervise, which cannot import this).
UIDS_ENV = "SCILLM_SANDBOX_UIDS"  # a supervisor's first uid for its children
PRIVATE_TMP_ENV = "SCILLM_SANDBOX_PRIVATE_TMP"  # "1": /tmp is the sandbox's own tmpfs
PROBE_LIMITS = Limits(timeout_s=30, cpu_s=30, memory_mb=64, output_bytes=1 << 16)


@dataclass(frozen=True)
class Plan:
    """How runs are isolated: with ``bwrap``, or (``bwrap`` None, if accepted) rlimits only."""

    isolation: str
    bwrap: str | None = None


def plan_isolation(allow_rlimits_only: bool) -> Plan | str:
    """The isolation to use, or why there is none the caller accepts."""
    bwrap = find_bwrap()
    if bwrap is None:
        why = f"bubblewrap not found (install the 'bubblewrap' package, or fix ${BWRAP_ENV})"
    elif not supported():
        why = f"no seccomp filter for this machine's architecture ({os.uname().machine})"
    else:
        why = _probe(bwrap) or ""
        if not why:
            return Plan(ISOLATION_BWRAP, bwrap)
    if allow_rlimits_only:
        return Plan(ISOLATION_RLIMITS)
    return f"{why}; refusing to run code unisolated (allow_rlimits_only=True accepts rlimits alone)"


@functools.cache
def _probe(bwrap: str) -> str | None:
    """Why ``bwrap`` cannot run a trivial program here (None when it can); checked once."""
    uid = pick_uid()
    plan = Plan(ISOLATION_BWRAP, bwrap)
    with workdir({}, owner=uid) as path:
        result = run_stage(plan, uid, this_python(), path, ["/bin/true"], b"", PROBE_LIMITS, {})
    return None if result.ok else result.message


def run_stage(
    plan: Plan,
    uid: int | None,
    toolchain: Toolchain,
    path: str,
    program: Sequence[str],
    stdin: bytes,
    limits: Limits,
    env: Mapping[str, str],
    *,
    copy_in: bool = False,
    supervisor: bool = False,
) -> SandboxResult:
    """Run ``program`` in work dir ``path`` under ``plan`` and ``limits``, and judge it.

    ``uid`` is the unprivileged uid a root caller's program runs as (it owns ``path``). With
    ``copy_in`` (and bwrap) the program works on a copy of ``path`` in a tmpfs capped at
    ``limits.disk_mb``, so what it writes never reaches the host's disk; else ``path`` itself
    is its work dir (a prover's or compiler's output is read back from there). A
    ``supervisor`` program is trusted code (a test harness): for a root caller it keeps the
    waiter's uid and CAP_SETUID/CAP_SETGID, and ``$SCILLM_SANDBOX_UIDS`` names the first of
    the fresh uids it runs untrusted children as (``uid + 1`` on).
    """
    if supervisor and uid is not None:
        env = {**env, UIDS_ENV: str(uid + 1)}
    try:
        with ExitStack() as fds:
            outcome = _execute(
                plan, uid, toolchain, path, program, stdin, limits, env, fds, copy_in, supervisor
            )
    except OSError as exc:
        return SandboxResult("sandbox_error", message=f"could not start the sandbox: {exc}")
    if isinstance(outcome, str):
        return SandboxResult("sandbox_error", message=outcome)
    done, reported = outcome
    if reported or done.timed_out or done.output_exceeded:
        status, message = verdict(done, limits)
    else:  # only a program running as the waiter's uid (no root caller) can do this
        status, message = "runtime_error", "the program killed its waiter: exit status unknown"
    return SandboxResult(
        status,
        exit_code=done.exit_code if reported else None,
        signal=done.signal if reported else None,
        stdout=done.stdout.decode(errors="replace"),
        stderr=done.stderr.decode(errors="replace"),
        truncated=done.truncated,
        wall_ms=round(done.wall_ms, 3),
        cpu_ms=round(done.cpu_ms, 3),
        max_rss_kb=done.max_rss_kb,
        disk_kb=done.disk_kb,
        isolation=plan.isolation,
        message=message,
    )


def _execute(
    plan: Plan,
    uid: int | None,
    toolchain: Toolchain,
    path: str,
    program: Sequence[str],
    stdin: bytes,
    limits: Limits,
    env: Mapping[str, str],
    fds: ExitStack,
    copy_in: bool,
    supervisor: bool,
) -> tuple[Completed, bool] | str:
    """Run ``[bwrap ...] waiter`` with the program's spec.

    Returns what happened and whether the waiter reported it, or why the sandbox was not built.
    bwrap and the waiter get an empty environment; only the program gets ``env``.
    """
    python = this_python()
    home, cwd = (path, path) if plan.bwrap is None else (WORKDIR, None)
    tmpfs = copy_in and plan.bwrap is not None
    measure = (WORKDIR, "/tmp") if tmpfs else ()
    drop_to = None if supervisor else uid
    environment = _environment(home, env, private_tmp=plan.bwrap is not None)
    spec = spec_fd(program, environment, limits.rlimits(), drop_to, measure)
    fds.callback(os.close, spec)
    report_read, report_write = _pipe(fds)
    command = waiter_argv(python.executable, spec, report_write)
    spawn = functools.partial(
        execute,
        stdin=stdin,
        timeout_s=limits.timeout_s,
        output_limit=limits.output_bytes,
        env={},
        cwd=cwd,
    )
    if plan.bwrap is None:
        done = spawn(command, pass_fds=(spec, report_write))
    else:
        status_read, status_write = _pipe(fds)
        seccomp = filter_fd()
        fds.callback(os.close, seccomp)
        files = _staged(path, fds) if tmpfs else path
        argv = sandbox_argv(
            plan.bwrap,
            command,
            workdir=files,
            read_only=(*toolchain.prefixes, *python.prefixes),
            status_fd=status_write,
            seccomp_fd=seccomp,
            as_root=uid is not None,
            disk_bytes=limits.disk_mb << 20,
        )
        staged_fds = [] if isinstance(files, str) else [f.fd for f in files]
        done = spawn(argv, pass_fds=(spec, report_write, status_write, seccomp, *staged_fds))
        status = drain(status_read)
        await_teardown(status)
        if not command_started(status) and not (done.timed_out or done.output_exceeded):
            detail = done.stderr.decode(errors="replace").strip() or "no message"
            return f"bwrap could not build the sandbox: {detail}"
    report = drain(report_read)
    return (with_report(done, report), True) if report else (done, False)


def _staged(path: str, fds: ExitStack) -> list[Staged]:
    """Every regular file under ``path``, opened for bwrap to copy (closed with ``fds``)."""
    staged = []
    for root, _, names in os.walk(path):
        for name in sorted(names):
            fd = os.open(os.path.join(root, name), os.O_RDONLY | os.O_NOFOLLOW)
            fds.callback(os.close, fd)
            executable = os.stat(fd).st_mode & 0o100
            relative = os.path.relpath(os.path.join(root, name), path)
            staged.append(Staged(fd, relative, 0o777 if executable else 0o666))
    return staged


def _pipe(fds: ExitStack) -> tuple[int, int]:
    """A pipe closed with ``fds``; the read end is non-blocking (read once the writers are done)."""
    read_fd, write_fd = os.pipe()
    fds.callback(os.close, read_fd)
    fds.callback(os.close, write_fd)
    os.set_blocking(read_fd, False)
    return read_fd, write_fd


def _environment(home: str, extra: Mapping[str, str], private_tmp: bool) -> dict[str, str]:
    """The whole environment the program sees: nothing from the host but these.

    ``$SCILLM_SANDBOX_PRIVATE_TMP`` is 1 exactly when /tmp is the sandbox's own tmpfs, so a
    harness may clear it (never the host's /tmp of an rlimits-only run, whatever ``extra`` says).
    """
    environment = {"PATH": SANDBOX_PATH, "HOME": home, "LANG": "C.UTF-8", **extra}
    environment.pop(PRIVATE_TMP_ENV, None)
    if private_tmp:
        environment[PRIVATE_TMP_ENV] = "1"
    return environment
