"""CodeWorld judge: the executed ranking decides; the LLM judge is asked and only recorded.

Three variants (correct and fast, correct and slow, wrong) go to the bridge with an LLM judge
(``SCENARIO_JUDGE_MODEL``, else the stack's mock server). The lexicographic ranking must put
the fast correct one first and the wrong one last; the judge must really have been called (its
prompt hash and token usage are recorded) and its opinion — a ranking of the programs it was
shown, or the error saying why its reply was unusable — must not change the verdict. With
``judge_mode="weighted"`` and brevity weighed heavily, the short slow program wins instead.
"""

from __future__ import annotations

from scillm.scenarios.base import Scenario, check
from scillm.scenarios.codeworld_bridge import healthy, judge
from scillm.scenarios.models import scenario_model
from scillm.scenarios.run_all import run_one
from scillm.scenarios.stack import Context

FAST_LONG = "def solve(x):\n" + "    y = 0\n" * 40 + "    return x * 2\n"
SLOW_SHORT = "def solve(x):\n    return [x * 2 for _ in range(3_000_000)][0]\n"
WRONG = "def solve(x):\n    return x\n"
ITEM = {
    "id": "double",
    "task": "Return twice x.",
    "variants": {"fast_long": FAST_LONG, "slow_short": SLOW_SHORT, "wrong": WRONG},
    "tests": [{"args": [1], "expected": 2}, {"args": [4], "expected": 8}],
}
LEX = ["fast_long", "slow_short", "wrong"]


def run(ctx: Context) -> str:
    healthy(ctx)
    spec = scenario_model(ctx, "SCENARIO_JUDGE_MODEL")
    rubric = {**spec.as_args(), "rubric": "Prefer correct, then fast programs."}
    [result] = judge(ctx, [ITEM], judge=rubric, seed=11)["results"]
    check(result["ranking"] == LEX, f"the executed ranking should be {LEX}: {result['ranking']}")
    check(result["best_variant"] == "fast_long", f"best variant {result['best_variant']!r}")
    llm = result["judge"]["llm"]
    check(llm is not None, "the LLM judge was not asked")
    check(llm["usage"]["calls"] >= 1 and llm["usage"]["total_tokens"] > 0, f"judge usage {llm}")
    check(len(llm["prompt_sha256"] or "") == 64, f"no prompt hash recorded: {llm}")
    if llm["ranking"] is not None:
        check(sorted(llm["ranking"]) == sorted(llm["order"]), f"judge ranking {llm['ranking']}")
        opinion = f"the judge ranked {llm['ranking']}"
    else:
        check(bool(llm["error"]), f"no ranking and no error from the judge: {llm}")
        opinion = f"the judge's reply was unusable ({llm['error']})"
    weights = {"correctness": 1, "brevity": 5}
    [weighted] = judge(ctx, [ITEM], weights=weights, judge_mode="weighted")["results"]
    check(
        weighted["ranking"] == ["slow_short", "fast_long", "wrong"],
        f"weighted by brevity the short program should win: {weighted['ranking']}",
    )
    return f"lex {LEX}, weighted puts slow_short first; {opinion}, recorded, verdict unchanged"


SCENARIO = Scenario(
    "codeworld_judge",
    "CodeWorld judge: executed ranking decides, the LLM judge is recorded",
    ("codeworld", "mock"),
    run,
)

if __name__ == "__main__":
    run_one(SCENARIO)
