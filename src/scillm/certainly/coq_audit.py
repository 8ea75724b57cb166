"""Audit a compiled Coq item from a clean file, and turn what Coq answers into a verdict.

The audit file ``Require``s the item's library ``Top`` without importing it, so the item's
notations and tactics are not in play. It has one check per line, so the line where coqc stops
says which check failed; each check's output goes to its own ``Redirect`` file:

- line 1 loads the library;
- each theorem and definition coqc recorded gets ``Check`` (the statement, printed with standard
  notations), ``Print Assumptions`` and ``Print`` under ``Set Printing All`` (its kernel term,
  for the recursion check), and the item's inductive types and their schemes are printed on
  the last lines;
- for a ``statement`` item, a last line demands that the theorem's type is syntactically the
  type of the reference lemma elaborated from the given statement (``constr_eq``);
- for a ``code`` item, the libraries it required are imported (only now, so that axioms above
  print under their usual names), then each notation and each name it declares is ``Locate``d:
  a standard-library notation it redefines, or a standard name it shadows (``Definition False
  := True``), could make a statement look like something it is not. A name counts as shadowing
  when the bare name reaches the standard object once the item's libraries are imported.

A declaration that does not exist (an ``Abort``) stops coqc at its line; the caller re-runs the
audit without it (see ``Audit.missing``), so one abandoned proof does not hide the others. A
name declared twice (``Abort`` or ``Reset``, then a new declaration) fails outright: the source
would then show two statements for one checked theorem.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from scillm.certainly.coq_output import (
    LIBRARY,
    GlobEntry,
    locate_finds_standard,
    locate_reaches_standard,
    located_messages,
    notation_query,
    parse_assumptions,
)
from scillm.certainly.coq_recursion import PRINT_SETUP
from scillm.certainly.coq_source import REFERENCE_NAME, CoqSource
from scillm.certainly.isolation import read_private
from scillm.certainly.process import Ran
from scillm.certainly.verdict import Message, Verdict

__all__ = ["AUDIT_FILE", "Audit"]

AUDIT_FILE = "Audit.v"
# .glob kinds of constants with a body: Theorem … Example, Definition, Fixpoint, Instance, …
AUDITED_KINDS = frozenset({"prf", "def", "inst", "coe", "subclass", "canonstruc", "ex", "scheme"})
# Axiom, Parameter, Conjecture and Hypothesis/Variable outside a section.
DECLARED_AXIOM_KINDS = frozenset({"ax", "prfax", "defax"})
SHADOW_KINDS = frozenset({"not", "abbrev"})
# Inductive types, constructors, records and fields: printed last, for the recursion check.
INDUCTIVE_KINDS = frozenset({"ind", "coind", "rec", "constr", "proj", "class", "meth"})
# Everything else in .glob declares a name (constant, inductive, constructor, module, ...).
NAMELESS_KINDS = frozenset({"binder", "var", "sec"}) | SHADOW_KINDS


@dataclass(frozen=True)
class _Check:
    """One audit line and what it checks."""

    what: Literal["load", "shadow", "name", "declaration", "statement", "print"]
    entry: GlobEntry | None = None


class Audit:
    """The audit of one compiled item; ``absent`` maps declarations known missing to Coq's error."""

    def __init__(
        self,
        source: CoqSource,
        glob: list[GlobEntry],
        absent: Mapping[str, str],
        libraries: Sequence[str] = (),
    ) -> None:
        self._source = source
        self._absent = absent
        self._line_starts = _line_starts(source.text)
        self._token = secrets.token_hex(6)
        # Only a statement item's own reference lemma is exempt: it is Admitted by design.
        exempt = f"{LIBRARY}.{REFERENCE_NAME}" if source.goal is not None else None
        seen: dict[str, GlobEntry] = {}
        for entry in glob:
            if entry.kind in AUDITED_KINDS and entry.qualified != exempt:
                seen.setdefault(entry.qualified, entry)
        self.entries = list(seen.values())
        self._axioms = {e.qualified for e in glob if e.kind in DECLARED_AXIOM_KINDS}
        inductive = {e.qualified: e for e in glob if e.kind in INDUCTIVE_KINDS}
        # Then the schemes "induction" uses: _ind and _sind exist for every inductive type,
        # _rect and _rec not for one in Prop (coqc stops at the first missing, so they are last).
        types = [e for e in inductive.values() if e.kind == "ind"]
        for suffixes in (("_ind", "_sind"), ("_rect", "_rec")):
            for e, suffix in itertools.product(types, suffixes):
                scheme = GlobEntry("scheme", e.offset, e.qualified + suffix, e.short + suffix)
                inductive.setdefault(scheme.qualified, scheme)
        self._inductive = [e for name, e in inductive.items() if name not in seen]
        # A statement item's meaning is pinned by the reference lemma, so only code is screened.
        code = source.goal is None
        self._shadows = [e for e in glob if e.kind in SHADOW_KINDS] if code else []
        named = {e.short: e for e in reversed(glob) if code and e.kind not in NAMELESS_KINDS}
        self._names = sorted(named.values(), key=lambda e: e.offset)
        self._libraries = [lib for lib in libraries if not lib.startswith(f"{LIBRARY}.")]
        # One declaration may be recorded twice at one place (a one-field Class is "ind" and
        # "rec", its field "constr" and "proj"); the same name declared at another place is not.
        declared: dict[str, int] = {}
        self.redeclared: list[GlobEntry] = []
        for entry in glob:
            if (
                entry.kind not in NAMELESS_KINDS
                and declared.setdefault(entry.qualified, entry.offset) != entry.offset
            ):
                self.redeclared.append(entry)
        self._checks: list[_Check] = []

    @property
    def goal(self) -> str | None:
        return None if self._source.goal is None else f"{LIBRARY}.{self._source.goal}"

    def text(self) -> str:
        """The audit file. A check's outputs are named after its index (its line number - 1)."""
        lines = [(f"Require Top. {PRINT_SETUP}", _Check("load"))]
        for entry in self.entries:
            if entry.qualified in self._absent:
                continue
            name, index = entry.qualified, len(lines)
            command = f'Redirect "{self._out("c", index)}" Check {name}. '
            command += f'Redirect "{self._out("a", index)}" Print Assumptions {name}. '
            command += f'Set Printing All. Redirect "{self._out("p", index)}" Print {name}. '
            command += "Unset Printing All."
            lines.append((command, _Check("declaration", entry)))
        if self.goal is not None and self.goal not in self._absent:
            reference = f"{LIBRARY}.{REFERENCE_NAME}"
            tactic = (
                f"let a := type of {reference} in let b := type of {self.goal} in constr_eq a b"
            )
            lines.append((f"Goal True. {tactic}. exact I. Qed.", _Check("statement")))
        if self._libraries and (self._shadows or self._names):
            lines.append((f"Require Import {' '.join(self._libraries)}.", _Check("load")))
        for entry in self._shadows:
            located = f'Redirect "{self._out("l", len(lines))}" Locate {_locate_target(entry)}.'
            lines.append((located, _Check("shadow", entry)))
        for entry in self._names:
            located = f'Redirect "{self._out("n", len(lines))}" Locate {entry.short}.'
            lines.append((located, _Check("name", entry)))
        # Last, as coqc stops at the first that fails (one inside a functor); the recursion
        # check prints any it then needs again.
        for entry in self._inductive:
            printed = f'Redirect "{self._out("p", len(lines))}" Print {entry.qualified}.'
            command = f"{PRINT_SETUP} Set Printing All. {printed} Unset Printing All."
            lines.append((command, _Check("print", entry)))
        self._checks = [check for _, check in lines]
        return "\n".join(command for command, _ in lines) + "\n"

    def missing(self, ran: Ran) -> tuple[str, str] | None:
        """The declaration coqc stopped at, with Coq's error; None if it stopped elsewhere."""
        stopped = _stop(ran)
        if stopped is None:
            return None
        check = self._checks[stopped[0] - 1] if 0 < stopped[0] <= len(self._checks) else None
        if check is None or check.entry is None or check.what != "declaration":
            return None
        return check.entry.qualified, stopped[1]

    def judge(
        self,
        item_id: str | int,
        ran: Ran,
        work: Path,
        allowlist: frozenset[str],
        messages: list[Message],
    ) -> Verdict:
        """The verdict from the audit run; ``messages`` are the compile's own diagnostics."""
        stopped = _stop(ran)
        if ran.returncode != 0 and stopped is None:
            text = f"the audit of the compiled file failed: {ran.stderr.strip()[-500:]}"
            return Verdict(item_id, "coq", "error", (*messages, Message("error", None, text)))
        findings = _Findings(self, allowlist, work)
        for entry in self.redeclared:
            findings.problem(
                self.line_of(entry),
                f"{entry.short} is declared a second time here (after Abort or Reset); one "
                "name may have one statement only",
            )
        for entry in self._shadows:
            words = _worded(entry)
            if words:
                findings.problem(
                    self.line_of(entry),
                    f"declares a notation with {', '.join(map(repr, words))}: a notation in "
                    "checked code may use ASCII symbols only, since a word or numeral in it can "
                    "make a statement read as something it does not state",
                )
        for entry in self.entries:
            if entry.qualified in self._absent:
                findings.absent(entry, self._absent[entry.qualified])
        for index, check in enumerate(self._checks):
            finished = stopped is None or index + 1 < stopped[0]
            findings.read(check, index, finished)
            if not finished:
                break
        return Verdict(
            item_id,
            "coq",
            "failed" if findings.problems else "proved",
            tuple(messages + _by_line(findings.problems) + findings.statements),
            uses_sorry=findings.uses_sorry,
            axioms=tuple(sorted(findings.axioms)),
            statement_matches=None if self.goal is None else findings.statement_ok,
        )

    def printed(self, work: Path, ran: Ran) -> dict[str, str | None]:
        """``Print`` under ``Set Printing All`` of each checked declaration (None where it is
        missing) and of the item's inductive types that printed before the audit ``ran``
        stopped (for the recursion check, :mod:`scillm.certainly.coq_recursion`)."""
        stopped = _stop(ran)
        found: dict[str, str | None] = {}
        for index, check in enumerate(self._checks):
            if check.entry is None or check.what not in ("declaration", "print"):
                continue
            # A Print that failed may still have left a file: only finished lines count.
            if check.what == "declaration" or stopped is None or index + 1 < stopped[0]:
                found[check.entry.qualified] = self.output(work, "p", index)
        return found

    def line_of(self, entry: GlobEntry) -> int:
        """The 1-based source line of a declaration (.glob offsets count UTF-8 bytes)."""
        return sum(1 for start in self._line_starts if start <= entry.offset)

    def goal_line(self) -> int | None:
        return next((self.line_of(e) for e in self.entries if e.qualified == self.goal), None)

    def output(self, work: Path, kind: str, index: int) -> str | None:
        return read_private(work / f"{self._out(kind, index)}.out")

    def is_declared_axiom(self, name: str) -> bool:
        return name in self._axioms

    def _out(self, kind: str, index: int) -> str:
        # Random names: the checked file ran in this directory and could have planted files.
        return f"scillm_{self._token}_{kind}{index}"


class _Findings:
    """What the audit established, gathered check by check."""

    def __init__(self, audit: Audit, allowlist: frozenset[str], work: Path) -> None:
        self._audit = audit
        self._allowlist = allowlist
        self._work = work
        self.problems: list[Message] = []
        self.statements: list[Message] = []
        self.axioms: set[str] = set()
        self.uses_sorry = False
        self.statement_ok: bool | None = None

    def read(self, check: _Check, index: int, finished: bool) -> None:
        if check.what == "load" and not finished:
            self.problem(None, "the compiled file could not be loaded for the audit")
        elif check.what == "statement":
            self.statement_ok = finished
            if not finished:
                text = "the checked theorem does not state the given statement"
                self.problem(self._audit.goal_line(), text)
        elif check.what == "shadow" and check.entry is not None:
            self._read_shadow(check.entry, self._audit.output(self._work, "l", index))
        elif check.what == "name" and check.entry is not None:
            self._read_name(check.entry, self._audit.output(self._work, "n", index))
        elif check.what == "declaration" and check.entry is not None:
            self._read_declaration(check.entry, index)

    def absent(self, entry: GlobEntry, error: str) -> None:
        shown = entry.qualified.removeprefix(f"{LIBRARY}.")
        if "was not found" in error:
            text = (
                f"{shown} is declared but does not exist after checking: its proof was "
                "abandoned (Abort), or it is inside a functor or module type"
            )
        else:
            text = f"could not audit {shown}: {error}"
        self.problem(self._audit.line_of(entry), text)

    def problem(self, line: int | None, text: str) -> None:
        message = Message("error", line, text)
        if message not in self.problems:
            self.problems.append(message)

    def _read_shadow(self, entry: GlobEntry, located: str | None) -> None:
        line = self._audit.line_of(entry)
        shown = notation_query(entry.short) if entry.kind == "not" else entry.short
        if shown is None or located is None:
            self.problem(line, f"could not audit the notation declared here ({entry.short})")
        elif locate_finds_standard(located):
            self.problem(
                line,
                f"redefines {shown!r}, which Coq's standard library already defines; a statement "
                "using it may not mean what it says (rename it, or give the statement separately "
                "as 'statement' + 'proof')",
            )

    def _read_name(self, entry: GlobEntry, located: str | None) -> None:
        line = self._audit.line_of(entry)
        if located is None:
            self.problem(line, f"could not audit the name declared here ({entry.short})")
            return
        reached = locate_reaches_standard(located)
        if reached:
            self.problem(
                line,
                f"declares {entry.short!r}, which already names {reached[0]} from Coq's "
                f"libraries; a statement using {entry.short} may not mean what it says (rename "
                "it, or give the statement separately as 'statement' + 'proof')",
            )

    def _read_declaration(self, entry: GlobEntry, index: int) -> None:
        line, name = self._audit.line_of(entry), entry.qualified
        shown = name.removeprefix(f"{LIBRARY}.")
        printed = self._audit.output(self._work, "c", index)
        if printed:
            statement = " ".join(printed.split()).removeprefix(f"{LIBRARY}.")
            self.statements.append(Message("info", line, f"checked {statement}"))
        assumptions = parse_assumptions(self._audit.output(self._work, "a", index) or "")
        if assumptions is None:
            self.problem(line, f"could not read Print Assumptions for {shown}")
            return
        for unsafe in assumptions.unsafe:
            self.problem(line, f"{shown} relies on a switched-off kernel check: {unsafe}")
        for axiom in assumptions.axioms:
            self.axioms.add(axiom)
            self._judge_axiom(line, name, shown, axiom)

    def _judge_axiom(self, line: int, name: str, shown: str, axiom: str) -> None:
        # Coq lists an Admitted proof as an axiom; the item's own axioms are declared in .glob.
        if axiom.startswith(f"{LIBRARY}.") and not self._audit.is_declared_axiom(axiom):
            self.uses_sorry = True
            if axiom == name:
                self.problem(line, f"{shown} is Admitted (or ends in admit), so it is not proved")
            else:
                helper = axiom.removeprefix(f"{LIBRARY}.")
                self.problem(line, f"{shown} rests on {helper}, which is Admitted")
        elif axiom not in self._allowlist:
            text = f"{shown} depends on the axiom {axiom}, which is not in the allow-list"
            self.problem(line, text)


def _by_line(messages: list[Message]) -> list[Message]:
    return sorted(messages, key=lambda m: (m.line is None, m.line or 0))


def _worded(entry: GlobEntry) -> list[str]:
    """A notation's tokens that are words, numerals or not ASCII (``'False'``, ``2``, ``∀``)."""
    query = notation_query(entry.short) if entry.kind == "not" else None
    tokens = (query or "").split()
    return [t for t in tokens if t != "_" and (not t.isascii() or any(c.isalnum() for c in t))]


def _locate_target(entry: GlobEntry) -> str:
    """What to ``Locate`` for a notation (its pattern, quoted) or an abbreviation (its name)."""
    if entry.kind != "not":
        return entry.short
    query = notation_query(entry.short) or entry.short
    return '"' + query.replace('"', '""') + '"'


def _line_starts(text: str) -> list[int]:
    """Byte offsets where each line starts."""
    data = text.encode("utf-8")
    return [0] + [i + 1 for i, byte in enumerate(data) if byte == 0x0A]


def _stop(ran: Ran) -> tuple[int, str] | None:
    """The audit line where coqc stopped, with its error."""
    for file, message in located_messages(ran.stderr):
        if message.severity != "error" or file is None or Path(file).name != AUDIT_FILE:
            continue
        if message.line is not None:
            return message.line, message.text
    return None
