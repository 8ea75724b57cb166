"""Reading untyped JSON into checked values, collecting every problem with its field path.

A request is checked whole: :class:`Checker` gathers all problems (``items[0].tests[2].weight:
must be a number >= 0``) and :class:`InvalidRequest` reports them together, so one round trip
fixes everything. The bridge turns ``problems`` into a 422 with FastAPI-style ``loc`` lists.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scillm.errors import BadRequestError

__all__ = ["MISSING", "Checker", "InvalidRequest", "Loc", "Problem", "where"]

Loc = tuple[str | int, ...]
MISSING: Any = object()


def where(loc: Loc) -> str:
    """``("items", 0, "tests")`` → ``"items[0].tests"``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "request"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request, at ``loc``."""

    loc: Loc
    message: str

    def __str__(self) -> str:
        return f"{where(self.loc)}: {self.message}"


class InvalidRequest(BadRequestError):
    """A CodeWorld request that cannot run; ``problems`` says where and why."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        text = "; ".join(str(p) for p in self.problems[:20])
        more = len(self.problems) - 20
        super().__init__(
            f"invalid CodeWorld request: {text}" + (f" (and {more} more)" if more > 0 else ""),
            provider="codeworld",
        )


class Checker:
    """Typed reads from untyped JSON; a bad value records a problem and yields None."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, loc: Loc, message: str) -> None:
        self.problems.append(Problem(loc, message))

    def raise_if_any(self) -> None:
        if self.problems:
            raise InvalidRequest(self.problems)

    def mapping(self, value: Any, loc: Loc, *, required: bool = False) -> Mapping[str, Any] | None:
        if value is None or value is MISSING:
            if required:
                self.add(loc, "is required (an object)")
            return None
        if isinstance(value, Mapping):
            return value
        self.add(loc, f"must be an object, not {_kind(value)}")
        return None

    def sequence(self, value: Any, loc: Loc, *, required: bool = False) -> list[Any] | None:
        if value is None or value is MISSING:
            if required:
                self.add(loc, "is required (a list)")
            return None
        if isinstance(value, list | tuple):
            return list(value)
        self.add(loc, f"must be a list, not {_kind(value)}")
        return None

    def string(self, value: Any, loc: Loc, *, required: bool = False) -> str | None:
        if value is None or value is MISSING:
            if required:
                self.add(loc, "is required (a string)")
            return None
        if isinstance(value, str):
            return value
        self.add(loc, f"must be a string, not {_kind(value)}")
        return None

    def number(
        self, value: Any, loc: Loc, *, minimum: float = 0.0, positive: bool = False
    ) -> float | None:
        if value is None or value is MISSING:
            return None
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if ok and math.isfinite(value) and value >= minimum and (value > 0 or not positive):
            return float(value)
        bound = f"> {minimum:g}" if positive else f">= {minimum:g}"
        self.add(loc, f"must be a number {bound}, not {value!r}")
        return None

    def integer(self, value: Any, loc: Loc, *, minimum: int = 0) -> int | None:
        if value is None or value is MISSING:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            return value
        self.add(loc, f"must be an integer >= {minimum}, not {value!r}")
        return None

    def boolean(self, value: Any, loc: Loc) -> bool | None:
        if value is None or value is MISSING:
            return None
        if isinstance(value, bool):
            return value
        self.add(loc, f"must be true or false, not {value!r}")
        return None

    def known_keys(self, obj: Mapping[str, Any], allowed: Sequence[str], loc: Loc) -> None:
        """Unknown keys are typos until proven otherwise: refuse them, naming the known ones."""
        for key in obj:
            if key not in allowed:
                known = ", ".join(sorted(allowed))
                self.add((*loc, str(key)), f"unknown field; known fields here: {known}")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
