"""Settings of the Codex sidecar: argument → environment → default, resolved once at start.

| setting         | environment (first set wins)                   | default                      |
|-----------------|------------------------------------------------|------------------------------|
| codex_cmd       | CODEX_CMD (split like a shell would)           | ``codex`` on PATH            |
| model           | CODEX_SIDECAR_MODEL                            | the request's, else Codex's  |
| base_url        | CODEX_SIDECAR_BASE_URL (a Responses API, /v1)  | Codex's own provider         |
| key_env         | CODEX_SIDECAR_KEY_ENV (names the key variable) | CODEX_SIDECAR_API_KEY        |
| sandbox         | CODEX_SIDECAR_SANDBOX                          | read-only                    |
| workdir         | CODEX_SIDECAR_WORKDIR                          | a fresh empty dir per run    |
| state_dir       | CODEX_SIDECAR_STATE_DIR (per-run CLI homes)    | $XDG_CACHE_HOME/scillm/codex |
| max_concurrency | CODEX_SIDECAR_MAX_CONCURRENCY, MAX_CONCURRENCY | 4                            |
| timeout_s       | CODEX_SIDECAR_TIMEOUT_S, ABS_TIMEOUT_S         | 90                           |
| extra_args      | CODEX_SIDECAR_EXTRA_ARGS (shell-split)         | none                         |
| echo            | CODEX_SIDECAR_ECHO=1, CODEX_ECHO_MODE=1 (flag) | off                          |

A flag takes 1/0, true/false, yes/no or on/off. A malformed value is a ValueError naming the
variable; a variable is not read when its setting is given.

How the sidecar is exposed (host, port 8077, bearer token, body cap...) is its
:class:`~scillm.service.ServiceConfig`: ``SCILLM_CODEX_SIDECAR_HOST``/``_PORT``/``_TOKEN``, then
``CODEX_SIDECAR_HOST``/``_PORT``/``_TOKEN`` (:data:`LEGACY_ENV`), then ``SCILLM_SERVICE_TOKEN``.

With ``base_url`` the CLI runs against that server only (``model_provider`` overrides, a private
``CODEX_HOME`` per run, the key passed in the variable ``key_env`` names when it is set).
Without it, the CLI uses its own configuration and login (``CODEX_HOME`` or ``~/.codex``).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from typing import Any

from scillm._config import Source, env, resolve

__all__ = [
    "LEGACY_ENV",
    "REASONING_EFFORTS",
    "SANDBOX_MODES",
    "SERVICE",
    "CodexSidecarSettings",
]

SERVICE = "codex-sidecar"
"""The service's name in :data:`scillm.service.catalog.SERVICES` (port 8077)."""
LEGACY_ENV: dict[str, tuple[str, ...]] = {
    "host": ("CODEX_SIDECAR_HOST",),
    "port": ("CODEX_SIDECAR_PORT",),
    "token": ("CODEX_SIDECAR_TOKEN",),
}
"""The sidecar's earlier names for its host, port and token (read after SCILLM_CODEX_SIDECAR_*)."""
SANDBOX_MODES = ("read-only", "workspace-write", "danger-full-access")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


def _words(raw: str, name: str) -> tuple[str, ...]:
    """``raw`` split like a shell would."""
    try:
        return tuple(shlex.split(raw))
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} cannot be split like a shell command: {exc}") from None


_SOURCES: dict[str, Source] = {
    "codex_cmd": (_words, "CODEX_CMD"),
    "model": (str, "CODEX_SIDECAR_MODEL"),
    "base_url": (str, "CODEX_SIDECAR_BASE_URL"),
    "key_env": (str, "CODEX_SIDECAR_KEY_ENV"),
    "sandbox": (str, "CODEX_SIDECAR_SANDBOX"),
    "workdir": (str, "CODEX_SIDECAR_WORKDIR"),
    "state_dir": (str, "CODEX_SIDECAR_STATE_DIR"),
    "max_concurrency": (int, "CODEX_SIDECAR_MAX_CONCURRENCY", "MAX_CONCURRENCY"),
    "timeout_s": (float, "CODEX_SIDECAR_TIMEOUT_S", "ABS_TIMEOUT_S"),
    "extra_args": (_words, "CODEX_SIDECAR_EXTRA_ARGS"),
    "echo": (bool, "CODEX_SIDECAR_ECHO", "CODEX_ECHO_MODE"),
}


@dataclass(frozen=True)
class CodexSidecarSettings:
    """How ``scillm serve codex-sidecar`` runs the Codex CLI (see the module table)."""

    codex_cmd: tuple[str, ...] = ("codex",)
    model: str | None = None
    base_url: str | None = None
    key_env: str = "CODEX_SIDECAR_API_KEY"
    sandbox: str = "read-only"
    workdir: str | None = None
    state_dir: str = field(default_factory=lambda: _cache_dir())
    max_concurrency: int = 4
    timeout_s: float = 90.0
    extra_args: tuple[str, ...] = ()
    echo: bool = False

    def __post_init__(self) -> None:
        if self.sandbox not in SANDBOX_MODES:
            raise ValueError(f"sandbox {self.sandbox!r}: use one of {', '.join(SANDBOX_MODES)}")
        if self.max_concurrency < 1 or self.timeout_s <= 0 or not self.codex_cmd:
            raise ValueError("max_concurrency >= 1, timeout_s > 0 and a codex_cmd are required")

    @classmethod
    def from_env(cls, **given: Any) -> CodexSidecarSettings:
        """Settings from ``given`` (None means unset), then the environment, then defaults."""
        return cls(**resolve(given, _SOURCES))

    @property
    def key_present(self) -> bool:
        """Whether the upstream key variable is set (it is passed to the CLI when it is)."""
        return env(self.key_env) is not None


def _cache_dir() -> str:
    base = env("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "scillm", "codex")
