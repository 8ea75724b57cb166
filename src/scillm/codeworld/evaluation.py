"""Evaluate one variant of one item: run it on every test (once per distinct program and test
set, thanks to the execution cache), judge each test, and measure it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from scillm.codeworld.execute import (
    CallRun,
    Execution,
    SandboxPool,
    execute,
    function_program,
    stdio_program,
)
from scillm.codeworld.fingerprint import code_hash, shape_hash
from scillm.codeworld.items import DEFAULT_ENTRYPOINTS, Item, Variant
from scillm.codeworld.metrics import brevity, correctness, lines_of_code
from scillm.codeworld.verdicts import TestVerdict, judge_call
from scillm.sandbox import ISOLATION_NONE

__all__ = ["Evaluation", "Evaluator"]


@dataclass
class Evaluation:
    """A variant and everything known about it. ``scores`` is filled in once the whole item
    has been evaluated (speed is relative to the other variants)."""

    variant: Variant
    origin: str  # given | generated | repair
    parent: str | None
    depth: int
    status: str  # ran, compile_error, load_error, no_entrypoint, rejected, sandbox_error, skipped
    message: str
    verdicts: tuple[TestVerdict, ...]
    loc: int
    correctness: float
    brevity: float
    code_sha256: str
    shape: str
    isolation: str = ISOLATION_NONE
    cached: bool = False
    entrypoint: str | None = None
    scores: dict[str, float | None] = field(default_factory=dict)
    scoring_error: str | None = None

    @property
    def id(self) -> str:
        return self.variant.id

    @property
    def perfect(self) -> bool:
        return all(v.passed for v in self.verdicts)

    def failing(self) -> list[TestVerdict]:
        return [v for v in self.verdicts if not v.passed]

    def to_dict(self) -> dict[str, Any]:
        passed = sum(1 for v in self.verdicts if v.passed)
        return {
            "id": self.id,
            "origin": self.origin,
            "parent": self.parent,
            "depth": self.depth,
            "status": self.status,
            "message": self.message,
            "scores": dict(self.scores),
            "scoring_error": self.scoring_error,
            "passed": passed,
            "failed": len(self.verdicts) - passed,
            "total": len(self.verdicts),
            "loc": self.loc,
            "entrypoint": self.entrypoint,
            "isolation": self.isolation,
            "cached": self.cached,
            "code_sha256": self.code_sha256,
            "code": self.variant.code,
            "tests": [v.to_dict() for v in self.verdicts],
        }


class Evaluator:
    """Runs variants in the sandbox, once per distinct (program, tests), until ``deadline``
    (a ``time.monotonic()`` value); later variants are ``skipped``, never passed."""

    def __init__(self, pool: SandboxPool, deadline: float) -> None:
        self.pool = pool
        self.deadline = deadline
        self.cache_hits = 0
        self._runs: dict[tuple[str, str], asyncio.Task[Execution]] = {}

    async def evaluate(
        self,
        item: Item,
        variant: Variant,
        *,
        origin: str = "given",
        parent: str | None = None,
        depth: int = 0,
    ) -> Evaluation:
        key = (item.execution_key, code_hash(variant.code))
        task = self._runs.get(key)
        cached = task is not None
        if task is not None:
            self.cache_hits += 1
        elif time.monotonic() >= self.deadline:
            execution = _not_run(item, "skipped", "max_seconds ran out before this variant ran")
            return _evaluation(item, variant, execution, origin, parent, depth, cached=False)
        else:
            task = asyncio.ensure_future(_run(item, variant.code, self.pool, self.deadline))
            self._runs[key] = task
        execution = await task
        return _evaluation(item, variant, execution, origin, parent, depth, cached=cached)


async def _run(item: Item, code: str, pool: SandboxPool, deadline: float) -> Execution:
    if item.mode == "stdio":
        calls = [(t.stdin, t.timeout_s) for t in item.tests]
        program = stdio_program(item.language, code, calls, item.memory_mb)
        if isinstance(program, str):
            return _not_run(item, "sandbox_error", program)
    else:
        entry = (item.entrypoint,) if item.entrypoint else DEFAULT_ENTRYPOINTS
        args = [(t.args, t.timeout_s) for t in item.tests]
        program = function_program(item.language, code, entry, args, item.memory_mb)
    return await execute(program, pool, deadline)


def _not_run(item: Item, status: str, message: str) -> Execution:
    return Execution(tuple(CallRun(status, message=message) for _ in item.tests), status, message)


def _evaluation(
    item: Item,
    variant: Variant,
    execution: Execution,
    origin: str,
    parent: str | None,
    depth: int,
    *,
    cached: bool,
) -> Evaluation:
    stdio = item.mode == "stdio"
    verdicts = tuple(
        judge_call(test, run, execution.status, stdio, item.language)
        for test, run in zip(item.tests, execution.runs, strict=True)
    )
    loc = lines_of_code(variant.code, item.language)
    correct = correctness(verdicts)
    return Evaluation(
        variant=variant,
        origin=origin,
        parent=parent,
        depth=depth,
        status=execution.status,
        message=execution.message,
        verdicts=verdicts,
        loc=loc,
        correctness=correct,
        brevity=brevity(loc, correct),
        code_sha256=code_hash(variant.code),
        shape=shape_hash(variant.code, item.language),
        isolation=execution.isolation,
        cached=cached,
        entrypoint=execution.entrypoint,
    )
