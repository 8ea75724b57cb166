"""``JsonlCheckpoint``: an append-only JSONL results file that survives crashes and shares well.

    cp = JsonlCheckpoint("results.jsonl")          # opens (creates) the file, repairs a torn tail
    done = cp.processed_ids()                       # {"1", "a7", ...}: ids compare as strings
    cp.append({"id": 7, "out": "..."})              # one whole line, flushed and fsync'ed
    for row in cp: ...                              # every well-formed row, in file order

Every write is whole lines under an exclusive ``fcntl.flock``, so several processes (or threads)
can append to one file without interleaving. A process killed mid-write leaves at most one torn
last line; it is repaired when the file is next opened or appended to: cut when it is a fragment,
terminated when it is a complete JSON object that only lacks its newline. Ids are compared as
strings: ``7`` and ``"7"`` name the same row. A row whose ``"ok"`` is ``false`` is an error row.
"""

from __future__ import annotations

import fcntl
import os
import stat
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

__all__ = ["JsonlCheckpoint", "encode_row", "id_string"]

_CHUNK = 1 << 16


def id_string(value: object) -> str | None:
    """The string an id compares as: ``str`` for strings and integers, else None (no id)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


class JsonlCheckpoint:
    """A UTF-8 JSONL results file keyed by ``id_key``; see the module docstring.

    The file (and its parent folders) is created when the checkpoint is made, so an unwritable
    path fails here, before any work. ``summary_path`` defaults to ``summary.json`` beside it.
    """

    def __init__(
        self,
        results_path: str | os.PathLike[str],
        id_key: str = "id",
        summary_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.results_path = str(results_path)
        self.id_key = id_key
        self._summary_path = None if summary_path is None else str(summary_path)
        Path(self.results_path).parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        self._fd = os.open(self.results_path, flags, 0o644)
        self._close = weakref.finalize(self, os.close, self._fd)
        if not stat.S_ISREG(os.fstat(self._fd).st_mode):
            self.close()
            raise OSError(f"{self.results_path} is not a regular file; a checkpoint must be one")
        self._thread_lock = threading.Lock()  # flock does not exclude threads sharing one fd
        self.repaired_bytes = 0
        """Bytes of a torn last line cut away so far (0: the file was whole)."""
        with self._locked():
            self._repair_tail()

    # -- reading ------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Every well-formed row (a JSON object per line); malformed lines are skipped."""
        with open(self.results_path, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    return  # a line still being written by another process
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(row, dict):
                    yield row

    def scan(self) -> Iterator[tuple[str, bool]]:
        """``(id as a string, ok)`` for every row with an id, in file order."""
        for row in self:
            key = id_string(row.get(self.id_key))
            if key is not None:
                yield key, row.get("ok") is not False

    def processed_ids(self) -> set[str]:
        """Ids of every row written so far (successes and error rows), as strings."""
        return {key for key, _ in self.scan()}

    def failed_ids(self) -> set[str]:
        """Ids whose latest row is an error row."""
        latest: dict[str, bool] = {}
        for key, ok in self.scan():
            latest[key] = ok
        return {key for key, ok in latest.items() if not ok}

    # -- writing ------------------------------------------------------------------------------

    def append(self, row: Mapping[str, Any], flush: bool = True) -> None:
        """Append ``row`` as one line; ``flush`` also fsyncs it (durable across power loss)."""
        self.write_lines([encode_row(row)], fsync=flush)

    def extend(self, rows: Iterable[Mapping[str, Any]], flush: bool = True) -> None:
        """Append many rows with one write (and one fsync when ``flush``): a batched append."""
        self.write_lines([encode_row(row) for row in rows], fsync=flush)

    def write_lines(self, lines: list[bytes], *, fsync: bool = True) -> None:
        """Append already encoded lines (each ending in ``\\n``) in one locked write."""
        if not lines:
            return
        data = b"".join(lines)
        with self._locked():
            self._repair_tail()
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        if fsync:
            os.fsync(self._fd)

    def sync(self) -> None:
        """fsync what was appended with ``flush=False``."""
        os.fsync(self._fd)

    @property
    def summary_path(self) -> str:
        """Where a run summary goes: ``summary_path`` if given, else ``summary.json`` beside."""
        if self._summary_path:
            return self._summary_path
        return os.path.join(os.path.dirname(self.results_path), "summary.json")

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        """Write ``summary`` as JSON to :attr:`summary_path`, atomically (temp file + rename)."""
        tmp = f"{self.summary_path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
        os.replace(tmp, self.summary_path)

    # -- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file (idempotent; also happens when the checkpoint is garbage-collected)."""
        self._close()

    def __enter__(self) -> JsonlCheckpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        if not self._close.alive:
            raise ValueError(f"the checkpoint {self.results_path} is closed")
        with self._thread_lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _repair_tail(self) -> None:
        """Make the file end with a newline (call with the lock held); see the module docstring."""
        size = os.fstat(self._fd).st_size
        if size == 0 or os.pread(self._fd, 1, size - 1) == b"\n":
            return
        start = _last_line_start(self._fd, size)
        tail = os.pread(self._fd, size - start, start)
        try:
            whole = isinstance(orjson.loads(tail), dict)
        except orjson.JSONDecodeError:
            whole = False
        if whole:
            os.write(self._fd, b"\n")
        else:
            os.ftruncate(self._fd, start)
            self.repaired_bytes += size - start


def encode_row(row: Mapping[str, Any]) -> bytes:
    """One JSONL line for ``row`` (TypeError when it is not JSON-serializable)."""
    return orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS)


def _last_line_start(fd: int, size: int) -> int:
    """Offset just after the last newline before ``size`` (0 when there is none)."""
    end = size
    while end > 0:
        start = max(0, end - _CHUNK)
        newline = os.pread(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0
