"""Group commit: rows that finish while one write + fsync runs go to disk together in the next.

Each row is durable (fsync'ed) soon after it finishes, yet the file sees one write and one fsync
per group rather than per row. Writing happens in a worker thread, so the event loop keeps
running calls meanwhile; a row is counted in the summary only once it is on disk.
"""

from __future__ import annotations

import asyncio

from scillm.batch.checkpoint import JsonlCheckpoint
from scillm.batch.summary import BatchSummary

__all__ = ["GroupWriter"]

MAX_BACKLOG = 4096
"""Rows waiting for the disk before new work waits too (bounds memory when the disk is slow)."""


class GroupWriter:
    """Appends encoded rows to ``checkpoint`` in groups and counts them into ``summary``."""

    def __init__(self, checkpoint: JsonlCheckpoint, summary: BatchSummary) -> None:
        self._checkpoint = checkpoint
        self._summary = summary
        self._pending: list[tuple[bytes, bool]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    def put(self, line: bytes, ok: bool) -> None:
        """Queue one encoded row (raises the write error that stopped the writer, if any)."""
        self.check()
        self._pending.append((line, ok))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())

    def check(self) -> None:
        """Raise the error that made a write fail: the run must stop, not go on losing rows."""
        if self._error is not None:
            raise self._error

    async def wait_room(self) -> None:
        """Wait while too many rows are queued for the disk."""
        while len(self._pending) >= MAX_BACKLOG and self._flusher is not None:
            await asyncio.shield(self._flusher)
        self.check()

    async def drain(self) -> None:
        """Wait until every queued row is on disk (or the write failed: then raise)."""
        while self._flusher is not None:
            await asyncio.shield(self._flusher)
        self.check()

    async def _flush(self) -> None:
        try:
            while self._pending and self._error is None:
                group, self._pending = self._pending, []
                await asyncio.to_thread(self._checkpoint.write_lines, [line for line, _ in group])
                ok = sum(1 for _, row_ok in group if row_ok)
                self._summary.succeeded += ok
                self._summary.failed += len(group) - ok
        except Exception as exc:
            self._error = exc
        finally:
            self._flusher = None
