"""The Lean 4 verdict logic on recorded ``lean --json`` output, and the live backend when installed.

The recorded lines follow Lean 4's ``--json`` message format: older releases write
``declaration uses 'sorry'`` with no ``kind``; newer ones add ``kind``/``isSilent`` and backquotes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from scillm.certainly import LEAN_STANDARD_AXIOMS, Verdict, check
from scillm.certainly.items import ProofItem
from scillm.certainly.lean import LeanSource, assemble
from scillm.certainly.lean_output import judge, theorem_names

ALLOWED = LEAN_STANDARD_AXIOMS


def message(line: int, data: str, severity: str = "information", **extra: Any) -> str:
    """One line as Lean 4 (pre-4.10 field order) writes it."""
    record = {
        "severity": severity,
        "pos": {"line": line, "column": 0},
        "endPos": {"line": line, "column": 13},
        "keepFullRange": False,
        "data": data,
        "fileName": "Item.lean",
        "caption": "",
        **extra,
    }
    return json.dumps(record, separators=(",", ":"))


def source(code: str) -> LeanSource:
    built = assemble(ProofItem(id="x", backend="lean4", code=code))
    assert isinstance(built, LeanSource)
    return built


def audit_line(built: LeanSource, name: str) -> int:
    return next(line for line, (theorem, _) in built.audit.lines.items() if theorem == name)


def verdict(
    built: LeanSource, *lines: str, returncode: int = 0, allowed: frozenset[str] = ALLOWED
) -> Verdict:
    output = "\n".join(lines) + "\n"
    return judge("x", output, returncode=returncode, stderr="", audit=built.audit, allowed=allowed)


def test_theorem_names_follow_namespaces_and_skip_comments() -> None:
    code = """import Mathlib.Tactic
namespace Foo
/-- a docstring mentioning theorem fake -/
@[simp] theorem one : 1 = 1 := rfl
-- theorem commented : False := sorry
section Inner
private theorem two (n : Nat) : n = n := rfl
end Inner
namespace Bar.Baz
protected theorem three : True := trivial
end Bar.Baz
theorem _root_.four : True := trivial
end Foo
lemma «five six» : True := trivial
"""
    assert theorem_names(code) == [
        ("Foo.one", 4),
        ("Foo.two", 7),
        ("Foo.Bar.Baz.three", 10),
        ("four", 12),
        ("«five six»", 14),
    ]


def test_the_audit_is_appended_after_the_source() -> None:
    built = source("theorem a : True := trivial\ntheorem b : 1 = 1 := rfl")
    assert built.text.endswith("\n#print axioms a\n#print axioms b\n")
    assert dict(built.audit.lines) == {3: ("a", 1), 4: ("b", 2)}


def test_a_clean_proof_is_proved() -> None:
    built = source("theorem t : 1 + 1 = 2 := rfl")
    v = verdict(built, message(2, "'t' does not depend on any axioms"))
    assert v.status == "proved" and v.axioms == () and not v.uses_sorry
    assert v.statement_matches is None and v.backend == "lean4"


def test_the_standard_three_axioms_are_allowed() -> None:
    built = source("theorem t (p : Prop) : p \u2228 \u00acp := Classical.em p")
    report = "'t' depends on axioms: [propext,\n Classical.choice,\n Quot.sound]"
    v = verdict(built, message(2, report))
    assert v.status == "proved"
    assert v.axioms == ("Classical.choice", "Quot.sound", "propext")


@pytest.mark.parametrize(
    "warning",
    [
        message(1, "declaration uses 'sorry'", "warning"),
        message(1, "declaration uses `sorry`", "warning", kind="hasSorry", isSilent=False),
    ],
)
def test_sorry_is_never_proved(warning: str) -> None:
    built = source("theorem t : 1 = 2 := by sorry")
    v = verdict(built, warning, message(2, "'t' depends on axioms: [sorryAx]"))
    assert v.status == "failed" and v.uses_sorry
    assert v.axioms == ("sorryAx",)
    assert any("uses sorry" in m.text and m.line == 1 for m in v.messages)


def test_sorry_ax_is_refused_even_when_allow_listed() -> None:
    built = source("theorem t : 1 = 2 := sorryAx _ false")
    v = verdict(built, message(2, "'t' depends on axioms: [sorryAx]"), allowed=ALLOWED)
    assert v.status == "failed" and v.uses_sorry


def test_a_custom_axiom_needs_the_allow_list() -> None:
    built = source("axiom one_eq_two : 1 = 2\ntheorem t : 1 = 2 := one_eq_two")
    report = message(3, "'t' depends on axioms: [one_eq_two]")
    refused = verdict(built, report)
    assert refused.status == "failed" and refused.axioms == ("one_eq_two",)
    assert "not in the allow-list" in refused.messages[-1].text
    allowed = verdict(built, report, allowed=ALLOWED | {"one_eq_two"})
    assert allowed.status == "proved"


def test_an_error_fails_with_its_line() -> None:
    built = source("theorem t : 1 = 2 := by\n  rfl")
    error = message(2, "The rfl tactic failed.", "error")
    v = verdict(built, error, message(3, "'t' does not depend on any axioms"), returncode=1)
    assert v.status == "failed"
    assert [(m.severity, m.line) for m in v.messages] == [("error", 2)]


def test_a_theorem_missing_from_the_audit_fails() -> None:
    built = source("theorem t : True := trivial")
    v = verdict(built, message(2, "unknown constant 't'", "error"), returncode=1)
    assert v.status == "failed" and "could not audit t" in v.messages[0].text


def test_a_theorem_without_an_axiom_report_fails() -> None:
    built = source("theorem t : True := trivial")
    v = verdict(built)
    assert v.status == "failed" and "no axiom report for t" in v.messages[0].text


def test_a_file_without_theorems_is_not_proved() -> None:
    v = verdict(source("def x : Nat := 1\nexample : x = 1 := rfl"))
    assert v.status == "failed" and "no theorem" in v.messages[0].text


def test_a_crash_without_json_is_an_error_message() -> None:
    built = source("theorem t : True := trivial")
    v = verdict(built, "INTERNAL PANIC: out of memory", returncode=134)
    assert v.status == "failed" and v.messages[0].text == "INTERNAL PANIC: out of memory"


def test_a_statement_item_is_assembled_after_its_imports() -> None:
    item = ProofItem(
        id="s",
        backend="lean4",
        statement="∀ n : Nat, n + 0 = n",
        proof="by simp",
        imports=("Mathlib.Tactic",),
    )
    built = assemble(item)
    assert isinstance(built, LeanSource)
    assert built.text.splitlines()[:3] == [
        "import Mathlib.Tactic",
        "theorem scillm_goal : ∀ n : Nat, n + 0 = n := by simp",
        "#print axioms scillm_goal",
    ]
    v = verdict(built, message(3, "'scillm_goal' does not depend on any axioms"))
    assert v.status == "proved" and v.statement_matches is True


def test_a_named_statement_keeps_its_name() -> None:
    item = ProofItem(
        id="s", backend="lean4", statement="theorem add0 (n : Nat) : n + 0 = n", proof=":= rfl"
    )
    built = assemble(item)
    assert isinstance(built, LeanSource) and built.audit.goal == "add0"
    assert built.text.startswith("theorem add0 (n : Nat) : n + 0 = n := rfl\n")


def test_a_statement_may_not_smuggle_in_a_proof() -> None:
    item = ProofItem(
        id="s", backend="lean4", statement="1 = 1 := rfl\ntheorem x : 1 = 2", proof="by sorry"
    )
    assert "must not contain ':='" in str(assemble(item))


def test_a_missing_lean_is_unavailable_with_install_advice() -> None:
    items = [{"id": "t", "backend": "lean4", "code": "theorem t : True := trivial"}]
    [v] = check(items, lean_path="/nonexistent/lean")
    assert v.status == "unavailable" and not v.proved
    assert "elan" in v.messages[0].text and "SCILLM_LEAN" in v.messages[0].text


# A stand-in executable that replays Lean's documented output for the file it is given, so the
# backend's own plumbing (file, argv, version probe, audit lines, kill on timeout) runs for real.
REPLAY = """#!{python}
import json, re, sys, time
if sys.argv[1:] == ["--version"]:
    print("Lean (version 4.9.0, x86_64-unknown-linux-gnu, commit 8f9843a4a5fe, Release)")
    sys.exit(0)
if sys.argv[1:] == ["--print-prefix"]:
    print("{prefix}")
    sys.exit(0)
assert sys.argv[1] == "--json"
text = open(sys.argv[2]).read()
if "spin" in text:
    time.sleep(60)
def say(line, data, severity="information"):
    pos = {{"line": line, "column": 0}}
    print(json.dumps({{"severity": severity, "pos": pos, "endPos": pos, "keepFullRange": False,
                      "data": data, "fileName": sys.argv[2], "caption": ""}}))
for number, line in enumerate(text.splitlines(), 1):
    audited = re.match(r"#print axioms (\\S+)", line)
    if audited and "sorry" in text:
        say(number, f"'{{audited[1]}}' depends on axioms: [sorryAx]")
    elif audited:
        say(number, f"'{{audited[1]}}' does not depend on any axioms")
    elif "sorry" in line:
        say(number, "declaration uses 'sorry'", "warning")
"""


@pytest.fixture
def replay_lean(tmp_path: Path) -> str:
    """The stand-in installed as a toolchain: ``<prefix>/bin/lean``, run inside the sandbox."""
    path = tmp_path / "bin" / "lean"
    path.parent.mkdir()
    path.write_text(REPLAY.format(python=os.path.realpath(sys.executable), prefix=tmp_path))
    path.chmod(0o755)
    tmp_path.chmod(0o755)  # like a real toolchain, readable by the sandbox's unprivileged uid
    return str(path)


def test_the_backend_runs_lean_and_reads_its_audit(replay_lean: str) -> None:
    items = [
        {
            "id": "ok",
            "backend": "lean4",
            "code": "theorem a : True := trivial\ntheorem b : 1 = 1 := rfl",
        },
        {"id": "sorry", "backend": "lean4", "statement": "1 = 2", "proof": "by sorry"},
    ]
    ok, sorry = check(items, lean_path=replay_lean)
    assert ok.status == "proved" and ok.backend_version == "4.9.0" and ok.time_ms > 0
    assert sorry.status == "failed" and sorry.uses_sorry and sorry.axioms == ("sorryAx",)
    assert sorry.statement_matches is True


def test_a_hung_lean_is_killed_at_the_timeout(replay_lean: str) -> None:
    items = [{"id": "hang", "backend": "lean4", "code": "-- spin\ntheorem t : True := trivial"}]
    [v] = check(items, lean_path=replay_lean, timeout_s=1)
    assert v.status == "timeout" and "killed" in v.messages[0].text


@pytest.mark.skipif(shutil.which("lean") is None, reason="no Lean 4 toolchain (lean) on PATH")
def test_live_lean_proves_the_true_and_refuses_sorry() -> None:
    items = [
        {"id": "true", "backend": "lean4", "code": "theorem t : 1 + 1 = 2 := rfl"},
        {"id": "sorry", "backend": "lean4", "code": "theorem t : 1 = 2 := by sorry"},
        {"id": "axiom", "backend": "lean4", "code": "axiom bad : 1 = 2\ntheorem t : 1 = 2 := bad"},
    ]
    good, sorry, axiom = check(items)
    assert good.status == "proved" and good.backend_version
    assert sorry.status == "failed" and sorry.uses_sorry
    assert axiom.status == "failed" and axiom.axioms == ("bad",)


def test_a_partial_def_is_an_opaque_constant_and_may_be_used() -> None:
    # Lean's kernel sees "partial def" as an opaque constant: no proof can unfold it.
    built = source("partial def spin (n : Nat) : Nat := spin (n + 1)\ntheorem t : True := trivial")
    v = verdict(built, message(3, "'t' does not depend on any axioms"))
    assert v.status == "proved"


def test_compiled_evaluation_in_a_proof_is_never_proved() -> None:
    # decide +native / native_decide proofs rest on Lean.ofReduceBool (trusting compiled code).
    built = source("theorem t : 2 ^ 10 = 1024 := by decide +native")
    v = verdict(built, message(2, "'t' depends on axioms: [Lean.ofReduceBool]"))
    assert v.status == "failed" and "Lean.ofReduceBool" in v.messages[-1].text
