"""``scillm serve agent`` and ``scillm serve codex-sidecar``: the agent servers.

Options override the environment (see :mod:`scillm.agent.settings` and
:mod:`scillm.agent.codex.settings`); the door options (``--host``, ``--port``, ``--token``...)
are every service's (:mod:`scillm.service.options`). The port is bound before the URL is
printed; a busy port or a bad value is one line on stderr and exit status 2. FastAPI and
uvicorn load only when a server starts.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from scillm._extras import SERVE_MODULES, require
from scillm.errors import ScillmError
from scillm.service.options import (
    AllowedHostOpt,
    CorsOpt,
    FdOpt,
    HostOpt,
    MaxBodyOpt,
    PortOpt,
    TokenOpt,
    door,
    serve,
    usage_error,
)

__all__ = ["register"]


def register(app: typer.Typer, serve_app: typer.Typer) -> None:
    """Add the ``agent`` and ``codex-sidecar`` commands to ``scillm serve``."""
    serve_app.command("agent")(serve_agent)
    serve_app.command("codex-sidecar")(serve_codex_sidecar)


def serve_agent(
    host: HostOpt = None,
    port: PortOpt = None,
    token: TokenOpt = None,
    max_body_bytes: MaxBodyOpt = None,
    allowed_host: AllowedHostOpt = None,
    cors_origin: CorsOpt = None,
    fd: FdOpt = None,
    target_model: str | None = typer.Option(
        None, help="Model the agent drives (default: scillm's)."
    ),
    api_base: str | None = typer.Option(
        None, "--api-base", "--target-api-base", help="Base URL of the target model's API."
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", help="Key for the target model (better: SCILLM_AGENT_TARGET_API_KEY)."
    ),
    tool_backend: str | None = typer.Option(None, help="Default tools: sandbox, http or none."),
    http_tool_base: Annotated[
        list[str] | None, typer.Option(help="Allowed HTTP tool server base URL (repeatable).")
    ] = None,
    max_iterations: int | None = typer.Option(None, help="Default step limit (6)."),
    max_seconds: float | None = typer.Option(None, help="Default time budget per run (180)."),
    trace_path: str | None = typer.Option(None, help="Append redacted JSONL traces here."),
) -> None:
    """Serve the mini-agent loop as an OpenAI-compatible API on 127.0.0.1:8788."""
    require(*SERVE_MODULES, extra="serve", feature="scillm serve agent")
    from scillm.agent.settings import LEGACY_ENV, SERVICE, AgentServerSettings

    config = door(
        SERVICE, host, port, token, max_body_bytes, allowed_host, cors_origin, legacy=LEGACY_ENV
    )
    defaults: dict[str, Any] = {
        "tool_backend": tool_backend,
        "max_iterations": max_iterations,
        "max_seconds": max_seconds,
    }
    settings = _settings(
        AgentServerSettings.from_env,
        target_model=target_model,
        target_api_base=api_base,
        target_api_key=api_key,
        http_tool_bases=tuple(http_tool_base) if http_tool_base else None,
        trace_path=trace_path,
        defaults={k: v for k, v in defaults.items() if v is not None},
    )

    def make_app() -> Any:
        from scillm.agent.server import create_app

        return create_app(settings, config)

    serve(make_app, config, SERVICE, fd)


def serve_codex_sidecar(
    host: HostOpt = None,
    port: PortOpt = None,
    token: TokenOpt = None,
    max_body_bytes: MaxBodyOpt = None,
    allowed_host: AllowedHostOpt = None,
    cors_origin: CorsOpt = None,
    fd: FdOpt = None,
    codex_cmd: str | None = typer.Option(None, help="The Codex CLI (default: codex on PATH)."),
    model: str | None = typer.Option(None, help="Model when the request names none."),
    api_base: str | None = typer.Option(
        None, "--api-base", "--base-url", help="Responses API base (…/v1) Codex should use."
    ),
    sandbox: str | None = typer.Option(None, help="read-only (default), workspace-write, ..."),
    workdir: str | None = typer.Option(None, help="Working directory of Codex runs."),
    concurrency: int | None = typer.Option(
        None, "--concurrency", "--max-concurrency", help="Concurrent Codex runs (4)."
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", "--timeout-s", help="Seconds per run before it is killed (90)."
    ),
    echo: bool | None = typer.Option(None, help="Echo prompts instead of running Codex."),
) -> None:
    """Serve the Codex CLI as an OpenAI-compatible API on 127.0.0.1:8077."""
    require(*SERVE_MODULES, extra="serve", feature="scillm serve codex-sidecar")
    from scillm.agent.codex.settings import LEGACY_ENV, SERVICE, CodexSidecarSettings

    config = door(
        SERVICE, host, port, token, max_body_bytes, allowed_host, cors_origin, legacy=LEGACY_ENV
    )
    settings = _settings(
        CodexSidecarSettings.from_env,
        codex_cmd=_words(codex_cmd),
        model=model,
        base_url=api_base,
        sandbox=sandbox,
        workdir=workdir,
        max_concurrency=concurrency,
        timeout_s=timeout,
        echo=echo,
    )

    def make_app() -> Any:
        from scillm.agent.codex.sidecar import create_app

        return create_app(settings, config)

    serve(make_app, config, SERVICE, fd)


def _words(command: str | None) -> tuple[str, ...] | None:
    """``--codex-cmd`` split like a shell would (exit 2 when it cannot be)."""
    if not command:
        return None
    import shlex

    try:
        return tuple(shlex.split(command))
    except ValueError as exc:
        usage_error(f"--codex-cmd {command!r} cannot be split like a shell command: {exc}")


def _settings(from_env: Any, **given: Any) -> Any:
    """Settings, with a bad value reported in one line (exit 2) instead of a traceback."""
    try:
        return from_env(**given)
    except (ValueError, TypeError, ScillmError) as exc:
        usage_error(str(exc))
