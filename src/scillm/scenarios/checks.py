"""How a scenario says it cannot run (:class:`Skip`) or got a wrong outcome (:class:`Failed`)."""

from __future__ import annotations

__all__ = ["Failed", "Skip", "check", "placeholder_free"]


class Skip(Exception):
    """Something the scenario needs is missing; the message says what and how to get it."""


class Failed(Exception):
    """An outcome was wrong; the message says what was expected and what came."""


def check(condition: object, message: str) -> None:
    """Raise :class:`Failed` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Failed(message)


def placeholder_free(value: str | None) -> str | None:
    """``value``, or None when it is empty or an unexpanded ``${...}`` placeholder."""
    if not value or (value.startswith("${") and value.endswith("}")):
        return None
    return value
