"""Certainly bridge: a true lemma is proved, a false one is not (Coq; Lean 4 when installed).

The bridge (``CERTAINLY_URL``, else the stack's) checks, per prover it has: a true lemma with a
real proof (proved), a false lemma with a plausible proof (failed), the false lemma
``Admitted`` and the false lemma proved from an added axiom (neither counts as proved). Coq is
required; the Lean 4 part runs when the bridge reports a Lean toolchain and is otherwise named
as skipped in the result (with the bridge's reason).
"""

from __future__ import annotations

from typing import Any

from scillm.scenarios.base import Scenario, Skip, check
from scillm.scenarios.run_all import run_one
from scillm.scenarios.stack import Context

COQ = {
    "true": "Theorem add_0 : forall n : nat, n + 0 = n.\n"
    "Proof. induction n as [|k IH]; simpl; [reflexivity | rewrite IH; reflexivity]. Qed.",
    "false": "Theorem succ_id : forall n : nat, n + 1 = n.\nProof. induction n; simpl; auto. Qed.",
    "admitted": "Theorem succ_id : forall n : nat, n + 1 = n.\nProof. Admitted.",
    "axiom": "Axiom cheat : forall P : Prop, P.\n"
    "Theorem succ_id : forall n : nat, n + 1 = n.\nProof. intro n. apply cheat. Qed.",
}
LEAN = {
    "true": "theorem add_zero' (n : Nat) : n + 0 = n := rfl",
    "false": "theorem succ_id (n : Nat) : n + 1 = n := by simp",
    "admitted": "theorem succ_id (n : Nat) : n + 1 = n := by sorry",
    "axiom": "axiom cheat : ∀ p : Prop, p\ntheorem succ_id (n : Nat) : n + 1 = n := cheat _",
}
EXPECTED = {"true": "proved", "false": "failed", "admitted": "failed", "axiom": "failed"}


def check_backend(ctx: Context, backend: str, sources: dict[str, str]) -> None:
    items = [{"id": key, "code": code} for key, code in sources.items()]
    answer = ctx.call("certainly", "/bridge/complete", {"backend": backend, "items": items})
    check(answer.status == 200, f"{backend}: HTTP {answer.status}: {answer.error()}")
    got = {r["item_id"]: r["status"] for r in answer.body["results"]}
    check(got == EXPECTED, f"{backend}: expected {EXPECTED}, got {got}: {answer.body['results']}")
    summary = answer.body["summary"]
    check(summary["proved"] == 1 and summary["items"] == 4, f"{backend} summary {summary}")


def run(ctx: Context) -> str:
    health = ctx.call("certainly", "/healthz", timeout=120)
    body: dict[str, Any] = health.body if isinstance(health.body, dict) else {}
    backends = body.get("backends") or {}
    coq = backends.get("coq") or {}
    if not coq.get("available"):
        raise Skip(f"the Certainly bridge has no Coq: {coq.get('detail') or health.error()}")
    check(health.status == 200 and body.get("ok") is True, f"/healthz: {health.status} {body}")
    check_backend(ctx, "coq", COQ)
    lean = backends.get("lean4") or {}
    if lean.get("available"):
        check_backend(ctx, "lean4", LEAN)
        lean_note = f"lean4 {lean.get('version')}: same verdicts"
    else:
        lean_note = f"lean4 part skipped: {lean.get('detail') or 'no Lean toolchain'}"
    return f"coq {coq.get('version')}: true proved, false/admitted/axiom not; {lean_note}"


SCENARIO = Scenario(
    "certainly_bridge",
    "Certainly bridge: a true lemma proved, a false one not (Coq, Lean 4)",
    ("certainly",),
    run,
)

if __name__ == "__main__":
    run_one(SCENARIO)
