"""What every scenario shares: its outcome, the exit codes, checks, and its module entry point.

    def run(ctx: Context) -> str:
        url = ctx.url("codeworld")              # the service's URL (started when needed)
        reply = ctx.post("codeworld", "/bridge/complete", body)
        check(reply["summary"]["succeeded"] == 1, f"expected 1 solved item, got {reply}")
        return "1 of 1 solved"                  # the pass detail

A scenario raises :class:`Skip` when something it needs is missing (the reason says what) and
:class:`Failed` (``check`` does) when an outcome is wrong. Anything else it raises is a failure
too: a scenario never passes by accident. ``python -m scillm.scenarios.<module>`` runs one
(:func:`scillm.scenarios.run_all.run_one`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from scillm.scenarios.checks import Failed, Skip, check, placeholder_free
from scillm.scenarios.stack import Context

__all__ = [
    "EXIT_FAILED",
    "EXIT_PASSED",
    "EXIT_SKIPPED",
    "Failed",
    "Outcome",
    "Scenario",
    "Skip",
    "Status",
    "check",
    "execute",
    "placeholder_free",
]

EXIT_PASSED, EXIT_FAILED, EXIT_SKIPPED = 0, 1, 77
Status = Literal["passed", "skipped", "failed"]
EXIT_CODES: dict[Status, int] = {
    "passed": EXIT_PASSED,
    "failed": EXIT_FAILED,
    "skipped": EXIT_SKIPPED,
}


@dataclass(frozen=True)
class Scenario:
    """A named check of a live stack: ``run(ctx)`` returns the pass detail."""

    name: str
    summary: str
    services: tuple[str, ...]
    """The stack services it talks to (started when they do not answer)."""
    run: Callable[[Context], str]


@dataclass(frozen=True)
class Outcome:
    """What one scenario run came to."""

    name: str
    status: Status
    detail: str
    seconds: float

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def execute(scenario: Scenario, ctx: Context) -> Outcome:
    """Run ``scenario``: its outcome, never an exception (one escaping is a failure)."""
    t0 = time.perf_counter()
    status: Status
    try:
        detail = scenario.run(ctx)
        status = "passed"
    except Skip as exc:
        status, detail = "skipped", str(exc)
    except Failed as exc:
        status, detail = "failed", str(exc)
    except Exception as exc:  # an error is a failure, reported in one line
        status, detail = "failed", f"{type(exc).__name__}: {exc}"
    return Outcome(scenario.name, status, detail, round(time.perf_counter() - t0, 3))
