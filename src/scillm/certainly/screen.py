"""Refuse prover commands that reach outside the proof: files, directories, native code, programs.

Provers run in scillm's sandbox, which confines what they touch; this screen is the second
barrier, and the only one where bubblewrap is missing. It reads the raw source, comments and
strings included: where comments and strings end depends on the prover's lexer (Lean's
interpolated strings hold code, Coq lexes strings inside comments), and a screen that guessed
wrong could be walked around. A keyword in a comment is therefore refused too; the message
says to remove it.

Coq: ``Redirect``, ``Cd``, ``Load``, ``Declare ML Module``, ``Add [Rec] LoadPath``,
``Add ML Path``, extraction to files (``Extraction "f"``, ``Extraction Library``,
``Separate Extraction``, ``Extraction TestCompile``) and ``Print Universes "file"``.
Lean 4: everything that runs code at elaboration time: ``#eval``, ``run_cmd``/``run_elab``/
``run_meta``/``run_tac``, ``elab``/``elab_rules``, ``initialize``, elaborator and ``init``
attributes, ``implemented_by``/``extern``, ``native_decide`` and the ``unsafe*IO`` escapes.
"""

from __future__ import annotations

import re

from scillm.certainly.verdict import Message

__all__ = ["screen_coq", "screen_lean"]

# A keyword starts where no identifier character (or qualifying dot) precedes it.
_START = r"(?<![\w'.!?])"
_END = r"(?![\w'!?])"
_COQ_FORBIDDEN: tuple[tuple[str, str], ...] = (
    (rf"{_START}Redirect{_END}", "Redirect (it writes files)"),
    (rf"{_START}Cd{_END}", "Cd (it changes the working directory)"),
    (rf"{_START}Load{_END}", "Load (it reads other files)"),
    (rf"{_START}Declare\s+ML\s+Module{_END}", "Declare ML Module (it loads native code)"),
    (rf"{_START}Add\s+(?:Rec\s+)?LoadPath{_END}", "Add LoadPath (it reads other files)"),
    (rf"{_START}Add\s+ML\s+Path{_END}", "Add ML Path (it loads native code)"),
    (rf'{_START}Extraction\s*(?:"|(?:Library|TestCompile){_END})', "Extraction to files"),
    (rf"{_START}Separate\s+Extraction{_END}", "Separate Extraction (it writes files)"),
    (rf'{_START}Print\s+(?:Sorted\s+)?Universes{_END}[^."]*"', "Print Universes to a file"),
)
_LEAN_FORBIDDEN: tuple[tuple[str, str], ...] = (
    (r"#eval\b", "#eval (it runs a program)"),
    (rf"{_START}run_(?:cmd|elab|meta|tac){_END}", "run_cmd/run_elab/run_meta/run_tac"),
    (rf"{_START}elab(?:_rules)?{_END}", "elab/elab_rules (they run code while checking)"),
    (rf"{_START}(?:builtin_)?initialize{_END}", "initialize (it runs code)"),
    (
        rf"@\[[^\]]*{_START}(?:(?:builtin_)?(?:command_elab|term_elab|tactic|init)"
        rf"|implemented_by|extern){_END}",
        "elaborator, init, implemented_by and extern attributes",
    ),
    (rf"{_START}native_decide{_END}", "native_decide (it compiles and runs code)"),
    (rf"{_START}unsafe(?:Base|E)?IO{_END}", "unsafeIO (it runs effects inside terms)"),
)
_SCREENED = "scillm does not run {what}; remove it"


def screen_coq(source: str) -> list[Message]:
    """One error per forbidden Coq command, at its line; empty when the source is clean."""
    return _screen(source, _COQ_FORBIDDEN)


def screen_lean(source: str) -> list[Message]:
    """One error per forbidden Lean 4 command, at its line; empty when the source is clean."""
    return _screen(source, _LEAN_FORBIDDEN)


def _screen(code: str, forbidden: tuple[tuple[str, str], ...]) -> list[Message]:
    found: list[Message] = []
    for pattern, what in forbidden:
        for match in re.finditer(pattern, code):
            line = code.count("\n", 0, match.start()) + 1
            found.append(Message("error", line, _SCREENED.format(what=what)))
    return sorted(found, key=lambda m: m.line or 0)
