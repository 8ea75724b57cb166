"""Assemble the Coq file for an item, and pin what its theorem must state.

For a ``statement`` + ``proof`` item the file is::

    <imports>
    Lemma scillm_statement_ref <statement>. Admitted. Theorem <name> <statement>.
    <proof>

The reference lemma is elaborated from the same text in the same context, before any of the
proof's text, and kept on the theorem's line so line numbers match what the caller wrote. The
audit later demands that the theorem's type is syntactically the reference's: a proof that
``Abort``s and re-declares the theorem with a weaker statement is caught there.

:func:`unseal` turns opaque module ascription (``Module M : T``) into the transparent one
(``Module M <: T``, still checked against ``T``): a sealed definition prints as a bare
``*** [ M.x : A ]``, and the recursion check (:mod:`scillm.certainly.coq_recursion`) must see
every body a checked theorem rests on. Statements mean the same; a proof may now unfold
``M.x``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from scillm.certainly.coq_output import strip_comments
from scillm.certainly.items import ProofItem
from scillm.certainly.screen import blank_coq_literals

__all__ = ["GOAL_NAME", "REFERENCE_NAME", "CoqSource", "assemble", "unseal"]

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
# Imports come before the statement, so they may only load libraries and open scopes: any
# other command there (a Definition, a Notation) could change what the statement means.
_MODULE = re.compile(r"[A-Za-z_][\w']*(?:\.[A-Za-z_][\w']*)*")
_NAMES = r"(?:\s+[A-Za-z_][\w'.]*)+"
_HEADER = re.compile(
    rf"(?:From\s+[\w'.]+\s+)?Require(?:\s+(?:Import|Export))?{_NAMES}\s*\."
    rf"|(?:Import|Export){_NAMES}\s*\.|(?:Local\s+)?Open\s+Scope\s+[\w'.]+\s*\."
)


@dataclass(frozen=True)
class CoqSource:
    """The file to compile; ``goal`` names the theorem that must state the given statement.

    ``reference`` is the reference lemma on the theorem's line; :attr:`shown` is the file
    without it, as the item's author would recognise it (same lines).
    """

    text: str
    goal: str | None = None
    reference: str = ""

    @property
    def shown(self) -> str:
        return self.text.replace(self.reference, "", 1) if self.reference else self.text


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
    lines = [_import_line(entry.strip()) for entry in item.imports]
    bad = next((entry for entry in lines if not _HEADER.fullmatch(entry)), None)
    if bad is not None:
        return (
            f"import {bad!r} is not allowed: imports may only be module names, Require / "
            "Import / Export sentences, or Open Scope"
        )
    lines += [f"{reference}{keyword} {name}{rest}.", proof, ""]
    return CoqSource("\n".join(lines), goal=name, reference=reference)


# "Module [Import|Export] M (X : A) … :", not "Module Type" nor a functor's own binders.
_SEALED = re.compile(
    r"(?<![\w'.])(?P<declare>Declare\s+)?Module\s+(?!Type(?![\w']))(?:(?:Import|Export)\s+)?"
    r"[\w']+(?:\s*\([^()]*\))*\s*(?P<colon>:)(?![=>])"
)


def unseal(source: CoqSource) -> CoqSource:
    """``source`` with every ``Module M : T`` made ``Module M <: T`` (comments, strings kept)."""
    code = blank_coq_literals(source.text)
    if code is None:
        return source
    # "Declare Module M : T" declares a module parameter: no body to unseal.
    colons = [m.start("colon") for m in _SEALED.finditer(code) if m.group("declare") is None]
    text = source.text
    for colon in reversed(colons):
        text = f"{text[:colon]}<:{text[colon + 1 :]}"
    return replace(source, text=text)


def _import_line(entry: str) -> str:
    return f"Require Import {entry}." if _MODULE.fullmatch(entry) else entry
