"""Certainly: check Coq and Lean 4 proofs with the real provers, and never say "proved" falsely.

from scillm.certainly import check, prove
[verdict] = check([{"id": "t", "backend": "coq",
                    "code": "Theorem t : 1 + 1 = 2. Proof. reflexivity. Qed."}])
assert verdict.status == "proved"
result = prove("adding zero to a natural number changes nothing", backend="coq")
print(result.status, result.statement)  # read the statement: it is what was proved

A missing prover gives ``unavailable``; Admitted/sorry, an axiom outside the allow-list, an
abandoned proof, a theorem that does not state the given statement, a redefined standard name,
a notation with a word or numeral, a coercion, recursion outside scillm's structural rule
(``unsafe_recursion``) or a command that reaches outside the proof gives ``failed``. Provers run
in scillm's sandbox. The HTTP bridge is ``scillm.certainly.server.create_app`` (``scillm serve
certainly``); the ``certainly`` provider reaches it, or runs the same code in-process. Every
item compiles in a fresh ``coqc``; the audit of the compiled ``.vo`` runs in a warm ``coqtop``
rolled back to a marker per item (:mod:`scillm.certainly.pool`; ``check(..., warm=False)`` for
the fresh path, whose verdicts are the same).

Threat model. The input (code, statement, proof, imports) is untrusted: it may come from a
model optimising for "proved" and may exploit anything it can reach. Trusted: the prover binary
(``coqc``; ``lean``) and its standard library, the prover's kernel *except* for the critical bugs
listed for its version (:mod:`scillm.certainly.known_bugs`, carried by every verdict as
``prover``/``version``/``known_bugs``), the sandbox, and scillm's own screen and audits. Against
the listed bugs that untrusted input can reach, scillm does not rely on the kernel:

- guard checker (rocq#20413, #20455, #20555, #21839, #21053): every fixpoint the input
  introduces must also pass :mod:`scillm.certainly.coq_recursion`'s structural rule, checked on
  the printed kernel terms of every declaration the checked theorems reach (sealed modules are
  unsealed for this, :func:`scillm.certainly.coq_source.unseal`); ``cofix`` is refused;
- flags that Print Assumptions can miss (rocq#12155, #16646): ``Unset Guard/Positivity/Universe
  Checking``, ``bypass_check`` and ``Typing Flags`` are refused before coqc runs
  (:mod:`scillm.certainly.screen`);
- features other listed bugs need (rocq#21696, #22376, #21736, #18503): ``Definitional UIP``,
  cumulative inductives, ``Register`` and ``Primitive`` are refused too;
- native compilation (rocq#17871): coqc runs with ``-native-compiler no``, so
  ``native_compute`` is evaluated as ``vm_compute`` and the VM is trusted as part of the kernel.

What ``proved`` guarantees: the checked theorems, as printed in the verdict's ``checked …``
messages (or exactly the given ``statement``), were accepted by that kernel, rest on no axiom
outside the allow-list, on no ``Admitted``/``sorry`` and no switched-off check, use no
recursion outside scillm's rule, and mean what they say under the standard library's
notations. It does not exclude a kernel bug that is not yet known, nor one of the listed bugs
outside the paths above: module subtyping and strengthening (rocq#7609, #21051, #21685,
#21702), universe substitution in conversion (#21688), VM internals (#13439, #16891, #19402,
#16957).
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
