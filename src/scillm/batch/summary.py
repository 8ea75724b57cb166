"""``BatchSummary``: the live counters of a batch run, and what ``run_batch`` returns."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["BatchSummary"]

MAX_PROBLEMS = 10
"""How many bad-input messages a summary keeps (the count covers them all)."""

_REPORTED = (
    "path",
    "total",
    "processed",
    "succeeded",
    "failed",
    "skipped",
    "skipped_failed",
    "duplicates",
    "generated_ids",
    "bad_input",
    "problems",
    "tokens",
    "rate_limited",
    "resent",
    "interrupted",
    "stopped",
)


@dataclass(eq=False)
class BatchSummary:
    """What a batch run did. Counts are updated while it runs; rows count once written.

    ``processed`` rows were written by this run (``succeeded + failed``); ``skipped`` ids were
    already in the checkpoint (``skipped_failed`` of them as error rows, not retried);
    ``stopped`` says why a run stopped before its end without being interrupted (its budget);
    ``duplicates`` repeated an id seen earlier in the input. ``resent`` counts calls sent again
    because the Ray worker that sent them first died before writing their rows (scale-out runs
    only: a call is at-least-once, a row exactly-once). ``os.fspath(summary)`` is the
    results path, so code written for the original (which returned the path) keeps working.
    """

    path: str
    total: int | None = None
    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    skipped_failed: int = 0
    duplicates: int = 0
    generated_ids: int = 0
    bad_input: int = 0
    problems: list[str] = field(default_factory=list)
    tokens: int = 0
    rate_limited: int = 0
    resent: int = 0
    interrupted: bool = False
    stopped: str | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def processed(self) -> int:
        return self.succeeded + self.failed

    @property
    def seen(self) -> int:
        """Input rows dealt with so far: processed, skipped or duplicate."""
        return self.processed + self.skipped + self.duplicates

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rows_per_s(self) -> float:
        """Rows written by this run per second of its wall time."""
        elapsed = self.elapsed_s
        return self.processed / elapsed if elapsed > 0 else 0.0

    @property
    def failed_total(self) -> int:
        """Error rows the results file holds for this input: new ones and kept old ones."""
        return self.failed + self.skipped_failed

    def note_problem(self, message: str) -> None:
        self.bad_input += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the counts and rates."""
        out = {key: getattr(self, key) for key in _REPORTED}
        out["elapsed_s"] = round(self.elapsed_s, 3)
        out["rows_per_s"] = round(self.rows_per_s, 1)
        return out

    def __fspath__(self) -> str:
        return self.path
