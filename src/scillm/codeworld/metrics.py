"""The rubric: correctness, speed and brevity in [0, 1], and their weighted aggregate.

- correctness: weighted share of tests passed. Anything but ``passed`` counts 0.
- speed: per test, the fastest passing variant's CPU time over this variant's (0 where it did
  not pass), weighted like correctness. CPU time is measured from outside the program (``wait4``)
  less the runner's start-up on an empty program; times under ``CPU_FLOOR_MS`` count as equal
  (that measurement's noise).
- brevity: ``1 - lines/100`` (lines of code without blanks and comments, floored at 0), times
  correctness, so a program that passes nothing earns nothing for being short.
- aggregate: ``sum(weight * metric) / sum(weights)``; default weights 0.7 / 0.2 / 0.1.

A variant that fails every test therefore scores 0 on every built-in metric.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from scillm.codeworld.verdicts import TestVerdict

__all__ = [
    "BUILTIN_METRICS",
    "DEFAULT_WEIGHTS",
    "aggregate",
    "brevity",
    "correctness",
    "lines_of_code",
    "search_reward",
    "speeds",
]

BUILTIN_METRICS = ("correctness", "speed", "brevity")
DEFAULT_WEIGHTS: Mapping[str, float] = {"correctness": 0.7, "speed": 0.2, "brevity": 0.1}
BREVITY_LINES = 100
CPU_FLOOR_MS = 1.0
LINE_COMMENTS = {"python": "#", "bash": "#", "javascript": "//", "c": "//", "cpp": "//"}


def correctness(verdicts: Sequence[TestVerdict]) -> float:
    total = sum(v.weight for v in verdicts)
    return sum(v.weight for v in verdicts if v.passed) / total if total else 0.0


def lines_of_code(code: str, language: str) -> int:
    """Non-blank lines that are not only a line comment."""
    marker = LINE_COMMENTS.get(language, "#")
    return sum(
        1 for line in code.splitlines() if line.strip() and not line.strip().startswith(marker)
    )


def brevity(loc: int, correct: float) -> float:
    return correct * max(0.0, 1.0 - loc / BREVITY_LINES)


def speeds(table: Mapping[str, Sequence[TestVerdict]]) -> dict[str, float]:
    """Each variant's speed relative to the fastest passing variant, test by test."""
    fastest: dict[int, float] = {}
    for verdicts in table.values():
        for i, v in enumerate(verdicts):
            if v.passed and v.cpu_ms is not None:
                fastest[i] = min(fastest.get(i, float("inf")), max(v.cpu_ms, CPU_FLOOR_MS))
    result = {}
    for variant_id, verdicts in table.items():
        total = sum(v.weight for v in verdicts)
        earned = sum(
            v.weight * fastest[i] / max(v.cpu_ms, CPU_FLOOR_MS)
            for i, v in enumerate(verdicts)
            if v.passed and v.cpu_ms is not None
        )
        result[variant_id] = earned / total if total else 0.0
    return result


def aggregate(scores: Mapping[str, float | None], weights: Mapping[str, float]) -> float:
    """Weighted mean of the metrics the weights name; a missing (failed) metric counts 0."""
    total = sum(weights.values())
    return sum(w * (scores.get(name) or 0.0) for name, w in weights.items()) / total


def search_reward(correct: float, brief: float, weights: Mapping[str, float]) -> float:
    """The score a search optimises: the aggregate without speed, which is timing noise and
    would make a seeded search irreproducible, and without scoring-function metrics (run once
    per item, after the search)."""
    part = {k: weights.get(k, 0.0) for k in ("correctness", "brevity")}
    if not sum(part.values()):
        return correct
    return aggregate({"correctness": correct, "brevity": brief}, part)
