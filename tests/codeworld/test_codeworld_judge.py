"""The judge: deterministic ranking always; the LLM judge's view is seeded, hashed and advisory."""

from __future__ import annotations

import re
from typing import Any

import pytest

from scillm.codeworld import aevaluate
from scillm.testing import MockLLMServer

pytestmark = pytest.mark.usefixtures("isolated")

FAST_LONG = "def solve(x):\n" + "    y = 0\n" * 40 + "    return x * 2\n"
SLOW_SHORT = "def solve(x):\n    return [x * 2 for _ in range(3_000_000)][0]\n"
WRONG = "def solve(x):\n    return x\n"
ITEM = {
    "id": "double",
    "task": "double x",
    "variants": {"fast_long": FAST_LONG, "slow_short": SLOW_SHORT, "wrong": WRONG},
    "tests": [{"args": [1], "expected": 2}, {"args": [4], "expected": 8}],
}


def worst_first(body: dict[str, Any]) -> str:
    """A contrarian judge: ranks the candidates in reverse order of appearance."""
    labels = re.findall(r"^Candidate (\w):", body["messages"][-1]["content"], re.MULTILINE)
    ranking = list(reversed(labels))
    return f'```json\n{{"ranking": {ranking}, "reason": "contrarian"}}\n```'.replace("'", '"')


async def test_the_deterministic_ranking_decides_and_the_llm_is_recorded(
    mock_llm: MockLLMServer,
) -> None:
    mock_llm.set_reply(worst_first)
    judge = {"model": "openai/judge", "api_base": mock_llm.base_url, "rubric": "be fair"}
    first = (await aevaluate([ITEM], judge=judge, seed=9))["results"][0]
    second = (await aevaluate([ITEM], judge=judge, seed=9))["results"][0]
    llm = first["judge"]["llm"]
    assert first["best_variant"] == "fast_long"  # lexicographic: correct, then fastest
    assert first["ranking"] == first["judge"]["lex_ranking"] == ["fast_long", "slow_short", "wrong"]
    assert sorted(llm["order"]) == sorted(ITEM["variants"])
    assert llm["ranking"] == list(reversed(llm["order"]))
    assert llm["best"] == llm["order"][-1]
    assert llm["error"] is None and llm["reason"] == "contrarian"
    assert len(llm["prompt_sha256"]) == len(llm["response_sha256"]) == 64
    assert second["judge"]["llm"]["order"] == llm["order"]
    assert second["judge"]["llm"]["prompt_sha256"] == llm["prompt_sha256"]
    prompt = mock_llm.requests[0].body["messages"][-1]["content"]  # type: ignore[index]
    assert "Rubric: be fair" in prompt and "failed" in prompt and "correctness" in prompt
    assert mock_llm.requests[0].body["seed"] == 9  # type: ignore[index]


async def test_an_unusable_judge_reply_is_an_error_not_a_verdict(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply("I like the second one.")
    judge = {"model": "openai/judge", "api_base": mock_llm.base_url}
    result = (await aevaluate([ITEM], judge=judge))["results"][0]
    llm = result["judge"]["llm"]
    assert llm["ranking"] is None and "no JSON object" in llm["error"]
    assert result["best_variant"] == "fast_long"
    assert any(e.startswith("llm judge:") for e in result["errors"])


async def test_weighted_mode_ranks_by_the_aggregate() -> None:
    weights = {"correctness": 1, "brevity": 5}
    lex = (await aevaluate([ITEM], weights=weights))["results"][0]
    weighted = (await aevaluate([ITEM], weights=weights, judge_mode="weighted"))["results"][0]
    assert lex["best_variant"] == "fast_long"
    assert weighted["best_variant"] == "slow_short"
    assert weighted["judge"]["lex_ranking"][0] == "fast_long"
    assert weighted["ranking"][-1] == "wrong"
