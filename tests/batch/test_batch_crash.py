"""The crash test: SIGKILL ``scillm batch`` at random points, resume, and lose nothing.

A 500-row run against the mock server is killed several times, either once its output holds a
random number of rows or after a random delay (which may fall before the first call). Each rerun
resumes the same output. At the end every id is there exactly once, with its own answer.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

from batch_helpers import SCILLM_BATCH, batch_env, read_jsonl, run_batch_command, write_jsonl

from scillm.testing import MockLLMServer

ROWS = 500
KILLS = 5
RUN_TIMEOUT_S = 60


def lines_in(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def kill_at_random_point(
    args: list[str], env: dict[str, str], out: Path, rng: random.Random
) -> str:
    """Start a run and SIGKILL it at a random point; say how it was stopped."""
    proc = subprocess.Popen(
        [*SCILLM_BATCH, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        if rng.random() < 0.5:
            target = min(ROWS - 1, lines_in(out) + rng.randint(1, 120))
            while lines_in(out) < target and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            how = f"at {lines_in(out)} rows"
        else:
            delay = rng.uniform(0.1, 2.0)
            time.sleep(delay)
            how = f"after {delay:.2f} s ({lines_in(out)} rows)"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=RUN_TIMEOUT_S)
    return how


def test_sigkill_at_random_points_then_resume_loses_nothing(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    mock_llm.latency_s = 0.02
    write_jsonl(rows_in, [{"id": i, "prompt": f"answer {i}"} for i in range(ROWS)])
    args = [str(rows_in), "-o", str(rows_out), "-m", "openai/mock", "-c", "6", "--no-progress"]
    env = batch_env(mock_llm.base_url)

    kills = [kill_at_random_point(args, env, rows_out, rng) for _ in range(KILLS)]
    note = f"seed {seed}, kills {kills}"
    final = run_batch_command(args, env, timeout=RUN_TIMEOUT_S)
    assert final.returncode == 0, f"{note}\n{final.stderr}"

    rows = read_jsonl(rows_out)  # every line parses: torn tails were repaired
    ids = [row["id"] for row in rows]
    assert sorted(ids) == list(range(ROWS)), note  # every id, exactly once
    for row in rows:
        assert row["response"]["choices"][0]["message"]["content"] == f"answer {row['id']}"
    assert len(mock_llm.requests) >= ROWS
