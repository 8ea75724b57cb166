"""Checking a run request before anything is spawned, and turning it into work-dir files."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

from scillm.sandbox.languages import LANGUAGES, Language

__all__ = ["MIN_MEMORY_MB", "check_request", "encode", "sources"]

MIN_MEMORY_MB = 16


def check_request(
    code: str | None,
    language: str,
    files: Mapping[str, str | bytes] | None,
    args: Sequence[str],
    env: Mapping[str, str] | None,
    network: bool,
    timeout_s: float,
    cpu_s: float | None,
    memory_mb: int,
    output_limit_bytes: int,
) -> str | None:
    """Why this request cannot run (None when it can)."""
    if language not in LANGUAGES:
        return f"unknown language {language!r}; supported: {', '.join(sorted(LANGUAGES))}"
    if network:
        return "network=True is not supported: sandboxed code always runs without a network"
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        return f"timeout_s must be a positive number of seconds, not {timeout_s!r}"
    if cpu_s is not None and not (math.isfinite(cpu_s) and cpu_s > 0):
        return f"cpu_s must be a positive number of seconds, not {cpu_s!r}"
    if memory_mb < MIN_MEMORY_MB:
        return f"memory_mb must be at least {MIN_MEMORY_MB}, not {memory_mb!r}"
    if output_limit_bytes < 1:
        return f"output_limit_bytes must be positive, not {output_limit_bytes!r}"
    return _check_inputs(code, LANGUAGES[language], files, args, env)


def _check_inputs(
    code: str | None,
    lang: Language,
    files: Mapping[str, str | bytes] | None,
    args: Sequence[str],
    env: Mapping[str, str] | None,
) -> str | None:
    names = list(files or {})
    if code is None and lang.source not in names:
        return f"nothing to run: pass code, or files containing {lang.source!r}"
    if code is not None and lang.source in names:
        return f"both code and files[{lang.source!r}] given: pass one"
    for name in names:
        if _bad_file_name(name):
            return f"file name {name!r} must be a relative path inside the work dir"
    for key, value in (env or {}).items():
        if not key or "=" in key or "\0" in key or "\0" in value:
            return f"environment variable {key!r} has an invalid name or value"
    if any("\0" in arg for arg in args):
        return "args must not contain NUL characters"
    return None


def _bad_file_name(name: str) -> bool:
    path = PurePosixPath(name)
    return "\0" in name or not path.parts or path.is_absolute() or ".." in path.parts


def sources(
    code: str | None, lang: Language, files: Mapping[str, str | bytes] | None
) -> dict[str, bytes]:
    """The work dir's files: ``files`` plus ``code`` as the language's source file."""
    result = {name: encode(data) for name, data in (files or {}).items()}
    if code is not None:
        result[lang.source] = code.encode()
    return result


def encode(data: str | bytes | None) -> bytes:
    """Text as UTF-8; bytes as they are; None as nothing."""
    if data is None:
        return b""
    return data.encode() if isinstance(data, str) else data
