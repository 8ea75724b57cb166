"""What a sandboxed run returns: one frozen record, the same for every language and status."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal, get_args

__all__ = [
    "ISOLATION_BWRAP",
    "ISOLATION_NONE",
    "ISOLATION_RLIMITS",
    "STATUSES",
    "SandboxResult",
    "Status",
]

Status = Literal[
    "ok",
    "runtime_error",
    "timeout",
    "memory_limit",
    "output_limit",
    "compile_error",
    "rejected",
    "sandbox_error",
]
STATUSES: tuple[Status, ...] = get_args(Status)

ISOLATION_BWRAP = "bwrap+rlimits"  # namespaces, read-only system, private work dir, rlimits
ISOLATION_RLIMITS = "rlimits-only"  # the caller opted in: resource limits on the host, nothing else
ISOLATION_NONE = "none"  # nothing ran (rejected request or sandbox error)


@dataclass(frozen=True)
class SandboxResult:
    """The outcome of one run: ``status`` is the verdict, the rest is the evidence.

    ``wall_ms``, ``cpu_ms`` and ``max_rss_kb`` describe the run stage (the compile stage when that
    failed); CPU and RSS come from ``wait4`` and include a few ms of sandbox start-up.
    ``disk_kb`` is what the program left in its tmpfs ``/sandbox`` and ``/tmp`` (None where the
    work dir is a host directory: rlimits-only, or a stage that reads its output back).
    ``stdout``/``stderr`` are cut at the output limit (``truncated`` says so). ``message`` explains
    every status but ``ok``.

    >>> result = run("print(6 * 7)")
    >>> result.status, result.stdout
    ('ok', '42\\n')
    """

    status: Status
    exit_code: int | None = None
    signal: int | None = None
    stdout: str = ""
    stderr: str = ""
    truncated: bool = False
    wall_ms: float = 0.0
    cpu_ms: float = 0.0
    max_rss_kb: int = 0
    disk_kb: int | None = None
    isolation: str = ISOLATION_NONE
    compile_stderr: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return dataclasses.asdict(self)
