"""Refuse prover commands that reach outside the proof, switch off kernel checks, or hide meaning.

Provers run in scillm's sandbox, which confines what they touch; this screen is the second
barrier, and the only one where bubblewrap is missing.

Coq: the source is lexed as coqc lexes it first: comments nest, a string inside a comment is a
string (``(* "*)" *)`` is one comment), ``""`` is a quote inside a string. Comments and string
contents are blanked, so ``Definition s := "Load x".`` passes, and a command is found wherever
coqc would run it. A source whose comment or string never ends is refused. Refused: ``Redirect``,
``Cd``, ``Load``, ``Declare ML Module``, ``Add [Rec] LoadPath``, ``Add ML Path``, extraction to
files (``Extraction "f"``, ``Extraction Library``, ``Separate Extraction``, ``Extraction
TestCompile``) and ``Print Universes "file"``; switched-off kernel checks (``Unset Guard/
Positivity/Universe Checking``, ``bypass_check``, ``Typing Flags``: Print Assumptions misses some
of them, rocq#12155 and #16646); the features other known kernel bugs need (``Definitional
UIP``, ``Cumulative``, ``Register``, ``Primitive``); and what can make a statement print as
something it does not state: ``Number``/``Numeral``/``String Notation``, ``Delimit``/``Bind
Scope`` and scopes in ``Arguments`` (``Delimit Scope Z_scope with nat`` makes ``(0 - 1 < 0)%nat``
a statement about Z), and coercions
(``Coercion``, ``Identity Coercion``, ``SubClass``, ``:>`` fields outside a ``Class``).

Lean 4 is read raw, comments and strings included (interpolated strings hold code): everything
that runs code at elaboration time: ``#eval``, ``run_cmd``/``run_elab``/``run_meta``/``run_tac``,
``elab``/``elab_rules``, ``initialize``, elaborator and ``init`` attributes, ``implemented_by``/
``extern``, ``native_decide`` and the ``unsafe*IO`` escapes; ``unsafe`` declarations and
``debug.skipKernelTC``. ``partial def`` passes: the kernel sees an opaque constant that no
proof can unfold.
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
    (
        rf"{_START}Unset\s+(?:Guard|Positivity|Universe)\s+Checking{_END}",
        "Unset Guard/Positivity/Universe Checking (they switch off kernel checks)",
    ),
    (rf"{_START}bypass_check{_END}", "bypass_check (it switches off a kernel check)"),
    (rf"{_START}Typing\s+Flags{_END}", "Typing Flags (they switch off kernel checks)"),
    (
        rf"{_START}(?:Set\s+Definitional\s+UIP|Cumulative{_END}"
        rf"|Set\s+Polymorphic\s+Inductive\s+Cumulativity|Register{_END}|Primitive\s+[\w']+\s*:)",
        "Definitional UIP, cumulative inductives, Register or Primitive (what the known kernel "
        "bugs rocq#21696, #22376, #21736 and #18503 need)",
    ),
    (
        rf"{_START}(?:Number|Numeral|String)\s+Notation{_END}",
        "Number/String Notation (it can make a numeral or string mean anything)",
    ),
    (
        rf"{_START}(?:(?:Un)?[Dd]elimit|Bind)\s+Scope{_END}"
        rf"|{_START}Arguments{_END}(?:(?!\.\s)[\s\S])*?%",
        "Delimit/Bind Scope or argument scopes (they can make %nat read numbers as Z)",
    ),
    (
        rf"{_START}(?:Identity\s+)?Coercion{_END}|{_START}SubClass{_END}",
        "coercions (a hidden coercion can make a statement print as something it does not state)",
    ),
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
    (rf"{_START}debug\.skipKernelTC{_END}", "debug.skipKernelTC (it switches off the kernel)"),
    (rf"{_START}unsafe{_END}", "unsafe declarations (the kernel does not check them)"),
)
_SCREENED = "scillm does not run {what}; remove it"
# A sentence ends at a period followed by white space; "Nat.add" and ".." do not end one.
_SENTENCE_END = re.compile(r"(?<!\.)\.(?!\.)(?=\s)")
_CLASS = re.compile(
    rf"\s*(?:#\[[^\]]*\]\s*)?(?:(?:Local|Global|Polymorphic|Monomorphic|Cumulative"
    rf"|NonCumulative)\s+)*Class{_END}"
)
_FIELD_COERCION = "a coercion field ':>' (use ':' and a function; in a Class ':>' is fine)"


def screen_coq(source: str) -> list[Message]:
    """One error per forbidden Coq command, at its line; empty when the source is clean."""
    code = blank_coq_literals(source)
    if code is None:
        return [Message("error", None, "a comment or string in the source is never closed")]
    return sorted(_screen(code, _COQ_FORBIDDEN) + _field_coercions(code), key=_line)


def screen_lean(source: str) -> list[Message]:
    """One error per forbidden Lean 4 command, at its line; empty when the source is clean."""
    return _screen(source, _LEAN_FORBIDDEN)


def _screen(code: str, forbidden: tuple[tuple[str, str], ...]) -> list[Message]:
    found: list[Message] = []
    for pattern, what in forbidden:
        for match in re.finditer(pattern, code):
            line = code.count("\n", 0, match.start()) + 1
            found.append(Message("error", line, _SCREENED.format(what=what)))
    return sorted(found, key=_line)


def _field_coercions(code: str) -> list[Message]:
    """``:>`` fields outside a ``Class`` (in a Record it declares a coercion; in a Class, an
    instance)."""
    found: list[Message] = []
    for field in re.finditer(":>", code):
        starts = [end.end() for end in _SENTENCE_END.finditer(code, 0, field.start())]
        if not _CLASS.match(code, starts[-1] if starts else 0):
            line = code.count("\n", 0, field.start()) + 1
            found.append(Message("error", line, _SCREENED.format(what=_FIELD_COERCION)))
    return found


def _line(message: Message) -> int:
    return message.line or 0


def blank_coq_literals(source: str) -> str | None:
    """``source`` with comments and string contents blanked (line breaks kept); None if unclosed."""
    out = list(source)
    depth, i, in_string = 0, 0, False
    while i < len(source):
        char, pair = source[i], source[i : i + 2]
        if in_string:
            if pair == '""':  # an escaped quote
                _blank(out, i, i + 2)
                i += 2
                continue
            if char == '"':
                in_string = False
                if depth:
                    out[i] = " "
            else:
                _blank(out, i, i + 1)
        elif char == '"':
            in_string = True
            if depth:
                out[i] = " "
        elif pair == "(*":
            depth += 1
            _blank(out, i, i + 2)
            i += 2
            continue
        elif depth and pair == "*)":
            depth -= 1
            _blank(out, i, i + 2)
            i += 2
            continue
        elif depth:
            _blank(out, i, i + 1)
        i += 1
    return None if depth or in_string else "".join(out)


def _blank(out: list[str], start: int, end: int) -> None:
    for k in range(start, end):
        if out[k] != "\n":
            out[k] = " "
