"""A job is one input row on its way through a batch: its id, what to run, or why it cannot run."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from scillm.batch.checkpoint import id_string

__all__ = ["Job", "error_row", "job_for", "jobs_from_items", "stable_id"]

GENERATED_PREFIX = "auto-"


@dataclass(slots=True)
class Job:
    """``key`` is the id as a string (how ids compare); ``id`` is written in the row.

    A job with a ``problem`` becomes an error row without any call.
    """

    key: str
    id: Any
    item: Any
    problem: str | None = None
    generated: bool = False


def stable_id(value: object) -> str:
    """An id derived from content (``auto-`` + 24 hex digits): the same row gets the same id on
    every run, wherever it sits in the input."""
    if isinstance(value, bytes):
        blob = value
    else:
        options = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
        blob = orjson.dumps(value, option=options, default=repr)
    return GENERATED_PREFIX + hashlib.blake2b(blob, digest_size=12).hexdigest()


def error_row(id_key: str, id_value: Any, error_type: str, message: str) -> dict[str, Any]:
    """The row recorded for a failure: ``{id_key: id, "ok": false, "error": {type, message}}``."""
    return {id_key: id_value, "ok": False, "error": {"type": error_type, "message": message}}


def job_for(item: Any, id_key: str) -> Job:
    """The job of one ``run_batch`` item: a mapping with an id (str or int) under ``id_key``;
    a missing id is generated from the item's content."""
    if not isinstance(item, Mapping):
        key = stable_id(item)
        problem = f"an item must be a mapping with an {id_key!r} key, got {type(item).__name__}"
        return Job(key, key, item, problem)
    value = item.get(id_key)
    if value is None:
        key = stable_id(dict(item))
        return Job(key, key, item, generated=True)
    key_or_none = id_string(value)
    if key_or_none is None:
        key = stable_id(dict(item))
        problem = f"{id_key!r} must be a string or an integer, got {type(value).__name__} {value!r}"
        return Job(key, key, item, problem)
    return Job(key_or_none, value, item)


def jobs_from_items(items: Iterable[Any], id_key: str) -> Iterator[Job]:
    """Jobs for ``items``, lazily."""
    for item in items:
        yield job_for(item, id_key)
