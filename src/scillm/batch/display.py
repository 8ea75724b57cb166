"""A live progress line for batch runs, on stderr: done/total, rows/s, failures, tokens, 429s, ETA.

It reads the run's :class:`BatchSummary` on each refresh (4 times a second, on rich's thread),
so a million rows cost a million counter updates and no rendering work. Where stderr is not a
terminal (a log file, a scheduler), a plain line is printed every ``LOG_EVERY_S`` seconds.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table

from scillm.batch.summary import BatchSummary

__all__ = ["format_duration", "live_progress"]

RATE_WINDOW_S = 10.0
LOG_EVERY_S = 30.0


def format_duration(seconds: float) -> str:
    """``H:MM:SS``."""
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


class _View:
    """The progress line; rows/s is measured over the last ``RATE_WINDOW_S`` seconds while the
    run goes on, and over the whole run once it has finished."""

    def __init__(self, summary: BatchSummary, llm: bool) -> None:
        self.summary, self.llm = summary, llm
        self.samples: deque[tuple[float, int]] = deque()

    def _rate(self) -> float:
        now, processed = time.monotonic(), self.summary.processed
        self.samples.append((now, processed))
        while now - self.samples[0][0] > RATE_WINDOW_S:
            self.samples.popleft()
        then, before = self.samples[0]
        return (processed - before) / (now - then) if now > then else 0.0

    def line(self) -> str:
        s = self.summary
        rate = s.rows_per_s if s.finished is not None else self._rate()
        total = s.total
        parts = [f"{s.seen:,}/{total:,}" if total is not None else f"{s.seen:,}", "rows"]
        parts += [f"{rate:,.0f} rows/s", f"failed {s.failed:,}"]
        if self.llm:
            parts += [f"tokens {s.tokens:,}", f"429s {s.rate_limited:,}"]
        if total is not None and rate > 0 and s.finished is None:
            parts.append(f"ETA {format_duration(max(total - s.seen, 0) / rate)}")
        return "  ".join(parts)

    def __rich__(self) -> RenderableType:
        s = self.summary
        grid = Table.grid(padding=(0, 1))
        grid.add_row(ProgressBar(total=s.total, completed=s.seen, width=30), self.line())
        return grid


@contextmanager
def _every(seconds: float, action: Callable[[], object]) -> Iterator[None]:
    """Run ``action`` every ``seconds`` on a daemon thread while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(seconds):
            action()

    thread = threading.Thread(target=loop, name="scillm-batch-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextmanager
def live_progress(summary: BatchSummary, *, llm: bool = False) -> Iterator[None]:
    """Show the progress of ``summary``'s run while the block runs (``llm``: tokens and 429s)."""
    console = Console(stderr=True)
    view = _View(summary, llm)
    if console.is_terminal:
        with Live(view, console=console, refresh_per_second=4):
            yield
    else:
        with _every(LOG_EVERY_S, lambda: console.print(view.line(), highlight=False)):
            yield
