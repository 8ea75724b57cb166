"""What the prove pipeline says to the model, and how it reads the model's replies.

The model answers in fenced code blocks: for a requirement, the formal statement (its imports
first) and then the proof; for a given formal statement, only the proof (it may start with
imports the proof needs). Replies that do not follow the format get a message saying so, which
goes back to the model like a prover error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from scillm.certainly.coq_output import strip_comments
from scillm.certainly.verdict import Verdict

__all__ = ["Draft", "Task", "feedback", "first_messages", "parse_reply"]

FEEDBACK_LIMIT = 6000  # characters of prover messages and source sent back per round
_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)
_COQ_IMPORT = re.compile(
    r"\s*((?:From\s+[\w.]+\s+)?Require\s+(?:Import\s+|Export\s+)?[\w.'\s]+?\.)(?=\s|$)"
)
_LEAN_IMPORT = re.compile(r"[ \t]*(import[ \t]+[^\n]+)\n?")
_COQ_SENTENCE_END = re.compile(r"(?<!\.)\.(?!\.)(?=\s|$)")
_COQ_DECLARATION = re.compile(
    r"\s*(Theorem|Lemma|Fact|Remark|Corollary|Proposition|Property|Example)\s"
)
_LEAN_DECLARATION = re.compile(r"\s*(theorem|lemma|example)\s")
_PROVER = {"coq": "Coq", "lean4": "Lean 4"}
_FORBIDDEN = {
    "coq": (
        "Admitted, admit, Abort, Axiom, Parameter, cofix, Coercion, recursion that is not "
        "structural, or any Redirect, Load or Extraction"
    ),
    "lean4": "sorry, axiom, native_decide, #eval or any other command that runs code",
}
_STATEMENT_FORM = {
    "coq": "any `Require Import` lines, then one `Theorem name : proposition.` sentence",
    "lean4": "any `import` lines, then `theorem name : proposition` (without `:=`)",
}
_PROOF_FORM = {"coq": "`Proof. ... Qed.`", "lean4": "the term after `:=`, e.g. `by simp`"}
_IMPORT_FORM = {"coq": "`Require Import`", "lean4": "`import`"}


@dataclass(frozen=True)
class Task:
    """One thing to prove: a natural-language ``requirement``, a formal ``statement``, or both.

    With a ``statement`` the model writes only the proof, and the checker demands that the
    proved theorem states exactly that statement.
    """

    id: str | int
    backend: str
    requirement: str | None = None
    statement: str | None = None
    imports: tuple[str, ...] = ()
    context: str | None = None


@dataclass(frozen=True)
class Draft:
    """A statement and proof read from one reply, ready to check."""

    statement: str
    imports: tuple[str, ...]
    proof: str

    def item(self, task: Task) -> dict[str, Any]:
        """The checker item for this draft."""
        return {
            "id": task.id,
            "backend": task.backend,
            "statement": self.statement,
            "proof": self.proof,
            "imports": list(self.imports),
        }


def first_messages(task: Task) -> list[dict[str, Any]]:
    """The system and user messages that open a conversation about ``task``."""
    prover, lang = _PROVER[task.backend], task.backend
    system = (
        f"You are an expert in the {prover} proof assistant. You state theorems formally and "
        f"prove them so that {prover} accepts the proof. Never use {_FORBIDDEN[lang]}: such "
        f"proofs are rejected. Reply with fenced ```{lang} code blocks."
    )
    parts = []
    if task.statement is not None:
        shown = "\n".join([*task.imports, task.statement])
        parts.append(f"Prove this {prover} statement exactly as given:\n```{lang}\n{shown}\n```")
        if task.requirement:
            parts.append(f"It formalises this requirement: {task.requirement}")
    else:
        parts.append(f"Requirement: {task.requirement}")
    if task.context:
        parts.append(f"Context: {task.context}")
    parts.append(_format_request(task))
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n\n".join(parts)}]


def _format_request(task: Task) -> str:
    lang = task.backend
    if task.statement is not None:
        return (
            f"Reply with one fenced ```{lang} block holding the proof ({_PROOF_FORM[lang]}). "
            f"It may start with {_IMPORT_FORM[lang]} lines for libraries the proof needs."
        )
    return (
        f"Reply with two fenced ```{lang} blocks: first the statement ({_STATEMENT_FORM[lang]}), "
        f"then the proof ({_PROOF_FORM[lang]})."
    )


def parse_reply(text: str, task: Task) -> Draft | str:
    """The draft in a reply, or what to tell the model about its format."""
    blocks = [b.strip() for b in _FENCE.findall(text) if b.strip()]
    if not blocks:
        return f"Your reply has no fenced code block. {_format_request(task)}"
    if task.statement is not None:
        imports, proof = _leading_imports(blocks[-1], task.backend)
        return Draft(task.statement, task.imports + imports, _bare_proof(proof, task.backend))
    imports, statement = _leading_imports(blocks[0], task.backend)
    statement, proof = _split_statement(statement, task.backend)
    proof = blocks[1] if len(blocks) > 1 and not proof else proof
    if not statement or not proof:
        return f"I could not find both a statement and a proof. {_format_request(task)}"
    return Draft(statement, task.imports + imports, _bare_proof(proof, task.backend))


def _leading_imports(block: str, backend: str) -> tuple[tuple[str, ...], str]:
    pattern = _COQ_IMPORT if backend == "coq" else _LEAN_IMPORT
    imports: list[str] = []
    while found := pattern.match(block):
        imports.append(" ".join(found.group(1).split()))
        block = block[found.end() :]
    return tuple(imports), block.strip()


def _split_statement(block: str, backend: str) -> tuple[str, str]:
    """Split a block holding a statement and possibly its proof after it."""
    if backend == "lean4":
        head, _, rest = block.partition(":=")
        return head.strip(), rest.strip()
    end = _COQ_SENTENCE_END.search(strip_comments(block))
    if end is None:
        return block, ""
    return block[: end.end()].strip(), block[end.end() :].strip()


def _bare_proof(proof: str, backend: str) -> str:
    """The proof without a restated theorem header in front of it."""
    if backend == "lean4":
        return proof.partition(":=")[2].strip() if _LEAN_DECLARATION.match(proof) else proof
    if _COQ_DECLARATION.match(proof):
        return _split_statement(proof, "coq")[1]
    return proof


def feedback(verdict: Verdict, shown: str | None, task: Task) -> str:
    """The prover's verdict, as the next user message."""
    prover = _PROVER[task.backend]
    lines = [f"{prover} did not accept it ({verdict.status}):"]
    for message in verdict.messages:
        if message.severity != "info":
            where = f"line {message.line}: " if message.line else ""
            lines.append(f"- {where}{message.text}")
    text = "\n".join(lines)[:FEEDBACK_LIMIT]
    if shown:
        numbered = "\n".join(f"{i:>3}| {line}" for i, line in enumerate(shown.splitlines(), 1))
        text += (
            f"\n\nLine numbers refer to the checked file:\n```\n{numbered[:FEEDBACK_LIMIT]}\n```"
        )
    what = "proof" if task.statement is not None else "statement and proof"
    return f"{text}\n\nFix it and reply in the same format with the corrected {what}."
