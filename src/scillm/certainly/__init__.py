"""Certainly: check Coq and Lean 4 proofs with the real provers, and never say "proved" falsely.

from scillm.certainly import check, prove
[verdict] = check([{"id": "t", "backend": "coq",
                    "code": "Theorem t : 1 + 1 = 2. Proof. reflexivity. Qed."}])
assert verdict.status == "proved"
result = prove("adding zero to a natural number changes nothing", backend="coq")
print(result.status, result.statement)  # read the statement: it is what was proved

A missing prover gives ``unavailable``; Admitted/sorry, an axiom outside the allow-list, an
abandoned proof, a theorem that does not state the given statement, a redefined standard name
or a command that reaches outside the proof gives ``failed``. Provers run in scillm's sandbox.
The HTTP bridge is ``scillm.certainly.server.create_app`` (``scillm serve certainly``); the
``certainly`` provider reaches it, or runs the same code in-process.
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
from scillm.certainly.prove import Attempt, ProofResult, aprove, prove
from scillm.certainly.settings import BridgeSettings
from scillm.certainly.verdict import STATUSES, Message, Severity, Status, Verdict

__all__ = [
    "BACKENDS",
    "DEFAULT_TIMEOUT_S",
    "LEAN_STANDARD_AXIOMS",
    "STATUSES",
    "Attempt",
    "BridgeSettings",
    "Message",
    "ProofResult",
    "Severity",
    "Status",
    "Verdict",
    "aavailable_backends",
    "acheck",
    "aprove",
    "available_backends",
    "check",
    "prove",
]
