"""Request files: rows written straight to disk, a new file per model and whenever the next row
would pass the provider's per-file request count or byte size.

    chunker = Chunker(state, max_rows=50_000, max_bytes=190 * 2**20)
    for full in chunker.add(model, row_index, line): submit(full)
    for last in chunker.finish(): submit(last)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from scillm.batch.provider_batch_state import BatchState

__all__ = ["Chunk", "Chunker", "LineTooLarge"]


class LineTooLarge(ValueError):
    """A single request is larger than a whole request file may be."""


@dataclass(slots=True)
class Chunk:
    """A request file being written (or written)."""

    path: Path
    model: str
    first_row: int
    last_row: int = -1
    rows: int = 0
    size: int = 0
    file: BinaryIO | None = field(default=None, repr=False)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


class Chunker:
    """Splits request lines into files by model, request count and byte size."""

    def __init__(self, state: BatchState, max_rows: int, max_bytes: int) -> None:
        self.state, self.max_rows, self.max_bytes = state, max_rows, max_bytes
        self._open: dict[str, Chunk] = {}

    def add(self, model: str, row: int, line: bytes) -> Iterator[Chunk]:
        """Write ``line``; yields the chunk it closed to make room (at most one)."""
        if len(line) > self.max_bytes:
            raise LineTooLarge(
                f"the request is {len(line)} bytes, over the {self.max_bytes}-byte request "
                "file limit"
            )
        chunk = self._open.get(model)
        if chunk is not None and (
            chunk.rows >= self.max_rows or chunk.size + len(line) > self.max_bytes
        ):
            chunk.close()
            del self._open[model]
            yield chunk
            chunk = None
        if chunk is None:
            path = self.state.new_request_file()
            chunk = Chunk(path, model, row, file=open(path, "wb"))  # noqa: SIM115
            self._open[model] = chunk
        assert chunk.file is not None
        chunk.file.write(line)
        chunk.rows += 1
        chunk.size += len(line)
        chunk.last_row = row

    def finish(self) -> Iterator[Chunk]:
        """Close and yield the chunks still open."""
        while self._open:
            _, chunk = self._open.popitem()
            chunk.close()
            yield chunk

    def discard(self) -> None:
        """Close and delete the chunks still open (the run stopped before submitting them)."""
        for chunk in self._open.values():
            chunk.close()
            chunk.path.unlink(missing_ok=True)
        self._open.clear()
