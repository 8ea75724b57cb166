"""The sandbox's waiter: start the program, wait for it, report how it ended and what it used.

Run as ``python -I -S -c <this source> SPEC_FD REPORT_FD``; standard library only, because the
sandbox cannot see scillm, and only modules that load fast (``json``, ``signal`` and ``typing``
would add ~40 ms per run). The spec (marshal: argv, env, rlimits, uid) arrives on its own fd, so
the caller's environment never touches bwrap or the waiter (no LD_PRELOAD for root code) and
neither argv nor env shows in the host's process list. In the forked child the waiter applies
the rlimits (soft = hard), drops a root caller's program to its uid, and execs the program with
exactly the given environment.

The waiter exists because the caller's ``wait4`` cannot measure the program: Linux carries a
process's pre-exec peak RSS across ``exec``, so the sandbox's first process reports the (large)
calling process's RSS, and bwrap never reaps its own pid 1. Here the program is a fresh child,
so its peak RSS is its own (never below this ~8 MB waiter it was forked from) and its exit status
is exact. For a root caller the waiter stays root, so the program can neither kill nor trace it.
"""

from __future__ import annotations

import marshal
import os
import resource
import sys

# The public ``signal`` module imports enum (~10 ms); its C core has no stubs.
from _signal import SIG_DFL, SIGPIPE, SIGXFSZ, signal  # type: ignore[import-not-found]

TYPE_CHECKING = False  # importing typing would cost another ~13 ms per run
if TYPE_CHECKING:
    from typing import Any, NoReturn


def main() -> int:
    with open(int(sys.argv[1]), "rb") as spec_file:
        spec = marshal.load(spec_file)
    report_fd = int(sys.argv[2])
    os.set_inheritable(report_fd, False)  # the program must not be able to write a report
    child = os.fork()
    if child == 0:
        become_program(spec)
    _, status = os.waitpid(child, 0)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    disk = sum(used_kb(path) for path in spec["measure"]) if spec["measure"] else -1
    report = f"{status} {usage.ru_utime} {usage.ru_stime} {usage.ru_maxrss} {disk}"
    os.write(report_fd, report.encode())
    return 0


def used_kb(path: str) -> int:
    """What a tmpfs holds (its blocks in use), in KiB."""
    stat = os.statvfs(path)
    return (stat.f_blocks - stat.f_bfree) * stat.f_frsize // 1024


def become_program(spec: dict[str, Any]) -> NoReturn:
    argv = spec["argv"]
    try:
        for name, value in spec["rlimits"].items():
            kind = getattr(resource, name)
            hard = resource.getrlimit(kind)[1]
            if hard != resource.RLIM_INFINITY:  # an unprivileged caller cannot raise its own
                value = min(value, hard)
            resource.setrlimit(kind, (value, value))
        uid = spec["uid"]
        if uid is not None:  # all three ids non-zero: the kernel clears every capability
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        # Python ignores SIGPIPE and SIGXFSZ; the program gets the default dispositions.
        for number in (SIGPIPE, SIGXFSZ):
            signal(number, SIG_DFL)
        os.execvpe(argv[0], argv, spec["env"])
    except (OSError, ValueError) as exc:
        os.write(2, f"sandbox: cannot run {argv[0]}: {exc}\n".encode())
    os._exit(127)


if __name__ == "__main__":
    sys.exit(main())
