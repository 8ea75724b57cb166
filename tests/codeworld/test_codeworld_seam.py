"""CodeWorld's LLM calls go through the Router: a 429 mid-search is retried, a cached seeded
search replays without the network, and the model may be a Router or one of its groups."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from scillm.codeworld import aevaluate, mcts
from scillm.codeworld.evaluation import Evaluator
from scillm.codeworld.execute import SandboxPool
from scillm.codeworld.request import parse_request
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
