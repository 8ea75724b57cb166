"""``Router(max_cost_usd=...)``: a dollar budget counted from the replies' usage at genai-prices'
prices; once spent no call is sent (the mock's request log says so), unknown prices refused."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest

import scillm
from scillm.cost import call_cost
from scillm.router import Router
from scillm.testing import Fault, MockLLMServer

PRICED = "openai/gpt-4o-mini"
UNPRICED = "openai/scillm-test-unpriced"
DOCS = Path(__file__).parents[2] / "docs" / "records.md"
HI = [{"role": "user", "content": "the same question every time"}]


def model_list(server: MockLLMServer, model: str = PRICED) -> list[dict[str, Any]]:
    params = {"model": model, "api_base": server.base_url, "api_key": "k"}
    return [{"model_name": "fast", "litellm_params": params}]


def price_of_one_call(server: MockLLMServer) -> float:
    """What one call of ``HI`` costs, from the usage the mock reports (no budget yet)."""
    with Router(model_list(server)) as router:
        usage = router.completion(model="fast", messages=HI)["usage"]
    price = call_cost(PRICED, usage["prompt_tokens"], usage["completion_tokens"])
    assert price is not None and price.usd > 0
    server.clear()
    return price.usd


def test_calls_stop_once_the_budget_is_spent_and_nothing_more_is_sent(
    mock_llm: MockLLMServer,
) -> None:
    per_call = price_of_one_call(mock_llm)
    router = Router(model_list(mock_llm), max_cost_usd=2.5 * per_call)
    for _ in range(3):  # the third call starts with half a call's budget left, and overruns it
        assert router.completion(model="fast", messages=HI).choices[0].message.content
    assert router.spent is not None and math.isclose(router.spent.usd, 3 * per_call)
    for _ in range(2):
        with pytest.raises(scillm.BudgetExceeded, match="max_cost_usd") as info:
            router.completion(model="fast", messages=HI)
        assert "budget of $" in str(info.value) and "no new call" in str(info.value)
        assert isinstance(info.value, scillm.ScillmError)
    assert len(mock_llm.requests) == 3
    router.set_budget(max_requests=100)  # a new request budget keeps the dollars counted
    with pytest.raises(scillm.BudgetExceeded, match="max_cost_usd"):
        router.completion(model="fast", messages=HI)
    router.set_budget(max_cost_usd=10 * per_call)  # a new dollar budget starts from zero
    router.completion(model="fast", messages=HI)
    assert len(mock_llm.requests) == 4


async def test_a_fan_out_stops_sending_and_raises_with_its_results(
    mock_llm: MockLLMServer,
) -> None:
    per_call = price_of_one_call(mock_llm)
    router = Router(model_list(mock_llm), max_cost_usd=1.5 * per_call)
    requests = [{"model": "fast", "messages": HI} for _ in range(6)]
    with pytest.raises(scillm.BudgetExceeded, match="max_cost_usd") as info:
        await router.parallel_acompletions(requests, max_concurrency=1)
    kinds = [r.meta["error_type"] for r in info.value.results]
    assert kinds == ["ok"] * 2 + ["budget_exceeded"] * 4
    assert len(mock_llm.requests) == 2


async def test_a_stream_counts_the_usage_of_its_last_chunk(mock_llm: MockLLMServer) -> None:
    router = Router(model_list(mock_llm), max_cost_usd=1.0)
    chunks = await router.acompletion(
        model="fast", messages=HI, stream=True, stream_options={"include_usage": True}
    )
    usage = [chunk["usage"] async for chunk in chunks if chunk.get("usage")]
    assert router.spent is not None and router.spent.priced == 1
    expected = call_cost(PRICED, usage[-1]["prompt_tokens"], usage[-1]["completion_tokens"])
    assert expected is not None and math.isclose(router.spent.usd, expected.usd)


def test_a_deployment_of_unknown_price_is_refused(mock_llm: MockLLMServer) -> None:
    with pytest.raises(ValueError, match=f"price of {UNPRICED} .* unknown"):
        Router(model_list(mock_llm, UNPRICED), max_cost_usd=1.0)
    Router(model_list(mock_llm, UNPRICED)).close()  # without a budget it is fine
    router = Router(max_cost_usd=1.0)
    with pytest.raises(scillm.BudgetExceeded, match=f"price of {UNPRICED} is unknown"):
        router.completion(model=UNPRICED, messages=HI, api_base=mock_llm.base_url, api_key="k")
    assert mock_llm.requests == []  # refused before anything was sent
    reply = router.completion(model=PRICED, messages=HI, api_base=mock_llm.base_url, api_key="k")
    assert reply.choices[0].message.content and len(mock_llm.requests) == 1


def test_a_reply_without_usage_stops_a_dollar_budget(mock_llm: MockLLMServer) -> None:
    message = {"role": "assistant", "content": "no usage here"}
    body = {"id": "c1", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}  # fmt: skip
    mock_llm.set_reply(lambda request: body)
    router = Router(model_list(mock_llm), max_cost_usd=1.0)
    router.completion(model="fast", messages=HI)
    with pytest.raises(scillm.BudgetExceeded, match="without usage"):
        router.completion(model="fast", messages=HI)
    assert len(mock_llm.requests) == 1


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), True, "5"])
def test_what_is_no_budget_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="max_cost_usd must be"):
        Router(max_cost_usd=value)
    with pytest.raises(ValueError, match="max_cost_usd must be"):
        Router().set_budget(max_cost_usd=value)


def test_record_path_writes_one_record_per_call(mock_llm: MockLLMServer, tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    mock_llm.enqueue(Fault.rate_limit(retry_after=0.01))
    with Router(model_list(mock_llm), record_path=path, num_retries=2) as router:
        router.completion(model="fast", messages=HI)
        mock_llm.enqueue(Fault.http(400))
        with pytest.raises(scillm.BadRequestError):
            router.completion(model="fast", messages=HI)
    fields = re.findall(r"^\| `(\w+)` \|", DOCS.read_text(), flags=re.MULTILINE)
    ok, refused = (json.loads(line) for line in path.read_text().splitlines())
    assert list(ok) == list(refused) == fields
    assert (ok["source"], ok["model"], ok["deployment"], ok["status"]) == (
        "router", "fast", "fast#0", "ok",
    )  # fmt: skip
    assert (ok["attempts"], ok["rate_limited"], ok["retry_after_s"]) == (2, 1, 0.01)
    assert ok["cost_usd"] > 0 and ok["cost_source"] == "genai-prices"
    assert (refused["status"], refused["cost_usd"]) == ("BadRequestError", 0)
    assert refused["attempts"] == 1
    assert path.stat().st_mode & 0o777 == 0o600
