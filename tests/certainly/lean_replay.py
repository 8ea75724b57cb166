"""Recorded Lean: a REPL and a ``lean`` that replay one transcript, run as real processes.

No Lean toolchain is installed here, so the Lean pool is tested against programs that answer
from a transcript in the leanprover-community REPL's documented format (replies
``{"env", "messages": [{"severity": "info"|"warning"|"error", "pos", "endPos", "data"}],
"sorries": [{"pos", "endPos", "goal"}]}``; errors ``{"message"}``), written for these tests.

- ``bin/repl`` reads commands separated by blank lines and answers each with its recorded reply
  and a blank line, numbering environments as the REPL does (0, 1, 2 ... per process). It ends
  with status 3 on any request that is not in the transcript, on a first command that names an
  ``env``, and on a later command that does not run from the header's env: so a pool that
  reuses an item's environment, or sends anything unrecorded, loses its process.
  Special replies: ``{"$crash": status}`` exits, ``{"$hang": seconds}`` sleeps,
  ``{"$raw": text}`` writes text as is, ``{"$env": n, ...}`` answers with env ``n``.
- ``bin/lean`` is the fresh path: for ``--json Item.lean`` it finds the command whose text is
  the file's (its import lines blanked) and prints that reply's messages as ``lean --json``
  lines (sorries as "declaration uses 'sorry'"), exiting 1 if one is an error.

Both are installed as a toolchain (``<tmp>/bin``) and run inside scillm's sandbox.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["axioms", "exchange", "install", "message", "sorry"]

REPL = r"""#!{python}
import json, os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "transcript.json")) as handle:
    transcript = json.load(handle)
env, header = -1, None

def read():
    lines = []
    while True:
        line = sys.stdin.readline()
        if not line:
            return None
        if line.strip():
            lines.append(line)
        elif lines:
            return "".join(lines)

while True:
    text = read()
    if text is None:
        sys.exit(0)
    request = json.loads(text)
    from_header = "env" not in request if header is None else request.get("env") == header
    found = [e["reply"] for e in transcript if e["request"] == request]
    if not from_header or not found:
        sys.stderr.write("unexpected request: " + text)
        sys.exit(3)
    reply = found[0]
    if "$crash" in reply:
        sys.exit(reply["$crash"])
    if "$hang" in reply:
        time.sleep(reply["$hang"])
    if "$raw" in reply:
        sys.stdout.write(reply["$raw"] + "\n\n")
    else:
        env += 1
        answer = dict(reply)
        if "message" not in answer:
            answer["env"] = answer.pop("$env", env)
        if header is None:
            header = env
        sys.stdout.write(json.dumps(answer, indent=2) + "\n\n")
    sys.stdout.flush()
"""

LEAN = r"""#!{python}
import json, os, re, sys
if sys.argv[1:] == ["--version"]:
    print("Lean (version 4.9.0, x86_64-unknown-linux-gnu, commit 8f9843a4a5fe, Release)")
    sys.exit(0)
if sys.argv[1:] == ["--print-prefix"]:
    print("{prefix}")
    sys.exit(0)
assert sys.argv[1] == "--json"
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "transcript.json")) as handle:
    transcript = json.load(handle)
lines = open(sys.argv[2]).read().split("\n")
start = 0
while start < len(lines) and re.fullmatch(r"(import\s.*)?", lines[start].strip()):
    start += 1
body = "\n" * start + "\n".join(lines[start:])
found = [e["reply"] for e in transcript if e["request"] == {{"cmd": body, "env": 0}}]
if not found:
    where = {{"line": 1, "column": 0}}
    print(json.dumps({{"severity": "error", "pos": where, "data": "unrecorded"}}))
    sys.exit(1)
severity = {{"info": "information", "warning": "warning", "error": "error"}}
failed = False
for m in found[0].get("messages", []):
    failed = failed or m["severity"] == "error"
    out = {{"severity": severity[m["severity"]], "pos": m["pos"], "endPos": m.get("endPos"),
           "data": m["data"], "fileName": sys.argv[2]}}
    print(json.dumps(out))
for s in found[0].get("sorries", []):
    text = "declaration uses 'sorry'"
    print(json.dumps({{"severity": "warning", "pos": s["pos"], "data": text}}))
sys.exit(1 if failed else 0)
"""


def message(line: int, data: str, severity: str = "info") -> dict[str, Any]:
    """One REPL message at ``line``."""
    pos = {"line": line, "column": 0}
    return {"severity": severity, "pos": pos, "endPos": pos, "data": data}


def axioms(line: int, name: str, *used: str) -> dict[str, Any]:
    """The REPL's answer to ``#print axioms name`` (on ``line``)."""
    if not used:
        return message(line, f"'{name}' does not depend on any axioms")
    return message(line, f"'{name}' depends on axioms: [{', '.join(used)}]")


def sorry(line: int) -> dict[str, Any]:
    """A tactic-mode sorry, as the REPL lists it."""
    pos = {"line": line, "column": 4}
    return {"pos": pos, "endPos": pos, "goal": "⊢ 1 = 2"}


def exchange(cmd: str, reply: Mapping[str, Any], env: int | None = 0) -> dict[str, Any]:
    """A recorded request (``cmd`` from ``env``; None: the header's command) and its reply."""
    request: dict[str, Any] = {"cmd": cmd} if env is None else {"cmd": cmd, "env": env}
    return {"request": request, "reply": dict(reply)}


def install(root: Path, transcript: Sequence[Mapping[str, Any]]) -> tuple[str, str]:
    """``root/bin/lean`` and ``root/bin/repl`` answering from ``transcript``: their paths."""
    bin_dir = root / "bin"
    bin_dir.mkdir(exist_ok=True)
    python = os.path.realpath(sys.executable)
    (bin_dir / "transcript.json").write_text(json.dumps(list(transcript)))
    lean, repl = bin_dir / "lean", bin_dir / "repl"
    lean.write_text(LEAN.format(python=python, prefix=root))
    repl.write_text(REPL.replace("{python}", python))
    for path in (lean, repl):
        path.chmod(0o755)
    for path in (root, bin_dir):
        path.chmod(0o755)  # like a real toolchain, readable by the sandbox's unprivileged uid
    (bin_dir / "transcript.json").chmod(0o644)
    return str(lean), str(repl)
