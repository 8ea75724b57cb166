"""Configuration precedence, written once: explicit argument → environment → default.

Every settings class resolves its values with these functions; nothing else reads ``os.environ``
for configuration. Names are tried in order (``SCILLM_X`` before its documented twins such as
``LITELLM_X``), the environment is read when asked (never at import), and a malformed value is a
``ValueError`` naming the variable and an example — never silently ignored.

    timeout = setting(timeout, 600.0, float, "SCILLM_TIMEOUT")   # argument wins when not None
    enabled = env_flag(False, *twins("RETRY_ENABLED"))
    kwargs = resolve(given, {"port": (int, "X_PORT"), "echo": (bool, "X_ECHO", "Y_ECHO")})
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = [
    "Kind",
    "Source",
    "env",
    "env_flag",
    "env_float",
    "env_int",
    "parse_flag",
    "reader",
    "resolve",
    "setting",
    "twins",
]

T = TypeVar("T")
Kind = type | Callable[[str, str], object]
"""How an environment value parses: ``bool``, ``int``, ``float``, ``str``, or a function
``(raw, variable_name) -> value`` that raises a ValueError naming the variable."""
Source = tuple[Kind, *tuple[str, ...]]
"""A setting's kind and its environment variables, in the order they are tried."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def twins(suffix: str) -> tuple[str, str]:
    """The ``SCILLM_<suffix>`` name and its documented ``LITELLM_<suffix>`` twin, in that order."""
    return (f"SCILLM_{suffix}", f"LITELLM_{suffix}")


def env(*names: str) -> str | None:
    """The first non-empty environment variable among ``names`` (read now, never at import)."""
    found = _found(*names)
    return None if found is None else found[1]


def _lookup() -> Callable[[str], str | None]:
    """``os.environ.get`` without its cost for an unset name (a raised and caught KeyError,
    ~0.7 µs, paid per call on the request path): CPython keeps the environment in
    ``os.environ._data`` under encoded names; elsewhere the public API is used."""
    environ = os.environ
    data = getattr(environ, "_data", None)
    encode = getattr(environ, "encodekey", None)
    decode = getattr(environ, "decodevalue", None)
    if not isinstance(data, dict) or encode is None or decode is None:
        return environ.get
    keys: dict[str, Any] = {}

    def get(name: str) -> str | None:
        key = keys.get(name)
        if key is None:
            key = keys[name] = encode(name)
        raw = data.get(key)
        return None if raw is None else str(decode(raw))

    return get


_get = _lookup()


def _found(*names: str) -> tuple[str, str] | None:
    for name in names:
        value = _get(name)
        if value:
            return name, value
    return None


def parse_flag(raw: str, name: str = "flag") -> bool:
    """``1/true/yes/on`` → True, ``0/false/no/off`` → False (any case); else a ValueError."""
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={raw!r} is not a flag; set it to 1 or 0")


def _float(raw: str, name: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{name}={raw!r} is not a number; set it to e.g. 1.5")
    return value


def _int(raw: str, name: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not an integer; set it to e.g. 8") from None


def _typed(default: T, names: tuple[str, ...], cast: Callable[[str, str], T]) -> T:
    for name in names:  # what _found does, without its frame: this runs on every request
        raw = _get(name)
        if raw:
            return cast(raw, name)
    return default


def env_float(default: float, *names: str) -> float:
    """A finite float from the first set variable among ``names``, else ``default``."""
    return _typed(default, names, _float)


def env_int(default: int, *names: str) -> int:
    """An integer from the first set variable among ``names``, else ``default``."""
    return _typed(default, names, _int)


def env_flag(default: bool, *names: str) -> bool:
    """A flag (``1``/``0``, ``true``/``false`` ...), else ``default``."""
    return _typed(default, names, parse_flag)


_CASTS: dict[type, Callable[[str, str], object]] = {
    bool: parse_flag,
    int: _int,
    float: _float,
    str: lambda raw, _name: raw,
}


def _cast(kind: Kind) -> Callable[[str, str], object]:
    return _CASTS[kind] if isinstance(kind, type) else kind


def reader(kind: type[T], *names: str) -> Callable[[T | None, T], T]:
    """``read(explicit, default)``, giving what ``setting(explicit, default, kind, *names)`` gives.

    For settings read on every request: one call where :func:`setting` takes three. On CPython
    the variables are looked up in ``os.environ._data`` directly (as ``_get`` does), under
    names encoded once here.
    """
    cast = _CASTS[kind]
    environ = os.environ
    data = getattr(environ, "_data", None)
    encode = getattr(environ, "encodekey", None)
    decode = getattr(environ, "decodevalue", None)
    if not isinstance(data, dict) or encode is None or decode is None:

        def read_env(explicit: T | None, default: T) -> T:
            return setting(explicit, default, kind, *names)

        return read_env
    keys = tuple((encode(name), name) for name in names)

    def read(explicit: T | None, default: T) -> T:
        if explicit is not None:
            return explicit
        for key, name in keys:
            raw = data.get(key)
            if raw:  # an empty value is unset, as everywhere here
                return cast(str(decode(raw)), name)  # type: ignore[return-value]
        return default

    return read


def setting(explicit: T | None, default: T, kind: type[T], *names: str) -> T:
    """The one precedence rule: ``explicit`` when not None, else the environment, else ``default``.

    ``kind`` is ``bool``, ``int``, ``float`` or ``str`` and says how an environment value parses.
    """
    if explicit is not None:
        return explicit
    return _typed(default, names, _CASTS[kind])  # type: ignore[arg-type]


def resolve(given: Mapping[str, Any], sources: Mapping[str, Source]) -> dict[str, Any]:
    """Keyword arguments for a settings dataclass by the same rule, field by field.

    A field's ``given`` value when not None, else its variables' (``sources`` maps a field to
    its kind and names, tried in order) parsed as its kind; a field with neither is left out,
    so the dataclass default applies. Given fields that have no source are kept as they are.
    """
    out = {key: value for key, value in given.items() if value is not None}
    for key, (kind, *names) in sources.items():
        found = None if key in out else _found(*names)
        if found is not None:
            out[key] = _cast(kind)(found[1], found[0])
    return out
