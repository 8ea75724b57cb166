"""Read the caller's item dicts into checked ``ProofItem``s, or into an ``error`` verdict each.

An item is ``{id, backend, code}`` (a whole source file) or ``{id, backend, statement, proof,
imports?}`` (the file is assembled, and the checked theorem must state ``statement``). A bad item
never raises: it becomes a verdict with status ``error`` saying what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from scillm.certainly.verdict import Verdict, error_verdict

__all__ = ["BACKENDS", "ProofItem", "parse_item"]

BACKENDS = ("coq", "lean4")


@dataclass(frozen=True)
class ProofItem:
    """One well-formed item: either ``code``, or ``statement`` + ``proof`` (+ ``imports``).

    Each import is a module name (``Arith``, ``Mathlib.Tactic``) or a header line used verbatim
    that only loads libraries (``From Coq Require Import Lia.``, ``Open Scope Z_scope.``;
    Lean: ``import …``, ``open …``); anything else there could change what the statement means.
    """

    id: str | int
    backend: str
    code: str | None = None
    statement: str | None = None
    proof: str | None = None
    imports: tuple[str, ...] = ()


def parse_item(raw: object, index: int) -> ProofItem | Verdict:
    """Validate one raw item; problems come back as an ``error`` verdict, never an exception."""
    if not isinstance(raw, Mapping):
        return error_verdict(
            None, None, f"item {index} is a {type(raw).__name__}, not an object with id and backend"
        )
    item_id = raw.get("id")
    if isinstance(item_id, bool) or not isinstance(item_id, str | int) or item_id == "":
        text = f"item {index} has no 'id' (a string or integer)"
        return error_verdict(None, _text(raw.get("backend")), text)
    backend = raw.get("backend")
    if backend not in BACKENDS:
        what = "has no 'backend'" if backend is None else f"has unknown backend {backend!r}"
        text = f"item {item_id!r} {what}; use one of {', '.join(BACKENDS)}"
        return error_verdict(item_id, _text(backend), text)
    problem = _source_problem(raw)
    if problem:
        return error_verdict(item_id, backend, f"item {item_id!r}: {problem}")
    imports = raw.get("imports") or ()
    return ProofItem(
        id=item_id,
        backend=backend,
        code=raw.get("code"),
        statement=raw.get("statement"),
        proof=raw.get("proof"),
        imports=(imports,) if isinstance(imports, str) else tuple(imports),
    )


def _source_problem(raw: Mapping[str, Any]) -> str | None:
    """Why the item's source fields are unusable, or None when they are fine."""
    code, statement, proof = raw.get("code"), raw.get("statement"), raw.get("proof")
    if code is not None and (statement is not None or proof is not None):
        return "give either 'code' or 'statement' + 'proof', not both"
    if code is None and statement is None and proof is None:
        return (
            "no 'code' and no 'statement' + 'proof' (natural-language requirements go to the "
            "prove pipeline; check() takes formal source)"
        )
    if code is not None:
        if raw.get("imports") is not None:
            return "'imports' go with 'statement' + 'proof'; put them at the top of 'code'"
        return None if _nonblank(code) else "'code' must be a non-empty string"
    if not _nonblank(statement):
        return "'statement' must be a non-empty string"
    if not _nonblank(proof):
        return "'proof' must be a non-empty string"
    imports = raw.get("imports")
    if imports is None or isinstance(imports, str):
        return None
    if isinstance(imports, list | tuple) and all(_nonblank(i) for i in imports):
        return None
    return "'imports' must be a string or a list of non-empty strings"


def _nonblank(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
