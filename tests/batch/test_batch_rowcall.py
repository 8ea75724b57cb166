"""One row → one Router call → one output row, in process, against the mock server."""

from __future__ import annotations

from typing import Any

import pytest

import scillm.batch
import scillm.contrib
import scillm.contrib.batch
from scillm import Router
from scillm.batch import AsyncTokenBucket, BatchSummary
from scillm.batch.jobs import Job
from scillm.batch.rowcall import RowCaller, estimate_tokens
from scillm.testing import Fault, MockLLMServer


def job(key: str, **request: Any) -> Job:
    return Job(
        key, key, {"messages": [{"role": "user", "content": "four words of prompt"}], **request}
    )


@pytest.fixture
def caller(mock_llm: MockLLMServer) -> RowCaller:
    defaults = {"model": "openai/mock", "api_base": mock_llm.base_url, "num_retries": 0}
    tpm = AsyncTokenBucket(0.001, 1000, name="tpm")  # refills too slowly to matter here
    rpm = AsyncTokenBucket(0.001, 100, name="rpm")
    return RowCaller(Router(), defaults, BatchSummary(path="x"), rpm=rpm, tpm=tpm)


async def test_a_reply_row_settles_the_tpm_reservation(caller: RowCaller) -> None:
    row, ok = await caller(job("a", max_tokens=50))
    assert ok and row["id"] == "a" and "error" not in row
    assert row["response"]["choices"][0]["message"]["content"] == "four words of prompt"
    assert "scillm_router" not in row["response"] and row["scillm_router"]["error_type"] == "ok"
    spent = row["response"]["usage"]["total_tokens"]
    assert caller.summary.tokens == spent
    assert caller.tpm is not None and caller.rpm is not None
    assert 1000 - spent - 0.1 < caller.tpm.stats()["tokens"] <= 1000 - spent + 0.1
    assert caller.rpm.stats()["acquired"] == 1


async def test_a_failed_call_is_an_error_row_and_refunds_its_tokens(
    caller: RowCaller, mock_llm: MockLLMServer
) -> None:
    mock_llm.enqueue(Fault.http(400))
    row, ok = await caller(job("b", max_tokens=50))
    assert not ok and row["ok"] is False and row["error"]["type"] == "BadRequestError"
    assert caller.tpm is not None and caller.tpm.stats()["tokens"] > 999.9


async def test_a_reply_that_fails_validation_is_a_failed_row(
    caller: RowCaller, mock_llm: MockLLMServer
) -> None:
    mock_llm.set_reply("")
    row, ok = await caller(job("c"))
    assert not ok and row["error"]["type"] == "empty_content" and "response" in row


async def test_a_row_without_any_model_is_refused_without_a_call(mock_llm: MockLLMServer) -> None:
    bare = RowCaller(Router(), {}, BatchSummary(path="x"))
    row, ok = await bare(job("d"))
    assert not ok and row["error"]["type"] == "BadInput" and mock_llm.requests == []


def test_estimate_tokens() -> None:
    parts = [{"type": "text", "text": "abcd" * 10}, {"type": "image_url"}]
    request = {
        "messages": [{"role": "user", "content": "x" * 40}, {"role": "user", "content": parts}]
    }
    assert estimate_tokens(request) == 10 + 10 + 8
    assert estimate_tokens({**request, "max_tokens": 100}) == 128


def test_public_names() -> None:
    names = [
        "AsyncTokenBucket",
        "JsonlCheckpoint",
        "TokenBucket",
        "run_batch",
        "token_bucket_from_env",
    ]
    assert scillm.batch.__all__ == sorted([*names, "BatchSummary"])
    assert scillm.contrib.__all__ == sorted([*names, "batch"])
    for name in names:
        assert getattr(scillm.contrib, name) is getattr(scillm.batch, name)
        assert getattr(scillm.contrib.batch, name) is getattr(scillm.batch, name)
