"""``scillm batch --provider-batch`` as a process: killed mid-poll it resumes without resubmitting;
Ctrl-C leaves batches running and says how to resume (or cancels them with ``--cancel-on-exit``);
a resume pointed at another server is refused."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from batch_helpers import (
    COMMAND_TIMEOUT_S,
    batch_env,
    read_jsonl,
    run_batch_command,
    start_batch_command,
    write_jsonl,
)

from scillm.batch.provider_batch_state import BatchState, state_folder
from scillm.testing import MockLLMServer

ROWS = 12


def args_for(rows_in: Path, rows_out: Path, *extra: str) -> list[str]:
    return [
        str(rows_in), "-o", str(rows_out), "-m", "openai/mock", "--provider-batch",
        "--batch-size", "5", "--poll", "0.05", *extra,
    ]  # fmt: skip


def wait_for_batches(rows_out: Path, count: int, proc: subprocess.Popen[str]) -> None:
    """Wait until the run has recorded ``count`` submitted batches."""
    deadline = time.monotonic() + COMMAND_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            state = BatchState.load(state_folder(rows_out))
        except ValueError:  # being replaced this instant
            state = None
        if state is not None and sum(b.status == "submitted" for b in state.batches) >= count:
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError("the run never submitted its batches")


def final_rows(path: Path) -> dict[Any, dict[str, Any]]:
    rows = read_jsonl(path)
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), f"an id written twice: {ids}"
    return {row["id"]: row for row in rows}


def test_sigkill_mid_poll_then_resume_merges_without_resubmitting(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    write_jsonl(rows_in, [{"id": i, "prompt": f"row {i}"} for i in range(ROWS)])
    mock_llm.batches.processing_s = 1.5
    env = batch_env(mock_llm.base_url)
    proc = start_batch_command(args_for(rows_in, rows_out), env)
    try:
        wait_for_batches(rows_out, 3, proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=COMMAND_TIMEOUT_S)
    assert not rows_out.exists() or rows_out.read_text() == ""  # killed before any merge
    created = mock_llm.batches.created
    assert len(created) == 3

    done = run_batch_command([*args_for(rows_in, rows_out), "--json"], env)
    assert done.returncode == 0, done.stderr
    assert mock_llm.batches.created == created  # polled and merged, nothing resubmitted
    rows = final_rows(rows_out)
    assert sorted(rows) == list(range(ROWS))
    assert all(
        r["response"]["choices"][0]["message"]["content"] == f"row {i}" for i, r in rows.items()
    )
    summary = json.loads(done.stdout)
    assert (summary["succeeded"], summary["skipped"]) == (ROWS, 0)

    again = run_batch_command(args_for(rows_in, rows_out), env)
    assert again.returncode == 0 and mock_llm.batches.created == created


def test_ctrl_c_leaves_batches_running_and_says_how_to_resume(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path, tmp_path: Path
) -> None:
    write_jsonl(rows_in, [{"id": i, "prompt": f"row {i}"} for i in range(ROWS)])
    mock_llm.batches.processing_s = 1.0
    env = batch_env(mock_llm.base_url)
    proc = start_batch_command(args_for(rows_in, rows_out), env)
    wait_for_batches(rows_out, 3, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=COMMAND_TIMEOUT_S)
    assert proc.returncode == 130, stderr
    assert "keep running" in stderr and "rerun the same command" in stderr
    assert "Traceback" not in stderr
    assert {mock_llm.batches.status(b) for b in mock_llm.batches.created} <= {
        "in_progress",
        "completed",
    }

    # Pointed at another server, the resume is refused: the batches live on the first one.
    with MockLLMServer() as other:
        moved = run_batch_command(args_for(rows_in, rows_out), batch_env(other.base_url))
        assert moved.returncode == 2 and "same --api-base" in moved.stderr, moved.stderr
        assert other.batches.created == []

    done = run_batch_command(args_for(rows_in, rows_out), env)
    assert done.returncode == 0, done.stderr
    assert sorted(final_rows(rows_out)) == list(range(ROWS))
    assert len(mock_llm.batches.created) == 3


def test_cancel_on_exit_cancels_and_a_rerun_retries_the_rows(
    mock_llm: MockLLMServer, rows_in: Path, rows_out: Path
) -> None:
    write_jsonl(rows_in, [{"id": i, "prompt": f"row {i}"} for i in range(ROWS)])
    mock_llm.batches.processing_s = 60.0
    env = batch_env(mock_llm.base_url)
    proc = start_batch_command(args_for(rows_in, rows_out, "--cancel-on-exit"), env)
    wait_for_batches(rows_out, 3, proc)
    proc.send_signal(signal.SIGTERM)  # stops it like Ctrl-C
    _, stderr = proc.communicate(timeout=COMMAND_TIMEOUT_S)
    assert proc.returncode == 130 and "cancelled 3 batch(es)" in stderr, stderr
    assert {mock_llm.batches.status(b) for b in mock_llm.batches.created} == {"cancelled"}

    merged = run_batch_command(args_for(rows_in, rows_out), env)
    assert merged.returncode == 1  # every row of a cancelled batch is an error row
    assert {r["error"]["type"] for r in final_rows(rows_out).values()} == {"batch_cancelled"}
    assert "--retry-failed" in merged.stderr

    mock_llm.batches.processing_s = 0.0
    retried = run_batch_command([*args_for(rows_in, rows_out), "--retry-failed"], env)
    assert retried.returncode == 0, retried.stderr
    assert len(mock_llm.batches.created) == 6
    latest = {row["id"]: row for row in read_jsonl(rows_out)}
    assert sorted(latest) == list(range(ROWS)) and all("ok" not in r for r in latest.values())


def test_command_line_refusals(mock_llm: MockLLMServer, rows_in: Path, rows_out: Path) -> None:
    write_jsonl(rows_in, [{"id": 1, "prompt": "a"}])
    env = batch_env(mock_llm.base_url)
    for extra, says in (
        (["--batch-size", "0"], "--batch-size"),
        (["--poll", "-1"], "--poll"),
        (["--rpm", "10"], "--rpm"),
        (["--cache"], "--cache"),
        (["--executor", "ray"], "--executor"),
    ):
        done = run_batch_command([*args_for(rows_in, rows_out), *extra], env)
        assert done.returncode == 2 and says in done.stderr, (extra, done.stderr)
        assert done.stderr.startswith("error:") and "Traceback" not in done.stderr
    assert mock_llm.batches.created == []
