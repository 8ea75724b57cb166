"""Certainly: check Coq and Lean 4 proofs with the real provers, and never say "proved" falsely.

from scillm.certainly import check
[verdict] = check([{"id": "t", "backend": "coq",
                    "code": "Theorem t : 1 + 1 = 2. Proof. reflexivity. Qed."}])
assert verdict.status == "proved"

A missing prover gives ``unavailable``; Admitted/sorry, an axiom outside the allow-list, an
abandoned proof or a theorem that does not state the given statement gives ``failed``.
"""

from scillm.certainly.engine import (
    DEFAULT_TIMEOUT_S,
    aavailable_backends,
    acheck,
    available_backends,
    check,
)
from scillm.certainly.items import BACKENDS
from scillm.certainly.lean_output import LEAN_STANDARD_AXIOMS
from scillm.certainly.verdict import STATUSES, Message, Severity, Status, Verdict

__all__ = [
    "BACKENDS",
    "DEFAULT_TIMEOUT_S",
    "LEAN_STANDARD_AXIOMS",
    "STATUSES",
    "Message",
    "Severity",
    "Status",
    "Verdict",
    "aavailable_backends",
    "acheck",
    "available_backends",
    "check",
]
