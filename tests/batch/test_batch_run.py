"""run_batch against the mock server over loopback: resume, errors, duplicates, laziness, stop."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import read_jsonl

import scillm
from scillm.batch import AsyncTokenBucket, JsonlCheckpoint, TokenBucket, run_batch
from scillm.testing import MockLLMServer


def questions(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"id": i, "q": f"q{i}"} for i in range(start, start + n)]


def asker(srv: MockLLMServer) -> Any:
    async def ask(item: dict[str, Any]) -> str:
        messages = [{"role": "user", "content": item["q"]}]
        reply = await scillm.acompletion("openai/m", messages, api_base=srv.base_url, api_key="k")
        return str(reply.choices[0].message.content)

    return ask


async def test_runs_every_item_and_resumes_without_calls(
    mock_llm: MockLLMServer, rows_out: Path
) -> None:
    first = await run_batch(questions(30), "id", asker(mock_llm), rows_out, progress=False)
    assert (first.processed, first.succeeded, first.failed, first.skipped) == (30, 30, 0, 0)
    assert first.rows_per_s > 0 and first.elapsed_s > 0 and os.fspath(first) == str(rows_out)
    rows = read_jsonl(rows_out)
    assert sorted(row["id"] for row in rows) == list(range(30))
    assert all(row == {"id": row["id"], "out": f"q{row['id']}"} for row in rows)

    again = await run_batch(questions(40), "id", asker(mock_llm), rows_out, progress=False)
    assert (again.processed, again.skipped, again.total) == (10, 30, 40)
    assert len(mock_llm.requests) == 40  # the 30 done rows made no call
    assert len(read_jsonl(rows_out)) == 40


async def test_the_original_call_forms(mock_llm: MockLLMServer, tmp_path: Path) -> None:
    ask = asker(mock_llm)
    keyword = await run_batch(
        questions(3), id_key="id", fn=ask, checkpoint_path=str(tmp_path / "a.jsonl"),
        bucket=None, max_concurrency=None, progress=False,
    )  # fmt: skip
    assert keyword.processed == 3
    with open(keyword) as f:  # the original returned the path: os.fspath still gives it
        assert len(f.readlines()) == 3
    positional = await run_batch(questions(3), "id", ask, tmp_path / "b.jsonl", progress=False)
    assert positional.processed == 3


async def test_failures_become_error_rows_and_retry_only_when_asked(rows_out: Path) -> None:
    calls: list[int] = []
    flaky = {3, 5}

    async def fn(item: dict[str, Any]) -> int:
        calls.append(item["id"])
        if item["id"] in flaky:
            raise ValueError(f"bad item {item['id']}")
        return int(item["id"]) * 2

    first = await run_batch(questions(8), "id", fn, rows_out, progress=False)
    assert (first.succeeded, first.failed) == (6, 2)
    errors = {row["id"]: row for row in read_jsonl(rows_out) if row.get("ok") is False}
    assert errors[3] == {
        "id": 3,
        "ok": False,
        "error": {"type": "ValueError", "message": "bad item 3"},
    }

    calls.clear()
    resumed = await run_batch(questions(8), "id", fn, rows_out, progress=False)
    assert calls == [] and (resumed.skipped, resumed.skipped_failed) == (8, 2)

    flaky.clear()
    retried = await run_batch(questions(8), "id", fn, rows_out, retry_failed=True, progress=False)
    assert sorted(calls) == [3, 5] and retried.succeeded == 2
    with JsonlCheckpoint(rows_out) as cp:
        assert cp.failed_ids() == set()
        assert cp.processed_ids() == {str(i) for i in range(8)}


async def test_duplicates_and_string_int_twins_run_once(rows_out: Path) -> None:
    calls: list[Any] = []

    async def fn(item: dict[str, Any]) -> str:
        calls.append(item["id"])
        return "x"

    items = [{"id": 1}, {"id": "1"}, {"id": 2}, {"id": 2}, {"id": "a"}]
    summary = await run_batch(items, "id", fn, rows_out, progress=False)
    assert sorted(map(str, calls)) == ["1", "2", "a"]
    assert (summary.processed, summary.duplicates) == (3, 2)


async def test_items_without_usable_ids(rows_out: Path) -> None:
    calls: list[Any] = []

    def fn(item: Any) -> str:  # a plain function works too
        calls.append(item)
        return "done"

    items: list[Any] = [{"q": "no id"}, "not a mapping", {"id": 2.5}, {"id": None, "q": "x"}]
    summary = await run_batch(items, "id", fn, rows_out, progress=False)
    assert calls == [{"q": "no id"}, {"id": None, "q": "x"}]
    assert (summary.generated_ids, summary.bad_input, summary.failed) == (2, 2, 2)
    rows = read_jsonl(rows_out)
    generated = sorted(row["id"] for row in rows if row.get("out") == "done")
    assert all(key.startswith("auto-") for key in generated)
    assert {row["error"]["type"] for row in rows if row.get("ok") is False} == {"BadInput"}

    rerun = await run_batch(items, "id", fn, rows_out, progress=False)
    assert rerun.skipped == 4 and len(calls) == 2  # generated ids are stable


async def test_input_is_consumed_lazily_with_bounded_work_in_flight(rows_out: Path) -> None:
    pulled = finished = 0
    ahead: list[int] = []

    def items() -> Iterator[dict[str, Any]]:
        nonlocal pulled
        for i in range(300):
            pulled += 1
            yield {"id": i}

    async def fn(item: dict[str, Any]) -> None:
        nonlocal finished
        ahead.append(pulled - finished)
        await asyncio.sleep(0)
        finished += 1

    summary = await run_batch(items(), "id", fn, rows_out, max_concurrency=5, progress=False)
    assert summary.processed == 300 and summary.total is None
    assert max(ahead) <= 5 + 1  # the calls in flight, plus one item waiting for a slot


async def test_async_iterables_and_a_shared_bucket(rows_out: Path) -> None:
    async def items() -> AsyncIterator[dict[str, Any]]:
        for i in range(12):
            yield {"id": i}

    async def fn(item: dict[str, Any]) -> int:
        return int(item["id"])

    bucket = AsyncTokenBucket(rate_per_sec=1000, capacity=4)
    summary = await run_batch(items(), "id", fn, rows_out, bucket=bucket, progress=False)
    assert summary.processed == 12 and bucket.stats()["acquired"] == 12


async def test_a_result_that_is_not_json_is_an_error_row(rows_out: Path) -> None:
    async def fn(item: dict[str, Any]) -> object:
        return object() if item["id"] == 1 else "fine"

    summary = await run_batch(questions(3), "id", fn, rows_out, progress=False)
    assert (summary.succeeded, summary.failed) == (2, 1)
    (bad,) = [row for row in read_jsonl(rows_out) if row.get("ok") is False]
    assert bad["id"] == 1 and bad["error"]["type"] == "TypeError"


async def test_bad_arguments_fail_before_any_call(rows_out: Path) -> None:
    async def fn(item: Any) -> None:
        raise AssertionError("must not run")

    with pytest.raises(TypeError, match="AsyncTokenBucket"):
        await run_batch(questions(1), "id", fn, rows_out, bucket=TokenBucket(1, 1))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_concurrency"):
        await run_batch(questions(1), "id", fn, rows_out, max_concurrency=0)
    blocker = rows_out.parent / "file"
    blocker.write_text("")
    with pytest.raises(OSError):
        await run_batch(questions(1), "id", fn, blocker / "out.jsonl")


class Stop(BaseException):
    """Something that is not an item failure: it must stop the whole run."""


async def test_a_fatal_error_stops_everything_and_leaves_a_consistent_file(
    rows_out: Path,
) -> None:
    started: list[int] = []

    async def fn(item: dict[str, Any]) -> int:
        started.append(item["id"])
        if item["id"] == 20:
            raise Stop
        await asyncio.sleep(0.01 * (item["id"] % 3))
        return int(item["id"])

    with pytest.raises(Stop):
        await run_batch(questions(200), "id", fn, rows_out, max_concurrency=4, progress=False)
    written = read_jsonl(rows_out)
    await asyncio.sleep(0.2)
    assert read_jsonl(rows_out) == written  # nothing kept running after run_batch returned
    assert len(started) < 30 and 20 not in {row["id"] for row in written}

    resumed = await run_batch(questions(200), "id", lambda item: 1, rows_out, progress=False)
    assert resumed.skipped == len(written)
    ids = [row["id"] for row in read_jsonl(rows_out)]
    assert sorted(ids) == list(range(200))  # each exactly once


FULL_DISK = """
import asyncio, resource, sys
from scillm.batch import run_batch
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # writes past 4 KiB fail: EFBIG

async def fn(item):
    await asyncio.sleep(0.001)
    return "x" * 50

items = ({"id": i} for i in range(2000))
try:
    asyncio.run(run_batch(items, "id", fn, sys.argv[1], max_concurrency=4, progress=False))
except OSError as exc:
    print("stopped", exc.errno)
"""


async def test_a_failing_disk_stops_the_run_and_the_file_recovers(rows_out: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FULL_DISK, str(rows_out), stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert stdout.decode().split() == ["stopped", str(errno.EFBIG)]
    assert rows_out.stat().st_size <= 4096
    with JsonlCheckpoint(rows_out) as cp:  # a torn last line, if any, is cut
        done = len(cp.processed_ids())
    assert 0 < done < 2000 and len(read_jsonl(rows_out)) == done

    async def fn(item: dict[str, Any]) -> str:
        return "x"

    resumed = await run_batch(questions(2000), "id", fn, rows_out, progress=False)
    assert resumed.skipped == done
    assert sorted(row["id"] for row in read_jsonl(rows_out)) == list(range(2000))


async def test_cancelling_the_run_keeps_finished_rows(rows_out: Path) -> None:
    async def fn(item: dict[str, Any]) -> int:
        await asyncio.sleep(0.005)
        return int(item["id"])

    task = asyncio.ensure_future(run_batch(questions(2000), "id", fn, rows_out, progress=False))
    while not rows_out.exists() or len(rows_out.read_bytes().splitlines()) < 50:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    written = read_jsonl(rows_out)
    assert len({row["id"] for row in written}) == len(written) >= 50
    resumed = await run_batch(questions(2000), "id", fn, rows_out, progress=False)
    assert resumed.skipped == len(written) and resumed.processed == 2000 - len(written)


def test_progress_line_runs_without_a_terminal(
    rows_out: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def fn(item: dict[str, Any]) -> int:
        return 1

    summary = asyncio.run(run_batch(questions(5), "id", fn, rows_out))
    assert summary.processed == 5
    assert json.loads(rows_out.read_text().splitlines()[0])["out"] == 1
    capsys.readouterr()
