"""The worker: one per Ray actor, with its own Router, running whole shards with the batch engine.

A shard attempt skips the ids the output already holds and those earlier attempts of the shard
finished, then runs the rest through :func:`scillm.batch.engine.drive` into a part file of its
own (:mod:`scillm.batch.cluster.parts`), every call paced by the run's global limiter and logged
before it leaves (to count re-sent calls). Costs are metered per shard (with the run's
``--max-cost``, an unknown price stops the shard at once); the driver sums them and, when the
budget is spent, tells every worker to :meth:`~ShardWorker.stop`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scillm.batch.checkpoint import JsonlCheckpoint
from scillm.batch.cluster.parts import SentLog, finished_ids, part_path, scan_rows, sent_path
from scillm.batch.cluster.shards import Shard, read_shard
from scillm.batch.engine import drive
from scillm.batch.jobs import Job
from scillm.batch.limits.backends import make_limiter
from scillm.batch.limits.base import Limiter, Rates
from scillm.batch.limits.caller import LimitedRowCaller
from scillm.batch.summary import BatchSummary
from scillm.cost import BudgetReached, CostMeter
from scillm.router import Router

__all__ = ["COSTS", "COUNTERS", "ShardWorker", "WorkerConfig", "counters"]

COUNTERS = (
    "succeeded", "failed", "skipped", "skipped_failed", "duplicates", "generated_ids",
    "bad_input", "tokens", "rate_limited",
)  # fmt: skip
"""The :class:`BatchSummary` fields a shard reports (they add up across shards)."""
COSTS = ("usd", "priced", "unknown")
"""The :class:`~scillm.cost.CostMeter` fields a shard reports (they add up too)."""


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
    max_cost: float | None = None


def counters(summary: BatchSummary, meter: CostMeter) -> dict[str, Any]:
    """The additive counters of a summary and a meter, plus the summary's problems."""
    out: dict[str, Any] = {name: getattr(summary, name) for name in COUNTERS}
    out.update({name: getattr(meter, name) for name in COSTS})
    out["problems"] = list(summary.problems)
    return out


class ShardWorker:
    """Runs shards one after another (or several at once) in one process."""

    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self.router = Router(**config.router_kwargs)
        self.limiter: Limiter = make_limiter(config.limits, config.rates, config.api_key)
        self._done: tuple[set[str], set[str]] | None = None
        self.live: dict[int, tuple[BatchSummary, CostMeter]] = {}
        self.calls = 0
        self.stop_reason: str | None = None

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
        """Run one attempt of ``shard``: its counters, costs, calls, and why it stopped early
        (``stopped``: the budget; None when it ran to the end)."""
        config = self.config
        path = part_path(config.run_dir, shard.index)
        summary = BatchSummary(path=str(path))
        meter = CostMeter(config.max_cost)
        meter.stop_reason = self.stop_reason
        self.live[shard.index] = summary, meter
        sent = SentLog(sent_path(path))
        caller = LimitedRowCaller(
            self.router,
            config.defaults,
            summary,
            self.limiter,
            config.endpoint,
            meter,
            on_send=sent.mark,
        )
        stopped = None
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
        except BudgetReached as exc:
            stopped = str(exc)
        finally:
            del self.live[shard.index]
            sent.close()
            self.calls += caller.calls
        return {**counters(summary, meter), "calls": caller.calls, "stopped": stopped}

    def stop(self, reason: str) -> None:
        """Start no new call (the run's budget is spent): the calls in flight finish and are
        written, then every running shard returns with ``stopped``."""
        self.stop_reason = reason
        for _, meter in list(self.live.values()):
            meter.stop_reason = meter.stop_reason or reason

    def progress(self) -> dict[str, float]:
        """The counters and costs of the shards running now (for the driver's live view)."""
        total = dict.fromkeys((*COUNTERS, *COSTS), 0.0)
        for summary, meter in list(self.live.values()):
            for name in COUNTERS:
                total[name] += getattr(summary, name)
            for name in COSTS:
                total[name] += getattr(meter, name)
        return total

    async def aclose(self) -> None:
        await self.limiter.aclose()
        self.router.close()
