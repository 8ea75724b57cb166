"""One progress display for every long job: a live bar on a terminal, plain lines elsewhere.

    from scillm.progress import track

    with track("rollouts", total=16, unit="rollouts", counts=("failed",)) as task:
        for _ in range(16):
            ...
            task.advance()              # counters only: nothing is drawn here
            task.count("failed")        # shown as "failed 1"

Where stderr is a terminal, ``rich.progress`` draws a bar, done/total, the rate, the named
counts and the ETA, four times a second on rich's own thread. Elsewhere (a log file, a pipe, a
scheduler) a plain line is printed every ``interval_s`` seconds (the argument, else
``SCILLM_PROGRESS_INTERVAL_S``, else 30) and one at the end. Updates only add to integers, so a
million of them cost a million additions and no rendering. The rate is taken over the last
``RATE_WINDOW_S`` seconds while the job runs and over the whole job once it ends.

``enabled=False`` shows nothing and imports nothing: library functions take ``progress=False``
and pass it on; the CLIs and benchmarks turn it on.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scillm._config import setting

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

__all__ = [
    "INTERVAL_ENV",
    "RATE_WINDOW_S",
    "ProgressTask",
    "format_duration",
    "track",
]

INTERVAL_ENV = "SCILLM_PROGRESS_INTERVAL_S"
DEFAULT_INTERVAL_S = 30.0
RATE_WINDOW_S = 10.0
REFRESH_PER_S = 4
BAR_WIDTH = 30

Poll = Callable[["ProgressTask"], None]
"""Refreshes a task's counters from elsewhere; called on the display's thread before each
drawing (so a job that already keeps counters, like a batch summary, updates nothing twice)."""


def format_duration(seconds: float) -> str:
    """``H:MM:SS``."""
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


@dataclass(eq=False)
class ProgressTask:
    """The counters one display shows; update them from one thread (an event loop is one).

    ``done`` of ``total`` (None: not known) are shown as ``done/total unit``; ``skipped`` of
    ``done`` needed no work (resumed rows) and are left out of the rate; ``counts`` are shown
    after the rate as ``name value``, in the order they were first counted.
    """

    description: str
    total: int | None = None
    unit: str = "items"
    done: int = 0
    skipped: int = 0
    counts: dict[str, int] = field(default_factory=dict)

    def advance(self, n: int = 1) -> None:
        """``n`` more done."""
        self.done += n

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the counter ``name``."""
        self.counts[name] = self.counts.get(name, 0) + n


class _Meter:
    """What the display says about a task: its rate and the text pieces of its line."""

    def __init__(self, task: ProgressTask) -> None:
        self.task = task
        self.started = time.monotonic()
        self.samples: deque[tuple[float, int]] = deque([(self.started, 0)])
        self.finished: float | None = None

    def rate(self, now: float) -> float:
        """Worked items per second: over the window (keeping at least the previous sample, so
        lines further apart than the window measure the time between them), or the whole job
        once it has ended."""
        worked = self.task.done - self.task.skipped
        if self.finished is not None:
            elapsed = self.finished - self.started
            return worked / elapsed if elapsed > 0 else 0.0
        samples = self.samples
        samples.append((now, worked))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW_S:
            samples.popleft()
        then, before = samples[0]
        return (worked - before) / (now - then) if now > then else 0.0

    def pieces(self) -> dict[str, str]:
        """``count``, ``rate``, ``counts`` and ``time`` (ETA while running, duration at the end)."""
        task, now = self.task, time.monotonic()
        rate = self.rate(now)
        total, unit = task.total, task.unit
        count = f"{task.done:,}/{total:,}" if total is not None else f"{task.done:,}"
        if self.finished is not None:
            when = f"in {format_duration(self.finished - self.started)}"
        elif total is not None and rate > 0:
            when = f"ETA {format_duration(max(total - task.done, 0) / rate)}"
        else:
            when = ""
        return {
            "count": f"{count} {unit}",
            "rate": f"{_number(rate)} {unit}/s",
            "counts": "  ".join(f"{name} {value:,}" for name, value in list(task.counts.items())),
            "time": when,
        }

    def line(self) -> str:
        """The plain line: description and pieces, two spaces apart."""
        parts = [self.task.description, *self.pieces().values()]
        return "  ".join(part for part in parts if part)


def _number(rate: float) -> str:
    """A rate with the digits that matter: ``1,234``, ``57``, ``3.4``, ``0.25``."""
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.2g}"


@contextmanager
def track(
    description: str,
    total: int | None = None,
    *,
    unit: str = "items",
    counts: Sequence[str] = (),
    enabled: bool = True,
    interval_s: float | None = None,
    console: Console | None = None,
    poll: Poll | None = None,
) -> Iterator[ProgressTask]:
    """Show a :class:`ProgressTask`'s progress on stderr while the block runs (see the module).

    ``counts`` are shown from the start (at 0); ``poll`` refreshes the task before each drawing.
    ``console`` replaces stderr's (its ``is_interactive`` chooses bar or lines). A ValueError
    for a negative ``total`` or an ``interval_s`` that is not positive.
    """
    if total is not None and total < 0:
        raise ValueError(f"total must be None (unknown) or at least 0, got {total}")
    task = ProgressTask(description, total, unit, counts=dict.fromkeys(counts, 0))
    if not enabled:
        yield task
        return
    every = setting(interval_s, DEFAULT_INTERVAL_S, float, INTERVAL_ENV)
    if not every > 0:
        raise ValueError(f"the progress interval must be above 0 seconds, got {every}")
    meter = _Meter(task)
    out = console if console is not None else _stderr()
    shown = _live(meter, out, poll) if out.is_interactive else _lines(meter, out, every, poll)
    with shown:
        yield task


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def _live(meter: _Meter, console: Console, poll: Poll | None) -> Iterator[None]:
    """A rich.progress bar redrawn ``REFRESH_PER_S`` times a second on rich's thread."""
    from rich.live import Live
    from rich.progress import BarColumn, Progress, TextColumn

    keys = ("count", "rate", "counts", "time")
    columns = [TextColumn(f"{{task.fields[pieces][{key}]}}", markup=False) for key in keys]
    bar = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(bar_width=BAR_WIDTH),
        *columns,
        console=console,
        auto_refresh=False,
    )
    task = meter.task
    row = bar.add_task(task.description, total=task.total, pieces=meter.pieces())

    def draw() -> RenderableType:
        if poll is not None:
            poll(task)
        total = task.done if task.total is None and meter.finished is not None else task.total
        bar.update(row, total=total, completed=task.done, pieces=meter.pieces())
        return bar.get_renderable()

    # stdout is drawn above the bar only when it shares the screen; a file or pipe keeps it
    shared = sys.stdout is not None and sys.stdout.isatty()
    live = Live(
        console=console,
        get_renderable=draw,
        refresh_per_second=REFRESH_PER_S,
        redirect_stdout=shared,
    )
    with live:
        try:
            yield
        finally:
            meter.finished = time.monotonic()


@contextmanager
def _lines(meter: _Meter, console: Console, every: float, poll: Poll | None) -> Iterator[None]:
    """A plain line every ``every`` seconds on a daemon thread, and one at the end."""
    stop = threading.Event()

    def say() -> None:
        if poll is not None:
            poll(meter.task)
        console.print(meter.line(), markup=False, highlight=False, soft_wrap=True)

    def loop() -> None:
        while not stop.wait(every):
            say()

    thread = threading.Thread(target=loop, name="scillm-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        meter.finished = time.monotonic()
        say()
