"""codex-agent: an OpenAI-compatible agent server (scillm's agent server or the Codex sidecar).

Differences from plain OpenAI-compatible: the base is given without ``/v1``; model names may
carry a ``codex/`` prefix, which is dropped; ``reasoning_effort`` is mirrored as
``reasoning={"effort": ...}`` because agent servers read either form.

The provider does not retry: retries are the Router's. The original's retry variables
``CODEX_AGENT_MAX_RETRIES``, ``CODEX_AGENT_RETRY_BASE_MS`` and ``CODEX_AGENT_MAX_BACKOFF_MS``
are read by :meth:`CodexAgent.retry_overrides` as the Router's retry keywords.
"""

from __future__ import annotations

from typing import Any

from scillm._config import env, env_float, env_int
from scillm.providers.base import Call
from scillm.providers.catalog import CODEX_AGENT
from scillm.providers.openai_compat import OpenAICompatible

__all__ = ["RETRY_ENV", "CodexAgent"]

RETRY_ENV: dict[str, str] = {
    "CODEX_AGENT_MAX_RETRIES": "num_retries",
    "CODEX_AGENT_RETRY_BASE_MS": "retry_base_s",
    "CODEX_AGENT_MAX_BACKOFF_MS": "retry_max_s",
}
"""The original's codex-agent retry variable → the Router retry keyword it sets."""


class CodexAgent(OpenAICompatible):
    """The ``codex-agent/<id>`` provider."""

    def __init__(self) -> None:
        super().__init__(CODEX_AGENT)

    def body(self, call: Call) -> dict[str, Any]:
        """OpenAI body with the model prefix dropped and reasoning effort mirrored."""
        body = super().body(call)
        body["model"] = call.model.removeprefix("codex/")
        effort = body.get("reasoning_effort")
        if effort is not None and "reasoning" not in body:
            body["reasoning"] = {"effort": effort}
        return body

    @staticmethod
    def retry_overrides() -> dict[str, Any]:
        """Router retry keywords from the set ``CODEX_AGENT_*`` retry variables (milliseconds
        become seconds); ``{}`` when none is set. A malformed value is a ValueError."""
        out: dict[str, Any] = {}
        for name, kwarg in RETRY_ENV.items():
            raw = env(name)
            if raw is None:
                continue
            if kwarg == "num_retries":
                out[kwarg] = env_int(0, name)
                if out[kwarg] < 0:
                    raise ValueError(f"{name}={raw} must be >= 0 (retries after the first try)")
            else:
                out[kwarg] = env_float(0.0, name) / 1000
                if out[kwarg] <= 0:
                    raise ValueError(f"{name}={raw} must be > 0 milliseconds, e.g. 120")
        return out
