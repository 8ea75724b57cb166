"""The prompts of the search (write or repair a program) and of the LLM judge.

Prompts are pure functions of the item and the executed results, with no clock, randomness or
measured time (speed is left out of the judge's view), so a seeded run sends the same prompts
every time and the judge's prompt hash repeats.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from scillm.codeworld.evaluation import Evaluation
from scillm.codeworld.items import Item, Test
from scillm.codeworld.values import encode
from scillm.codeworld.verdicts import TestVerdict

__all__ = ["judge_messages", "new_program_messages", "repair_messages"]

EXAMPLES = 3  # tests shown when writing a program from scratch
FEEDBACK = 5  # failing tests shown when repairing
VALUE_CAP = 300
TIMED = ("speed", "aggregate")  # measured times vary run to run; the judge's prompt must not


def new_program_messages(item: Item) -> list[dict[str, Any]]:
    """Ask for a fresh program for ``item``."""
    examples = "\n".join(_example(item, t) for t in item.tests[:EXAMPLES])
    user = (
        f"Task: {item.task}\n\n{_interface(item)}\n\nExamples:\n{examples}\n\n"
        f"Write the complete {item.language} program."
    )
    return [_system(item), {"role": "user", "content": user}]


def repair_messages(item: Item, parent: Evaluation) -> list[dict[str, Any]]:
    """Ask for a repaired ``parent``, showing the tests it fails and how."""
    failing = parent.failing()[:FEEDBACK]
    tests = {t.id: t for t in item.tests}
    feedback = "\n".join(_feedback(item, tests[v.id], v) for v in failing)
    summary = f"{len(parent.verdicts) - len(parent.failing())}/{len(parent.verdicts)} tests pass"
    if parent.status not in ("ran", "skipped"):
        summary += f"; the program did not run ({parent.status}): {_cap(parent.message)}"
    user = (
        f"Task: {item.task}\n\n{_interface(item)}\n\n"
        f"This program ({summary}):\n```{item.language}\n{parent.variant.code}```\n\n"
        f"Failing tests:\n{feedback}\n\n"
        f"Fix the program. Reply with the complete corrected {item.language} program."
    )
    return [_system(item), {"role": "user", "content": user}]


def judge_messages(
    item: Item, labelled: Sequence[tuple[str, Evaluation]], rubric: str
) -> list[dict[str, Any]]:
    """Show the candidates (already in their seeded order) with their executed results."""
    blocks = "\n\n".join(_candidate(item, label, ev) for label, ev in labelled)
    labels = ", ".join(label for label, _ in labelled)
    system = (
        "You judge candidate programs for a programming task. The test results were obtained "
        "by running the programs; treat them as facts. Reply with a JSON object only: "
        '{"ranking": [labels, best first], "best": label, "reason": "one sentence"}.'
    )
    user = (
        f"Task: {item.task}\n\nRubric: {rubric}\n\n{blocks}\n\n"
        f"Rank all candidates ({labels}), best first."
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _system(item: Item) -> dict[str, Any]:
    content = (
        f"You are an expert {item.language} programmer. Reply with exactly one complete "
        f"{item.language} program in a single fenced code block and nothing else."
    )
    return {"role": "system", "content": content}


def _interface(item: Item) -> str:
    if item.mode == "stdio":
        return (
            "Write a whole program: it reads the input from standard input and prints the "
            "answer to standard output."
        )
    entry = item.entrypoint or "solve"
    return (
        f"Define a function named `{entry}`; it is called with each test's arguments and "
        "must return the answer (the same types as the expected values), not print it."
    )


def _example(item: Item, test: Test) -> str:
    if item.mode == "stdio":
        want = _json(test.expected) if test.checked else "(any output; must exit with status 0)"
        return f"- stdin {_json(test.stdin)} -> stdout {want}"
    call = f"{item.entrypoint or 'solve'}({_args(test)})"
    return f"- {call} -> {_json(test.expected) if test.checked else '(must not raise)'}"


def _feedback(item: Item, test: Test, verdict: TestVerdict) -> str:
    where = f"stdin {_json(test.stdin)}" if item.mode == "stdio" else f"args ({_args(test)})"
    line = f"- test {test.id}: {where}: {verdict.verdict}"
    if verdict.message:
        line += f": {_cap(verdict.message)}"
    return line


def _candidate(item: Item, label: str, ev: Evaluation) -> str:
    results = ", ".join(f"{v.id} {v.verdict}" for v in ev.verdicts)
    scores = ", ".join(
        f"{k} {v:.3f}" for k, v in ev.scores.items() if v is not None and k not in TIMED
    )
    return (
        f"Candidate {label}:\n```{item.language}\n{ev.variant.code}```\n"
        f"Tests: {results}\nScores: {scores}"
    )


def _args(test: Test) -> str:
    return ", ".join(_json(a) for a in test.args)


def _json(value: Any) -> str:
    """Plain JSON as JSON; other values (a tuple, a set, int keys, NaN) as a Python literal."""
    return _cap(json.dumps(value) if encode(value) == value else repr(value))


def _cap(text: str) -> str:
    return text if len(text) <= VALUE_CAP else text[:VALUE_CAP] + "…"
