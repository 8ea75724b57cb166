"""CodeWorld bridge: its health check runs a program, and a request tells right from wrong.

The bridge (``CODEWORLD_URL``, else the stack's) must report a sandbox that ran its probe, and
judge one item with a correct and a wrong variant through scillm's ``codeworld`` provider: the
correct one solves every test, the wrong one fails each with the output it really computed
(values that appear nowhere in the request, so an echo cannot pass).
"""

from __future__ import annotations

from typing import Any

from scillm.scenarios.base import Scenario, Skip, check
from scillm.scenarios.run_all import run_one
from scillm.scenarios.stack import Context

RIGHT = "def solve(a, b):\n    return a + b\n"
WRONG = "def solve(a, b):\n    return a - b\n"
ITEM = {
    "id": "add",
    "task": "Return a + b.",
    "variants": {"right": RIGHT, "wrong": WRONG},
    "tests": [{"args": [20, 22], "expected": 42}, {"args": [5, -5], "expected": 0}],
}


def healthy(ctx: Context) -> dict[str, Any]:
    """The bridge's health report; :class:`Skip` when it has no sandbox to run code in."""
    health = ctx.call("codeworld", "/healthz", timeout=60)
    body = health.body if isinstance(health.body, dict) else {}
    if health.status == 503 and body.get("problem"):
        raise Skip(f"the CodeWorld bridge cannot run code: {body['problem']}")
    check(health.status == 200 and body.get("ok") is True, f"/healthz: {health.status} {body}")
    check(body["probe"]["status"] == "ok", f"the health probe did not run: {body['probe']}")
    return body


def judge(ctx: Context, items: list[dict[str, Any]], **args: Any) -> dict[str, Any]:
    """The CodeWorld payload for ``items``, through the provider against the stack's bridge."""
    import scillm

    model = "codeworld/mcts" if args.get("strategy") == "mcts" else "codeworld"
    resp = scillm.completion(
        model,
        [{"role": "user", "content": "Judge these programs."}],
        api_base=ctx.url("codeworld"),
        api_key=ctx.token,
        items=items,
        timeout=300,
        **args,
    )
    payload: dict[str, Any] = resp["codeworld"]
    return payload


def run(ctx: Context) -> str:
    health = healthy(ctx)
    [result] = judge(ctx, [ITEM])["results"]
    variants = {v["id"]: v for v in result["variants"]}
    check(result["status"] == "solved", f"expected the item solved, got {result['status']}")
    check(result["best_variant"] == "right", f"best variant {result['best_variant']!r}")
    check(result["ranking"] == ["right", "wrong"], f"ranking {result['ranking']}")
    right, wrong = variants["right"], variants["wrong"]
    check(
        [t["verdict"] for t in right["tests"]] == ["passed", "passed"],
        f"the correct variant: {[t['message'] for t in right['tests']]}",
    )
    check(
        [(t["verdict"], t["output"]) for t in wrong["tests"]] == [("failed", -2), ("failed", 10)],
        f"the wrong variant should fail with outputs -2 and 10: {wrong['tests']}",
    )
    check(
        right["scores"]["correctness"] == 1.0 and wrong["scores"]["correctness"] == 0.0,
        f"correctness {right['scores']} vs {wrong['scores']}",
    )
    return f"isolation {health['isolation']}; right 2/2 passed, wrong 0/2 (got -2, 10)"


SCENARIO = Scenario(
    "codeworld_bridge",
    "CodeWorld bridge: health, and a right vs a wrong variant",
    ("codeworld",),
    run,
)

if __name__ == "__main__":
    run_one(SCENARIO)
