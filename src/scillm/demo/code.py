"""The full demo's CodeWorld step: three variants of ``median`` run against three tests in the
sandbox; the correct one scores 1, the buggy one what it passes, the crashing one 0."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scillm.demo.steps import StepResult, save_json

__all__ = ["ITEM", "code_step"]

ITEM: dict[str, Any] = {
    "id": "median",
    "task": "The median of a non-empty list of numbers.",
    "entrypoint": "median",
    "variants": {
        "correct": (
            "def median(xs):\n"
            "    s = sorted(xs)\n"
            "    n = len(s)\n"
            "    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2\n"
        ),
        "buggy": "def median(xs):\n    return sorted(xs)[len(xs) // 2]\n",
        "crashing": "def median(xs):\n    return xs[len(xs)]\n",
    },
    "tests": [
        {"args": [[3, 1, 2]], "expected": 2},
        {"args": [[4, 1, 3, 2]], "expected": 2.5},
        {"args": [[5]], "expected": 5},
    ],
}
EXPECTED = {"correct": 1.0, "buggy": 2 / 3, "crashing": 0.0}
"""The correctness each variant earns: its share of passed tests."""


def code_step(out_dir: Path) -> StepResult:
    """Score the variants (the payload goes to ``codeworld.json``); ok when each earns exactly
    its expected correctness."""
    from scillm.codeworld import evaluate

    payload = evaluate([ITEM])
    save_json(out_dir / "codeworld.json", payload)
    result = payload["results"][0]
    scores = {v["id"]: v["scores"]["correctness"] for v in result["variants"]}
    verdicts = {
        v["id"]: sorted({t["verdict"] for t in v["tests"] if t["verdict"] != "passed"})
        for v in result["variants"]
    }
    shown = ", ".join(f"{name} {scores.get(name, 0.0):.2f}" for name in EXPECTED)
    crash = "/".join(verdicts.get("crashing", [])) or "none"
    line = (
        f"correctness in the sandbox: {shown} (the crash: {crash}) — a crash never scores; "
        f"best: {result.get('best_variant')}"
    )
    ok = all(abs(scores.get(name, -1.0) - want) < 1e-9 for name, want in EXPECTED.items())
    ok = ok and result.get("best_variant") == "correct"
    return StepResult.judged("codeworld", ok, line)
