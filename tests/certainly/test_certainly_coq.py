"""The Coq backend against the real coqc: true theorems are proved, no trick is ever proved."""

from __future__ import annotations

import os
import re

import pytest
from coq_cases import CODE

from scillm.certainly import Verdict, check

pytestmark = pytest.mark.requires("coqc", apt="coq")

SPIN = """Fixpoint spin (n : nat) (b : bool) : bool :=
  match n with 0 => b | S k => spin k (spin k (negb b)) end.
Eval vm_compute in spin 200 true.
Theorem t : True. Proof. exact I. Qed.
"""


def texts(verdict: Verdict) -> str:
    return "\n".join(m.text for m in verdict.messages)


def test_a_true_theorem_is_proved(verdicts: dict[str, Verdict]) -> None:
    v = verdicts["true"]
    assert v.status == "proved" and v.proved
    assert v.axioms == () and not v.uses_sorry and v.statement_matches is None
    assert v.backend == "coq" and re.fullmatch(r"\d+\.\d+(\.\d+)?", v.backend_version or "")
    assert v.time_ms > 0
    assert "checked t : 1 + 1 = 2" in texts(v)


@pytest.mark.parametrize(
    "name", ["admitted", "axiom", "admit", "admit_qed", "abort", "helper", "syntax", "wrong"]
)
def test_false_or_unfinished_proofs_are_not_proved(verdicts: dict[str, Verdict], name: str) -> None:
    v = verdicts[name]
    assert v.status == "failed"
    assert any(m.severity == "error" for m in v.messages)


def test_admitted_is_reported_as_sorry(verdicts: dict[str, Verdict]) -> None:
    for name in ("admitted", "admit"):
        v = verdicts[name]
        assert v.uses_sorry and v.axioms == ("Top.t",)
        assert "t is Admitted" in texts(v)


def test_an_axiom_is_named_and_refused(verdicts: dict[str, Verdict]) -> None:
    v = verdicts["axiom"]
    assert v.axioms == ("Top.one_eq_two",) and not v.uses_sorry
    assert "depends on the axiom Top.one_eq_two, which is not in the allow-list" in texts(v)


def test_the_allow_list_admits_named_axioms_only() -> None:
    items = [
        {"id": "axiom", "backend": "coq", "code": CODE["axiom"]},
        {"id": "classical", "backend": "coq", "code": CODE["classical"]},
        {"id": "admitted", "backend": "coq", "code": CODE["admitted"]},
    ]
    allowed = ["Top.one_eq_two", "Classical_Prop.classic", "Top.t"]
    axiom, classical, admitted = check(items, axiom_allowlist=allowed)
    assert axiom.status == "proved" and axiom.axioms == ("Top.one_eq_two",)
    assert classical.status == "proved" and classical.axioms == ("Classical_Prop.classic",)
    # An Admitted proof is never an allowed axiom, whatever the list says.
    assert admitted.status == "failed" and admitted.uses_sorry


def test_classical_logic_needs_the_allow_list(verdicts: dict[str, Verdict]) -> None:
    v = verdicts["classical"]
    assert v.status == "failed" and v.axioms == ("Classical_Prop.classic",)


def test_admit_closed_with_qed_fails_with_coqs_message(verdicts: dict[str, Verdict]) -> None:
    v = verdicts["admit_qed"]
    assert any(m.line == 2 and "given up goals" in m.text for m in v.messages)


def test_abort_leaves_no_proof(verdicts: dict[str, Verdict]) -> None:
    assert "abandoned (Abort)" in texts(verdicts["abort"])


def test_a_helper_admitted_then_used_is_caught(verdicts: dict[str, Verdict]) -> None:
    v = verdicts["helper"]
    assert v.uses_sorry and "Top.helper" in v.axioms
    assert "u rests on helper, which is Admitted" in texts(v)
    assert any(m.line == 3 for m in v.messages if m.severity == "error")


def test_a_syntax_error_comes_back_with_its_line(verdicts: dict[str, Verdict]) -> None:
    errors = [m for m in verdicts["syntax"].messages if m.severity == "error"]
    assert len(errors) == 1 and errors[0].line == 6
    assert "Syntax error" in errors[0].text


def test_a_wrong_tactic_reports_coqs_error(verdicts: dict[str, Verdict]) -> None:
    errors = [m for m in verdicts["wrong"].messages if m.severity == "error"]
    assert errors[0].line == 2 and "Unable to unify" in errors[0].text


@pytest.mark.parametrize("name", ["notation", "abbreviation"])
def test_redefining_standard_notation_is_not_proved(
    verdicts: dict[str, Verdict], name: str
) -> None:
    v = verdicts[name]
    assert v.status == "failed"
    assert any(m.line == 1 and "standard library already defines" in m.text for m in v.messages)


@pytest.mark.parametrize(
    ("name", "line", "shadowed"),
    [
        ("shadow_def", 1, "Coq.Init.Logic.False"),
        ("shadow_theorem", 1, "Coq.Init.Logic.False"),
        ("shadow_library", 2, "Coq.Lists.List.rev"),
        ("shadow_module", 1, "Coq.Init.Nat"),
    ],
)
def test_shadowing_a_standard_name_is_not_proved(
    verdicts: dict[str, Verdict], name: str, line: int, shadowed: str
) -> None:
    v = verdicts[name]
    assert v.status == "failed"
    assert any(m.line == line and f"already names {shadowed}" in m.text for m in v.messages)


def test_own_names_and_theorem_names_are_fine(verdicts: dict[str, Verdict]) -> None:
    # "add" is Nat.add only after Import Nat, and theorems are named freely.
    v = verdicts["own_names"]
    assert v.status == "proved" and "checked t : Top.double 2 = 4" in texts(v)


def test_a_file_writing_command_is_refused_before_coq_runs(verdicts: dict[str, Verdict]) -> None:
    v = verdicts["redirect"]
    assert v.status == "failed" and v.messages[0].line == 1
    assert "does not run Redirect" in texts(v)
    assert not os.path.exists("/tmp/scillm-test-redirect.out")


def test_a_new_notation_is_fine(verdicts: dict[str, Verdict]) -> None:
    v = verdicts["new_notation"]
    assert v.status == "proved" and "checked t : 1 = 1" in texts(v)


def test_switching_off_the_guard_check_is_not_proved(verdicts: dict[str, Verdict]) -> None:
    v = verdicts["guard"]
    assert v.status == "failed" and v.messages[0].line == 1
    assert "Unset Guard/Positivity/Universe Checking" in texts(v)


@pytest.mark.parametrize("name", ["nothing", "no_theorem"])
def test_a_file_without_a_proof_is_not_proved(verdicts: dict[str, Verdict], name: str) -> None:
    v = verdicts[name]
    if name == "nothing":  # a definition is checked like a theorem
        assert v.status == "proved"
    else:
        assert v.status == "failed" and "no theorem" in texts(v)


def test_a_statement_and_its_proof_match(verdicts: dict[str, Verdict]) -> None:
    for name in ("stmt_ok", "stmt_decl"):
        v = verdicts[name]
        assert v.status == "proved" and v.statement_matches is True
    assert "checked add_0 : forall n : nat, n + 0 = n" in texts(verdicts["stmt_decl"])


@pytest.mark.parametrize("name", ["stmt_redefined", "stmt_weakened"])
def test_a_proof_of_another_statement_is_a_mismatch(
    verdicts: dict[str, Verdict], name: str
) -> None:
    v = verdicts[name]
    assert v.status == "failed" and v.statement_matches is False
    assert "does not state the given statement" in texts(v)


def test_a_statement_must_be_one_sentence(verdicts: dict[str, Verdict]) -> None:
    v = verdicts["stmt_two_sentences"]
    assert v.status == "error" and "single Coq sentence" in texts(v)


def test_a_hung_item_times_out_and_the_batch_goes_on() -> None:
    items = [
        {"id": "before", "backend": "coq", "code": CODE["true"]},
        {"id": "hang", "backend": "coq", "code": SPIN},
        {"id": "after", "backend": "coq", "code": CODE["admitted"]},
    ]
    before, hang, after = check(items, timeout_s=3, max_workers=2)
    assert (before.id, before.status) == ("before", "proved")
    assert (hang.id, hang.status) == ("hang", "timeout")
    assert "killed" in texts(hang)
    assert (after.id, after.status) == ("after", "failed")


def test_a_missing_coqc_is_unavailable_never_proved() -> None:
    items = [{"id": "t", "backend": "coq", "code": CODE["true"]}]
    [v] = check(items, coqc_path="/nonexistent/coqc")
    assert v.status == "unavailable" and v.backend_version is None
    assert "apt-get install coq" in texts(v) and "SCILLM_COQC" in texts(v)


def test_the_coqc_path_can_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCILLM_COQC", "/nonexistent/coqc")
    [v] = check([{"id": "t", "backend": "coq", "code": CODE["true"]}])
    assert v.status == "unavailable"


def test_unsafe_recursion_names_the_definition_and_its_line(verdicts: dict[str, Verdict]) -> None:
    v = verdicts["false/guard_20413"]
    [problem] = [m for m in v.messages if m.text.startswith("unsafe_recursion:")]
    assert problem.line == 1 and "in F:" in problem.text and "argument k" in problem.text
    sealed = verdicts["false/guard_20413_sealed"].messages
    assert any(m.text.startswith("unsafe_recursion: in M.bad:") and m.line == 3 for m in sealed)
