"""What a provider-batch run has submitted, kept next to the output so a rerun resumes it.

    OUT.jsonl.batches/state.json        {"version": 1, "base": "...", "next_chunk": 3,
                                         "batches": [{batch_id, input_file_id, model, rows,
                                                      first_row, last_row, request_file,
                                                      status}, ...]}
    OUT.jsonl.batches/chunk-000001.jsonl   the request file of a batch not merged yet

``first_row``/``last_row`` are 0-based indexes of non-blank input lines (the rows the batch
covers; rows between them that were done already are not in it). ``status`` is ``uploaded``
(file sent, batch not recorded yet), ``submitted`` (the provider has the batch), ``merging``
(its rows are being written: a rerun skips those already in the output) or ``merged`` (its
results are in the output; the request file is deleted then). The file is replaced
atomically (temp file, fsync, rename) after every change.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from scillm.batch.idset import IdSet

__all__ = ["STATE_NAME", "BatchState", "Submitted", "state_folder"]

STATE_NAME = "state.json"
VERSION = 1
_REQUEST_FILE = re.compile(r"chunk-\d+\.jsonl")


def state_folder(output: Path) -> Path:
    """The folder of a run's batch state: ``OUT.jsonl.batches`` beside the output."""
    return output.with_name(output.name + ".batches")


@dataclass(slots=True)
class Submitted:
    """One request file and the batch made of it."""

    input_file_id: str
    model: str
    rows: int
    first_row: int
    last_row: int
    request_file: str
    status: str = "uploaded"
    batch_id: str | None = None

    def request_path(self, folder: Path) -> Path:
        return folder / self.request_file


class StateError(ValueError):
    """The state file is unreadable or from elsewhere."""


class BatchState:
    """The batches of one output (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.base: str | None = None
        self.next_chunk = 1
        self.batches: list[Submitted] = []

    @classmethod
    def load(cls, folder: Path) -> BatchState:
        """The saved state, or an empty one (StateError when the file is damaged)."""
        state = cls(folder)
        path = folder / STATE_NAME
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return state
        try:
            data = orjson.loads(raw)
            if not isinstance(data, dict) or data.get("version") != VERSION:
                raise ValueError("not a version 1 state file")
            state.base = data.get("base")
            state.next_chunk = int(data["next_chunk"])
            state.batches = [Submitted(**entry) for entry in data["batches"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(f"the batch state {path} is damaged ({exc})") from None
        return state

    def save(self) -> None:
        """Write the state atomically."""
        self.folder.mkdir(parents=True, exist_ok=True)
        data: dict[str, Any] = {
            "version": VERSION,
            "base": self.base,
            "next_chunk": self.next_chunk,
            "batches": [asdict(b) for b in self.batches],
        }
        path = self.folder / STATE_NAME
        tmp = path.with_name(f"{STATE_NAME}.tmp-{os.getpid()}")
        with open(tmp, "wb") as f:
            f.write(orjson.dumps(data, option=orjson.OPT_INDENT_2))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def new_request_file(self) -> Path:
        """A fresh request-file path (its number is taken even if it is never submitted)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"chunk-{self.next_chunk:06d}.jsonl"
        self.next_chunk += 1
        return self.folder / name

    def open_batches(self) -> list[Submitted]:
        """Batches whose results are not merged yet."""
        return [b for b in self.batches if b.status != "merged"]

    def open_keys(self) -> IdSet:
        """Row ids (custom_ids) in batches not merged yet."""
        keys = IdSet()
        for batch in self.open_batches():
            for key in custom_ids(batch.request_path(self.folder)):
                keys.add(key)
        return keys

    def remove_strays(self) -> None:
        """Delete request files no batch refers to (left by a run killed before uploading)."""
        known = {b.request_file for b in self.open_batches()}
        for path in self.folder.glob("chunk-*.jsonl"):
            if _REQUEST_FILE.fullmatch(path.name) and path.name not in known:
                path.unlink(missing_ok=True)


def custom_ids(path: Path) -> Iterator[str]:
    """The custom_ids of a request file, in order."""
    with open(path, "rb") as f:
        for line in f:
            if line.strip():
                yield str(orjson.loads(line)["custom_id"])
