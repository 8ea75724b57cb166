"""``run_batch``: resumable, throttled, bounded-memory batches over any async function.

    async def solve(item):                      # any coroutine function of one item
        return await router.acompletion(model="fast", messages=item["messages"])

    summary = await run_batch(items, "id", solve, "results.jsonl", bucket=AsyncTokenBucket(5, 10))
    summary.processed, summary.failed, summary.rows_per_s

Each item is a mapping with an id under ``id_key`` (a string or an integer; ids compare as
strings). For each: skip it if the checkpoint has it → take a token → call ``fn(item)`` →
append ``{id_key: id, "out": result}``, or ``{id_key: id, "ok": false, "error": {type,
message}}`` when ``fn`` raised. When the result is a ChatCompletion (``scillm.completion``, a
Router reply or fan-out result), or ``fn`` raised a Router error, the row also carries the call's
run record under ``"record"`` (:mod:`scillm.runrecord`, as in ``scillm batch`` rows).
Rerunning the same call resumes; error rows are retried only with ``retry_failed=True`` (an
id's last row is its result). An item without an id gets one
derived from its content (``auto-…``); an item that is not a mapping, or whose id is neither a
string nor an integer, becomes an error row without a call. Duplicate ids run once. Rows are
appended in completion order.

``max_cost_usd=5`` stops the run once its records' costs reach $5 (or at a record whose price
is unknown): no new call starts, the calls in flight finish and are written, and the summary's
``stopped`` says why. A Router budget running out in ``fn``
(:class:`~scillm.errors.BudgetExceeded`) stops it the same way, without an error row.
Rerunning resumes; the budget counts each run's own calls.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sized
from contextlib import AbstractContextManager, nullcontext, suppress
from typing import Any

from scillm.batch.buckets import AsyncTokenBucket, TokenBucket
from scillm.batch.checkpoint import JsonlCheckpoint
from scillm.batch.engine import Work, drive
from scillm.batch.jobs import Job, error_row, job_for, jobs_from_items
from scillm.batch.spend import SpendGate
from scillm.batch.summary import BatchSummary
from scillm.cost import BudgetReached, CostMeter, budget_meter
from scillm.errors import BudgetExceeded
from scillm.runrecord import record_of_reply

__all__ = ["DEFAULT_MAX_CONCURRENCY", "run_batch"]

DEFAULT_MAX_CONCURRENCY = 12


async def _ajobs(items: AsyncIterable[Any], id_key: str) -> AsyncIterator[Job]:
    async for item in items:
        yield job_for(item, id_key)


def _work(
    fn: Callable[[Any], Any], id_key: str, bucket: AsyncTokenBucket | None, meter: CostMeter
) -> Work:
    gate = SpendGate(meter)

    async def work(job: Job) -> tuple[dict[str, Any], bool]:
        try:
            async with gate.call():
                row, ok = await _call(fn, job, id_key, bucket)
                record = row.get("record")
                if record is not None:
                    meter.add(record["cost_usd"], record["model"])
                return row, ok
        except BudgetExceeded as exc:  # the Router's own budget: a stop, not this row's failure
            await gate.stop(f"the Router's budget ran out ({exc})")

    return work


async def _call(
    fn: Callable[[Any], Any], job: Job, id_key: str, bucket: AsyncTokenBucket | None
) -> tuple[dict[str, Any], bool]:
    """``fn(job.item)`` as a row, with the call's run record when it made one."""
    try:
        if bucket is not None:
            await bucket.acquire()
        out = fn(job.item)
        if inspect.isawaitable(out):
            out = await out
    except (BudgetReached, BudgetExceeded):
        raise
    except Exception as exc:
        row = error_row(id_key, job.id, type(exc).__name__, str(exc))
        record = record_of_reply(None, "run_batch", error=exc)
        if record is not None:
            row["record"] = record
        return row, False
    row = {id_key: job.id, "out": out}
    record = record_of_reply(out, "run_batch")
    if record is not None:
        row["record"] = record
    return row, True


async def run_batch(
    items: Iterable[Any] | AsyncIterable[Any],
    id_key: str,
    fn: Callable[[Any], Any],
    checkpoint_path: str | os.PathLike[str],
    *,
    bucket: AsyncTokenBucket | None = None,
    max_concurrency: int | None = DEFAULT_MAX_CONCURRENCY,
    retry_failed: bool = False,
    progress: bool = True,
    max_cost_usd: float | None = None,
) -> BatchSummary:
    """Run ``fn`` over ``items`` into the JSONL checkpoint; see the module docstring.

    ``fn`` may be a coroutine function or return an awaitable; a plain function runs on the
    event loop (keep it quick). ``items`` may be any iterable or async iterable, consumed
    lazily. At most ``max_concurrency`` calls are in flight (None: 12). ``progress`` shows a
    live line on stderr. ``max_cost_usd`` is the run's budget in dollars (needs a price list:
    ``scillm[report]``). Returns the :class:`BatchSummary` (``stopped`` says why a budget
    stopped it); ``os.fspath()`` of it is the path.
    """
    meter = budget_meter(max_cost_usd, "max_cost_usd")
    if isinstance(bucket, TokenBucket):
        raise TypeError("run_batch is async: pass an AsyncTokenBucket, not a TokenBucket")
    limit = DEFAULT_MAX_CONCURRENCY if max_concurrency is None else max_concurrency
    if limit < 1:
        raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
    if isinstance(items, AsyncIterable):
        jobs: Iterable[Job] | AsyncIterable[Job] = _ajobs(items, id_key)
    else:
        jobs = jobs_from_items(items, id_key)
    with JsonlCheckpoint(checkpoint_path, id_key=id_key) as checkpoint:
        summary = BatchSummary(path=checkpoint.results_path)
        summary.total = len(items) if isinstance(items, Sized) else None
        with _progress(summary, progress), suppress(BudgetReached):  # summary.stopped says
            await drive(
                jobs,
                _work(fn, id_key, bucket, meter),
                checkpoint,
                summary,
                max_concurrency=limit,
                retry_failed=retry_failed,
            )
    return summary


def _progress(summary: BatchSummary, show: bool) -> AbstractContextManager[None]:
    if not show:
        return nullcontext()
    from scillm.batch.display import live_progress

    return live_progress(summary)
