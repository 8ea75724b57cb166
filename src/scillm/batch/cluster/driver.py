"""The driver: cut the input into shards, hand them to a pool of Ray actors, merge the parts.

    summary = BatchSummary(path="out.jsonl")
    await run_on_ray(config, RayOptions(address="auto", num_workers=8), summary)

Shards are handed out as actors free up (dynamic dispatch), so a slow shard never idles the
rest. An actor that dies is restarted by Ray and its shard is handed out again (a new attempt
resumes from the rows the dead one finished); a shard that fails ``max_shard_attempts`` times
becomes error rows, never lost rows. Parts left by an earlier (killed) run are merged into the
output first, so a rerun resumes it. Calls are at-least-once only for rows in flight in a dead
worker (``summary.resent`` counts them); the merged output is exactly-once.

The driver's summary is the local run's: counters, tokens and 429s are summed from the workers
(finished shards, plus the running ones every half second, for the live progress line), and the
cost from their meters into the run's :class:`~scillm.cost.CostMeter`. Once that meter's
``--max-cost`` is spent no new shard starts and every worker is told to stop: the calls in flight
finish and are written, the parts are merged, and :class:`~scillm.cost.BudgetReached` is raised
(rerunning resumes).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scillm.batch.checkpoint import JsonlCheckpoint, encode_row
from scillm.batch.cluster.parts import (
    SentLog,
    finished_ids,
    merge,
    merge_leftovers,
    part_path,
    parts_root,
    resent_calls,
    scan_rows,
    sent_ids,
    unanswered_ids,
)
from scillm.batch.cluster.shards import Shard, plan_shards, read_shard
from scillm.batch.cluster.worker import COSTS, COUNTERS, ShardWorker, WorkerConfig
from scillm.batch.jobs import error_row
from scillm.batch.summary import MAX_PROBLEMS, BatchSummary
from scillm.cost import BudgetReached, CostMeter

__all__ = ["RayOptions", "run_on_ray"]

PROGRESS_EVERY_S = 0.5


@dataclass(frozen=True, slots=True)
class RayOptions:
    """Where and how wide to run: ``address`` None starts a local Ray; ``"auto"`` joins the
    cluster of ``ray start``; ``"ray://host:10001"`` connects a client."""

    address: str | None = None
    num_workers: int = 2
    shard_rows: int = 256
    worker_num_cpus: float = 0.25
    max_shard_attempts: int = 3

    def __post_init__(self) -> None:
        if self.num_workers < 1:
            raise ValueError(f"num_workers must be at least 1, got {self.num_workers}")
        if self.shard_rows < 1:
            raise ValueError(f"shard_rows must be at least 1, got {self.shard_rows}")
        if self.max_shard_attempts < 1:
            raise ValueError(
                f"max_shard_attempts must be at least 1, got {self.max_shard_attempts}"
            )


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError("executor='ray' needs Ray: pip install 'scillm[ray]'") from None
    return ray


def _init(ray: Any, address: str | None) -> None:
    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
    if address is None:
        kwargs["object_store_memory"] = 150 * 1024 * 1024
    ray.init(address=address, **kwargs)


class _Dispatch:
    """The state of one run: shards to hand out, attempts in flight, counters of finished ones."""

    def __init__(
        self, shards: list[Shard], summary: BatchSummary, meter: CostMeter, max_attempts: int
    ) -> None:
        self.queue: deque[tuple[Shard, int]] = deque((shard, 1) for shard in shards)
        self.summary, self.meter, self.max_attempts = summary, meter, max_attempts
        self.done = dict.fromkeys((*COUNTERS, *COSTS), 0.0)
        self.calls = 0
        self.retried: list[int] = []
        self.failed: list[tuple[Shard, str]] = []
        self.stopped: str | None = None  # a worker's own reason to stop (an unknown price)

    def finished(self, stats: dict[str, Any]) -> None:
        for name in self.done:
            self.done[name] += stats[name]
        self.calls += stats["calls"]
        room = max(0, MAX_PROBLEMS - len(self.summary.problems))
        self.summary.problems.extend(stats["problems"][:room])
        self.stopped = self.stopped or stats["stopped"]

    def lost(self, shard: Shard, attempt: int, error: BaseException) -> None:
        if self.meter.stop_reason is not None:
            return  # the budget is spent: the rerun does these rows
        if attempt < self.max_attempts:
            self.retried.append(shard.index)
            self.queue.append((shard, attempt + 1))
        else:
            self.failed.append((shard, _plain(f"{type(error).__name__}: {error}")[:500]))

    def show(self, live: list[dict[str, float]]) -> None:
        """Put the finished shards' and the running ones' counts into the summary and meter."""
        total = {name: self.done[name] + sum(p.get(name, 0) for p in live) for name in self.done}
        for name in COUNTERS:
            setattr(self.summary, name, int(total[name]))
        meter = self.meter
        meter.set_totals(total["usd"], int(total["priced"]), int(total["unknown"]))
        meter.stop_reason = meter.stop_reason or self.stopped


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _plain(text: str) -> str:
    """``text`` without terminal colour codes (Ray colours the errors it re-raises)."""
    return _ANSI.sub("", text)


def _fail_shard(config: WorkerConfig, shard: Shard, reason: str, done: set[str]) -> int:
    """Error rows for the rows of a shard no attempt finished; how many."""
    earlier = finished_ids(config.run_dir, shard.index, retry_failed=False)
    message = f"the shard kept failing ({reason}); rerun with --retry-failed to retry these rows"
    with JsonlCheckpoint(part_path(config.run_dir, shard.index), "id") as part:
        lines = []
        for job in read_shard(config.input, shard):
            if job.key not in earlier and job.key not in done:
                lines.append(encode_row(error_row("id", job.id, "ShardFailed", message)))
        part.write_lines(lines)
    return len(lines)


async def _progress(actors: list[Any]) -> list[dict[str, float]]:
    refs = [actor.progress.remote() for actor in actors]
    out = []
    for ref in refs:
        try:
            out.append(await asyncio.wait_for(asyncio.wrap_future(ref.future()), 0.2))
        except Exception:  # a restarting actor reports nothing this time
            out.append({})
    return out


async def run_on_ray(
    config: WorkerConfig,
    options: RayOptions,
    summary: BatchSummary,
    meter: CostMeter | None = None,
) -> None:
    """Run ``config``'s input on Ray into its output; updates ``summary`` (and ``meter``: the
    run's cost and ``--max-cost``) live; see the module docstring."""
    ray = _ray()
    meter = meter if meter is not None else CostMeter()
    unanswered = await asyncio.to_thread(unanswered_ids, config.output)
    await asyncio.to_thread(merge_leftovers, config.output)
    run_dir = parts_root(config.output) / uuid.uuid4().hex[:12]
    config = replace(config, run_dir=run_dir, max_cost=meter.limit)
    shards, total = await asyncio.to_thread(plan_shards, config.input, options.shard_rows)
    summary.total = total
    await asyncio.to_thread(_init, ray, options.address)
    actor_class = ray.remote(max_restarts=-1, max_task_retries=0)(ShardWorker)
    width = max(1, min(options.num_workers, len(shards)))
    actors = [
        actor_class.options(num_cpus=options.worker_num_cpus).remote(config) for _ in range(width)
    ]
    run = _Dispatch(shards, summary, meter, options.max_shard_attempts)
    try:
        try:
            await _dispatch(run, actors)
        finally:
            for actor in actors:
                ray.kill(actor, no_restart=True)
    except BaseException:  # Ctrl-C, SIGTERM: the output gets every row finished so far
        summary.interrupted = True
        _finish(config, run, unanswered, interrupted=True)  # not awaited: not cancelled again
        raise
    finally:
        summary.finished = time.monotonic()
    await asyncio.to_thread(_finish, config, run, unanswered)
    if meter.stop_reason is not None:
        summary.stopped = meter.stop_reason  # a clean stop, as a local run's
        raise BudgetReached(meter.stop_reason)


def _finish(
    config: WorkerConfig, run: _Dispatch, unanswered: set[str], interrupted: bool = False
) -> None:
    """Error rows for the shards that kept failing, then merge the run's parts into the output
    and put what the merge added into the summary. An interrupted run leaves the ids it sent
    but never wrote behind, so the next run counts sending them again."""
    if run.failed:
        done = {key for key, _, _ in scan_rows(config.output)}
        for shard, reason in run.failed:
            _fail_shard(config, shard, reason, done)
    resent = _resent(config.run_dir, unanswered)
    in_flight = unanswered_ids(config.output) if interrupted else set()
    result = merge(config.output, config.run_dir)
    if in_flight:
        log = SentLog(config.run_dir / "shard-interrupted.sent")
        for key in sorted(in_flight):
            log.mark(key)
        log.close()
    summary = run.summary
    summary.succeeded, summary.failed = result.succeeded, result.failed
    summary.duplicates += result.repeats
    summary.resent += resent


def _resent(run_dir: Path, unanswered: set[str]) -> int:
    """Calls this run sent again: within it (a dead attempt's rows in flight) and of rows a
    killed earlier run had sent without writing them."""
    again = 0
    if unanswered:
        for log in run_dir.glob("shard-*.sent"):
            again += len(unanswered & sent_ids(log))
    return resent_calls(run_dir) + again


async def _dispatch(run: _Dispatch, actors: list[Any]) -> None:
    idle = list(actors)
    pending: dict[asyncio.Future[Any], tuple[Any, Shard, int]] = {}
    stopping = False
    while run.queue or pending:
        while run.queue and idle:
            actor = idle.pop()
            shard, attempt = run.queue.popleft()
            future = asyncio.wrap_future(actor.run_shard.remote(shard).future())
            pending[future] = (actor, shard, attempt)
        ready, _ = await asyncio.wait(
            set(pending), timeout=PROGRESS_EVERY_S, return_when=asyncio.FIRST_COMPLETED
        )
        for future in ready:
            actor, shard, attempt = pending.pop(future)
            idle.append(actor)
            try:
                run.finished(future.result())
            except Exception as exc:  # the actor died (Ray restarts it) or the shard raised
                run.lost(shard, attempt, exc)
        run.show(await _progress([actor for actor, _, _ in pending.values()]))
        if run.meter.stop_reason is not None and not stopping:
            stopping = True
            run.queue.clear()  # no new shard; the rerun does them
            for actor, _, _ in pending.values():
                actor.stop.remote(run.meter.stop_reason)
