"""CodeWorld's LLM calls go through the Router: a 429 mid-search is retried, a cached seeded
search replays without the network, and the model may be a Router or one of its groups."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from scillm.codeworld import aevaluate, mcts
from scillm.codeworld.evaluation import Evaluator
from scillm.codeworld.execute import SandboxPool
from scillm.codeworld.request import parse_request
from scillm.codeworld.validation import InvalidRequest, where
from scillm.router import Router
from scillm.testing import Fault, ScriptedModel

pytestmark = pytest.mark.usefixtures("isolated")

IDENTITY = "def solve(x):\n    return x\n"
ABS = "def solve(x):\n    return abs(x)\n"
FIXED = "def solve(x):\n    return abs(int(x))\n"
ITEM = {
    "id": "abs",
    "task": "Return the absolute value of x (an int, or a string of one).",
    "variants": {"identity": IDENTITY},
    "tests": [
        {"id": "pos", "args": [2], "expected": 2},
        {"id": "neg", "args": [-3], "expected": 3},
        {"id": "text", "args": ["-7"], "expected": 7},
    ],
}
RETRY_AFTER_S = 0.3


def fence(code: str) -> str:
    return f"```python\n{code}```\n"


def seeded(body: dict[str, Any]) -> str:
    """A deterministic "LLM": which wrong program it writes depends only on the seed."""
    return fence(f"def solve(x):\n    return x + {body['seed'] % 5 + 1}\n")


async def test_a_429_in_the_middle_of_a_search_is_retried_not_fatal() -> None:
    script = [fence(ABS), Fault.rate_limit(retry_after=RETRY_AFTER_S), fence(FIXED)]
    async with ScriptedModel(script) as model:
        args = {"generator_model": model.model, "generator_api_base": model.base_url}
        payload = await aevaluate([ITEM], strategy="mcts", rollouts=6, depth=3, seed=4, **args)
        requests = [r for r in model.server.requests if r.body]
    [result] = payload["results"]
    search = result["search"]
    assert result["status"] == "solved" and result["best_code"] == FIXED
    assert search["stopped"] == "perfect" and search["errors"] == []
    assert search["llm"]["calls"] == 2 and search["llm"]["errors"] == 0
    assert len(requests) == 3  # the 429'd request was sent again, after its Retry-After
    assert requests[2].received_at - requests[1].received_at >= RETRY_AFTER_S
    assert requests[2].body == requests[1].body


async def _search(model: Any, seed: int = 7) -> dict[str, Any]:
    body = {
        "messages": [],
        "items": [ITEM],
        "provider": {
            "name": "codeworld",
            "args": {"strategy": "mcts", "rollouts": 5, "depth": 2, "seed": seed},
        },
    }
    request = parse_request(body)
    evaluator = Evaluator(SandboxPool(2), time.monotonic() + 120)
    _, report = await mcts.search(request.items[0], request.config, evaluator, model=model)
    return {k: v for k, v in report.items() if k != "elapsed_s"}


async def test_a_cached_rerun_of_a_seeded_search_makes_no_call_and_repeats_the_tree(
    tmp_path: Path,
) -> None:
    async with ScriptedModel(then=seeded) as model:
        with model.router(cache=tmp_path / "llm.sqlite") as router:
            first = await _search(router)
            sent = model.calls
            again = await _search(router)
            assert model.calls == sent == first["llm"]["calls"] == 5
            other = await _search((router, "scripted"), seed=8)
    assert again == first
    assert first["stopped"] == "rollouts" and len(first["trace"]) == 5
    assert other["trace"] != first["trace"]


async def test_a_bad_model_is_refused_before_the_search_runs() -> None:
    router = Router(
        model_list=[
            {"model_name": "a", "litellm_params": {"model": "openai/x", "api_base": "http://h"}},
            {"model_name": "b", "litellm_params": {"model": "openai/y", "api_base": "http://h"}},
        ]
    )
    with pytest.raises(ValueError, match="has model groups a, b; name one"):
        await _search(router)
    with pytest.raises(ValueError, match="unknown model group 'c'"):
        await _search((router, "c"))


def ranking(body: dict[str, Any]) -> str:
    """A judge that ranks the candidates in the order shown."""
    labels = re.findall(r"^Candidate (\w):", body["messages"][-1]["content"], re.MULTILINE)
    return json.dumps({"ranking": labels, "reason": "in order"})


JUDGED = {**ITEM, "variants": {"identity": IDENTITY, "abs": FIXED}}


async def test_a_judge_given_a_router_retries_a_429_and_succeeds() -> None:
    script = [Fault.rate_limit(retry_after=RETRY_AFTER_S), ranking]
    async with ScriptedModel(script) as model:
        with model.router() as router:
            judge = {"model": router, "rubric": "be fair"}
            payload = await aevaluate([JUDGED], judge=judge, seed=3)
        calls = model.calls
    [result] = payload["results"]
    llm = result["judge"]["llm"]
    assert calls == 2  # the 429, then the same request again
    assert llm["error"] is None and llm["ranking"] == llm["order"]
    assert llm["model"] == payload["run_manifest"]["judge_model"] == "scripted"
    assert llm["usage"]["calls"] == 1 and llm["usage"]["errors"] == 0
    assert result["best_variant"] == "abs" and result["errors"] == []


def two_groups(good: str, bad: str = "http://127.0.0.1:9") -> Router:
    """Groups ``gen`` (at ``good``) and ``other`` (at a closed port)."""
    return Router(
        model_list=[
            {"model_name": "gen", "litellm_params": {"model": "openai/g", "api_base": good}},
            {"model_name": "other", "litellm_params": {"model": "openai/o", "api_base": bad}},
        ],
        num_retries=0,
    )


async def test_a_router_group_is_the_generator() -> None:
    async with ScriptedModel([fence(FIXED)]) as model:
        router = two_groups(model.base_url)
        payload = await aevaluate(
            [ITEM], strategy="mcts", rollouts=3, depth=2, seed=1, generator_model=(router, "gen")
        )
        calls = model.calls
    [result] = payload["results"]
    assert calls == 1 and result["status"] == "solved" and result["best_code"] == FIXED
    assert payload["run_manifest"]["strategy_params"]["generator_model"] == "gen"


async def test_bad_model_references_are_refused_together_with_what_to_pass() -> None:
    router = two_groups("http://127.0.0.1:9")
    with pytest.raises(InvalidRequest) as caught:
        await aevaluate(
            [ITEM],
            strategy="mcts",
            generator_model=router,
            judge={"model": (router, "judge")},
        )
    problems = {where(p.loc): p.message for p in caught.value.problems}
    assert (
        "has model groups gen, other; name one: (router, 'group')"
        in (problems["provider.args.generator_model"])
    )
    assert (
        "unknown model group 'judge'; this Router has: gen, other"
        in (problems["provider.args.judge.model"])
    )
    with pytest.raises(InvalidRequest) as caught:
        await aevaluate(
            [ITEM],
            strategy="mcts",
            generator_model=(router, "gen"),
            generator_api_base="http://127.0.0.1:9",
            judge={"model": 42},
        )
    problems = {where(p.loc): p.message for p in caught.value.problems}
    assert "api_base/api_key go with a model string" in problems["provider.args.generator_model"]
    assert problems["provider.args.judge.model"].startswith("must be a model string, not int")
    with pytest.raises(InvalidRequest, match=r"judge\.model: is empty; name a model"):
        await aevaluate([ITEM], judge={"model": " "})


def test_json_carries_model_strings_only() -> None:
    body = {
        "messages": [],
        "items": [ITEM],
        "provider": {"args": {"judge": {"model": ["router", "group"]}}},
    }
    with pytest.raises(InvalidRequest, match=r"judge\.model: must be a model string, not list"):
        parse_request(body)
