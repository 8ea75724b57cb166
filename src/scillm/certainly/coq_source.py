"""Assemble the Coq file for an item, and pin what its theorem must state.

For a ``statement`` + ``proof`` item the file is::

    <imports>
    Lemma scillm_statement_ref <statement>. Admitted. Theorem <name> <statement>.
    <proof>

The reference lemma is elaborated from the same text in the same context, before any of the
proof's text, and kept on the theorem's line so line numbers match what the caller wrote. The
audit later demands that the theorem's type is syntactically the reference's: a proof that
``Abort``s and re-declares the theorem with a weaker statement is caught there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scillm.certainly.coq_output import strip_comments
from scillm.certainly.items import ProofItem

__all__ = ["GOAL_NAME", "REFERENCE_NAME", "CoqSource", "assemble"]

GOAL_NAME = "scillm_goal"
REFERENCE_NAME = "scillm_statement_ref"
_DECLARATION = re.compile(
    r"\s*(Theorem|Lemma|Fact|Remark|Corollary|Proposition|Property|Example)\s+"
    r"([^\s:(){}\[\]]+)(.*)",
    re.DOTALL,
)
# A sentence ends at a period followed by white space; "Nat.add" and ".." do not end one.
_SENTENCE_END = re.compile(r"(?<!\.)\.(?!\.)(?=\s)")
_TERMINATED = re.compile(r"(Qed|Defined|Admitted|Abort(\s+All)?|Save\s+\S+)\s*\.\s*$")


@dataclass(frozen=True)
class CoqSource:
    """The file to compile; ``goal`` names the theorem that must state the given statement."""

    text: str
    goal: str | None = None


def assemble(item: ProofItem) -> CoqSource | str:
    """The Coq file for ``item``, or a message saying why the statement is unusable."""
    if item.code is not None:
        return CoqSource(item.code)
    assert item.statement is not None and item.proof is not None
    statement = strip_comments(item.statement).strip().removesuffix(".").rstrip()
    if _SENTENCE_END.search(statement):
        return "'statement' must be a single Coq sentence (a proposition or a Theorem declaration)"
    declared = _DECLARATION.fullmatch(statement)
    if declared:
        keyword, name, rest = declared.groups()
    else:
        keyword, name, rest = "Theorem", GOAL_NAME, f" : {statement}"
    reference = f"Lemma {REFERENCE_NAME}{rest.replace(chr(10), ' ')}. Admitted. "
    proof = item.proof.rstrip()
    if not _TERMINATED.search(strip_comments(proof)):
        proof += "\nQed."
    lines = [_import_line(entry) for entry in item.imports]
    lines += [f"{reference}{keyword} {name}{rest}.", proof, ""]
    return CoqSource("\n".join(lines), goal=name)


def _import_line(entry: str) -> str:
    entry = entry.strip()
    return entry if " " in entry or entry.endswith(".") else f"Require Import {entry}."
