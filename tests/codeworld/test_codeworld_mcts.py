"""MCTS driven by a scripted LLM on the mock server: real executions, exact behaviour."""

from __future__ import annotations

from typing import Any

import pytest

from scillm.codeworld import aevaluate
from scillm.testing import Fault, MockLLMServer

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


def fence(code: str) -> str:
    return f"Here you go:\n```python\n{code}```\n"


def repairer(prompt: str) -> str:
    """Fixes one bug per repair, and only when shown the failing test it causes."""
    if "return abs(x)" in prompt and "TypeError" in prompt:
        return fence(FIXED)
    if "return x\n" in prompt and "expected 3, got -3" in prompt:
        return fence(ABS)
    return fence("def solve(x):\n    return 0\n")  # a fresh program: wrong


def trace_shape(search: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [
        (s["rollout"], s["node"], s["action"], s["result"], s.get("variant"))
        for s in search["trace"]
    ]


async def test_a_program_only_repairs_reach_is_found_and_baseline_misses_it(
    scripted_llm: Any,
) -> None:
    llm = scripted_llm(repairer)
    baseline = (await aevaluate([ITEM]))["results"][0]
    assert baseline["status"] == "unsolved"
    assert baseline["best_variant"] == "identity"

    payload = await aevaluate([ITEM], strategy="mcts", rollouts=12, depth=3, seed=3, **llm.args)
    [result] = payload["results"]
    search = result["search"]
    assert result["status"] == "solved"
    assert result["best_code"] == FIXED
    best = next(v for v in result["variants"] if v["id"] == result["best_variant"])
    assert (best["origin"], best["depth"]) == ("repair", 2)
    parent = next(v for v in result["variants"] if v["id"] == best["parent"])
    assert parent["code"] == ABS and parent["parent"] == "identity"
    assert [t["verdict"] for t in result["tests"]] == ["passed"] * 3
    assert search["stopped"] == "perfect"
    assert search["rollouts"] <= 12
    assert search["llm"]["calls"] == search["rollouts"] == len(llm.server.requests)
    assert search["llm"]["total_tokens"] > 0
    assert payload["usage"]["total_tokens"] == search["llm"]["total_tokens"]
    # The repair prompts carried the executed feedback.
    prompts = llm.prompts()
    assert any("expected 3, got -3" in p for p in prompts)
    assert any("TypeError" in p for p in prompts)
    assert payload["run_manifest"]["strategy_params"]["rollouts"] == 12


def chooser(body: dict[str, Any]) -> str:
    """A seeded "LLM": which wrong program it writes depends only on the request's seed."""
    return fence(f"def solve(x):\n    return x + {body['seed'] % 7 + 1}\n")


async def test_a_seed_reproduces_the_search(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply(chooser)
    args = {
        "strategy": "mcts",
        "rollouts": 5,
        "depth": 2,
        "generator_model": "openai/seeded",
        "generator_api_base": mock_llm.base_url,
    }
    first = (await aevaluate([ITEM], seed=11, **args))["results"][0]["search"]
    seeds_first = [r.body["seed"] for r in mock_llm.requests if r.body]
    second = (await aevaluate([ITEM], seed=11, **args))["results"][0]["search"]
    seeds_second = [r.body["seed"] for r in mock_llm.requests if r.body][len(seeds_first) :]
    other = (await aevaluate([ITEM], seed=12, **args))["results"][0]["search"]
    assert trace_shape(first) == trace_shape(second)
    assert seeds_first == seeds_second
    assert [s["reward"] for s in first["trace"]] == [s["reward"] for s in second["trace"]]
    assert first["stopped"] == "rollouts" and first["rollouts"] == 5
    assert max(first["max_depth_reached"], other["max_depth_reached"]) <= 2
    assert trace_shape(first) != trace_shape(other)


async def test_the_environment_seed_is_used_and_reported(
    scripted_llm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCILLM_DETERMINISTIC_SEED", "5")
    llm = scripted_llm(repairer)
    payload = await aevaluate([ITEM], strategy="mcts", rollouts=1, **llm.args)
    assert payload["run_manifest"]["strategy_seed"] == 5
    assert payload["results"][0]["search"]["seed"] == 5


async def test_reformatted_programs_are_one_node(scripted_llm: Any) -> None:
    def restyler(prompt: str) -> str:  # the identity, dressed up differently each time
        return fence('def solve( x ):\n    """Identity."""\n    # unchanged\n    return (x)\n')

    llm = scripted_llm(restyler)
    payload = await aevaluate([ITEM], strategy="mcts", rollouts=3, seed=1, **llm.args)
    search = payload["results"][0]["search"]
    assert search["duplicates"] == 3
    assert search["nodes"] == 1
    assert [s["result"] for s in search["trace"]] == ["duplicate"] * 3
    assert {s["variant"] for s in search["trace"]} == {"identity"}


async def test_budgets_end_the_search(scripted_llm: Any) -> None:
    counter = iter(range(1, 1000))

    def never_right(prompt: str) -> str:
        return fence(f"def solve(x):\n    return x * {next(counter) + 10}\n")

    llm = scripted_llm(never_right)
    item = {**ITEM, "id": "budget"}
    payload = await aevaluate([item], strategy="mcts", rollouts=4, depth=1, seed=2, **llm.args)
    result = payload["results"][0]
    search = result["search"]
    assert (search["stopped"], search["rollouts"], search["nodes"]) == ("rollouts", 4, 5)
    assert search["max_depth_reached"] <= 1
    assert all(v["depth"] <= 1 for v in result["variants"])
    assert result["status"] == "unsolved"

    timed = await aevaluate(
        [item], strategy="mcts", rollouts=50, strategy_config={"max_seconds": 1e-6}, **llm.args
    )
    assert timed["results"][0]["search"]["stopped"] == "max_seconds"
    assert timed["results"][0]["search"]["rollouts"] == 0


async def test_failing_llm_calls_end_the_search_and_are_reported(
    mock_llm: MockLLMServer,
) -> None:
    mock_llm.enqueue(*[Fault.http(500) for _ in range(10)])
    args = {"generator_model": "openai/down", "generator_api_base": mock_llm.base_url}
    payload = await aevaluate([ITEM], strategy="mcts", rollouts=10, seed=1, **args)
    result = payload["results"][0]
    search = result["search"]
    assert search["stopped"] == "llm_errors"
    assert search["rollouts"] == 3 and search["llm"]["errors"] == 3
    assert "HTTP 500" in search["errors"][0]
    assert any(e.startswith("search: ServerError") for e in result["errors"])
    assert result["status"] == "unsolved" and result["best_variant"] == "identity"


async def test_auto_mode_generates_the_first_variants(mock_llm: MockLLMServer) -> None:
    answers = iter([fence("def solve(x):\n    return x\n"), fence(FIXED), fence(ABS)])
    mock_llm.set_reply(lambda body: next(answers))
    item = {key: value for key, value in ITEM.items() if key != "variants"}
    args = {"generator_model": "openai/gen", "generator_api_base": mock_llm.base_url}
    payload = await aevaluate(
        [item], strategy="mcts", autogenerate=True, n_variants=3, rollouts=5, seed=4, **args
    )
    result = payload["results"][0]
    search = result["search"]
    assert sorted(v["id"] for v in result["variants"]) == ["auto1", "auto2", "auto3"]
    assert {v["origin"] for v in result["variants"]} == {"generated"}
    assert result["status"] == "solved" and result["best_code"] == FIXED
    assert (search["rollouts"], search["llm"]["calls"], search["stopped"]) == (0, 3, "perfect")
    assert [(s["result"], s["variant"]) for s in search["trace"]] == [
        ("generated", "auto1"),
        ("generated", "auto2"),
        ("generated", "auto3"),
    ]
    assert all("Examples:" in r.body["messages"][-1]["content"] for r in mock_llm.requests)
