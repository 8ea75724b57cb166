"""How a Certainly bridge is configured: one frozen record, resolved once when it is built.

Precedence: argument → environment → default. The environment names are the original bridge's:
``CERTAINLY_BRIDGE_TIMEOUT_SECONDS`` (then ``LEAN4_BRIDGE_TIMEOUT_SECONDS``) for the batch
deadline, ``CERTAINLY_BACKEND`` for the default backend, ``SCILLM_CERTAINLY_MODEL`` for the
model that writes proofs of natural-language requirements. A malformed number is a ValueError
naming the variable.

The served bridge's door (token, host, body cap) is a :class:`scillm.service.ServiceConfig`:
its token is ``SCILLM_CERTAINLY_TOKEN``, else ``CERTAINLY_TOKEN``, else ``SCILLM_SERVICE_TOKEN``
(:func:`scillm.service.config.token_names`; the provider sends it when given no ``api_key``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from scillm._config import Source, resolve
from scillm.certainly.engine import DEFAULT_TIMEOUT_S
from scillm.certainly.items import BACKENDS
from scillm.certainly.prove import MODEL_ENV

__all__ = [
    "DEFAULT_MAX_SECONDS",
    "MAX_BEST_OF",
    "MAX_REFINEMENTS",
    "SERVICE_LEGACY",
    "BridgeSettings",
]

DEFAULT_MAX_SECONDS = 300.0
MAX_SECONDS_ENV = ("CERTAINLY_BRIDGE_TIMEOUT_SECONDS", "LEAN4_BRIDGE_TIMEOUT_SECONDS")
BACKEND_ENV = "CERTAINLY_BACKEND"
SERVICE_LEGACY: dict[str, tuple[str, ...]] = {"token": ("CERTAINLY_TOKEN",)}
_SOURCES: dict[str, Source] = {
    "max_seconds": (float, *MAX_SECONDS_ENV),
    "backend": (str, BACKEND_ENV),
    "model": (str, MODEL_ENV),
}
# Bounds on what one request may ask for: each candidate and round is a paid model call.
MAX_BEST_OF = 8
MAX_REFINEMENTS = 10


@dataclass(frozen=True)
class BridgeSettings:
    """Everything a bridge needs; :meth:`from_env` fills the gaps from the environment.

    ``max_seconds`` bounds a whole request (a caller may ask for less), ``item_timeout_s`` each
    prover run; ``max_workers`` prover processes run at once across all requests (default: the
    CPU count). ``backend`` is used for items that name none (default: the first installed of
    coq, lean4). ``model``/``llm_api_base``/``llm_api_key`` reach the model that writes proofs
    (default model: ``SCILLM_CERTAINLY_MODEL``, then scillm's default).
    """

    max_seconds: float = DEFAULT_MAX_SECONDS
    item_timeout_s: float = DEFAULT_TIMEOUT_S
    max_workers: int | None = None
    backend: str | None = None
    axiom_allowlist: tuple[str, ...] = ()
    coqc_path: str | None = None
    lean_path: str | None = None
    model: str | None = None
    llm_api_base: str | None = None
    llm_api_key: str | None = None
    max_refinements: int = 2
    best_of: int = 1

    def __post_init__(self) -> None:
        if not self.max_seconds > 0 or not self.item_timeout_s > 0:
            raise ValueError(
                "max_seconds (--timeout) and item_timeout_s (--item-timeout) must be positive "
                f"numbers of seconds, not {self.max_seconds:g} and {self.item_timeout_s:g}"
            )
        if self.max_workers is not None and self.max_workers < 1:
            raise ValueError(
                f"max_workers (--concurrency) must be at least 1, not {self.max_workers}"
            )
        if self.backend is not None and self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; use one of {', '.join(BACKENDS)}")
        if not 0 <= self.max_refinements <= MAX_REFINEMENTS:
            raise ValueError(f"max_refinements must be between 0 and {MAX_REFINEMENTS}")
        if not 1 <= self.best_of <= MAX_BEST_OF:
            raise ValueError(f"best_of must be between 1 and {MAX_BEST_OF}")

    @classmethod
    def from_env(cls, **overrides: Any) -> BridgeSettings:
        """Settings from ``overrides`` (None means "not given"), then the environment."""
        unknown = set(overrides) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown bridge setting(s): {', '.join(sorted(unknown))}")
        return cls(**resolve(overrides, _SOURCES))
