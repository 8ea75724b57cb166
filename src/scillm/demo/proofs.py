"""The full demo's Certainly step: Coq checks three proofs for real; one is proved, and two
proofs of ``1 = 2`` (one through an axiom, one through a guard-checker bug of Coq 8.16,
rocq#20413, that Coq's own kernel accepts) are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scillm.demo.steps import StepResult, save_json
from scillm.errors import EngineUnavailable

__all__ = ["ITEMS", "proofs_step"]

GUARD_BUG_20413 = """Fixpoint F (sz c : nat) (f : nat -> nat) {struct sz} : nat :=
  match sz with
  | S sz0 => F sz0 (S c) (fun k => F k 0 f)
  | O => S (f c)
  end.
Lemma step sz c f : F (S sz) c f = F sz (S c) (fun k => F k 0 f).
Proof. reflexivity. Qed.
Lemma base c f : F 0 c (fun k => F k 0 f) = S (F c 0 f).
Proof. reflexivity. Qed.
Theorem one_eq_two : 1 = 2.
Proof. destruct (n_Sn _ (eq_trans (step 0 0 (fun x => x)) (base 1 (fun x => x)))). Qed.
"""

ITEMS: list[dict[str, Any]] = [
    {
        "id": "add_zero",
        "backend": "coq",
        "statement": "forall n : nat, n + 0 = n",
        "proof": "Proof. induction n; simpl; auto. Qed.",
    },
    {
        "id": "axiom_1_eq_2",
        "backend": "coq",
        "code": "Axiom cheat : 1 = 2.\nTheorem one_eq_two : 1 = 2. Proof. exact cheat. Qed.",
    },
    {"id": "guard_bug_1_eq_2", "backend": "coq", "code": GUARD_BUG_20413},
]
MAX_REASON = 80
"""Characters of a refusal's reason shown on the step's line (certainly.json has it all)."""
EXPECTED = {"add_zero": "proved", "axiom_1_eq_2": "failed", "guard_bug_1_eq_2": "failed"}


def proofs_step(out_dir: Path) -> StepResult:
    """Check ``ITEMS`` (the verdicts go to ``certainly.json``); ok when each gets its
    expected verdict."""
    from scillm.certainly import check

    checked = check(ITEMS)
    save_json(out_dir / "certainly.json", checked)
    verdicts = {v.id: v for v in checked}
    if any(v.status == "unavailable" for v in verdicts.values()):
        reason = next(v for v in verdicts.values() if v.status == "unavailable").messages
        raise EngineUnavailable("; ".join(m.text for m in reason) or "no Coq (apt-get install coq)")
    status = {key: verdicts[key].status if key in verdicts else "missing" for key in EXPECTED}
    why = {key: _first_error(verdicts[key]) for key in EXPECTED if key in verdicts}
    line = (
        f"`forall n, n + 0 = n` {status['add_zero']}; `1 = 2` by an axiom "
        f"{_refused(status['axiom_1_eq_2'])} ({why.get('axiom_1_eq_2', '')}); `1 = 2` by Coq "
        f"bug rocq#20413 {_refused(status['guard_bug_1_eq_2'])} "
        f"({why.get('guard_bug_1_eq_2', '')})"
    )
    ok = status == EXPECTED
    return StepResult.judged("certainly", ok, line)


def _refused(status: str) -> str:
    return "rejected" if status == "failed" else status


def _first_error(verdict: Any) -> str:
    """The first error message of a verdict, cut to one short clause."""
    errors = [m.text for m in verdict.messages if m.severity == "error"]
    text = errors[0].split(";")[0] if errors else "no error message"
    return text if len(text) <= MAX_REASON else text[:MAX_REASON].rsplit(" ", 1)[0] + "…"
