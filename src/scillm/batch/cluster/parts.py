"""Part files: each shard attempt appends its rows to a file of its own; the merge makes one output.

    out.jsonl.parts/{run_id}/shard-000003.{attempt}.jsonl     # one per shard attempt
    out.jsonl.parts/{run_id}/shard-000003.{attempt}.sent      # ids it sent a call for

A part file is a :class:`~scillm.batch.checkpoint.JsonlCheckpoint` written by the batch engine's
group commit: a row is on disk (fsync'ed) soon after it finishes, so a killed worker loses at most
the rows it had in flight. Because no two attempts share a
file, a worker cut off from the cluster (a zombie) can never interleave lines with its
replacement. Resume reads the finished ids of every attempt of a shard (a torn last line is
ignored). :func:`merge` dedups by id — a success beats an error, else the later row wins — into
the output through a temporary file and ``os.replace``: the output is exactly-once.

Calls are at-least-once: a row in flight when its worker died is sent again by the next attempt.
Each attempt logs the ids it sends a call for (:class:`SentLog`, one ``write`` per row, kept by
the kernel when the process is killed), so :func:`resent_calls` counts those repeats exactly.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from scillm.batch.checkpoint import id_string

__all__ = [
    "MergeResult",
    "SentLog",
    "finished_ids",
    "merge",
    "merge_leftovers",
    "part_path",
    "parts_root",
    "resent_calls",
    "scan_rows",
    "sent_ids",
    "sent_path",
    "unanswered_ids",
]


def parts_root(output: Path) -> Path:
    """Where the part files of ``output``'s runs live (beside it: a shared filesystem)."""
    return output.with_name(output.name + ".parts")


def part_path(run_dir: Path, shard: int) -> Path:
    """A fresh part file name for one attempt of ``shard``."""
    return run_dir / f"shard-{shard:06d}.{uuid.uuid4().hex}.jsonl"


def sent_path(part: Path) -> Path:
    """The sent-call log beside a part file."""
    return part.with_suffix(".sent")


class SentLog:
    """An append-only log of the ids a shard attempt sent a call for: ``mark`` is one unbuffered
    ``write`` before the call, so it survives the process being killed (not the machine)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def mark(self, key: str) -> None:
        """Log that a call for ``key`` is about to be sent."""
        os.write(self.fd, orjson.dumps(key) + b"\n")

    def close(self) -> None:
        """Close the log (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def sent_ids(path: Path) -> set[str]:
    """The ids a sent-call log names (a torn last line was never sent)."""
    ids = set()
    for line in path.read_bytes().split(b"\n")[:-1]:
        try:
            key = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(key, str):
            ids.add(key)
    return ids


def resent_calls(run_dir: Path) -> int:
    """Calls of ``run_dir`` sent again: a row's every shard attempt after the first that sent it
    (the earlier one died before writing the row)."""
    sends: Counter[tuple[str, str]] = Counter()
    for log in run_dir.glob("shard-*.sent"):
        shard = log.name.split(".", 1)[0]
        sends.update((shard, key) for key in sent_ids(log))
    return sum(count - 1 for count in sends.values())


def unanswered_ids(output: Path) -> set[str]:
    """Ids earlier (killed) runs of ``output`` sent a call for but wrote no row of: the next
    run sends them again. Read before :func:`merge_leftovers` removes those runs."""
    root = parts_root(output)
    unanswered: set[str] = set()
    for run_dir in sorted(root.glob("*")) if root.is_dir() else ():
        sent: set[str] = set()
        for log in run_dir.glob("shard-*.sent"):
            sent |= sent_ids(log)
        written = {key for part in run_dir.glob("shard-*.jsonl") for key, _, _ in scan_rows(part)}
        unanswered |= sent - written
    return unanswered


def scan_rows(path: Path, id_key: str = "id") -> Iterator[tuple[str, bool, bytes]]:
    """``(id, ok, line)`` of every whole row with an id; torn or malformed lines are skipped."""
    try:
        f = open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        return
    with f:
        for line in f:
            if not line.endswith(b"\n"):
                return  # a torn last line: its row is not finished
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            key = id_string(row.get(id_key)) if isinstance(row, dict) else None
            if key is not None:
                yield key, row.get("ok") is not False, line


def _shard_parts(run_dir: Path, shard: int) -> list[Path]:
    return sorted(run_dir.glob(f"shard-{shard:06d}.*.jsonl"), key=_mtime)


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


def finished_ids(run_dir: Path, shard: int, retry_failed: bool) -> set[str]:
    """Ids an earlier attempt of ``shard`` finished (with ``retry_failed``: successfully)."""
    done: set[str] = set()
    for part in _shard_parts(run_dir, shard):
        done.update(key for key, ok, _ in scan_rows(part) if ok or not retry_failed)
    return done


@dataclass(slots=True)
class MergeResult:
    """What the merge added to the output (ids new to it) and how many extra rows it dropped;
    ``repeats`` of them repeated an id another part already had (an input id in two shards)."""

    succeeded: int = 0
    failed: int = 0
    dropped: int = 0
    repeats: int = 0


def merge(output: Path, run_dir: Path, id_key: str = "id") -> MergeResult:
    """Merge the output and every part of ``run_dir`` into ``output``; remove ``run_dir``."""
    parts = sorted(run_dir.glob("shard-*.jsonl"), key=lambda p: (p.name[:12], _mtime(p)))
    sources = [output, *parts]
    best: dict[str, tuple[int, int, bool]] = {}
    in_parts: set[str] = set()
    rows = repeats = 0
    for source_no, source in enumerate(sources):
        for line_no, (key, ok, _) in enumerate(scan_rows(source, id_key)):
            rows += 1
            if source_no:
                repeats += key in in_parts
                in_parts.add(key)
            held = best.get(key)
            if held is None or ok or not held[2]:
                best[key] = (source_no, line_no, ok)
    result = MergeResult(dropped=rows - len(best), repeats=repeats)
    tmp = output.with_name(f".{output.name}.merge-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as out:
            for source_no, source in enumerate(sources):
                for line_no, (key, ok, line) in enumerate(scan_rows(source, id_key)):
                    if best[key][:2] != (source_no, line_no):
                        continue
                    out.write(line)
                    if source_no:
                        result.succeeded += ok
                        result.failed += not ok
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    shutil.rmtree(run_dir, ignore_errors=True)
    return result


def merge_leftovers(output: Path, id_key: str = "id") -> MergeResult:
    """Merge the parts of every earlier run of ``output`` (interrupted or killed) into it."""
    total = MergeResult()
    root = parts_root(output)
    for run_dir in sorted(root.glob("*")) if root.is_dir() else ():
        if run_dir.is_dir() and not any(run_dir.glob("shard-*.jsonl")):
            shutil.rmtree(run_dir, ignore_errors=True)  # only logs: nothing to merge
        elif run_dir.is_dir():
            result = merge(output, run_dir, id_key)
            total.succeeded += result.succeeded
            total.failed += result.failed
            total.dropped += result.dropped
            total.repeats += result.repeats
    return total
