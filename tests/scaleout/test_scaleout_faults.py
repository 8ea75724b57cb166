"""Exactly-once output when a Ray actor is SIGKILLed mid-shard and when the driver is killed;
the calls sent again are counted; ``--max-cost`` stops every worker and the rerun resumes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from scaleout_helpers import MODEL, calls_per_row, options, output_ids, run, write_rows

from scillm.batch.command import execute, prepare
from scillm.batch.summary import BatchSummary
from scillm.cost import BudgetReached, call_cost
from scillm.testing import MockLLMServer

pytestmark = [pytest.mark.requires("redis-server", apt="redis-server")]

RPM = 20 * 60
INFLIGHT = 12  # scillm batch's default --concurrency: the calls one worker has in flight
WAIT_S = 240.0


def _part_ids(out: Path) -> set[str]:
    """Ids of the whole rows in the part files of ``out`` right now."""
    ids = set()
    for part in out.with_name(out.name + ".parts").glob("*/shard-*.jsonl"):
        for line in part.read_bytes().split(b"\n")[:-1]:
            ids.add(json.loads(line)["id"])
    return ids


def _wait_for_rows(out: Path, at_least: int, stop: threading.Event | None = None) -> None:
    deadline = time.monotonic() + WAIT_S
    while len(_part_ids(out)) < at_least:
        if time.monotonic() > deadline or (stop is not None and stop.is_set()):
            raise AssertionError(f"never saw {at_least} rows in the parts of {out}")
        time.sleep(0.05)


def _worker_pids() -> list[int]:
    """Pids of this machine's Ray shard-worker actors (their process title names the class)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"ray::ShardWorker"):
                pids.append(int(entry.name))
    return pids


def test_sigkill_one_actor_loses_and_duplicates_nothing(
    tmp_path: Path, ray_local: Any, flush_redis: str
) -> None:
    n = 80
    src, out = write_rows(tmp_path / "in.jsonl", n), tmp_path / "out.jsonl"
    killed: list[int] = []
    done = threading.Event()

    def kill_one() -> None:
        _wait_for_rows(out, 15, done)
        pids = _worker_pids()
        assert pids, "no Ray shard worker to kill"
        os.kill(pids[0], signal.SIGKILL)
        killed.append(pids[0])

    with MockLLMServer(latency_s=0.5) as srv:  # replies take a while: calls are in flight
        killer = threading.Thread(target=kill_one, daemon=True)
        killer.start()
        try:
            summary = run(
                options(srv, src, out, workers=2, shard_rows=10, rpm=RPM, limits=flush_redis)
            )
        finally:
            done.set()
            killer.join(10)
        calls = calls_per_row(srv)
    assert killed
    ids = output_ids(out)
    assert len(ids) == len(set(ids)) == n  # 0 duplicates, 0 missing
    assert set(ids) == {f"q{i}" for i in range(n)}
    assert (summary.succeeded, summary.failed) == (n, 0)
    assert set(calls) == set(ids)
    repeats = sum(calls.values()) - n
    assert repeats <= INFLIGHT  # repeats only for rows in flight in the dead actor
    # Every repeat is counted. A row is logged as sent just before its request leaves, so a
    # kill between the two counts a row the server never saw: at most the actor's in-flight cap.
    assert repeats <= summary.resent <= repeats + INFLIGHT
    assert repeats > 0  # the dead actor had calls in flight
    assert summary.as_dict()["resent"] == summary.resent


def test_kill_the_driver_and_resume_calls_no_finished_row_again(
    tmp_path: Path, ray_local: Any, flush_redis: str
) -> None:
    n = 80
    src, out = write_rows(tmp_path / "in.jsonl", n), tmp_path / "out.jsonl"
    with MockLLMServer() as srv:
        env = {**os.environ, "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0", "OPENAI_API_KEY": "k"}
        args = [sys.executable, "-m", "scillm", "batch", str(src), "-o", str(out)]
        args += ["--model", MODEL, "--api-base", srv.base_url, "--executor", "ray"]
        args += ["--workers", "2", "--shard-rows", "10", "--rpm", str(RPM)]
        args += ["--limits", flush_redis, "--no-progress"]
        driver = subprocess.Popen(
            args,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            _wait_for_rows(out, 20)
        finally:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait(30)
        finished = _part_ids(out)
        time.sleep(1.0)  # the killed run's actors are reaped
        summary = run(options(srv, src, out, workers=2, shard_rows=10, rpm=RPM, limits=flush_redis))
        calls = calls_per_row(srv)
    ids = output_ids(out)
    assert len(ids) == len(set(ids)) == n
    assert set(ids) == {f"q{i}" for i in range(n)}
    assert finished and all(calls[key] == 1 for key in finished)
    assert summary.skipped >= len(finished)
    repeats = sum(calls.values()) - n  # rows in flight when the driver died
    assert repeats <= summary.resent <= repeats + 2 * INFLIGHT  # see the SIGKILL test


def test_an_interrupted_run_writes_what_finished_and_the_rerun_resumes(
    tmp_path: Path, ray_local: Any, flush_redis: str
) -> None:
    n = 80
    src, out = write_rows(tmp_path / "in.jsonl", n), tmp_path / "out.jsonl"
    seen: list[tuple[int, int]] = []
    with MockLLMServer() as srv:
        opts = options(srv, src, out, workers=2, shard_rows=10, rpm=RPM, limits=flush_redis)
        plan = prepare(opts)
        summary = BatchSummary(path=str(out), total=plan.total)

        async def interrupt() -> None:  # what Ctrl-C or SIGTERM does to `scillm batch`
            task = asyncio.create_task(execute(plan, summary))
            deadline = time.monotonic() + WAIT_S
            while summary.processed < 15 and not task.done() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            seen.append((summary.processed, summary.tokens))  # the live view, from the workers
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        try:
            asyncio.run(interrupt())
        finally:
            plan.close()
        first = output_ids(out)
        again = run(opts)
        calls = calls_per_row(srv)
    (processed, tokens), *_ = seen
    assert 15 <= processed < n and tokens > 0
    assert summary.interrupted and summary.finished is not None
    assert len(first) == len(set(first)) == summary.succeeded >= processed  # merged at once
    assert sorted(output_ids(out)) == sorted(f"q{i}" for i in range(n))
    assert all(calls[key] == 1 for key in first)
    assert again.skipped == len(first) and again.succeeded == n - len(first)
    assert 0 <= again.resent <= sum(calls.values()) - n  # rows in flight at the interrupt


def test_max_cost_stops_every_worker_and_the_rerun_resumes(
    tmp_path: Path, ray_local: Any, flush_redis: str
) -> None:
    n, model = 100, "openai/gpt-4o"  # a model with a known price
    src, out = write_rows(tmp_path / "in.jsonl", n), tmp_path / "out.jsonl"
    per_call = call_cost(model, 10, 10)
    assert per_call is not None
    budget = 10 * per_call.usd
    with MockLLMServer() as srv:
        opts = options(srv, src, out, model=model, workers=2, shard_rows=10, concurrency=2)
        opts = replace(opts, rpm=RPM, limits=flush_redis, max_cost=budget)
        plan = prepare(opts)
        summary = BatchSummary(path=str(out), total=plan.total)
        try:
            with pytest.raises(BudgetReached, match="budget"):
                asyncio.run(execute(plan, summary))
        finally:
            plan.close()
        first = [json.loads(line) for line in out.read_text().splitlines()]
        assert plan.meter.stop_reason is not None and plan.meter.usd >= budget
        assert 1 <= len(first) < n  # no new shard and no new call once the budget was spent
        assert all(row.get("ok") is not False for row in first)
        assert sum(row["record"]["cost_usd"] for row in first) == pytest.approx(plan.meter.usd)
        assert summary.succeeded == len(first)
        assert summary.stopped == plan.meter.stop_reason and not summary.interrupted
        again = run(replace(opts, max_cost=None))
        calls = calls_per_row(srv)
    assert sorted(output_ids(out)) == sorted(f"q{i}" for i in range(n))
    assert again.skipped == len(first) and again.succeeded == n - len(first)
    assert set(calls.values()) == {1}  # nothing written before was sent again


def test_a_shard_that_keeps_failing_becomes_error_rows_never_lost_rows(
    tmp_path: Path, ray_local: Any, flush_redis: str
) -> None:
    n = 30
    src, out = write_rows(tmp_path / "in.jsonl", n), tmp_path / "out.jsonl"
    done = threading.Event()

    def kill_the_worker() -> None:
        _wait_for_rows(out, 5, done)
        pids = _worker_pids()
        assert pids, "no Ray shard worker to kill"
        os.kill(pids[0], signal.SIGKILL)

    one_try = {"workers": 1, "shard_rows": n, "shard_attempts": 1, "rpm": RPM}
    with MockLLMServer(latency_s=0.5) as srv:
        killer = threading.Thread(target=kill_the_worker, daemon=True)
        killer.start()
        try:
            summary = run(options(srv, src, out, limits=flush_redis, **one_try))
        finally:
            done.set()
            killer.join(10)
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        first_calls = calls_per_row(srv)
        again = run(options(srv, src, out, limits=flush_redis, retry_failed=True, **one_try))
        second_calls = calls_per_row(srv) - first_calls
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)) == n  # every row is in the output once: none lost
    failed = {row["id"]: row["error"] for row in rows if row.get("ok") is False}
    assert failed, "the killed shard left no row unfinished"
    assert all(error["type"] == "ShardFailed" for error in failed.values())
    assert all("\x1b" not in error["message"] for error in failed.values())  # no colour codes
    assert all("--retry-failed" in error["message"] for error in failed.values())
    assert (summary.succeeded, summary.failed) == (n - len(failed), len(failed))
    assert set(second_calls) == set(failed)  # the rerun sends exactly the failed rows
    assert (again.succeeded, again.failed) == (len(failed), 0)
    final = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(row["id"] for row in final) == sorted(ids)  # each id once, all answered
    assert all(row.get("ok") is not False for row in final)
