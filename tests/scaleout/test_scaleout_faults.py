"""Exactly-once output when a Ray actor is SIGKILLed mid-shard and when the driver is killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from scaleout_helpers import MODEL, calls_per_row, options, output_ids, run, write_rows

from scillm.testing import MockLLMServer

pytestmark = [pytest.mark.requires("redis-server", apt="redis-server")]

RPM = 20 * 60
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

    with MockLLMServer() as srv:
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
    assert sum(calls.values()) - n <= 12  # repeats only for rows in flight in the dead actor


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
