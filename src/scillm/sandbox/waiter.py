"""Host side of the waiter (``_waiter_script.py``): its spec, its argv, and reading its report."""

from __future__ import annotations

import functools
import marshal
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from scillm.sandbox.process import Completed

__all__ = ["spec_fd", "waiter_argv", "with_report"]

SCRIPT = Path(__file__).with_name("_waiter_script.py")


@functools.cache
def _source() -> str:
    return SCRIPT.read_text()


def waiter_argv(python: str, spec: int, report: int) -> list[str]:
    """``python`` runs the waiter (isolated mode, no site: fast and blind to the environment)."""
    return [python, "-I", "-S", "-c", _source(), str(spec), str(report)]


def spec_fd(
    argv: Sequence[str],
    env: Mapping[str, str],
    rlimits: Mapping[str, int],
    uid: int | None,
    measure: Sequence[str] = (),
) -> int:
    """An anonymous in-memory file holding the waiter's spec, rewound (the caller closes it).

    ``measure`` are the sandbox's tmpfs mounts whose use the waiter reports once the program
    has ended.
    """
    fd = os.memfd_create("scillm-sandbox-spec")
    # marshal: the waiter is this same interpreter, and unlike json it costs no import there
    spec = {
        "argv": list(argv),
        "env": dict(env),
        "rlimits": dict(rlimits),
        "uid": uid,
        "measure": list(measure),
    }
    with open(fd, "wb", closefd=False) as handle:
        marshal.dump(spec, handle)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def with_report(done: Completed, report: bytes) -> Completed:
    """``done`` with the program's own exit status, CPU time, peak RSS and disk use."""
    status, utime, stime, maxrss, disk = report.split()
    code = os.waitstatus_to_exitcode(int(status))
    return replace(
        done,
        exit_code=code if code >= 0 else None,
        signal=-code if code < 0 else None,
        cpu_ms=(float(utime) + float(stime)) * 1000,
        max_rss_kb=int(maxrss),
        disk_kb=int(disk) if int(disk) >= 0 else None,
    )
