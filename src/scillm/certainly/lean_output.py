"""Read Lean 4 sources and ``lean --json`` output, and decide the verdict from them.

Pure functions over text: the verdict logic is tested on recorded output where no Lean
toolchain is installed. ``lean --json`` prints one message per line, e.g.
``{"severity":"warning","pos":{"line":1,"column":8},"endPos":…,"data":"declaration uses 'sorry'",
"fileName":"Item.lean","caption":""}``; newer versions add ``kind`` (``"hasSorry"``) and write
the message with backquotes. ``#print axioms x`` answers ``'x' depends on axioms: [propext, …]``
or ``'x' does not depend on any axioms``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from scillm.certainly.verdict import Message, Severity, Verdict

__all__ = [
    "LEAN_STANDARD_AXIOMS",
    "SORRY_AXIOM",
    "LeanAudit",
    "judge",
    "strip_comments",
    "theorem_names",
]

# Lean's own foundations: every Mathlib proof by classical reasoning rests on them.
LEAN_STANDARD_AXIOMS = frozenset({"propext", "Classical.choice", "Quot.sound"})
SORRY_AXIOM = "sorryAx"
_SEVERITIES: dict[str, Severity] = {"error": "error", "warning": "warning", "information": "info"}
_SORRY = re.compile(r"declaration uses ['`]sorry['`]")
_AXIOMS = re.compile(
    r"^'(?P<name>.+)' (?:depends on axioms: \[(?P<axioms>.*)\]|does not depend on any axioms)\s*$",
    re.DOTALL,
)
_SCOPE = re.compile(r"^\s*(namespace|section|end|mutual)\b[ \t]*([^\s]*)")
_THEOREM = re.compile(
    r"^\s*(?:@\[[^\]]*\]\s*)*(?:(?:private|protected|noncomputable|nonrec)\s+)*(?:theorem|lemma)\s+"
    r"(«[^»]+»|[^\s:({\[⦃]+)"
)


def strip_comments(text: str) -> str:
    """Blank out ``--`` comments and nested ``/- … -/`` blocks, keeping strings and line breaks."""
    out: list[str] = []
    depth, i, in_string = 0, 0, False
    while i < len(text):
        pair = text[i : i + 2]
        if in_string:
            if text[i] == "\\":
                out.append(pair)
                i += 2
                continue
            in_string = text[i] != '"'
        elif depth == 0 and text[i] == '"':
            in_string = True
        elif depth == 0 and pair == "--":
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        elif pair == "/-":
            depth, i = depth + 1, i + 2
            out.append("  ")
            continue
        elif depth and pair == "-/":
            depth, i = depth - 1, i + 2
            out.append("  ")
            continue
        out.append(text[i] if depth == 0 or text[i] == "\n" else " ")
        i += 1
    return "".join(out)


def theorem_names(source: str) -> list[tuple[str, int]]:
    """Fully qualified names and 1-based lines of the ``theorem``/``lemma`` declarations."""
    scopes: list[str] = []
    found: list[tuple[str, int]] = []
    for number, line in enumerate(strip_comments(source).splitlines(), start=1):
        scope = _SCOPE.match(line)
        if scope and scope.group(1) == "end":
            if scopes:
                scopes.pop()
        elif scope:
            scopes.append(scope.group(2) if scope.group(1) == "namespace" else "")
        theorem = _THEOREM.match(line)
        if theorem:
            name = theorem.group(1)
            if name.startswith("_root_."):
                found.append((name.removeprefix("_root_."), number))
            else:
                found.append((".".join([*(s for s in scopes if s), name]), number))
    return found


@dataclass(frozen=True)
class LeanAudit:
    """The ``#print axioms`` lines appended to the source: audit line → (theorem, its own line)."""

    lines: Mapping[int, tuple[str, int]]
    goal: str | None = None


@dataclass
class _Reading:
    messages: list[Message] = field(default_factory=list)
    problems: list[Message] = field(default_factory=list)
    reports: dict[int, tuple[str, ...]] = field(default_factory=dict)
    uses_sorry: bool = False


def judge(
    item_id: str | int,
    output: str,
    *,
    returncode: int | None,
    stderr: str,
    audit: LeanAudit,
    allowed: frozenset[str],
) -> Verdict:
    """The verdict for one ``lean --json`` run of a source with ``audit`` appended."""
    reading = _read(output, audit)
    errors = [m for m in reading.messages + reading.problems if m.severity == "error"]
    if returncode != 0 and not errors:
        text = (stderr.strip() or output.strip())[-2000:] or f"lean exited with {returncode}"
        reading.messages.append(Message("error", None, text))
    if any(m.severity == "error" for m in reading.messages):
        messages = tuple(reading.messages)
        return Verdict(item_id, "lean4", "failed", messages, uses_sorry=reading.uses_sorry)
    axioms = _judge_axioms(reading, audit, allowed)
    if not audit.lines:
        reading.problems.append(Message("error", None, "no theorem or lemma to check"))
    goal_line = next((line for line, (name, _) in audit.lines.items() if name == audit.goal), None)
    return Verdict(
        item_id,
        "lean4",
        "failed" if reading.problems else "proved",
        tuple(reading.messages + reading.problems),
        uses_sorry=reading.uses_sorry,
        axioms=tuple(sorted(axioms)),
        # The statement is placed verbatim and the proof starts after ":=", so an audited goal
        # states exactly the given statement.
        statement_matches=None if audit.goal is None else goal_line in reading.reports,
    )


def _read(output: str, audit: LeanAudit) -> _Reading:
    reading = _Reading()
    for raw in output.splitlines():
        parsed = _parse_line(raw)
        if parsed is None:
            continue
        message, kind = parsed
        line = message.line
        if line is not None and line in audit.lines:
            name, declared_at = audit.lines[line]
            found = _AXIOMS.match(message.text)
            if message.severity == "error" or found is None:
                text = f"could not audit {name}: {message.text}"
                reading.problems.append(Message("error", declared_at, text))
            else:
                listed = found.group("axioms") or ""
                reading.reports[line] = tuple(a for a in re.split(r"[\s,]+", listed) if a)
            continue
        if kind == "hasSorry" or _SORRY.search(message.text):
            reading.uses_sorry = True
        reading.messages.append(message)
    return reading


def _parse_line(raw: str) -> tuple[Message, str] | None:
    """One ``lean --json`` line as (message, kind); a line that is not JSON is an error text."""
    raw = raw.strip()
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        return Message("error", None, raw), ""
    pos = data.get("pos")
    line = pos.get("line") if isinstance(pos, dict) else None
    severity = _SEVERITIES.get(str(data.get("severity")), "error")
    text = str(data.get("data", "")).strip()
    where = line if isinstance(line, int) else None
    return Message(severity, where, text), str(data.get("kind", ""))


def _judge_axioms(reading: _Reading, audit: LeanAudit, allowed: frozenset[str]) -> set[str]:
    axioms: set[str] = set()
    for line, (name, declared_at) in sorted(audit.lines.items()):
        if line not in reading.reports:
            if not any(p.line == declared_at for p in reading.problems):
                text = f"no axiom report for {name}"
                reading.problems.append(Message("error", declared_at, text))
            continue
        for axiom in reading.reports[line]:
            axioms.add(axiom)
            if axiom == SORRY_AXIOM:
                reading.uses_sorry = True
                text = f"{name} uses sorry, so it is not proved"
                reading.problems.append(Message("error", declared_at, text))
            elif axiom not in allowed:
                text = f"{name} depends on the axiom {axiom}, which is not in the allow-list"
                reading.problems.append(Message("error", declared_at, text))
    if reading.uses_sorry and not any("sorry" in p.text for p in reading.problems):
        text = "the source uses sorry, so it is not proved"
        reading.problems.append(Message("error", None, text))
    return axioms
