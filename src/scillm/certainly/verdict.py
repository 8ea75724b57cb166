"""What a prover said about one item: the verdict every backend returns.

Only ``status == "proved"`` means proved. Every other status is a reason it is not:
``failed`` (the prover rejected it, or it leans on Admitted/sorry/a forbidden axiom, or it does not
state the given statement), ``error`` (the item itself is malformed), ``timeout`` (killed at the
per-item deadline) and ``unavailable`` (the prover is not installed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from scillm.certainly.known_bugs import KnownBug

__all__ = ["STATUSES", "Message", "Severity", "Status", "Verdict", "error_verdict"]

Status = Literal["proved", "failed", "error", "timeout", "unavailable"]
Severity = Literal["error", "warning", "info"]
STATUSES: tuple[Status, ...] = ("proved", "failed", "error", "timeout", "unavailable")


@dataclass(frozen=True)
class Message:
    """One diagnostic; ``line`` is 1-based in the checked source, None when it has no place."""

    severity: Severity
    line: int | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "line": self.line, "text": self.text}


@dataclass(frozen=True)
class Verdict:
    """The checked result for one item.

    >>> v = Verdict(id="t1", backend="coq", status="proved")
    >>> v.proved, v.to_dict()["messages"]
    (True, [])

    ``statement_matches`` is None unless the item gave its statement separately; ``axioms`` lists
    every assumption the checked theorems rest on (allowed or not), as the prover names them.
    ``prover`` and ``backend_version`` say which prover checked it, ``known_bugs`` the critical
    soundness bugs listed for that version (:mod:`scillm.certainly.known_bugs`): what a
    ``proved`` had to trust.
    """

    id: str | int | None
    backend: str | None
    status: Status
    messages: tuple[Message, ...] = ()
    uses_sorry: bool = False
    axioms: tuple[str, ...] = ()
    statement_matches: bool | None = None
    time_ms: int = 0
    backend_version: str | None = None
    prover: str | None = None
    known_bugs: tuple[KnownBug, ...] = ()

    @property
    def proved(self) -> bool:
        return self.status == "proved"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the documented keys."""
        return {
            "id": self.id,
            "backend": self.backend,
            "status": self.status,
            "messages": [m.to_dict() for m in self.messages],
            "uses_sorry": self.uses_sorry,
            "axioms": list(self.axioms),
            "statement_matches": self.statement_matches,
            "time_ms": self.time_ms,
            "backend_version": self.backend_version,
            "prover": self.prover,
            "version": self.backend_version,
            "known_bugs": [bug.to_dict() for bug in self.known_bugs],
        }


def error_verdict(item_id: str | int | None, backend: str | None, text: str) -> Verdict:
    """The verdict for an item that could not be checked because the item itself is wrong."""
    return Verdict(item_id, backend, "error", (Message("error", None, text),))
