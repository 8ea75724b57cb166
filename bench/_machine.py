"""What every benchmark records about where its numbers were taken, and how it shows its
progress (imported by the scripts; the display is :mod:`scillm.progress`, on stderr)."""

from __future__ import annotations

import asyncio
import datetime
import importlib.metadata
import os
import platform
import sys
from collections.abc import Awaitable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from scillm.progress import track

__all__ = ["gather_shown", "machine_info"]

T = TypeVar("T")


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info(packages: Iterable[str], note: str) -> dict[str, Any]:
    """Date, CPUs, Python, the versions of ``packages``, the load average now, and ``note``."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "packages": {name: _version(name) for name in packages},
        "loadavg_start": list(os.getloadavg()),
        "note": note,
    }


async def gather_shown(description: str, jobs: Sequence[Awaitable[T]], unit: str) -> list[T]:
    """``asyncio.gather(*jobs)``, showing how many have finished."""
    with track(description, len(jobs), unit=unit) as shown:

        async def one(job: Awaitable[T]) -> T:
            try:
                return await job
            finally:
                shown.advance()

        return list(await asyncio.gather(*(one(job) for job in jobs)))
