"""codex-agent: an OpenAI-compatible agent server (scillm's agent server or the Codex sidecar).

Differences from plain OpenAI-compatible: the base is given without ``/v1``; model names may
carry a ``codex/`` prefix, which is dropped; ``reasoning_effort`` is mirrored as
``reasoning={"effort": ...}`` because agent servers read either form.
"""

from __future__ import annotations

from typing import Any

from scillm.providers.base import Call
from scillm.providers.catalog import CODEX_AGENT
from scillm.providers.openai_compat import OpenAICompatible

__all__ = ["CodexAgent"]


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
