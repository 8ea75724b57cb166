"""The progress of a batch run on stderr: done/total rows, rows/s, failures, tokens, 429s, ETA.

A thin use of :mod:`scillm.progress`: the display reads the run's :class:`BatchSummary` each
time it draws (on its own thread), so the run updates its counters once and renders nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from scillm.batch.summary import BatchSummary
from scillm.progress import ProgressTask, format_duration, track

__all__ = ["format_duration", "live_progress"]


@contextmanager
def live_progress(summary: BatchSummary, *, llm: bool = False) -> Iterator[None]:
    """Show the progress of ``summary``'s run while the block runs (``llm``: tokens and 429s).

    Rows already in the checkpoint (skipped) and repeated ids count as done but not in rows/s.
    """
    counts = ("failed", "tokens", "429s") if llm else ("failed",)

    def poll(task: ProgressTask) -> None:
        task.total, task.done = summary.total, summary.seen
        task.skipped = summary.skipped + summary.duplicates
        task.counts["failed"] = summary.failed
        if llm:
            task.counts["tokens"], task.counts["429s"] = summary.tokens, summary.rate_limited

    with track("batch", summary.total, unit="rows", counts=counts, poll=poll):
        yield
