"""run_batch's run records and ``max_cost_usd``, against the mock server over loopback: rows of
calls carry the record ``scillm batch`` rows carry; a budget stops cleanly and a rerun resumes."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from batch_helpers import read_jsonl

import scillm
from scillm.batch import run_batch
from scillm.cost import call_cost
from scillm.router import Router
from scillm.runrecord import RECORD_VERSION
from scillm.testing import Fault, MockLLMServer

PRICED = "openai/gpt-4o-mini"
UNPRICED = "openai/scillm-test-unpriced"
DOCS = Path(__file__).parents[2] / "docs" / "records.md"


def documented_fields() -> list[str]:
    return re.findall(r"^\| `(\w+)` \|", DOCS.read_text(), flags=re.MULTILINE)


def items(n: int) -> list[dict[str, Any]]:
    return [{"id": i, "q": "the same question"} for i in range(n)]


def router_asker(router: Router) -> Any:
    async def ask(item: dict[str, Any]) -> Any:
        messages = [{"role": "user", "content": item["q"]}]
        return await router.acompletion(model="fast", messages=messages)

    return ask


def plain_asker(server: MockLLMServer, model: str = PRICED) -> Any:
    async def ask(item: dict[str, Any]) -> Any:
        messages = [{"role": "user", "content": item["q"]}]
        return await scillm.acompletion(model, messages, api_base=server.base_url, api_key="k")

    return ask


def fast_router(server: MockLLMServer, **options: Any) -> Router:
    params = {"model": PRICED, "api_base": server.base_url, "api_key": "k"}
    return Router([{"model_name": "fast", "litellm_params": params}], **options)


def cost_of(row: dict[str, Any]) -> float:
    return float(row["record"]["cost_usd"])


async def test_rows_of_calls_carry_the_documented_record(
    mock_llm: MockLLMServer, rows_out: Path
) -> None:
    mock_llm.enqueue(Fault.rate_limit(retry_after=0.01))
    router = fast_router(mock_llm, num_retries=2)
    summary = await run_batch(items(4), "id", router_asker(router), rows_out, progress=False,
                              max_concurrency=1)  # fmt: skip
    assert (summary.succeeded, summary.stopped) == (4, None)
    rows = read_jsonl(rows_out)
    for row in rows:
        record = row["record"]
        assert list(record) == documented_fields()
        assert record["v"] == RECORD_VERSION and record["source"] == "run_batch"
        assert record["status"] == "ok" and record["model"] == PRICED
        assert record["deployment"] == "fast#0" and record["tokens_in"] > 0
        usage = row["out"]["usage"]
        price = call_cost(PRICED, usage["prompt_tokens"], usage["completion_tokens"])
        assert price is not None and math.isclose(cost_of(row), price.usd)
    (limited,) = [row["record"] for row in rows if row["record"]["rate_limited"]]
    assert (limited["rate_limited"], limited["retries"], limited["attempts"]) == (1, 1, 2)
    assert limited["retry_after_s"] == 0.01 and limited["retry_wait_s"] > 0
    assert len(mock_llm.requests) == 5


async def test_failures_and_other_results(mock_llm: MockLLMServer, tmp_path: Path) -> None:
    mock_llm.enqueue(Fault.http(400))
    router = fast_router(mock_llm)
    out = tmp_path / "a.jsonl"
    await run_batch(items(1), "id", router_asker(router), out, progress=False)
    (failed,) = read_jsonl(out)
    assert failed["ok"] is False and failed["error"]["type"] == "BadRequestError"
    assert failed["record"]["status"] == "BadRequestError" and failed["record"]["cost_usd"] == 0
    assert failed["record"]["attempts"] == 1

    plain = tmp_path / "b.jsonl"
    await run_batch(items(1), "id", plain_asker(mock_llm), plain, progress=False)
    (row,) = read_jsonl(plain)
    record = row["record"]  # no Router meta: priced by the model the reply names
    assert record["cost_usd"] > 0 and record["deployment"] is None
    assert record["model"] == row["out"]["model"] == "gpt-4o-mini"

    async def text(item: dict[str, Any]) -> str:
        return "not a completion"

    other = tmp_path / "c.jsonl"
    await run_batch(items(1), "id", text, other, progress=False)
    assert read_jsonl(other) == [{"id": 0, "out": "not a completion"}]


async def test_max_cost_stops_cleanly_and_a_rerun_resumes(
    mock_llm: MockLLMServer, rows_out: Path
) -> None:
    ask = plain_asker(mock_llm)
    await run_batch(items(1), "id", ask, rows_out, progress=False)
    per_call = cost_of(read_jsonl(rows_out)[0])
    rows_out.unlink()
    mock_llm.clear()
    budget = 4.5 * per_call
    first = await run_batch(items(40), "id", ask, rows_out, progress=False, max_concurrency=3,
                            max_cost_usd=budget)  # fmt: skip
    assert first.stopped is not None and "budget of $" in first.stopped
    assert first.interrupted is False and first.as_dict()["stopped"] == first.stopped
    written = read_jsonl(rows_out)
    assert 5 <= len(written) < 40 and first.processed == len(written)
    assert all(row.get("ok") is not False for row in written)  # no row was cut off
    assert len(mock_llm.requests) == len(written)  # every call made was written
    assert sum(cost_of(row) for row in written) >= budget

    again = await run_batch(items(40), "id", ask, rows_out, progress=False,
                            max_cost_usd=100 * per_call)  # fmt: skip
    done = len(written)
    assert (again.stopped, again.skipped, again.processed) == (None, done, 40 - done)
    assert len(mock_llm.requests) == 40  # the finished rows were not called again
    assert sorted(row["id"] for row in read_jsonl(rows_out)) == list(range(40))


async def test_max_cost_stops_at_a_price_it_cannot_count(
    mock_llm: MockLLMServer, rows_out: Path
) -> None:
    summary = await run_batch(items(10), "id", plain_asker(mock_llm, UNPRICED), rows_out,
                              progress=False, max_concurrency=1, max_cost_usd=10)  # fmt: skip
    assert summary.stopped is not None and UNPRICED.split("/")[1] in summary.stopped
    assert "unknown" in summary.stopped
    (row,) = read_jsonl(rows_out)
    assert row["record"]["cost_usd"] is None and len(mock_llm.requests) == 1


async def test_a_router_budget_in_fn_stops_the_run_without_error_rows(
    mock_llm: MockLLMServer, rows_out: Path
) -> None:
    router = fast_router(mock_llm)
    router.set_budget(max_requests=3)
    summary = await run_batch(items(10), "id", router_asker(router), rows_out, progress=False,
                              max_concurrency=2)  # fmt: skip
    assert summary.stopped is not None and "max_requests" in summary.stopped
    rows = read_jsonl(rows_out)
    assert len(rows) == 3 and all(row.get("ok") is not False for row in rows)
    rerun = await run_batch(items(10), "id", router_asker(fast_router(mock_llm)), rows_out,
                            progress=False)  # fmt: skip
    assert (rerun.skipped, rerun.processed, rerun.stopped) == (3, 7, None)


@pytest.mark.parametrize("value", [0, -2.0, float("nan"), True])
async def test_what_is_no_budget_is_refused(value: Any, rows_out: Path) -> None:
    with pytest.raises(ValueError, match="max_cost_usd must be"):
        await run_batch(items(1), "id", str, rows_out, progress=False, max_cost_usd=value)
    assert not rows_out.exists()
