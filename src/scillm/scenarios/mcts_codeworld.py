"""MCTS over programs on the CodeWorld bridge: the search finds the correct variant.

Two items go to ``codeworld/mcts`` with a generator (``SCENARIO_MCTS_MODEL``, else the stack's
mock server). The first has a correct variant among wrong ones: the search must stop at it
(``perfect``) with every test passed. The second has none: the search must spend its rollouts
asking the generator (its calls and tokens counted), keep the best partial program, and — when
the generator is the mock, which cannot write new code — end unsolved rather than claim a
success; a real model may solve it, but only with a program that passed every test. The same
seed repeats the same search.
"""

from __future__ import annotations

from typing import Any

from scillm.scenarios.base import Scenario, check
from scillm.scenarios.codeworld_bridge import healthy, judge
from scillm.scenarios.models import scenario_model
from scillm.scenarios.run_all import run_one
from scillm.scenarios.stack import Context

TESTS = [
    {"id": "pos", "args": [2], "expected": 2},
    {"id": "neg", "args": [-3], "expected": 3},
    {"id": "text", "args": ["-7"], "expected": 7},
]
TASK = "Return the absolute value of x (an int, or a string of one)."
SOLVABLE = {
    "id": "abs",
    "task": TASK,
    "variants": {
        "identity": "def solve(x):\n    return x\n",
        "negate": "def solve(x):\n    return -x\n",
        "right": "def solve(x):\n    return abs(int(x))\n",
    },
    "tests": TESTS,
}
HARD = {
    "id": "abs-hard",
    "task": TASK,
    "variants": {
        "identity": "def solve(x):\n    return x\n",
        "partial": "def solve(x):\n    return abs(x)\n",
    },
    "tests": TESTS,
}
ROLLOUTS = 4


def trace(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(s["rollout"], s["node"], s["action"], s["result"]) for s in result["search"]["trace"]]


def run(ctx: Context) -> str:
    healthy(ctx)
    spec = scenario_model(ctx, "SCENARIO_MCTS_MODEL", "CODE_AGENT_MODEL")
    args = {"strategy": "mcts", "rollouts": ROLLOUTS, "depth": 2, "seed": 7}
    args |= spec.as_args("generator_")
    first, hard = judge(ctx, [SOLVABLE, HARD], **args)["results"]
    check(first["search"] is not None, "no search ran: the strategy was not mcts")
    check(first["status"] == "solved", f"the correct variant was not found: {first['status']}")
    check(first["best_variant"] == "right", f"best variant {first['best_variant']!r}")
    check(first["search"]["stopped"] == "perfect", f"search stopped: {first['search']}")
    check([t["verdict"] for t in first["tests"]] == ["passed"] * 3, f"tests {first['tests']}")
    search = hard["search"]
    check(search["rollouts"] >= 1, f"the search did not roll out: {search}")
    check(search["llm"]["calls"] >= 1, f"the generator was never asked: {search['llm']}")
    if hard["status"] == "solved":
        check(not spec.mock, "the mock cannot write a new program, yet the item was solved")
        best = next(v for v in hard["variants"] if v["id"] == hard["best_variant"])
        check(best["origin"] != "given" and best["passed"] == best["total"] == 3, f"{best}")
        outcome = f"the generator's program {best['id']} solved the hard item"
    else:
        check(hard["status"] == "unsolved", f"hard item: {hard['status']} {hard.get('message')}")
        check(hard["best_variant"] == "partial", f"best partial {hard['best_variant']!r}")
        check(hard["pass_rate"] == 2 / 3, f"partial pass rate {hard['pass_rate']}")
        outcome = f"hard item unsolved after {search['rollouts']} rollouts, best 'partial' 2/3"
    if spec.mock:
        again = judge(ctx, [HARD], **args)["results"][0]
        check(trace(again) == trace(hard), "the same seed did not repeat the same search")
    return f"found 'right' (stopped: perfect); {outcome}"


SCENARIO = Scenario(
    "mcts_codeworld",
    "MCTS on CodeWorld: the search finds the correct variant",
    ("codeworld", "mock"),
    run,
)

if __name__ == "__main__":
    run_one(SCENARIO)
