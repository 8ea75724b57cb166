"""Turn what a process did into a status. Every heuristic of the sandbox lives here.

Order matters: too much output, then the wall clock (both are our own kills), then a clean exit,
then the CPU limit (RLIMIT_CPU's SIGKILL: a SIGKILL after 80 % of the CPU budget), then a full
tmpfs work dir (``output_limit``), then memory, and anything else is a runtime error.
RLIMIT_AS makes allocations fail rather than killing, so memory is recognised by the runtime's
own report in the tail of stderr (Python ``MemoryError``, V8 "heap out of memory", C++
``std::bad_alloc``, "Cannot allocate memory"), or by a fatal signal with a peak RSS of at least
90 % of the limit.
"""

from __future__ import annotations

import signal

from scillm.sandbox.limits import Limits
from scillm.sandbox.process import Completed
from scillm.sandbox.result import Status

__all__ = ["verdict"]

MEMORY_MARKERS = (
    "memoryerror",
    "out of memory",
    "bad_alloc",
    "cannot allocate memory",
    "allocation failed",
)
STDERR_TAIL = 4096  # the runtime's report is at the end; user output before it is not evidence
# RLIMIT_CPU fired at 93-98 % of the CPU time rusage reports (measured on a 2-core VM): the
# kernel's cputime and the utime/stime split differ, so "near the limit" is generous.
CPU_KILL_FRACTION = 0.8
RSS_FRACTION = 0.9
DISK_FULL_MARKER = "no space left on device"  # ENOSPC, as every runtime spells it
DISK_FULL_FRACTION = 0.98
CPU_SIGNALS = frozenset({signal.SIGKILL, signal.SIGXCPU})
FATAL_SIGNALS = frozenset({signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS})


def verdict(done: Completed, limits: Limits) -> tuple[Status, str]:
    """The status of a finished process and a message explaining it ("" for ok)."""
    if done.output_exceeded:
        return "output_limit", f"output exceeded {limits.output_bytes} bytes; killed"
    if done.timed_out:
        return "timeout", f"wall-clock limit of {limits.timeout_s:g} s exceeded; killed"
    if done.exit_code == 0:
        return "ok", ""
    if done.signal in CPU_SIGNALS and done.cpu_ms >= CPU_KILL_FRACTION * 1000 * limits.cpu_limit_s:
        return "timeout", f"CPU limit of {limits.cpu_limit_s} s exceeded; killed by the kernel"
    if _disk_full(done, limits):
        return "output_limit", f"the work dir's disk cap of {limits.disk_mb} MiB was reached"
    if _out_of_memory(done, limits):
        return "memory_limit", f"memory limit of {limits.memory_mb} MiB exceeded"
    if done.signal is not None:
        return "runtime_error", f"killed by {_signal_name(done.signal)}"
    return "runtime_error", f"exited with status {done.exit_code}"


def _disk_full(done: Completed, limits: Limits) -> bool:
    """A tmpfs work dir (``disk_kb`` known) that filled up, by its use or the program's report."""
    if done.disk_kb is None:
        return False
    tail = done.stderr[-STDERR_TAIL:].decode(errors="replace").lower()
    return DISK_FULL_MARKER in tail or done.disk_kb >= DISK_FULL_FRACTION * limits.disk_mb * 1024


def _out_of_memory(done: Completed, limits: Limits) -> bool:
    tail = done.stderr[-STDERR_TAIL:].decode(errors="replace").lower()
    if any(marker in tail for marker in MEMORY_MARKERS):
        return True
    near_limit = done.max_rss_kb >= RSS_FRACTION * limits.memory_mb * 1024
    return done.signal in FATAL_SIGNALS and near_limit


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:  # real-time signals have no name
        return f"signal {number}"
