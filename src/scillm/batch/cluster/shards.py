"""Byte ranges of the input file, cut at newlines by the driver: what one worker runs at a time.

    shards, rows = plan_shards(Path("in.jsonl"), shard_rows=256)
    for job in read_shard(Path("in.jsonl"), shards[3]): ...

The input is never copied or pre-split: a shard is ``(start, end)`` in bytes plus the number of
its first line (for error messages), and every worker reads its range from the shared file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from scillm.batch.jobs import Job
from scillm.batch.rows import job_of_line

__all__ = ["Shard", "plan_shards", "read_shard"]

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class Shard:
    """Rows of the input in bytes ``[start, end)``; ``first_line`` is 1-based."""

    index: int
    start: int
    end: int
    first_line: int


def plan_shards(path: Path, shard_rows: int) -> tuple[list[Shard], int]:
    """Shards of at most ``shard_rows`` non-blank lines each, and the number of such lines."""
    if shard_rows < 1:
        raise ValueError(f"shard_rows must be at least 1, got {shard_rows}")
    shards: list[Shard] = []
    start, first, rows, total, pos = 0, 1, 0, 0, 0
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            pos += len(line)
            if number == 1 and line.startswith(_BOM):
                line = line[len(_BOM) :]
            if line.strip():
                rows += 1
                total += 1
            if rows == shard_rows:
                shards.append(Shard(len(shards), start, pos, first))
                start, first, rows = pos, number + 1, 0
    if rows:
        shards.append(Shard(len(shards), start, pos, first))
    return shards, total


def read_shard(path: Path, shard: Shard) -> Iterator[Job]:
    """The jobs of one shard, lazily (the same jobs ``scillm batch`` reads for these lines)."""
    with open(path, "rb") as f:
        f.seek(shard.start)
        pos, number = shard.start, shard.first_line
        while pos < shard.end:
            line = f.readline()
            if not line:
                return
            pos += len(line)
            if number == 1 and line.startswith(_BOM):
                line = line[len(_BOM) :]
            if line.strip():
                yield job_of_line(number, line)
            number += 1
