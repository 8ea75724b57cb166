"""``scillm serve agent`` and ``scillm serve codex-sidecar``: the agent servers on loopback.

Options override the environment (see :mod:`scillm.agent.settings` and
:mod:`scillm.agent.codex.settings`); FastAPI and uvicorn load only when a server starts.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from scillm._extras import SERVE_MODULES, command_requires
from scillm.errors import ScillmError

__all__ = ["register"]


def register(app: typer.Typer, serve_app: typer.Typer) -> None:
    """Add the ``agent`` and ``codex-sidecar`` commands to ``scillm serve``."""
    serve_app.command("agent")(serve_agent)
    serve_app.command("codex-sidecar")(serve_codex_sidecar)


def serve_agent(
    host: str | None = typer.Option(None, help="Interface (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default 8788)."),
    target_model: str | None = typer.Option(
        None, help="Model the agent drives (default: scillm's)."
    ),
    target_api_base: str | None = typer.Option(None, help="Base URL for the target model."),
    tool_backend: str | None = typer.Option(None, help="Default tools: sandbox, http or none."),
    http_tool_base: Annotated[
        list[str] | None, typer.Option(help="Allowed HTTP tool server base URL (repeatable).")
    ] = None,
    max_iterations: int | None = typer.Option(None, help="Default step limit (6)."),
    max_seconds: float | None = typer.Option(None, help="Default time budget per run (180)."),
    trace_path: str | None = typer.Option(None, help="Append redacted JSONL traces here."),
) -> None:
    """Serve the mini-agent loop as an OpenAI-compatible API (bearer: SCILLM_AGENT_TOKEN)."""
    command_requires(*SERVE_MODULES, extra="serve", feature="scillm serve agent")
    from scillm.agent.server import create_app
    from scillm.agent.settings import AgentServerSettings

    defaults: dict[str, Any] = {
        "tool_backend": tool_backend,
        "max_iterations": max_iterations,
        "max_seconds": max_seconds,
    }
    settings = _settings(
        AgentServerSettings.from_env,
        host=host,
        port=port,
        target_model=target_model,
        target_api_base=target_api_base,
        http_tool_bases=tuple(http_tool_base) if http_tool_base else None,
        trace_path=trace_path,
        defaults={k: v for k, v in defaults.items() if v is not None},
    )
    _run(create_app(settings), settings.host, settings.port, "agent server")


def serve_codex_sidecar(
    host: str | None = typer.Option(None, help="Interface (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default 8077)."),
    codex_cmd: str | None = typer.Option(None, help="The Codex CLI (default: codex on PATH)."),
    model: str | None = typer.Option(None, help="Model when the request names none."),
    base_url: str | None = typer.Option(None, help="Responses API base (…/v1) Codex should use."),
    sandbox: str | None = typer.Option(None, help="read-only (default), workspace-write, ..."),
    workdir: str | None = typer.Option(None, help="Working directory of Codex runs."),
    max_concurrency: int | None = typer.Option(None, help="Concurrent Codex runs (4)."),
    timeout_s: float | None = typer.Option(None, help="Seconds per run before it is killed (90)."),
    echo: bool | None = typer.Option(None, help="Echo prompts instead of running Codex."),
) -> None:
    """Serve the Codex CLI as an OpenAI-compatible API (bearer: CODEX_SIDECAR_TOKEN)."""
    command_requires(*SERVE_MODULES, extra="serve", feature="scillm serve codex-sidecar")
    import shlex

    from scillm.agent.codex.settings import CodexSidecarSettings
    from scillm.agent.codex.sidecar import create_app

    settings = _settings(
        CodexSidecarSettings.from_env,
        host=host,
        port=port,
        codex_cmd=tuple(shlex.split(codex_cmd)) if codex_cmd else None,
        model=model,
        base_url=base_url,
        sandbox=sandbox,
        workdir=workdir,
        max_concurrency=max_concurrency,
        timeout_s=timeout_s,
        echo=echo,
    )
    _run(create_app(settings), settings.host, settings.port, "codex sidecar")


def _settings(from_env: Any, **given: Any) -> Any:
    """Settings, with a bad value reported as a usage error instead of a traceback."""
    try:
        return from_env(**given)
    except (ValueError, TypeError, ScillmError) as exc:
        raise typer.BadParameter(str(exc)) from exc


def _run(app: Any, host: str, port: int, what: str) -> None:
    import uvicorn

    typer.echo(f"scillm {what} on http://{host}:{port} (Ctrl-C to stop)", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")
