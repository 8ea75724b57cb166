"""Operating the stack: ``scillm doctor`` (is this machine ready?) and ``scillm warmup``.

    from scillm.ops import run_doctor, run_warmup

``doctor`` runs real tiny jobs (a sandboxed program, a Coq proof, a completion on the embedded
model and on every configured provider model, a ``/healthz`` of every named service) and says
READY or NOT READY; ``warmup`` sends each provider model one tiny call (``max_tokens`` 8,
temperature 0) and stamps a file only when every model answered. The command line is
:mod:`scillm.ops.cli`; what each command checks and its exit codes are in ``docs/doctor.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scillm.ops.doctor import run_doctor
    from scillm.ops.warmup import run_warmup

__all__ = ["run_doctor", "run_warmup"]

_LAZY = {"run_doctor": "scillm.ops.doctor", "run_warmup": "scillm.ops.warmup"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'scillm.ops' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
