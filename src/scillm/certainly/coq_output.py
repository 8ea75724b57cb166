"""Read what coqc writes: messages, ``.glob`` declarations, ``Print Assumptions``, ``Locate``.

Pure functions over text, so the verdict logic can be tested on recorded output too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scillm.certainly.verdict import Message, Severity

__all__ = [
    "Assumptions",
    "GlobEntry",
    "locate_finds_standard",
    "locate_reaches_standard",
    "located_messages",
    "notation_query",
    "parse_assumptions",
    "parse_glob",
    "required_libraries",
    "strip_comments",
]

LIBRARY = "Top"
_HEADER = re.compile(
    r'^File "(?P<file>[^"]*)", line (?P<line>\d+), characters \d+-\d+:[ \t]*$', re.MULTILINE
)
_LABEL = re.compile(r"^(Error|Warning):[ \t]*\n?", re.MULTILINE)
_GLOB_DECL = re.compile(r"^(?P<kind>[a-z]+) (?P<start>\d+):\d+ (?P<path>\S+) (?P<name>\S+)$")
_NOTATION_KEY = re.compile(r"^::(?P<scope>[^:]*):(?P<pattern>.+)$")
_NOTATION_TOKEN = re.compile(r"x|'((?:[^']|'')*)'")
_SECTION = re.compile(r"[A-Z][A-Za-z ]*:")
_UNSAFE = re.compile(r"^(\S+) (is assumed to be \w+|relies on an unsafe hierarchy)\.?$")
_GLOB_LIBRARY = re.compile(r"^R\d+:\d+ (?P<library>\S+) <> <> lib$")
_NOT_FOUND = ("Unknown notation", "No object of basename")
_LOCATED = re.compile(r"^(?P<kind>Module Type|\w+) (?P<name>\S+)")
_SHORTER = re.compile(r"\(shorter name to refer to it in current context is (?P<name>\S+)\)")


@dataclass(frozen=True)
class GlobEntry:
    """One declaration coqc recorded: ``kind`` (prf, def, ax, not, abbrev, …) at byte ``offset``."""

    kind: str
    offset: int
    qualified: str
    short: str


@dataclass(frozen=True)
class Assumptions:
    """``Print Assumptions``: axioms it rests on, and kernel checks that were switched off."""

    axioms: tuple[str, ...]
    unsafe: tuple[str, ...]


def strip_comments(text: str) -> str:
    """Blank out ``(* … *)`` comments (nested), keeping string literals and line breaks.

    As in Coq's lexer, a string inside a comment is read too: ``(* "*)" *)`` is one comment.
    """
    out: list[str] = []
    depth, i, in_string = 0, 0, False
    while i < len(text):
        pair = text[i : i + 2]
        if in_string:
            in_string = text[i] != '"'
        elif text[i] == '"':
            in_string = True
        elif pair == "(*":
            depth, i = depth + 1, i + 2
            out.append("  ")
            continue
        elif depth and pair == "*)":
            depth, i = depth - 1, i + 2
            out.append("  ")
            continue
        out.append(text[i] if depth == 0 or text[i] == "\n" else " ")
        i += 1
    return "".join(out)


def located_messages(stderr: str) -> list[tuple[str | None, Message]]:
    """coqc's diagnostics as (file, message); an ``Error:`` with no ``File`` header has no file."""
    found: list[tuple[str | None, Message]] = []
    headers = list(_HEADER.finditer(stderr))
    chunks: list[tuple[str | None, int | None, str]] = [
        (None, None, stderr[: headers[0].start()] if headers else stderr)
    ]
    for here, end in zip(headers, _ends(headers, len(stderr)), strict=True):
        chunks.append((here["file"], int(here["line"]), stderr[here.end() : end]))
    for file, line, chunk in chunks:
        for index, (severity, text) in enumerate(_labelled(chunk)):
            # Only the first message after a header is located; later ones (coqc's closing
            # "Error: There are pending proofs") have no place.
            where = (file, line) if index == 0 else (None, None)
            found.append((where[0], Message(severity, where[1], text)))
    return found


def _labelled(chunk: str) -> list[tuple[Severity, str]]:
    """Split text at lines starting ``Error:``/``Warning:``; unlabelled text is dropped."""
    starts = list(_LABEL.finditer(chunk))
    pieces: list[tuple[Severity, str]] = []
    for here, end in zip(starts, _ends(starts, len(chunk)), strict=True):
        severity: Severity = "error" if here.group(1) == "Error" else "warning"
        pieces.append((severity, chunk[here.end() : end].strip()))
    return pieces


def _ends(matches: list[re.Match[str]], length: int) -> list[int]:
    """Where the text belonging to each match ends: at the next match, or at ``length``."""
    return [m.start() for m in matches[1:]] + [length] if matches else []


def parse_glob(text: str) -> list[GlobEntry]:
    """The declarations in a ``.glob`` file, named ``Top.<module path>.<name>``."""
    entries = []
    for line in text.splitlines():
        found = _GLOB_DECL.match(line)
        if found is None:
            continue
        path = "" if found["path"] == "<>" else found["path"] + "."
        qualified = f"{LIBRARY}.{path}{found['name']}"
        entries.append(GlobEntry(found["kind"], int(found["start"]), qualified, found["name"]))
    return entries


def required_libraries(text: str) -> list[str]:
    """The libraries a ``.glob`` file records as ``Require``d, in order, each once."""
    found = (_GLOB_LIBRARY.match(line) for line in text.splitlines())
    return list(dict.fromkeys(m["library"] for m in found if m is not None))


def notation_query(key: str) -> str | None:
    """Turn a glob notation key (``::type_scope:x_'='_x``) into a ``Locate`` string (``_ = _``)."""
    found = _NOTATION_KEY.match(key)
    if found is None:
        return None
    words, pos, pattern = [], 0, found["pattern"]
    while pos < len(pattern):
        token = _NOTATION_TOKEN.match(pattern, pos)
        if token is None:
            return None
        words.append("_" if token.group(1) is None else token.group(1).replace("''", "'"))
        pos = token.end()
        if pos < len(pattern):
            if pattern[pos] != "_":
                return None
            pos += 1
    return " ".join(words)


def locate_finds_standard(output: str) -> bool:
    """Whether ``Locate``, run outside the checked library, found something it did not define."""
    for line in output.splitlines():
        if not line or line[0].isspace() or line.startswith(_NOT_FOUND):
            continue  # a continuation such as "(shorter name to refer to it ...)", or nothing found
        if line.startswith('Notation "') or not line.split()[-1].startswith(f"{LIBRARY}."):
            return True
    return False


def locate_reaches_standard(output: str) -> list[str]:
    """What ``Locate <name>`` found outside the checked library that the bare name reaches.

    An object that needs a longer name in the current context ("shorter name to refer to it …
    is Nat.add") is not reached; Ltac tactics live in another namespace.
    """
    entries: list[str] = []
    for line in output.splitlines():
        if line[:1].isspace() and entries:
            entries[-1] += " " + line.strip()
        elif line and not line.startswith(_NOT_FOUND):
            entries.append(line)
    reached = []
    for entry in entries:
        found = _LOCATED.match(entry)
        if found is None or found["kind"].startswith("Ltac"):
            continue
        shorter = _SHORTER.search(entry)
        if not found["name"].startswith(f"{LIBRARY}.") and (
            shorter is None or "." not in shorter["name"]
        ):
            reached.append(found["name"])
    return reached


def parse_assumptions(text: str) -> Assumptions | None:
    """Parse ``Print Assumptions`` output; None when it is not in a form we recognise."""
    text = text.strip()
    if text == "Closed under the global context":
        return Assumptions((), ())
    lines = text.splitlines()
    if not lines or not _SECTION.fullmatch(lines[0]):
        return None
    axioms: list[str] = []
    unsafe: list[str] = []
    for line in lines:
        if not line or line[0].isspace() or _SECTION.fullmatch(line):
            continue  # a type continued from the line above, or a section header
        flagged = _UNSAFE.match(line)
        if flagged:
            unsafe.append(line)
        else:
            axioms.append(line.split(" : ", 1)[0].strip())
    return Assumptions(tuple(axioms), tuple(unsafe))
