"""User scoring functions, run inside the sandbox: ``score(task, context, outputs, timings)``.

One sandboxed process per item calls the function once per variant, with ``outputs`` and
``timings`` (CPU ms) keyed by test id (None where the test did not run to the end) and
``context`` = the item's ``context`` plus ``item_id``, ``variant_id``, ``language``, ``code``,
``tests`` and ``verdicts``. It returns a number in [0, 1] (metric ``custom``) or an object of
metric name → number in [0, 1]. Every failure (does not load, raises, times out, returns
anything else) is the variant's ``scoring_error``: its custom metrics are then absent and count
0 in the aggregate. Nothing is replaced by a default.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from scillm.codeworld.evaluation import Evaluation
from scillm.codeworld.execute import SandboxPool, execute, function_program
from scillm.codeworld.items import Item
from scillm.codeworld.metrics import BUILTIN_METRICS
from scillm.codeworld.request import ScoringSpec

__all__ = ["apply_scoring"]

SCORER_MEMORY_MB = 512


async def apply_scoring(
    spec: ScoringSpec,
    item: Item,
    evaluations: Sequence[Evaluation],
    pool: SandboxPool,
    deadline: float,
) -> None:
    """Set each evaluation's custom ``scores`` or its ``scoring_error`` (never past ``deadline``,
    a ``time.monotonic()`` value: unfinished scores are then errors)."""
    if not evaluations:
        return
    calls = [
        ([item.task, _context(item, ev), _outputs(ev), _timings(ev)], spec.timeout_s)
        for ev in evaluations
    ]
    program = function_program(
        "python", spec.code, [spec.entry], calls, SCORER_MEMORY_MB, module="scorer"
    )
    execution = await execute(program, pool, deadline)
    for ev, run in zip(evaluations, execution.runs, strict=True):
        if execution.status != "ran":
            ev.scoring_error = f"scoring function: {execution.status}: {execution.message}"
        elif run.status != "ok":
            ev.scoring_error = f"{spec.entry}() {run.status}: {run.message}"
        else:
            metrics = _metrics(run.output)
            if isinstance(metrics, str):
                ev.scoring_error = f"{spec.entry}() {metrics}"
            else:
                ev.scores.update(metrics)


def _context(item: Item, ev: Evaluation) -> dict[str, Any]:
    return {
        **item.context,
        "item_id": item.id,
        "variant_id": ev.id,
        "language": item.language,
        "code": ev.variant.code,
        "tests": item.public_tests(),
        "verdicts": {v.id: v.verdict for v in ev.verdicts},
    }


def _outputs(ev: Evaluation) -> dict[str, Any]:
    return {v.id: v.output if v.cpu_ms is not None else None for v in ev.verdicts}


def _timings(ev: Evaluation) -> dict[str, float | None]:
    return {v.id: v.cpu_ms for v in ev.verdicts}


def _metrics(value: Any) -> dict[str, float] | str:
    """The returned metrics, or what is wrong with them."""
    if _number(value):
        value = {"custom": value}
    if not isinstance(value, dict) or not value:
        return f"must return a number in [0, 1] or an object of them, not {value!r:.200}"
    for name, metric in value.items():
        if name in BUILTIN_METRICS or name == "aggregate":
            return f"returned {name!r}, which is a built-in metric: give it another name"
        if not (_number(metric) and 0.0 <= metric <= 1.0):
            return f"returned {name!r} = {metric!r:.100}, which is not a number in [0, 1]"
    return {str(k): float(v) for k, v in value.items()}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
