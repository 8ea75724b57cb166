"""``scillm demo --full``: everything scillm does, offline on the embedded model, one step at
a time, each printing the one line of what it proved.

1. batch: a few hundred rows through ``scillm batch``, stopped part-way and resumed;
2. extraction: JSON objects that satisfy a JSON schema;
3. CodeWorld: code variants scored in the sandbox;
4. Certainly: Coq proofs checked for real, cheats refused;
5. agent: the mini-agent runs model-written code in the sandbox;
6. report: the batch run's self-contained HTML report.

A step whose engine is missing (no coqc, no bubblewrap) says ``unavailable``; the others still
run, and the demo fails at the end (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from scillm.demo.steps import Say, StepResult, run_step

__all__ = ["DEFAULT_ROWS", "run_full_demo"]

DEFAULT_ROWS = 200


def run_full_demo(
    model: str, out_dir: Path, say: Say, rows: int = DEFAULT_ROWS
) -> list[StepResult]:
    """Run the six steps into ``out_dir`` (which must exist and be empty); their results."""
    from scillm.demo.agent import agent_step
    from scillm.demo.batch import CONCURRENCY, ROW_MAX_TOKENS, batch_step
    from scillm.demo.code import code_step
    from scillm.demo.extract import extract_step
    from scillm.demo.proofs import proofs_step
    from scillm.demo.report import report_step

    config = {
        "demo": "scillm demo --full",
        "option.model": model,
        "option.concurrency": CONCURRENCY,
        "rows": rows,
        "max_tokens": ROW_MAX_TOKENS,
    }
    answers, report = out_dir / "answers.jsonl", out_dir / "report.html"
    steps: list[tuple[str, str, Callable[[], StepResult]]] = [
        ("batch", "1. batch, stopped and resumed", lambda: batch_step(model, out_dir, rows, say)),
        (
            "extraction",
            "2. structured extraction (JSON schema)",
            lambda: extract_step(model, out_dir),
        ),
        (
            "codeworld",
            "3. CodeWorld: code variants scored in the sandbox",
            lambda: code_step(out_dir),
        ),
        ("certainly", "4. Certainly: Coq proofs checked", lambda: proofs_step(out_dir)),
        (
            "agent",
            "5. agent: model-written code run in the sandbox",
            lambda: agent_step(model, out_dir),
        ),
        ("report", "6. HTML report of the batch run", lambda: report_step(answers, report, config)),
    ]
    return [run_step(name, title, step, say) for name, title, step in steps]
