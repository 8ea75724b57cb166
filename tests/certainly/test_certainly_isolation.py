"""Provers run sandboxed, and commands that reach outside the proof are refused before they run."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from scillm.certainly import available_backends, check
from scillm.certainly.isolation import work_dir
from scillm.certainly.process import Toolchain
from scillm.certainly.screen import screen_coq, screen_lean
from scillm.sandbox import isolation_available

TRUE = "Theorem t : 1 + 1 = 2. Proof. reflexivity. Qed."


@pytest.mark.parametrize(
    "source",
    [
        'Redirect "/tmp/x" Print nat.',
        'Cd "/etc".',
        'Load "/etc/passwd".',
        'Declare ML Module "coq-core.plugins.extraction".',
        'Add Rec LoadPath "/root" as R.',
        'Add ML Path "/tmp".',
        'Extraction "/tmp/t.ml" nat.',
        "Extraction Library Datatypes.",
        "Extraction TestCompile nat.",
        "Separate Extraction nat.",
        'Print Universes "/tmp/u.dot".',
        'Fail Redirect "x" Check nat.',
        '#[local] Redirect "x" Check nat.',
        '(* a comment cannot hide it: *) Load "x".',
    ],
)
def test_coq_commands_that_reach_outside_are_refused(source: str) -> None:
    [found] = screen_coq(f"{TRUE}\n{source}")
    assert found.severity == "error" and found.line == 2 and "does not run" in found.text


@pytest.mark.parametrize(
    "source",
    [
        "Unset Guard Checking.",
        "Local Unset Positivity Checking.",
        "#[local] Unset Universe Checking.",
        "#[bypass_check(guard)] Fixpoint f (n : nat) : nat := f n.",
        "Number Notation nat of_uint to_uint : nat_scope.",
        "String Notation nat of_string to_string : nat_scope.",
        "Coercion b2p : bool >-> Sortclass.",
        "Identity Coercion id_n : n >-> nat.",
        "Record R := { carrier :> Type }.",
        "Class A := { a : nat }. Record R := { r :> nat }.",
        "Set Definitional UIP.",
        "Delimit Scope Z_scope with nat.",
        "Bind Scope Z_scope with nat.",
        "Arguments eq {A} (x y)%Z_scope.",
        "Arguments Nat.add n m%Z.",
        "Polymorphic Cumulative Inductive box (A : Type) := Box (a : A).",
        "Register Inline f.",
        "Primitive add := #int63_add.",
        "Primitive add : int -> int -> int := #int63_add.",
        '(* "*)" is inside the comment *) Load x.',
    ],
)
def test_coq_commands_that_switch_off_checks_or_hide_meaning_are_refused(source: str) -> None:
    [found] = screen_coq(f"{TRUE}\n{source}")
    assert found.severity == "error" and found.line == 2, found


@pytest.mark.parametrize("source", ['Definition s := "unclosed.', "(* (* once *) Load x."])
def test_an_unclosed_comment_or_string_is_refused(source: str) -> None:
    [found] = screen_coq(source)
    assert "never closed" in found.text


@pytest.mark.parametrize(
    "source",
    [
        TRUE,
        'Definition s := "Load ""x"" and Redirect".',
        '(* Load "x", Cd "/", Unset Guard Checking, Coercion *) Check 1.',
        "Class A := { a : nat }.\n#[local] Class B := {\n  ba :> A; b : nat }.",
        "Set Primitive Projections. Unset Polymorphic Inductive Cumulativity.",
        "Declare Scope my_scope. Arguments Nat.add : simpl never. Arguments id {A} a.",
        'Arguments Nat.add n m. Definition pct := "50%".',
        "Recursive Extraction nat.",
        "Print Universes.",
        "Definition Loader := 1. Lemma Cd_ok : True. Proof. exact I. Qed.",
        "Check Foo.Load.",
    ],
)
def test_ordinary_coq_passes_the_screen(source: str) -> None:
    assert screen_coq(source) == []


@pytest.mark.parametrize(
    "source",
    [
        '#eval IO.println "hi"',
        "#eval! (1 : Nat)",
        'run_cmd Lean.logInfo "x"',
        "example : True := by run_tac pure ()",
        'elab "go" : term => return Lean.mkConst ``True',
        "elab_rules : term | `(go) => pure (Lean.mkConst ``True)",
        "initialize counter : IO.Ref Nat ← IO.mkRef 0",
        "@[command_elab foo] def bar : Lean.Elab.Command.CommandElab := fun _ => pure ()",
        "@[implemented_by evil] def f : Nat := 0",
        "theorem t : 10 < 20 := by native_decide",
        "def x : Nat := unsafeBaseIO (pure 1)",
        "set_option debug.skipKernelTC true in theorem t : False := sorry",
        "unsafe def cast' (a : Nat) : Bool := unsafeCast a",
        "@[implemented_by cast'] opaque c : Nat → Bool",
    ],
)
def test_lean_code_that_runs_programs_is_refused(source: str) -> None:
    found = screen_lean(f"theorem a : True := trivial\n{source}")
    assert found and all(m.line == 2 and "does not run" in m.text for m in found)


def test_ordinary_lean_passes_the_screen() -> None:
    source = (
        "@[simp] theorem elab_free (n : Nat) : n + 0 = n := by simp\ntheorem t : True := trivial"
        "\npartial def spin (n : Nat) : Nat := spin (n + 1)"
    )
    assert screen_lean(source) == []


@pytest.fixture
def bwrap() -> None:
    """bwrap isolation must work here (CI installs it; elsewhere the test skips)."""
    host = isolation_available()
    if not host["isolated"]:
        if os.environ.get("CI"):
            pytest.fail(f"no bwrap isolation: {host['problem']}")
        pytest.skip(f"no bwrap isolation here: {host['problem']}")


@pytest.mark.usefixtures("bwrap")
async def test_a_prover_process_sees_only_its_work_dir_and_install() -> None:
    marker = f"/tmp/scillm-leak-{secrets.token_hex(4)}"
    shell = Toolchain("coq", "/bin/sh", "0", None, binds=("/usr",))
    script = f"echo leaked > {marker}; ls /work /root 2>&1; cat job.txt; echo done"
    async with work_dir(shell, {"job.txt": "inside\n"}, memory_mb=256) as box:
        ran = await box.run(["-c", script], timeout_s=20)
        assert box.path.is_dir()
    assert ran.returncode == 0 and ran.stdout.endswith("inside\ndone\n")
    assert "No such file or directory" in ran.stdout  # /work and /root do not exist inside
    assert not os.path.exists(marker)
    assert not box.path.exists()  # the work dir is deleted afterwards


@pytest.mark.requires("coqc", apt="coq")
@pytest.mark.usefixtures("bwrap")
def test_coq_is_checked_in_the_sandbox() -> None:
    assert available_backends()["coq"]["isolation"] == "bwrap+rlimits"
    [v] = check([{"id": "t", "backend": "coq", "code": TRUE}])
    assert v.status == "proved"


@pytest.mark.requires("coqc", apt="coq")
def test_without_bwrap_coq_still_runs_behind_the_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCILLM_BWRAP", "/nonexistent/bwrap")
    assert available_backends()["coq"]["isolation"] == "rlimits-only"
    marker = f"/tmp/scillm-leak-{secrets.token_hex(4)}"
    items = [
        {"id": "true", "backend": "coq", "code": TRUE},
        {"id": "redirect", "backend": "coq", "code": f'Redirect "{marker}" Check nat.\n{TRUE}'},
    ]
    good, bad = check(items)
    assert good.status == "proved"
    assert bad.status == "failed" and "does not run Redirect" in bad.messages[0].text
    assert not os.path.exists(f"{marker}.out")


def test_a_lean_eval_never_runs(tmp_path: Path) -> None:
    """The stand-in lean writes a marker when it runs; a screened item never starts it."""
    marker = tmp_path / "ran"
    lean = tmp_path / "bin" / "lean"
    lean.parent.mkdir()
    lean.write_text(
        f"#!/bin/sh\n"
        f'[ "$1" = --version ] && echo "Lean (version 4.9.0)" && exit 0\n'
        f'[ "$1" = --print-prefix ] && echo {tmp_path} && exit 0\n'
        f"touch {marker}\n"
    )
    lean.chmod(0o755)
    items = [
        {"id": "e", "backend": "lean4", "code": '#eval IO.println "x"\ntheorem t : True := trivial'}
    ]
    [v] = check(items, lean_path=str(lean))
    assert v.status == "failed" and v.messages[0].line == 1 and "#eval" in v.messages[0].text
    assert not marker.exists()
