"""Input rows of ``scillm batch``: one JSON object per line.

    {"id": "q1", "messages": [{"role": "user", "content": "..."}]}
    {"id": "q2", "prompt": "...", "temperature": 0.2, "model": "fast"}   # per-row overrides

Every key besides ``id``, ``messages`` and ``prompt`` is passed to the call (``model``,
``temperature``, ``max_tokens``, ``response_format``, ``json_schema``, ...), checked by the one
request normaliser (:mod:`scillm._request`) when the row is read; the Router refuses keys its
provider does not take, per row.
Where calls go and with which credentials is the command's choice, never a row's: a row may not
set ``api_base``, ``base_url``, ``api_key``, ``extra_headers`` or ``follow_redirects`` (an input
file may come from someone else, and would otherwise send ``--api-key`` or the environment's
key to a host of its choosing); use ``--api-base``/``--api-key`` or ``--router-config``.
A row without an ``id`` gets one derived from its content (``auto-…``).
A line that is not a JSON object, has an id that is neither a string nor an integer, or lacks
usable ``messages``/``prompt`` becomes an error row naming its line number (or, with
``--strict``, stops the run before any call).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from scillm._request import normalise
from scillm.batch.checkpoint import id_string
from scillm.batch.jobs import Job, stable_id
from scillm.errors import BadRequestError

__all__ = ["count_rows", "job_of_line", "read_jobs", "request_of", "survey"]

ROW_KEYS = frozenset({"id", "messages", "prompt"})
COMMAND_ONLY = frozenset({"api_base", "base_url", "api_key", "extra_headers", "follow_redirects"})
_BOM = b"\xef\xbb\xbf"


def request_of(row: dict[str, Any]) -> dict[str, Any]:
    """The call keywords of a row; ValueError says what is wrong with it."""
    if ("messages" in row) == ("prompt" in row):
        raise ValueError(
            "a row needs either 'messages' (a list of {role, content}) or 'prompt' (a string)"
        )
    if "prompt" in row:
        prompt = row["prompt"]
        if not isinstance(prompt, str) or not prompt:
            raise ValueError(f"'prompt' must be a non-empty string, got {prompt!r:.60}")
        messages: Any = [{"role": "user", "content": prompt}]
    else:
        messages = row["messages"]
    rest = {k: v for k, v in row.items() if k not in ROW_KEYS}
    endpoint = sorted(COMMAND_ONLY & set(rest))
    if endpoint:
        raise ValueError(
            f"a row may not set {', '.join(map(repr, endpoint))}: where calls go and with which "
            "key is the command's choice (--api-base, --api-key, --router-config)"
        )
    params = {k: v for k, v in rest.items() if k != "model"}
    try:
        req = normalise(rest.get("model"), messages, params)
    except BadRequestError as exc:
        raise ValueError(str(exc)) from None
    return {"messages": req.messages, **rest}


def _unusable(content: object, problem: str) -> Job:
    """A row that cannot be run, under an id derived from its content."""
    key = stable_id(content)
    return Job(key, key, None, problem)


def job_of_line(number: int, line: bytes) -> Job:
    """The job of input line ``number`` (1-based)."""
    try:
        row = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return _unusable(line.strip(), f"line {number}: not valid JSON ({exc})")
    if not isinstance(row, dict):
        return _unusable(row, f"line {number}: a row must be a JSON object, got {row!r:.60}")
    value = row.get("id")
    generated = value is None
    key = stable_id(row) if generated else id_string(value)
    if key is None:
        problem = f"line {number}: 'id' must be a string or an integer, got {value!r:.60}"
        return _unusable(row, problem)
    id_value = key if generated else value
    try:
        request = request_of(row)
    except ValueError as exc:
        return Job(key, id_value, None, f"line {number}: {exc}", generated=generated)
    return Job(key, id_value, request, generated=generated)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Non-blank lines with their 1-based numbers (a UTF-8 byte-order mark is ignored)."""
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            if number == 1 and line.startswith(_BOM):
                line = line[len(_BOM) :]
            if line.strip():
                yield number, line


def read_jobs(path: Path) -> Iterator[Job]:
    """The jobs of an input file, lazily."""
    for number, line in _lines(path):
        yield job_of_line(number, line)


def survey(path: Path) -> tuple[int, list[str]]:
    """The number of rows in the input file and what is wrong with them (for ``--strict``)."""
    rows, problems = 0, []
    for job in read_jobs(path):
        rows += 1
        if job.problem is not None:
            problems.append(job.problem)
    return rows, problems


def count_rows(path: Path) -> int:
    """Non-blank lines of the input file."""
    return sum(1 for _ in _lines(path))
