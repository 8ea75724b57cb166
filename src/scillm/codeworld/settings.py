"""CodeWorld's settings, resolved when asked (never at import):
argument → ``SCILLM_CODEWORLD_<NAME>`` → ``CODEWORLD_<NAME>`` → default.

=========================  =========================================================
``..._MODEL``              generator model of the search (default: scillm's default model)
``..._CONCURRENCY``        sandboxed processes at once (default: 2 per CPU)
``..._ALLOW_RLIMITS_ONLY`` ``1`` runs code with rlimits alone where bwrap is missing
``..._TOKEN``              bearer token the bridge requires (none: no auth)
``..._BASE``               the bridge's URL, for the provider (none: in-process engine)
``..._MCTS_AUTO_N``        variants ``codeworld/mcts:auto`` generates first (default 6)
=========================  =========================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from scillm._config import env
from scillm.providers.registry import default_model

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "BridgeSettings",
    "EngineSettings",
    "LLMSpec",
    "generator_defaults",
    "setting",
]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8887
DEFAULT_TEMPERATURE = 0.7


def setting(name: str) -> str | None:
    """``SCILLM_CODEWORLD_<name>``, else ``CODEWORLD_<name>``, else None."""
    return env(f"SCILLM_CODEWORLD_{name}", f"CODEWORLD_{name}")


@dataclass(frozen=True)
class LLMSpec:
    """Which model the search (or the judge) calls, and how."""

    model: str
    api_base: str | None = None
    api_key: str | None = None
    temperature: float = DEFAULT_TEMPERATURE


def generator_defaults() -> LLMSpec:
    return LLMSpec(model=setting("MODEL") or default_model())


@dataclass(frozen=True)
class EngineSettings:
    """How the engine runs code: parallelism, and whether rlimits-only isolation is accepted."""

    concurrency: int = 0  # 0: two per CPU (a run waits on bwrap's set-up as much as it computes)
    allow_rlimits_only: bool = False

    @classmethod
    def from_env(cls) -> EngineSettings:
        return cls(concurrency=_int("CONCURRENCY"), allow_rlimits_only=_flag("ALLOW_RLIMITS_ONLY"))

    @property
    def processes(self) -> int:
        return self.concurrency or 2 * (os.cpu_count() or 1)


@dataclass(frozen=True)
class BridgeSettings(EngineSettings):
    """The bridge: engine settings plus an optional bearer token."""

    token: str | None = None

    @classmethod
    def from_env(cls) -> BridgeSettings:
        base = EngineSettings.from_env()
        return cls(base.concurrency, base.allow_rlimits_only, token=setting("TOKEN"))


def _flag(name: str) -> bool:
    return (setting(name) or "").lower() in ("1", "true", "yes")


def _int(name: str) -> int:
    raw = setting(name)
    if raw is None:
        return 0
    if not raw.isdigit():
        raise ValueError(f"SCILLM_CODEWORLD_{name}={raw!r} is not a whole number")
    return int(raw)
