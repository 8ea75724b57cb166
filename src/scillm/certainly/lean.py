"""The Lean 4 backend: ``lean --json`` on one file per item, with ``#print axioms`` appended.

Used when a ``lean`` executable is on PATH, given as an argument, or set in ``SCILLM_LEAN``
(imports such as Mathlib resolve through ``LEAN_PATH``, as for plain ``lean``). A theorem is
proved only if the file has no errors, nothing uses ``sorry``, and ``#print axioms`` lists only
allowed axioms: Lean's standard three (``propext``, ``Classical.choice``, ``Quot.sound``) plus
the caller's allow-list; ``sorryAx`` is never allowed.

Lean runs in the sandbox (:mod:`scillm.certainly.isolation`), seeing its toolchain (from
``lean --print-prefix``) and the ``LEAN_PATH`` trees read-only, after the source passed the
command screen: ``#eval`` and every other way to run code while checking is refused.

Warm REPLs: given a leanprover-community ``repl`` (``SCILLM_LEAN_REPL``), a batch checks its
items in warm REPL processes, one per import header (:mod:`scillm.certainly.lean_pool`): each
item runs from the header's environment, and its messages are judged exactly as ``lean --json``
output is. A file whose header is not plain ``import`` lines, and any item the REPL answers out
of protocol, is checked by a fresh ``lean``.

Recursion: Lean's kernel has no guard checker. The elaborator compiles structural and
well-founded recursion into recursors and ``WellFounded.fix``, which the kernel checks like any
term; ``partial def`` is an opaque constant; ``unsafe``, ``implemented_by``, ``@[extern]`` and
``native_decide`` (whose proofs rest on ``Lean.ofReduceBool``, never allowed) are refused. So
there is no untrusted recursion to re-check, and a Lean verdict lists the critical kernel bugs of
its version (:mod:`scillm.certainly.known_bugs`) like a Coq one.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, replace

from scillm.certainly.isolation import work_dir
from scillm.certainly.items import ProofItem
from scillm.certainly.known_bugs import bugs_for
from scillm.certainly.lean_output import (
    LEAN_STANDARD_AXIOMS,
    SORRY_AXIOM,
    LeanAudit,
    judge,
    strip_comments,
    theorem_names,
)
from scillm.certainly.lean_pool import LeanReplPool, split_header
from scillm.certainly.process import Toolchain, ask, find_toolchain
from scillm.certainly.screen import screen_lean
from scillm.certainly.verdict import Message, Verdict, error_verdict

__all__ = ["LEAN_ENV", "LeanChecker", "LeanSource", "assemble", "find_lean"]

LEAN_ENV = "SCILLM_LEAN"
INSTALL_HINT = (
    "install a Lean 4 toolchain with elan (https://github.com/leanprover/elan) and put lean on PATH"
)
SOURCE_FILE = "Item.lean"
# Address space, not resident memory: Lean maps every imported .olean (Mathlib's are gigabytes).
MEMORY_MB = 32768
GOAL_NAME = "scillm_goal"
# Imports precede the statement, so they may only load modules and open namespaces.
_MODULE = re.compile(r"[\w'«»]+(?:\.[\w'«»]+)*")
_HEADER = re.compile(r"import(?:[ \t]+[\w'.«»]+)+|open(?:[ \t]+(?:scoped|hiding|[\w'.«»()]+))+")
_DECLARATION = re.compile(r"\s*(?:theorem|lemma)\s+(«[^»]+»|[^\s:({\[⦃]+).*", re.DOTALL)


async def find_lean(configured: str | None = None) -> Toolchain:
    """lean from the argument, ``SCILLM_LEAN`` or PATH, with its version and sandbox needs.

    elan's ``lean`` is a proxy that picks a toolchain at run time; ``--print-prefix`` names the
    toolchain, and its own ``bin/lean`` is what runs in the sandbox.
    """
    found = await find_toolchain("lean4", configured, LEAN_ENV, "lean", INSTALL_HINT)
    if not found.available or found.path is None:
        return found
    ran = await ask(found.path, "--print-prefix")
    prefix = ran.stdout.strip()
    if ran.returncode != 0 or not os.path.isdir(prefix):
        return replace(found, problem=f"{found.path} --print-prefix did not name its toolchain")
    executable = os.path.join(prefix, "bin", "lean")
    lean_path = os.environ.get("LEAN_PATH", "")
    binds = [prefix, *(p for p in lean_path.split(os.pathsep) if p and os.path.exists(p))]
    return replace(
        found,
        path=executable if os.access(executable, os.X_OK) else os.path.realpath(found.path),
        binds=tuple(dict.fromkeys(os.path.realpath(b) for b in binds)),
        env=(("LEAN_PATH", lean_path),) if lean_path else (),
    )


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
        lines = [_import_line(entry.strip()) for entry in item.imports]
        bad = next((entry for entry in lines if not _HEADER.fullmatch(entry)), None)
        if bad is not None:
            return (
                f"import {bad!r} is not allowed: imports may only be module names, import or open"
            )
        body = "\n".join([*lines, f"{header} {proof if proof.startswith(':=') else ':= ' + proof}"])
    body = body.rstrip("\n") + "\n"
    first = body.count("\n") + 1
    theorems = theorem_names(body)
    appended = "".join(f"#print axioms {name}\n" for name, _ in theorems)
    audited = {first + i: theorem for i, theorem in enumerate(theorems)}
    return LeanSource(body + appended, LeanAudit(audited, goal))


def _import_line(entry: str) -> str:
    return f"import {entry}" if _MODULE.fullmatch(entry) else entry


class LeanChecker:
    """Checks Lean items with one ``lean`` executable, in warm REPLs where a ``pool`` allows."""

    def __init__(
        self, toolchain: Toolchain, allowlist: frozenset[str], pool: LeanReplPool | None = None
    ) -> None:
        assert toolchain.path is not None
        self._toolchain = toolchain
        self._pool = pool
        self.fallbacks = 0  # items the pool was to check that a fresh lean checked instead
        self._version = toolchain.version
        self._known_bugs = bugs_for("lean4", toolchain.version)
        self._allowed = (allowlist | LEAN_STANDARD_AXIOMS) - {SORRY_AXIOM}

    async def check(self, item: ProofItem, timeout_s: float) -> Verdict:
        """Check ``item`` in its own temporary directory within ``timeout_s``."""
        started = time.monotonic()
        source = assemble(item)
        if isinstance(source, str):
            verdict = error_verdict(item.id, "lean4", source)
        elif screened := screen_lean(source.text):
            verdict = Verdict(item.id, "lean4", "failed", tuple(screened))
        else:
            verdict = await self._run(item, source, timeout_s)
        elapsed_ms = round((time.monotonic() - started) * 1000)
        return replace(
            verdict,
            time_ms=elapsed_ms,
            backend_version=self._version,
            prover="Lean 4",
            known_bugs=self._known_bugs,
        )

    async def _run(self, item: ProofItem, source: LeanSource, timeout_s: float) -> Verdict:
        """In a warm REPL when the pool takes the item, else (or after an anomaly) fresh."""
        deadline = time.monotonic() + timeout_s
        split = split_header(source.text) if self._pool is not None else None
        if self._pool is None or split is None:
            return await self._fresh(item, source, timeout_s)
        header, body = split
        try:
            async with self._pool.lease(header, deadline) as repl:
                lines = None if repl is None else await repl.run(body, deadline)
        except TimeoutError:
            return _timeout(item, timeout_s)
        if lines is not None:
            output = "\n".join(lines)
            return judge(
                item.id, output, returncode=0, stderr="", audit=source.audit, allowed=self._allowed
            )
        self.fallbacks += 1
        left = deadline - time.monotonic()
        if left <= 0:
            return _timeout(item, timeout_s)
        return await self._fresh(item, source, left, timeout_s)

    async def _fresh(
        self, item: ProofItem, source: LeanSource, left_s: float, timeout_s: float | None = None
    ) -> Verdict:
        """A fresh ``lean --json`` within ``left_s`` (of the item's ``timeout_s``)."""
        async with work_dir(self._toolchain, {SOURCE_FILE: source.text}, MEMORY_MB) as box:
            ran = await box.run(["--json", SOURCE_FILE], left_s)
        if ran.timed_out:
            return _timeout(item, left_s if timeout_s is None else timeout_s)
        if ran.problem:
            return Verdict(item.id, "lean4", "failed", (Message("error", None, ran.problem),))
        return judge(
            item.id,
            ran.stdout,
            returncode=ran.returncode,
            stderr=ran.stderr,
            audit=source.audit,
            allowed=self._allowed,
        )


def _timeout(item: ProofItem, timeout_s: float) -> Verdict:
    text = f"lean did not finish within the per-item timeout ({timeout_s:g} s); killed"
    return Verdict(item.id, "lean4", "timeout", (Message("error", None, text),))
