"""The worker: one per Ray actor, with its own Router, running whole shards with the batch engine.

A shard attempt skips the ids the output already holds and those earlier attempts of the shard
finished, then runs the rest through :func:`scillm.batch.engine.drive` into a part file of its
own (:mod:`scillm.scaleout.parts`), every call paced by the run's global limiter.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scillm.batch.checkpoint import JsonlCheckpoint
from scillm.batch.engine import drive
from scillm.batch.jobs import Job
from scillm.batch.summary import BatchSummary
from scillm.router import Router
from scillm.scaleout.caller import LimitedRowCaller
from scillm.scaleout.limits import Limiter, Rates, make_limiter
from scillm.scaleout.parts import finished_ids, part_path, scan_rows
from scillm.scaleout.shards import Shard, read_shard

__all__ = ["COUNTERS", "ShardWorker", "WorkerConfig"]

COUNTERS = (
    "succeeded", "failed", "skipped", "skipped_failed", "duplicates", "generated_ids",
    "bad_input", "tokens", "rate_limited",
)  # fmt: skip
"""The :class:`BatchSummary` fields a shard reports (they add up across shards)."""


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What every worker needs, picklable: it is shipped to each actor."""

    input: Path
    output: Path
    run_dir: Path
    router_kwargs: dict[str, Any]
    defaults: dict[str, Any]
    limits: str
    rates: Rates
    api_key: str | None
    endpoint: str
    concurrency: int
    retry_failed: bool


def counters(summary: BatchSummary) -> dict[str, Any]:
    """The additive counters of a summary, plus its problems."""
    out: dict[str, Any] = {name: getattr(summary, name) for name in COUNTERS}
    out["problems"] = list(summary.problems)
    return out


class ShardWorker:
    """Runs shards one after another (or several at once) in one process."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.router = Router(**config.router_kwargs)
        self.limiter: Limiter = make_limiter(config.limits, config.rates, config.api_key)
        self._done: tuple[set[str], set[str]] | None = None
        self.live: dict[int, BatchSummary] = {}
        self.calls = 0

    def pid(self) -> int:
        return os.getpid()

    def _output_done(self) -> tuple[set[str], set[str]]:
        """Ids with a success, and ids with only errors, in the output (read once)."""
        if self._done is None:
            ok: set[str] = set()
            failed: set[str] = set()
            for key, row_ok, _ in scan_rows(self.config.output):
                (ok if row_ok else failed).add(key)
            self._done = ok, failed - ok
        return self._done

    def _todo(self, shard: Shard, summary: BatchSummary) -> Iterator[Job]:
        ok, failed = self._output_done()
        earlier = finished_ids(self.config.run_dir, shard.index, self.config.retry_failed)
        for job in read_shard(self.config.input, shard):
            if job.key in ok or job.key in earlier:
                summary.skipped += 1
            elif job.key in failed and not self.config.retry_failed:
                summary.skipped += 1
                summary.skipped_failed += 1
            else:
                yield job

    async def run_shard(self, shard: Shard) -> dict[str, Any]:
        """Run one attempt of ``shard``; its counters and the calls it made."""
        config = self.config
        path = part_path(config.run_dir, shard.index)
        summary = BatchSummary(path=str(path))
        self.live[shard.index] = summary
        caller = LimitedRowCaller(
            self.router, config.defaults, summary, self.limiter, config.endpoint
        )
        try:
            with JsonlCheckpoint(path, "id") as part:
                await drive(
                    self._todo(shard, summary),
                    caller,
                    part,
                    summary,
                    max_concurrency=config.concurrency,
                    retry_failed=config.retry_failed,
                )
        finally:
            del self.live[shard.index]
            self.calls += caller.calls
        return {**counters(summary), "calls": caller.calls}

    def progress(self) -> dict[str, int]:
        """The counters of the shards running now (for the driver's live progress line)."""
        total = dict.fromkeys(COUNTERS, 0)
        for summary in list(self.live.values()):
            for name in COUNTERS:
                total[name] += getattr(summary, name)
        return total

    async def aclose(self) -> None:
        await self.limiter.aclose()
        self.router.close()
