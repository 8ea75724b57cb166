"""How CodeWorld's in-sandbox harnesses keep the program under test away from themselves.

Copied into the sandbox next to ``_harness_python.py`` and ``_driver_stdio.py`` (standard
library only: the sandbox cannot see scillm). For a root caller the harness runs as the
sandbox's root with only CAP_SETUID/CAP_SETGID, and ``$SCILLM_SANDBOX_UIDS`` is the first of the
fresh uids it may give away: job ``n`` (the load probe or compiler, then each call) runs as
``first + n``, so it can neither signal, trace nor read the harness, and once it ends everything
of its uid is killed. Without that variable (a non-root caller: one uid in the sandbox) the
harness makes itself non-dumpable instead, so ``/proc/<pid>/fd`` and ptrace need a capability
the jobs lack; a job can then still kill the harness, which fails the run, never passes it.
"""

from __future__ import annotations

import contextlib
import os
import resource

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

SIGKILL = 9
PR_SET_DUMPABLE = 4
MAX_PROCESSES = 64  # RLIMIT_NPROC of each job's uid


def first_uid() -> int | None:
    """The first uid for jobs, or None (then this process has been made non-dumpable)."""
    base = os.environ.get("SCILLM_SANDBOX_UIDS")
    if base:
        return int(base)
    import ctypes  # only here: ~5 ms, and only a non-root caller's sandbox needs it

    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")
    return None


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


def kill_leftovers(pid: int, uid: int | None) -> None:
    """Kill everything job ``pid`` started: every process of its uid (the harness may not
    signal that uid, so the uid does it), else the job's process group."""
    if uid is None:
        with contextlib.suppress(OSError):
            os.killpg(pid, SIGKILL)
        return
    killer = os.fork()
    if killer == 0:
        try:
            os.setresuid(uid, uid, uid)
            os.kill(-1, SIGKILL)  # every process this uid may signal, but the caller
        finally:
            os._exit(0)
    os.waitpid(killer, 0)
