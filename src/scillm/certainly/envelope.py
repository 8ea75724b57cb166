"""Read a ``POST /bridge/complete`` body (the original bridge's envelope) into a checked request.

    {"messages": [...], "backend": "coq",
     "items": [{"id": "a", "code": "..."}, {"id": "b", "statement": "...", "proof": "..."}],
     "lean4_requirements": [{"requirement_text": "...", "context": "...", "metadata": {...}}],
     "options": {"max_seconds": 120, "session_id": "s", "track_id": "t",
                 "max_refinements": 2, "best_of": 1},
     "lean4_flags": ["--deterministic"]}

An item with ``code`` or ``proof`` is checked as it is; a requirement (``requirement_text`` or
``requirement``), or a ``statement`` without a proof, goes to the prove pipeline. With neither
items nor requirements, the last user message is the requirement. Flags (``lean4_flags`` or
``provider.args.flags``) are read against an allow-list into options: no caller text ever
reaches a command line. A malformed envelope is a :class:`BridgeError` (400) saying what to fix;
a malformed item only gets its own error verdict later.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scillm.certainly.items import BACKENDS
from scillm.certainly.settings import MAX_BEST_OF, MAX_REFINEMENTS, BridgeSettings

__all__ = ["BridgeError", "BridgeRequest", "is_requirement", "parse_envelope"]

OPTIONS = ("max_seconds", "session_id", "track_id", "max_refinements", "best_of")
SWITCHES = ("--deterministic", "--no-llm")
VALUED_FLAGS = {"--max-refinements": "max_refinements", "--best-of": "best_of"}


class BridgeError(Exception):
    """A request the bridge cannot serve: ``status`` is the HTTP status (400, 503)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class BridgeRequest:
    """A checked request. ``items`` keep the caller's order and ids (missing ids: the index)."""

    items: tuple[Any, ...]
    backend: str | None
    max_seconds: float
    max_refinements: int
    best_of: int
    deterministic: bool
    use_llm: bool
    flags: tuple[str, ...]
    session_id: str | None
    track_id: str | None


def parse_envelope(body: object, settings: BridgeSettings) -> BridgeRequest:
    """Check ``body`` and apply its flags and options over ``settings``."""
    if not isinstance(body, Mapping):
        raise BridgeError(400, "the body must be a JSON object (the bridge envelope)")
    backend = body.get("backend")
    if backend is not None and backend not in BACKENDS:
        raise BridgeError(400, f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    flags = _flags(body)
    options = _options(body.get("options"), flags)
    max_seconds = min(settings.max_seconds, options.get("max_seconds", settings.max_seconds))
    return BridgeRequest(
        items=_items(body),
        backend=backend,
        max_seconds=max_seconds,
        max_refinements=options.get("max_refinements", settings.max_refinements),
        best_of=options.get("best_of", settings.best_of),
        deterministic="--deterministic" in flags,
        use_llm="--no-llm" not in flags,
        flags=tuple(flags),
        session_id=options.get("session_id"),
        track_id=options.get("track_id"),
    )


def is_requirement(item: object) -> bool:
    """Whether an item is for the prove pipeline rather than the checker."""
    if not isinstance(item, Mapping) or "code" in item or "proof" in item:
        return False
    return any(key in item for key in ("requirement_text", "requirement", "statement"))


def _items(body: Mapping[str, Any]) -> tuple[Any, ...]:
    items = _list(body, "items")
    items += [_requirement(raw) for raw in _list(body, "lean4_requirements")]
    if not items:
        text = _last_user_text(body.get("messages"))
        if text is None:
            raise BridgeError(
                400,
                "no items: send 'items', 'lean4_requirements', or a user message that states "
                "what to prove",
            )
        items = [{"requirement_text": text}]
    return tuple(_with_id(raw, index) for index, raw in enumerate(items))


def _list(body: Mapping[str, Any], key: str) -> list[Any]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BridgeError(400, f"'{key}' must be a list, not {type(value).__name__}")
    return list(value)


def _requirement(raw: object) -> object:
    """A ``lean4_requirements`` entry as a requirement item (a bare string is the text)."""
    if isinstance(raw, str):
        return {"requirement_text": raw}
    if isinstance(raw, Mapping) and not is_requirement(raw):
        return {**raw, "requirement_text": None}  # flagged as a requirement without text
    return raw


def _with_id(raw: object, index: int) -> object:
    if isinstance(raw, Mapping) and raw.get("id") is None:
        return {**raw, "id": raw.get("item_id", index)}
    return raw


def _last_user_text(messages: object) -> str | None:
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                parts = [p.get("text") for p in content if isinstance(p, Mapping)]
                content = " ".join(p for p in parts if isinstance(p, str))
            return content if isinstance(content, str) and content.strip() else None
    return None


def _flags(body: Mapping[str, Any]) -> list[str]:
    """The caller's flags, from ``lean4_flags`` or ``provider.args.flags``."""
    flags = body.get("lean4_flags")
    provider = body.get("provider")
    if (
        flags is None
        and isinstance(provider, Mapping)
        and isinstance(provider.get("args"), Mapping)
    ):
        flags = provider["args"].get("flags")
    if flags is None:
        return []
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise BridgeError(400, "flags must be a list of strings")
    return flags


def _options(raw: object, flags: Sequence[str]) -> dict[str, Any]:
    """Options from the flags, then ``options`` (which win), each checked."""
    if raw is not None and not isinstance(raw, Mapping):
        raise BridgeError(400, "'options' must be an object")
    given: dict[str, Any] = dict(_flag_options(flags))
    given.update(raw or {})
    unknown = sorted(set(given) - set(OPTIONS))
    if unknown:
        known = ", ".join(OPTIONS)
        raise BridgeError(400, f"unknown option(s) {', '.join(unknown)}; the bridge reads {known}")
    options: dict[str, Any] = {}
    for key, value in given.items():
        if value is not None:
            options[key] = _option(key, value)
    return options


def _flag_options(flags: Sequence[str]) -> dict[str, object]:
    found: dict[str, object] = {}
    pending: str | None = None
    for flag in flags:
        if pending is not None:
            found[VALUED_FLAGS[pending]], pending = flag, None
            continue
        name, has_value, value = flag.partition("=")
        if name in VALUED_FLAGS and has_value:
            found[VALUED_FLAGS[name]] = value
        elif name in VALUED_FLAGS:
            pending = name
        elif flag not in SWITCHES:
            accepted = ", ".join([*SWITCHES, *VALUED_FLAGS])
            raise BridgeError(400, f"unknown flag {flag[:80]!r}; the bridge accepts {accepted}")
    if pending is not None:
        raise BridgeError(400, f"flag {pending} needs a value")
    return found


def _option(key: str, value: object) -> object:
    if key in ("session_id", "track_id"):
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise BridgeError(400, f"options.{key} must be a string")
        return str(value)
    if key == "max_seconds":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise BridgeError(400, "options.max_seconds must be a positive number of seconds")
        if not (math.isfinite(value) and value > 0):
            raise BridgeError(400, "options.max_seconds must be a positive number of seconds")
        return float(value)
    low, high = (0, MAX_REFINEMENTS) if key == "max_refinements" else (1, MAX_BEST_OF)
    try:
        number = int(str(value)) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or not low <= number <= high:
        raise BridgeError(400, f"{key} must be an integer from {low} to {high}, not {value!r}")
    return number
