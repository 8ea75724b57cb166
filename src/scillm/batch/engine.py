"""The batch loop: skip done ids → bound concurrency → run → record every outcome.

Input is consumed lazily, at most ``max_concurrency`` rows are in flight, and finished rows are
appended by a :class:`GroupWriter`. Memory stays bounded by the concurrency plus the compact id
sets (about 32 bytes per id). When the run stops early (Ctrl-C, a failing disk, a bug in the
caller's code) the rows in flight are cancelled and awaited, and rows already finished are
still written: the checkpoint is consistent and a rerun resumes where this one stopped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from scillm.batch.checkpoint import JsonlCheckpoint, encode_row
from scillm.batch.idset import IdSet
from scillm.batch.jobs import Job, error_row
from scillm.batch.summary import BatchSummary
from scillm.batch.writer import GroupWriter
from scillm.cost import BudgetReached

__all__ = ["Work", "drive", "load_done"]

YIELD_EVERY = 1024
"""Rows between forced trips to the event loop while rows are skipped (resume)."""

Work = Callable[[Job], Awaitable[tuple[dict[str, Any], bool]]]
"""Runs one job and returns ``(row to write, ok)``; it records its own failures as rows."""


def load_done(checkpoint: JsonlCheckpoint) -> tuple[IdSet, IdSet]:
    """Ids with a success row, and ids with an error row, in the checkpoint."""
    ok_ids, failed_ids = IdSet(), IdSet()
    for key, ok in checkpoint.scan():
        (ok_ids if ok else failed_ids).add(key)
    return ok_ids, failed_ids


async def _aiter(jobs: Iterable[Job] | AsyncIterable[Job]) -> AsyncIterator[Job]:
    if isinstance(jobs, AsyncIterable):
        async for job in jobs:
            yield job
    else:
        for job in jobs:
            yield job


class _Run:
    """The state of one :func:`drive`: ids known, tasks in flight, the first fatal error."""

    def __init__(
        self,
        work: Work,
        writer: GroupWriter,
        summary: BatchSummary,
        *,
        id_key: str,
        limit: int,
        done: tuple[IdSet, IdSet],
        retry_failed: bool,
    ) -> None:
        self.work, self.writer, self.summary, self.id_key = work, writer, summary, id_key
        self.done_ok, self.done_failed = done
        self.retry_failed = retry_failed
        self.seen = IdSet()
        self.slots = asyncio.Semaphore(limit)
        self.tasks: set[asyncio.Task[None]] = set()
        self.fatal: BaseException | None = None

    def needs_call(self, job: Job) -> bool:
        """Count a job that is a duplicate, already done or unusable (writing its error row);
        True for a job to run."""
        summary = self.summary
        summary.generated_ids += job.generated
        if not self.seen.add(job.key):
            summary.duplicates += 1
        elif job.key in self.done_ok or (not self.retry_failed and job.key in self.done_failed):
            summary.skipped += 1
            summary.skipped_failed += job.key not in self.done_ok
        elif job.problem is not None:
            summary.note_problem(job.problem)
            row = error_row(self.id_key, job.id, "BadInput", job.problem)
            self.writer.put(encode_row(row), False)
        else:
            return True
        return False

    async def start(self, job: Job) -> None:
        """Start ``job`` once a slot is free and the disk keeps up."""
        await self.slots.acquire()
        self.check()
        await self.writer.wait_room()
        task = asyncio.get_running_loop().create_task(self._one(job))
        self.tasks.add(task)
        task.add_done_callback(self._finished)

    async def _one(self, job: Job) -> None:
        row, ok = await self.work(job)
        try:
            line = encode_row(row)
        except TypeError as exc:
            message = f"the result could not be written as JSON: {exc}"
            line, ok = encode_row(error_row(self.id_key, job.id, "TypeError", message)), False
        self.writer.put(line, ok)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        self.slots.release()
        if not task.cancelled() and task.exception() is not None and self.fatal is None:
            self.fatal = task.exception()

    def check(self) -> None:
        """Raise what must stop the run: a failed task or a failed write."""
        if self.fatal is not None:
            raise self.fatal
        self.writer.check()

    async def finish(self) -> None:
        """Wait for the tasks in flight, stopping at the first fatal error."""
        while self.tasks:
            await asyncio.wait(set(self.tasks), return_when=asyncio.FIRST_EXCEPTION)
            self.check()
        self.check()

    async def stop(self) -> None:
        """Cancel what is still in flight and wait until it has stopped."""
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


async def drive(
    jobs: Iterable[Job] | AsyncIterable[Job],
    work: Work,
    checkpoint: JsonlCheckpoint,
    summary: BatchSummary,
    *,
    max_concurrency: int,
    retry_failed: bool,
) -> None:
    """Run every job not already done; see the module docstring. Updates ``summary`` live."""
    done = await asyncio.to_thread(load_done, checkpoint)
    writer = GroupWriter(checkpoint, summary)
    run = _Run(
        work,
        writer,
        summary,
        id_key=checkpoint.id_key,
        limit=max_concurrency,
        done=done,
        retry_failed=retry_failed,
    )
    count = 0
    try:
        async for job in _aiter(jobs):
            count += 1
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # long runs of skipped rows still let Ctrl-C in
            if run.needs_call(job):
                await run.start(job)
        await run.finish()
    except BudgetReached as exc:
        summary.stopped = str(exc)  # a clean stop: the rows in flight have been written
        raise
    except BaseException:
        summary.interrupted = True
        raise
    finally:
        await run.stop()
        await writer.drain()
        summary.finished = time.monotonic()
