"""User scoring functions run in the sandbox; their failures are reported, never defaulted."""

from __future__ import annotations

import pytest

from scillm.codeworld import aevaluate

pytestmark = pytest.mark.usefixtures("isolated")

VARIANTS = {
    "short": "def solve(x):\n    return x + 1\n",
    "long": "def solve(x):\n    y = x\n    y = y + 1\n    return y\n",
    "wrong": "def solve(x):\n    return x\n",
}
TESTS = [{"id": "a", "args": [1], "expected": 2}, {"id": "b", "args": [5], "expected": 6}]
SCORER = """
def score(task, context, outputs, timings):
    if context["variant_id"] == "wrong":
        raise RuntimeError("no opinion on " + task)
    lines = len(context["code"].splitlines())
    right = sum(1 for t in context["tests"] if outputs[t["id"]] == t["expected"])
    return {"terse": 1 / lines, "agree": right / len(context["tests"])}
"""


async def test_the_scoring_function_adds_metrics_and_its_errors_are_shown() -> None:
    item = {"id": "inc", "task": "increment", "variants": VARIANTS, "tests": TESTS}
    weights = {"correctness": 1, "terse": 1}
    scoring = {"lang": "py", "code": SCORER}
    payload = await aevaluate([item], scoring=scoring, weights=weights, judge_mode="weighted")
    [result] = payload["results"]
    variants = {v["id"]: v for v in result["variants"]}
    assert variants["short"]["scores"]["terse"] == pytest.approx(1 / 2)
    assert variants["short"]["scores"]["agree"] == 1.0
    assert variants["long"]["scores"]["terse"] == pytest.approx(1 / 4)
    assert variants["short"]["scores"]["aggregate"] == pytest.approx((1 + 0.5) / 2)
    wrong = variants["wrong"]
    assert "terse" not in wrong["scores"]
    assert "RuntimeError: no opinion on increment" in wrong["scoring_error"]
    assert any("wrong: scoring" in e for e in result["errors"])
    assert result["ranking"] == ["short", "long", "wrong"]  # by aggregate: terse counts
    assert payload["run_manifest"]["scoring"] is True


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("def other(*a):\n    return 1\n", "no function 'score'"),
        ("def score(*a):\n    return 2.5\n", "not a number in [0, 1]"),
        ("def score(*a):\n    return {'correctness': 1.0}\n", "built-in metric"),
        ("def score(*a):\n    return 'great'\n", "must return a number"),
        ("def score(*a)\n    return 1\n", "SyntaxError"),
        ("def score(*a):\n    while True:\n        pass\n", "timeout"),
    ],
)
async def test_a_broken_scoring_function_is_an_error_on_every_variant(
    code: str, fragment: str
) -> None:
    item = {"id": "inc", "variants": {"short": VARIANTS["short"]}, "tests": TESTS}
    scoring = {"code": code, "timeout_s": 0.5}
    payload = await aevaluate([item], scoring=scoring)
    [variant] = payload["results"][0]["variants"]
    assert fragment in variant["scoring_error"]
    assert variant["scores"]["correctness"] == 1.0  # the tests' verdicts stand
    assert set(variant["scores"]) == {"correctness", "speed", "brevity", "aggregate"}
