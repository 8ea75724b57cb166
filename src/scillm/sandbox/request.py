"""Checking a run request before anything is spawned, and turning it into work-dir files."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

from scillm.sandbox.languages import LANGUAGES, Language

__all__ = ["MIN_MEMORY_MB", "check_request", "encode", "sources"]

MIN_MEMORY_MB = 16
MAX_SECONDS = 24 * 3600  # timeout_s, cpu_s: a day is more than any run needs
MAX_MEMORY_MB = 1 << 20  # a TiB
MAX_DISK_MB = 16 << 10  # the tmpfs work dir lives in host RAM
MAX_NAME_BYTES = 255  # one path component, as Linux allows


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
    disk_mb: int,
) -> str | None:
    """Why this request cannot run (None when it can)."""
    if not isinstance(language, str) or language not in LANGUAGES:
        return f"unknown language {language!r}; supported: {', '.join(sorted(LANGUAGES))}"
    if network:
        return "network=True is not supported: sandboxed code always runs without a network"
    for name, seconds in (("timeout_s", timeout_s), ("cpu_s", cpu_s)):
        if seconds is not None and not _number_in(seconds, 0, MAX_SECONDS):
            return f"{name} must be a number of seconds in (0, {MAX_SECONDS}], not {seconds!r}"
    if not _int_in(memory_mb, MIN_MEMORY_MB, MAX_MEMORY_MB):
        bounds = f"[{MIN_MEMORY_MB}, {MAX_MEMORY_MB}]"
        return f"memory_mb must be an integer in {bounds}, not {memory_mb!r}"
    if not _int_in(disk_mb, 1, MAX_DISK_MB):
        return f"disk_mb must be an integer in [1, {MAX_DISK_MB}], not {disk_mb!r}"
    if not _int_in(output_limit_bytes, 1, 1 << 40):
        return f"output_limit_bytes must be a positive integer, not {output_limit_bytes!r}"
    return _check_inputs(code, LANGUAGES[language], files, args, env)


def _number_in(value: object, low: float, high: float) -> bool:
    """``low < value <= high`` for a real number (not a bool, not NaN)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return ok and math.isfinite(value) and low < value <= high  # type: ignore[arg-type,operator]


def _int_in(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_inputs(
    code: str | None,
    lang: Language,
    files: Mapping[str, str | bytes] | None,
    args: Sequence[str],
    env: Mapping[str, str] | None,
) -> str | None:
    if code is not None and not isinstance(code, str):
        return f"code must be a str, not {type(code).__name__}"
    if files is not None and not isinstance(files, Mapping):
        return f"files must map names to str or bytes, not {type(files).__name__}"
    names = list(files or {})
    if code is None and lang.source not in names:
        return f"nothing to run: pass code, or files containing {lang.source!r}"
    if code is not None and lang.source in names:
        return f"both code and files[{lang.source!r}] given: pass one"
    for name in names:
        why = _bad_file_name(name)
        if why:
            return f"file name {name!r} {why}"
        if not isinstance(files[name], str | bytes):  # type: ignore[index]
            return f"files[{name!r}] must be str or bytes"
    if twins := _twins(names):
        return f"files {twins[0]!r} and {twins[1]!r} are the same path: keep one"
    if collision := _collision(names):
        return f"file {collision[0]!r} would be a directory for {collision[1]!r}: rename one"
    if env is not None and not isinstance(env, Mapping):
        return f"env must map names to str values, not {type(env).__name__}"
    for key, value in (env or {}).items():
        if not _text(key) or not _text(value) or not key or "=" in key:
            return f"environment variable {key!r} has an invalid name or value"
    if isinstance(args, str | bytes) or not all(_text(arg) for arg in args):
        return "args must be a list of str without NUL characters or lone surrogates"
    return None


def _text(value: object) -> bool:
    """A str that can cross an exec boundary: no NUL, valid UTF-8 when encoded."""
    if not isinstance(value, str) or "\0" in value:
        return False
    try:
        value.encode()
    except UnicodeError:
        return False
    return True


def _bad_file_name(name: object) -> str | None:
    """Why ``name`` cannot be a file of the work dir (None when it can)."""
    if not _text(name):
        return "must be a str without NUL characters or lone surrogates"
    assert isinstance(name, str)
    path = PurePosixPath(name)
    if not path.parts or path.is_absolute() or ".." in path.parts or name.endswith("/"):
        return "must be a relative path inside the work dir"
    if any(len(part.encode()) > MAX_NAME_BYTES for part in path.parts):
        return f"has a part longer than {MAX_NAME_BYTES} bytes"
    return None


def _twins(names: list[str]) -> tuple[str, str] | None:
    """Two names for one path (``main.py`` and ``./main.py``): one would silently win."""
    seen: dict[str, str] = {}
    for name in names:
        twin = seen.setdefault(str(PurePosixPath(name)), name)
        if twin != name:
            return twin, name
    return None


def _collision(names: list[str]) -> tuple[str, str] | None:
    """Two names where one must be a file and a directory at once (``a`` and ``a/b``)."""
    normal = {str(PurePosixPath(name)): name for name in names}
    for name in names:
        for parent in PurePosixPath(name).parents:
            if str(parent) in normal and str(parent) != ".":
                return normal[str(parent)], name
    return None


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
