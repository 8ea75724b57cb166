"""CodeWorld's settings, resolved when asked (never at import):
argument → ``SCILLM_CODEWORLD_<NAME>`` → ``CODEWORLD_<NAME>`` → default.

=========================  =========================================================
``..._MODEL``              generator model of the search (default: scillm's default model)
``..._CONCURRENCY``        sandboxed processes at once (default: 2 per CPU)
``..._ALLOW_RLIMITS_ONLY`` a flag: ``1`` runs code with rlimits alone where bwrap is missing
``..._MAX_SECONDS``        the bridge's cap on one request's ``max_seconds`` (default 300)
``..._TOKEN``              the bridge's bearer token: required by ``scillm serve codeworld``
                           and sent by the provider (then ``SCILLM_SERVICE_TOKEN``; none: no auth)
``..._BASE``               the bridge's URL, for the provider (none: in-process engine)
``..._MCTS_AUTO_N``        variants ``codeworld/mcts:auto`` generates first (default 6)
=========================  =========================================================

Flags take ``1``/``0``, ``true``/``false``, ``yes``/``no``, ``on``/``off``; a malformed value is a
ValueError naming the variable.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

from scillm._config import Source, env, resolve
from scillm.providers.registry import default_model

if TYPE_CHECKING:
    from scillm.router.seam import EngineModel

__all__ = [
    "DEFAULT_MAX_SECONDS",
    "SERVICE_LEGACY",
    "BridgeSettings",
    "EngineSettings",
    "LLMSpec",
    "env_names",
    "generator_defaults",
    "setting",
]

DEFAULT_TEMPERATURE = 0.7
DEFAULT_MAX_SECONDS = 300.0
SERVICE_LEGACY: dict[str, tuple[str, ...]] = {"token": ("CODEWORLD_TOKEN",)}
"""The bridge's door (:class:`scillm.service.ServiceConfig`) also reads these older names."""


def setting(name: str) -> str | None:
    """``SCILLM_CODEWORLD_<name>``, else ``CODEWORLD_<name>``, else None."""
    return env(*env_names(name))


def env_names(name: str) -> tuple[str, str]:
    """The variables of setting ``name``, in the order they are tried."""
    return (f"SCILLM_CODEWORLD_{name}", f"CODEWORLD_{name}")


@dataclass(frozen=True)
class LLMSpec:
    """Which model the search (or the judge) calls, and how: ``model`` names it (what results
    record); ``engine``, when set, is the Router model it was given as (a Router or one of
    its groups), and then ``api_base``/``api_key`` are None (its deployments carry their own)."""

    model: str
    api_base: str | None = None
    api_key: str | None = None
    temperature: float = DEFAULT_TEMPERATURE
    engine: EngineModel | None = None


def generator_defaults() -> LLMSpec:
    return LLMSpec(model=setting("MODEL") or default_model())


@dataclass(frozen=True)
class EngineSettings:
    """How the engine runs code: parallelism, and whether rlimits-only isolation is accepted."""

    concurrency: int = 0  # 0: two per CPU (a run waits on bwrap's set-up as much as it computes)
    allow_rlimits_only: bool = False
    _SOURCES: ClassVar[dict[str, Source]] = {
        "concurrency": (int, *env_names("CONCURRENCY")),
        "allow_rlimits_only": (bool, *env_names("ALLOW_RLIMITS_ONLY")),
    }

    def __post_init__(self) -> None:
        if self.concurrency < 0:
            raise ValueError(
                f"concurrency (SCILLM_CODEWORLD_CONCURRENCY) must be 0 (two per CPU) or more, "
                f"not {self.concurrency}"
            )

    @classmethod
    def from_env(cls, **given: Any) -> Self:
        """Settings from ``given`` (None means "not given"), then the environment, then defaults."""
        return cls(**resolve(given, cls._SOURCES))

    @property
    def processes(self) -> int:
        return self.concurrency or 2 * (os.cpu_count() or 1)


@dataclass(frozen=True)
class BridgeSettings(EngineSettings):
    """The bridge: engine settings plus ``max_seconds``, the most one request may take (a
    request asking for more gets this). Its door (token, host...) is a ``ServiceConfig``."""

    max_seconds: float = DEFAULT_MAX_SECONDS
    _SOURCES: ClassVar[dict[str, Source]] = {
        **EngineSettings._SOURCES,
        "max_seconds": (float, *env_names("MAX_SECONDS")),
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (self.max_seconds > 0 and math.isfinite(self.max_seconds)):
            raise ValueError(
                f"max_seconds (SCILLM_CODEWORLD_MAX_SECONDS) must be a positive number of "
                f"seconds, not {self.max_seconds}"
            )
