"""What one step of ``scillm demo --full`` found: ok, failed, or unavailable (its engine is
missing), with the one line it proved or the reason it could not."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
from rich.markup import escape

from scillm.errors import EngineUnavailable

__all__ = ["Outcome", "Say", "StepResult", "run_step", "save_json"]

Say = Callable[..., None]
"""Prints one line (``rich.console.Console.print``'s signature)."""

Outcome = Literal["ok", "failed", "unavailable"]


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step's outcome, the line it printed and its wall time in seconds."""

    name: str
    outcome: Outcome
    line: str
    seconds: float = 0.0

    @classmethod
    def judged(cls, name: str, ok: bool, line: str) -> StepResult:
        """``ok`` with ``line``, or ``failed`` with ``failed: line``."""
        return cls(name, "ok", line) if ok else cls(name, "failed", f"failed: {line}")


def run_step(name: str, title: str, step: Callable[[], StepResult], say: Say) -> StepResult:
    """Print ``title``, run ``step`` and print its line; a missing engine is ``unavailable``,
    any other error ``failed`` (the demo goes on with the next step either way)."""
    say(f"[bold]{escape(title)}[/]")
    t0 = time.perf_counter()
    try:
        result = step()
    except EngineUnavailable as exc:
        result = StepResult(name, "unavailable", f"unavailable: {exc}")
    except Exception as exc:
        result = StepResult(name, "failed", f"failed: {type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - t0
    colour = {"ok": "green", "failed": "red", "unavailable": "yellow"}[result.outcome]
    say(f"   [{colour}]{escape(result.line)}[/] ({seconds:.1f} s)", highlight=False, soft_wrap=True)
    return StepResult(name, result.outcome, result.line, seconds)


def save_json(path: Path, value: Any) -> None:
    """Keep a step's evidence (dataclasses included) as indented JSON beside the demo's files."""
    path.write_bytes(orjson.dumps(value, option=orjson.OPT_INDENT_2))
