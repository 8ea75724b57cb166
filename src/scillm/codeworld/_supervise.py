"""How CodeWorld's in-sandbox harnesses keep the program under test away from themselves.

Copied into the sandbox next to ``_harness_python.py`` and ``_driver_stdio.py`` (standard
library only: the sandbox cannot see scillm). For a root caller the harness runs as the
sandbox's root with only CAP_SETUID/CAP_SETGID, and ``$SCILLM_SANDBOX_UIDS`` is the first of the
fresh uids it may give away: job ``n`` (the load probe or compiler, then each call) runs as
``first + n``, so it can neither signal, trace nor read the harness, and once it ends everything
of its uid is killed. Without that variable (a non-root caller: one uid in the sandbox) the
harness makes itself non-dumpable instead, so ``/proc/<pid>/fd`` and ptrace need a capability
the jobs lack; a job can then still kill the harness, which fails the run, never passes it.

The harness is also a child subreaper: whatever a job leaves behind (a double-forked orphan)
becomes the harness's child, is killed with the job, and is reaped here, so its CPU time counts
for the job that started it. Files a job left in the sandbox's private ``/tmp`` are deleted
before the next job (an rlimits-only run on the host leaves the host's /tmp alone).
"""

from __future__ import annotations

import contextlib
import os
import resource

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

SIGKILL = 9
PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 4, 36
MAX_PROCESSES = 64  # RLIMIT_NPROC of each job's uid
UIDS_ENV = "SCILLM_SANDBOX_UIDS"
SCRATCH = "/tmp"
# Set by the sandbox when /tmp is its own tmpfs. Without it (rlimits-only runs on the host)
# /tmp is the host's, and nothing in it may be touched.
PRIVATE_TMP_ENV = "SCILLM_SANDBOX_PRIVATE_TMP"
LEFT_FILES = "the program left files in /tmp that could not be removed"


class JobEnd:
    """How a job's process ended (a wait status) and what it and everything it left used."""

    def __init__(self, status: int, cpu_s: float, max_rss_kb: int) -> None:
        # not a dataclass: importing dataclasses costs every sandbox ~10 ms
        self.status, self.cpu_s, self.max_rss_kb = status, cpu_s, max_rss_kb


def first_uid() -> int | None:
    """Set this process up as the jobs' supervisor; the first uid for jobs, or None (then this
    process is non-dumpable instead)."""
    import ctypes  # ~5 ms, once per sandbox

    base = os.environ.get(UIDS_ENV)
    _prctl(ctypes, PR_SET_CHILD_SUBREAPER, 1)
    if base:
        return int(base)
    _prctl(ctypes, PR_SET_DUMPABLE, 0)
    return None


def _prctl(ctypes: Any, option: int, value: int) -> None:
    if ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def lock_tree(top: str) -> None:
    """Make ``top`` and everything under it that this process owns read-only for others."""
    for root, dirs, files in os.walk(top):
        for path in (root, *(os.path.join(root, name) for name in files)):
            if not os.path.islink(path) and os.lstat(path).st_uid == os.geteuid():
                os.chmod(path, 0o755 if path == root else 0o644)
        dirs[:] = [name for name in dirs if not os.path.islink(os.path.join(root, name))]


def job_uid(first: int | None, job: int) -> int | None:
    return None if first is None else first + job


def confine(uid: int | None, limits: Mapping[int, int]) -> None:
    """In a job's process, before anything untrusted: its own uid (all three ids, so no
    capability is left), then ``limits`` (``resource.RLIMIT_*`` -> value, soft = hard), never
    above the sandbox's own, and RLIMIT_NPROC."""
    if uid is not None:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    for kind, value in {**limits, resource.RLIMIT_NPROC: MAX_PROCESSES}.items():
        hard = resource.getrlimit(kind)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))


def end_job(pid: int, uid: int | None) -> JobEnd:
    """Kill what is left of job ``pid``, reap it and its orphans, and clear its files."""
    kill_leftovers(pid, uid)
    _, status, usage = os.wait4(pid, 0)
    cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
    orphan_cpu, orphan_rss = reap_orphans(uid)
    return JobEnd(status, cpu + orphan_cpu, max(rss, orphan_rss))


def kill_leftovers(pid: int, uid: int | None) -> None:
    """Kill everything job ``pid`` started and delete its files in /tmp: as its own uid (the
    harness may not signal that uid), else the job's process group (see :func:`reap_orphans`
    for what escaped it)."""
    if uid is None:
        with contextlib.suppress(OSError):
            os.killpg(pid, SIGKILL)
        return
    killer = os.fork()
    if killer == 0:
        try:
            os.setresuid(uid, uid, uid)
            with contextlib.suppress(OSError):
                os.kill(-1, SIGKILL)  # every process this uid may signal, but the caller
            _clear_scratch(lambda stat: stat.st_uid == uid)
        finally:
            os._exit(0)
    os.waitpid(killer, 0)


def reap_orphans(uid: int | None) -> tuple[float, int]:
    """Wait for every other child (the orphans a job left, now ours), killing them first where
    no uid of their own already did; their CPU seconds and largest peak RSS (KiB)."""
    cpu, rss = 0.0, 0
    while True:
        if uid is None:
            for child in _children():
                with contextlib.suppress(OSError):
                    os.kill(child, SIGKILL)
        try:
            _, _, usage = os.wait4(-1, 0)
        except ChildProcessError:
            break
        cpu += usage.ru_utime + usage.ru_stime
        rss = max(rss, usage.ru_maxrss)
    if uid is None:  # one uid for everyone: whatever is in /tmp was left by the job
        _clear_scratch(lambda stat: True)
    return cpu, rss


def _children() -> list[int]:
    """This process's children, from /proc (the field after the command's closing paren)."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if int(fields[1]) == me:
                found.append(int(entry))
    return found


def _clear_scratch(owned: Callable[[os.stat_result], bool]) -> None:
    """Delete what ``owned`` selects in the sandbox's private /tmp, never following a link, and
    opening up (0700) every such directory first: a job may have made its own unlistable.
    Nothing at all where /tmp is not the sandbox's own."""
    if os.environ.get(PRIVATE_TMP_ENV) != "1":
        return
    _remove(SCRATCH, owned)


def _remove(path: str, owned: Callable[[os.stat_result], bool]) -> None:
    with contextlib.suppress(OSError):
        names = os.listdir(path)
        for name in names:
            entry = os.path.join(path, name)
            stat = os.lstat(entry)
            if not owned(stat):
                continue
            if os.path.isdir(entry) and not os.path.islink(entry):
                os.chmod(entry, 0o700)
                _remove(entry, owned)
                with contextlib.suppress(OSError):
                    os.rmdir(entry)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry)


def call_events(index: int, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The events that report call ``index``. Should the call have left files in /tmp that could
    not be removed, it is an error, and this sandbox is abandoned: the host goes on in a fresh
    one from the next call, so nothing of this call can reach it."""
    private = os.environ.get(PRIVATE_TMP_ENV) == "1"
    if not private or not os.listdir(SCRATCH):
        return [{"event": "call", "index": index, **record}]
    record = {**record, "status": "error", "message": LEFT_FILES}
    return [{"event": "call", "index": index, **record}, {"event": "abandon", "next": index + 1}]
