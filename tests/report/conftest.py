"""One real ``scillm batch`` run against the mock server, shared by the report tests: two
priced models and one the price lists don't know, 429s with Retry-After, a refused call, a bad
input row, and a model name that tries to break out of the HTML."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from report_helpers import (
    HOSTILE_MODEL,
    ROWS,
    UNPRICED_MODEL,
    BatchRun,
    mock_env,
    question,
    scillm,
    write_jsonl,
)

from scillm.testing import Fault, MockLLMServer


@pytest.fixture(scope="session")
def batch_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchRun]:
    tmp = tmp_path_factory.mktemp("run")
    rows: list[Any] = []
    for i in range(ROWS):
        extra = {"model": "openai/gpt-4o"} if i % 3 == 0 else {}
        rows.append(question(i, **extra))
    rows.append(question(900, model=UNPRICED_MODEL))
    rows.append(question(901, model=HOSTILE_MODEL))
    rows.append({"id": ["not", "an", "id"], "prompt": "bad input"})
    source = write_jsonl(tmp / "in.jsonl", rows)
    output = tmp / "answers.jsonl"
    with MockLLMServer(latency_s=0.01) as server:
        server.enqueue(Fault.rate_limit(retry_after=0.1), Fault.rate_limit(retry_after=0.1))
        server.enqueue(Fault.http(400))
        done = scillm(
            "batch", str(source), "-o", str(output), "-m", "openai/gpt-4o-mini",
            "--concurrency", "4", "--timeout", "20", "--report", "--no-progress",
            env=mock_env(server),
        )  # fmt: skip
    assert done.returncode == 1, done.stderr  # the refused call and the bad row failed
    yield BatchRun(output, done)
