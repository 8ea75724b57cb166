"""Resource limits of one sandboxed program, set by the waiter (soft = hard) right before exec."""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["MAX_FILE_SIZE_MB", "MAX_OPEN_FILES", "MAX_PROCESSES", "Limits"]

MAX_PROCESSES = 64  # RLIMIT_NPROC; threads count too (node starts ~10)
MAX_FILE_SIZE_MB = 64  # RLIMIT_FSIZE: largest file the program may write
MAX_OPEN_FILES = 256  # RLIMIT_NOFILE
MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one stage (compile or run) may use.

    ``memory_mb`` is what the caller asked for; ``reserve_mb`` is address space the runtime
    reserves up front (see ``Language.reserve_mb``); RLIMIT_AS is their sum.
    """

    timeout_s: float
    cpu_s: float
    memory_mb: int
    output_bytes: int
    reserve_mb: int = 0
    disk_mb: int = 128  # the tmpfs work dir of a copied-in run (see ``run_stage``)

    @property
    def cpu_limit_s(self) -> int:
        """RLIMIT_CPU counts whole seconds; round up so the caller's budget is never cut short."""
        return max(1, math.ceil(self.cpu_s))

    def rlimits(self) -> dict[str, int]:
        """``resource`` names and values. Soft = hard, so the program cannot raise a limit back;
        for CPU that means SIGKILL at the limit (a SIGXCPU warning could be caught and ignored).
        """
        return {
            "RLIMIT_CPU": self.cpu_limit_s,
            "RLIMIT_AS": (self.memory_mb + self.reserve_mb) * MIB,
            "RLIMIT_NPROC": MAX_PROCESSES,
            "RLIMIT_FSIZE": MAX_FILE_SIZE_MB * MIB,
            "RLIMIT_NOFILE": MAX_OPEN_FILES,
            "RLIMIT_CORE": 0,
        }
