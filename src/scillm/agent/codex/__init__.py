"""The Codex sidecar: the real Codex CLI behind an OpenAI-compatible endpoint.

    from scillm.agent.codex import CodexSidecarSettings, create_app

``create_app`` (in :mod:`scillm.agent.codex.sidecar`) needs FastAPI; the rest does not.
"""

from scillm.agent.codex.events import CodexRun, parse_events
from scillm.agent.codex.runner import CodexFailure, CodexJob, codex_command, run_codex
from scillm.agent.codex.settings import CodexSidecarSettings

__all__ = [
    "CodexFailure",
    "CodexJob",
    "CodexRun",
    "CodexSidecarSettings",
    "codex_command",
    "parse_events",
    "run_codex",
]
