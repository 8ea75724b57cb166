"""HumanEval through CodeWorld's sandbox: every canonical solution passes every test read from
its check, and broken variants fail (``humaneval.py`` says how the tests are made)."""

from __future__ import annotations

from typing import Any

import humaneval
import pytest

from scillm.codeworld import EngineSettings, aevaluate

pytestmark = pytest.mark.usefixtures("isolated")


def not_passed(variant: dict[str, Any]) -> list[str]:
    bad = [t for t in variant["tests"] if t["verdict"] != "passed"]
    return [f"{t['id']} {t['verdict']}: {t['message'][:200]}" for t in bad]


async def test_canonical_solutions_pass_every_test_and_broken_variants_fail() -> None:
    problems = humaneval.problems()
    items = [
        humaneval.item(p, {"canonical": humaneval.canonical(p), **humaneval.broken(p)})
        for p in problems
    ]
    payload = await aevaluate(items, max_seconds=600, settings=EngineSettings(concurrency=2))

    wrong: dict[str, Any] = {}
    for problem, result in zip(problems, payload["results"], strict=True):
        task = problem["task_id"]
        if result["status"] == "error":
            wrong[task] = f"item error: {result['message'][:300]}"
            continue
        variants = {v["id"]: v for v in result["variants"]}
        if failed := not_passed(variants["canonical"]):
            wrong[task] = (
                f"canonical: {len(failed)} of {variants['canonical']['total']}: {failed[:2]}"
            )
        if not not_passed(variants["none"]):
            wrong[task + " none"] = "passed every test"
        if "off_by_one" in variants:
            survived = not not_passed(variants["off_by_one"])
            if survived != (task in humaneval.EQUIVALENT_MUTANTS):
                wrong[task + " off_by_one"] = "survived" if survived else "failed"
    assert len(problems) == 164
    report = "\n".join(f"{k}: {v}" for k, v in wrong.items())
    assert not wrong, report
