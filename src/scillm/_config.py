"""Configuration precedence, argument → ``SCILLM_*`` → ``LITELLM_*`` twin → default."""

from __future__ import annotations

import os

__all__ = ["env", "env_float", "twins"]


def twins(suffix: str) -> tuple[str, str]:
    """The ``SCILLM_<suffix>`` name and its documented ``LITELLM_<suffix>`` twin, in that order."""
    return (f"SCILLM_{suffix}", f"LITELLM_{suffix}")


def env(*names: str) -> str | None:
    """The first non-empty environment variable among ``names`` (read now, never at import)."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def env_float(default: float, *names: str) -> float:
    """A float from the first set variable among ``names``; a bad value is an error, not ignored."""
    raw = env(*names)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{names[0]}={raw!r} is not a number; set it to e.g. {default}") from None
