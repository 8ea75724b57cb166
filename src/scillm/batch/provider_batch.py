"""``scillm batch --provider-batch``: rows through an OpenAI-style Batch API, at about half price.

    from scillm.batch.command import BatchOptions
    from scillm.batch.provider_batch import ProviderBatchSettings, run_provider_batch

    summary = run_provider_batch(
        BatchOptions(Path("in.jsonl"), Path("out.jsonl"), model="openai/gpt-4o-mini"),
        ProviderBatchSettings(batch_size=50_000, poll_s=60),
    )

The rows not yet in the output are written into request files (the online mode's row format and
call steps, :mod:`~scillm.batch.provider_batch_requests`), split by model, request count and
byte size; each file is uploaded and becomes a 24 h batch. Batches are polled until they end;
their output and error files are merged into the output exactly once, in the online mode's
format (:mod:`~scillm.batch.provider_batch_merge`). What was submitted is recorded next to the
output (:mod:`~scillm.batch.provider_batch_state`): a rerun of the same command polls and merges
those batches instead of submitting their rows again, and submits only rows in no batch.
With ``retry_failed`` error rows (failed, expired, invalid replies) go into a new batch; the
online mode (without ``--provider-batch``) reruns them too, into the same output.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from scillm.batch.checkpoint import encode_row
from scillm.batch.command import BatchOptions, InputError, Plan, prepare, sigterm_cancels
from scillm.batch.engine import load_done
from scillm.batch.idset import IdSet
from scillm.batch.jobs import Job, error_row
from scillm.batch.provider_batch_api import BatchApi
from scillm.batch.provider_batch_files import Chunk, Chunker, LineTooLarge
from scillm.batch.provider_batch_merge import merged_rows, record_of_batch_row, results_of
from scillm.batch.provider_batch_requests import Target, build
from scillm.batch.provider_batch_state import (
    BatchState,
    StateError,
    Submitted,
    custom_ids,
    state_folder,
)
from scillm.batch.rows import read_jobs
from scillm.batch.summary import BatchSummary
from scillm.errors import ScillmError

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "ProviderBatchRun",
    "ProviderBatchSettings",
    "run_provider_batch",
]

DEFAULT_BATCH_SIZE = 50_000
"""OpenAI's limit of requests per batch file."""
DEFAULT_MAX_FILE_BYTES = 190 * 1024 * 1024
"""Under OpenAI's 200 MB per file, with room to spare."""
TERMINAL = frozenset({"completed", "expired", "cancelled", "failed"})
"""Batch statuses after which nothing more will happen."""
Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ProviderBatchSettings:
    """How rows are batched and polled."""

    batch_size: int = DEFAULT_BATCH_SIZE
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    poll_s: float = 60.0
    cancel_on_exit: bool = False

    def check(self) -> None:
        """InputError for a value that cannot work."""
        if type(self.batch_size) is not int or self.batch_size < 1:
            raise InputError(f"--batch-size must be an integer >= 1, got {self.batch_size!r}")
        if type(self.max_file_bytes) is not int or self.max_file_bytes < 1024:
            raise InputError(f"max_file_bytes must be at least 1024, got {self.max_file_bytes!r}")
        if not self.poll_s > 0:
            raise InputError(f"--poll must be a number of seconds > 0, got {self.poll_s!r}")


def check_options(options: BatchOptions) -> None:
    """Refuse online-only options that would silently do nothing with a batch API."""
    given = [
        name
        for name, on in (
            ("--rpm", options.rpm),
            ("--tpm", options.tpm),
            ("--cache", options.cache or None),
            ("--max-cost", options.max_cost),
            ("--executor ray", None if options.executor == "local" else options.executor),
            ("--limits", options.limits),
        )
        if on is not None
    ]
    if given:
        verb = "does" if len(given) == 1 else "do"
        raise InputError(
            f"{', '.join(given)} {verb} not apply with --provider-batch (the provider paces "
            "a batch and bills it as a whole); drop the option or run without --provider-batch"
        )


class ProviderBatchRun:
    """One run over a prepared plan: submit what is new, then poll and merge until done."""

    def __init__(
        self, plan: Plan, settings: ProviderBatchSettings, summary: BatchSummary, say: Say
    ) -> None:
        self.plan, self.settings, self.summary, self.say = plan, settings, summary, say
        self.quiet_progress = False
        try:
            self.state = BatchState.load(state_folder(plan.options.output))
        except StateError as exc:
            raise InputError(str(exc)) from None
        self.target: Target | None = None
        self.api: BatchApi | None = None
        self._last_progress: dict[str, str] = {}

    # -- the run ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Submit, poll, merge; SIGTERM stops it like Ctrl-C."""
        task = asyncio.current_task()
        assert task is not None
        with sigterm_cancels(task):
            if self.state.folder.exists():
                self.state.remove_strays()
            await self._submit_new()
            await self._poll()
        self.summary.finished = time.monotonic()

    @property
    def open_batches(self) -> list[Submitted]:
        return self.state.open_batches()

    async def cancel_open(self) -> int:
        """Cancel every batch not merged yet; how many were asked to cancel."""
        if self.api is None:
            return 0
        cancelled = 0
        for entry in self.open_batches:
            if entry.batch_id is not None:
                await self.api.cancel(entry.batch_id)
                cancelled += 1
        return cancelled

    # -- submitting ---------------------------------------------------------------------------

    def _use_target(self, target: Target) -> bool:
        """Adopt ``target`` for the run; False when it differs from the run's."""
        if self.target is None:
            state_base = self.state.base
            if state_base is not None and self.open_batches and state_base != target.base:
                raise InputError(
                    f"the open batches of {self.plan.options.output} were submitted to "
                    f"{state_base}, but this run sends to {target.base}: rerun with the same "
                    "--api-base to finish them"
                )
            self.target = target
            self.api = BatchApi(target.base, dict(target.headers), target.provider)
            if self.state.base != target.base:
                self.state.base = target.base
                self.state.save()
        return target == self.target

    def _skip(self, job: Job, seen: IdSet, done: tuple[IdSet, IdSet], open_keys: IdSet) -> bool:
        summary = self.summary
        summary.generated_ids += job.generated
        done_ok, done_failed = done
        if not seen.add(job.key):
            summary.duplicates += 1
        elif job.key in done_ok or (not self.plan.options.retry_failed and job.key in done_failed):
            summary.skipped += 1
            summary.skipped_failed += job.key not in done_ok
        elif job.key in open_keys:
            pass  # in a batch still running: counted when it is merged
        else:
            return False
        return True

    async def _submit_new(self) -> None:
        plan = self.plan
        open_keys = self.state.open_keys()
        done = load_done(plan.checkpoint)
        seen = IdSet()
        chunker = Chunker(self.state, self.settings.batch_size, self.settings.max_file_bytes)
        refused: list[tuple[dict[str, Any], bool]] = []
        try:
            for index, job in enumerate(read_jobs(plan.options.input)):
                if index % 1024 == 0:
                    await asyncio.sleep(0)
                if self._skip(job, seen, done, open_keys):
                    if self.target is None and job.key in open_keys:
                        self._adopt_from(job)
                    continue
                if job.problem is not None:
                    self.summary.note_problem(job.problem)
                    refused.append((error_row("id", job.id, "BadInput", job.problem), False))
                    continue
                try:
                    built = build(plan.router, plan.defaults, job)
                    if not self._use_target(built.target):
                        raise ValueError(
                            f"this row goes to {built.target.base}, the run's batches to "
                            f"{self.target.base if self.target else '?'}: one "
                            "--provider-batch run uses one endpoint"
                        )
                    for full in chunker.add(built.model, index, built.line):
                        await self._submit(full)
                except (ScillmError, ValueError, LineTooLarge) as exc:
                    refused.append((error_row("id", job.id, type(exc).__name__, str(exc)), False))
            for last in chunker.finish():
                await self._submit(last)
        finally:
            chunker.discard()
            self._write(refused)

    def _adopt_from(self, job: Job) -> None:
        """Learn the endpoint from a row of an open batch (a resumed run with nothing new)."""
        with suppress(ScillmError, ValueError):
            self._use_target(build(self.plan.router, self.plan.defaults, job).target)

    async def _submit(self, chunk: Chunk) -> None:
        assert self.api is not None
        file_id = await self.api.upload(chunk.path)
        entry = Submitted(
            file_id, chunk.model, chunk.rows, chunk.first_row, chunk.last_row, chunk.path.name
        )
        self.state.batches.append(entry)
        self.state.save()
        await self._create(entry)

    async def _create(self, entry: Submitted) -> None:
        assert self.api is not None
        rows = f"{entry.first_row}-{entry.last_row}"
        metadata = {"scillm_output": self.plan.options.output.name[:500], "scillm_rows": rows}
        batch = await self.api.create(entry.input_file_id, metadata)
        entry.batch_id, entry.status = str(batch["id"]), "submitted"
        self.state.save()
        self.say(
            f"submitted batch {entry.batch_id}: {entry.rows} row(s) of {entry.model} "
            f"(input rows {rows})"
        )

    async def _recover(self, entry: Submitted) -> None:
        """A file uploaded by a run stopped before it recorded the batch: adopt the batch the
        provider made of it, if any, else create it now."""
        assert self.api is not None
        batch = await self.api.find_by_file(entry.input_file_id)
        if batch is None:
            await self._create(entry)
            return
        entry.batch_id, entry.status = str(batch["id"]), "submitted"
        self.state.save()
        self.say(
            f"found batch {entry.batch_id} of an interrupted run (input rows "
            f"{entry.first_row}-{entry.last_row})"
        )

    # -- polling and merging ------------------------------------------------------------------

    async def _poll(self) -> None:
        while self.open_batches:
            if self.api is None:
                raise InputError(
                    "open batches are recorded but no row of the input says where they went; "
                    "rerun with the same input, --model and --api-base"
                )
            for entry in self.open_batches:
                if entry.batch_id is None:
                    await self._recover(entry)
                    continue
                batch = await self.api.retrieve(entry.batch_id)
                self._progress(entry, batch)
                if batch.get("status") in TERMINAL:
                    await self._merge(entry, batch)
            if self.open_batches:
                await asyncio.sleep(self.settings.poll_s)

    def _progress(self, entry: Submitted, batch: dict[str, Any]) -> None:
        counts = batch.get("request_counts") or {}
        line = (
            f"batch {entry.batch_id}: {batch.get('status')}, {counts.get('completed', 0)}"
            f"/{counts.get('total', entry.rows)} done, {counts.get('failed', 0)} failed"
        )
        if self._last_progress.get(str(entry.batch_id)) != line and not self.quiet_progress:
            self.say(line)
        self._last_progress[str(entry.batch_id)] = line

    def _merged_keys(self, batch_id: str) -> set[str]:
        """Ids the output already holds from ``batch_id`` (a merge cut short by a crash)."""
        keys = set()
        for row in self.plan.checkpoint:
            meta = row.get("scillm_router")
            mark = meta.get("provider_batch") if isinstance(meta, dict) else None
            if isinstance(mark, dict) and mark.get("batch_id") == batch_id:
                keys.add(str(row.get("id")))
        return keys

    def _jobs_of(self, entry: Submitted, skip: set[str]) -> dict[str, Job]:
        keys = set(custom_ids(entry.request_path(self.state.folder))) - skip
        jobs: dict[str, Job] = {}
        source = self.plan.options.input
        rows = islice(read_jobs(source), entry.first_row, entry.last_row + 1)
        for scan in (rows, read_jobs(source)):  # the whole input when rows were moved
            for job in scan:
                if job.key in keys and job.key not in jobs:
                    jobs[job.key] = job
            if len(jobs) == len(keys):
                break
        return jobs

    async def _merge(self, entry: Submitted, batch: dict[str, Any]) -> None:
        assert self.api is not None and entry.batch_id is not None
        folder = self.state.folder
        files: list[Path] = []
        for kind in ("output", "error"):
            file_id = batch.get(f"{kind}_file_id")
            if isinstance(file_id, str) and file_id:
                path = folder / entry.request_file.replace(".jsonl", f".{kind}.jsonl")
                await self.api.download(file_id, path)
                files.append(path)
        # Rows already written only when a merge of this batch was cut short.
        merged = self._merged_keys(entry.batch_id) if entry.status == "merging" else set()
        jobs = self._jobs_of(entry, merged)
        results = results_of(*files)
        plan = self.plan
        rows = list(merged_rows(plan.router, plan.defaults, jobs, results, batch))
        now = time.time()
        for row, _ in rows:
            job = jobs.get(str(row.get("id")))
            model = (job.item.get("model") if job else None) or plan.defaults.get("model")
            name = model if isinstance(model, str) else None
            record = record_of_batch_row(row, name, batch, now)
            plan.meter.add(record["cost_usd"], record["model"])
            row["record"] = record
        entry.status = "merging"
        self.state.save()
        self._write(rows)
        entry.status = "merged"
        self.state.save()
        for path in (*files, entry.request_path(folder)):
            path.unlink(missing_ok=True)
        self.say(f"merged batch {entry.batch_id} ({batch.get('status')}): {len(rows)} row(s)")

    def _write(self, rows: list[tuple[dict[str, Any], bool]]) -> None:
        if not rows:
            return
        self.plan.checkpoint.write_lines([encode_row(row) for row, _ in rows])
        for row, ok in rows:
            usage = (row.get("response") or {}).get("usage")
            if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
                self.summary.tokens += usage["total_tokens"]
            if ok:
                self.summary.succeeded += 1
            else:
                self.summary.failed += 1


def run_provider_batch(
    options: BatchOptions, settings: ProviderBatchSettings | None = None, say: Say | None = None
) -> BatchSummary:
    """Run ``options`` through the provider's Batch API to the end (see the module docstring).

    Raises InputError for bad options or input (before anything is submitted). When stopped
    (KeyboardInterrupt) the batches keep running unless ``settings.cancel_on_exit``; calling
    again with the same options resumes them.
    """
    settings = settings or ProviderBatchSettings()
    settings.check()
    check_options(options)
    plan = prepare(options)
    summary = BatchSummary(path=str(options.output), total=plan.total)
    try:
        run = ProviderBatchRun(plan, settings, summary, say or (lambda message: None))
        try:
            asyncio.run(run.run())
        except (KeyboardInterrupt, asyncio.CancelledError):
            summary.interrupted = True
            if settings.cancel_on_exit:
                asyncio.run(run.cancel_open())
            raise KeyboardInterrupt from None
        finally:
            plan.checkpoint.write_summary(summary.as_dict())
    finally:
        plan.close()
    return summary
