"""The Lean 4 backend: ``lean --json`` on one file per item, with ``#print axioms`` appended.

Used when a ``lean`` executable is on PATH, given as an argument, or set in ``SCILLM_LEAN``
(imports such as Mathlib resolve through ``LEAN_PATH``, as for plain ``lean``). A theorem is
proved only if the file has no errors, nothing uses ``sorry``, and ``#print axioms`` lists only
allowed axioms: Lean's standard three (``propext``, ``Classical.choice``, ``Quot.sound``) plus
the caller's allow-list; ``sorryAx`` is never allowed.
"""

from __future__ import annotations

import re
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from scillm.certainly.items import ProofItem
from scillm.certainly.lean_output import (
    LEAN_STANDARD_AXIOMS,
    SORRY_AXIOM,
    LeanAudit,
    judge,
    strip_comments,
    theorem_names,
)
from scillm.certainly.process import Toolchain, find_toolchain, run
from scillm.certainly.verdict import Message, Verdict, error_verdict

__all__ = ["LEAN_ENV", "LeanChecker", "LeanSource", "assemble", "find_lean"]

LEAN_ENV = "SCILLM_LEAN"
INSTALL_HINT = (
    "install a Lean 4 toolchain with elan (https://github.com/leanprover/elan) and put lean on PATH"
)
SOURCE_FILE = "Item.lean"
GOAL_NAME = "scillm_goal"
_DECLARATION = re.compile(r"\s*(?:theorem|lemma)\s+(«[^»]+»|[^\s:({\[⦃]+).*", re.DOTALL)


async def find_lean(configured: str | None = None) -> Toolchain:
    """lean from the argument, ``SCILLM_LEAN`` or PATH, with its version."""
    return await find_toolchain("lean4", configured, LEAN_ENV, "lean", INSTALL_HINT)


@dataclass(frozen=True)
class LeanSource:
    """The file to check, with its ``#print axioms`` audit appended."""

    text: str
    audit: LeanAudit


def assemble(item: ProofItem) -> LeanSource | str:
    """The Lean file for ``item``, or a message saying why the statement is unusable.

    A ``statement`` may not contain ``:=`` and the proof always follows ``:=``: so the proof
    cannot extend the statement, and the checked theorem states exactly what was given.
    """
    goal = None
    if item.code is not None:
        body = item.code
    else:
        assert item.statement is not None and item.proof is not None
        statement = strip_comments(item.statement).strip()
        if ":=" in statement:
            return "'statement' must not contain ':=' (give the proposition, or a theorem header)"
        declared = _DECLARATION.fullmatch(statement)
        goal = declared.group(1) if declared else GOAL_NAME
        header = statement if declared else f"theorem {GOAL_NAME} : {statement}"
        proof = item.proof.strip()
        lines = [_import_line(entry) for entry in item.imports]
        body = "\n".join([*lines, f"{header} {proof if proof.startswith(':=') else ':= ' + proof}"])
    body = body.rstrip("\n") + "\n"
    first = body.count("\n") + 1
    theorems = theorem_names(body)
    appended = "".join(f"#print axioms {name}\n" for name, _ in theorems)
    audited = {first + i: theorem for i, theorem in enumerate(theorems)}
    return LeanSource(body + appended, LeanAudit(audited, goal))


def _import_line(entry: str) -> str:
    entry = entry.strip()
    return entry if " " in entry else f"import {entry}"


class LeanChecker:
    """Checks Lean items with one ``lean`` executable."""

    def __init__(self, toolchain: Toolchain, allowlist: frozenset[str]) -> None:
        assert toolchain.path is not None
        self._lean = toolchain.path
        self._version = toolchain.version
        self._allowed = (allowlist | LEAN_STANDARD_AXIOMS) - {SORRY_AXIOM}

    async def check(self, item: ProofItem, timeout_s: float) -> Verdict:
        """Check ``item`` in its own temporary directory within ``timeout_s``."""
        started = time.monotonic()
        source = assemble(item)
        if isinstance(source, str):
            verdict = error_verdict(item.id, "lean4", source)
        else:
            verdict = await self._run(item, source, timeout_s)
        elapsed_ms = round((time.monotonic() - started) * 1000)
        return replace(verdict, time_ms=elapsed_ms, backend_version=self._version)

    async def _run(self, item: ProofItem, source: LeanSource, timeout_s: float) -> Verdict:
        with tempfile.TemporaryDirectory(prefix="scillm-lean-") as work:
            (Path(work) / SOURCE_FILE).write_text(source.text, encoding="utf-8")
            ran = await run([self._lean, "--json", SOURCE_FILE], cwd=work, timeout_s=timeout_s)
        if ran.timed_out:
            text = f"lean did not finish within the per-item timeout ({timeout_s:g} s); killed"
            return Verdict(item.id, "lean4", "timeout", (Message("error", None, text),))
        return judge(
            item.id,
            ran.stdout,
            returncode=ran.returncode,
            stderr=ran.stderr,
            audit=source.audit,
            allowed=self._allowed,
        )
