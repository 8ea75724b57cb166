"""``scillm serve codeworld``: the CodeWorld bridge on 127.0.0.1:8887.

It binds first and announces after; a bad option value or a busy port is one line on stderr
and exit status 2 (the options shared by every service come from :mod:`scillm.service.options`).
"""

from __future__ import annotations

import typer

from scillm._extras import SERVE_MODULES, require
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
    """Add ``scillm serve codeworld`` (``app`` gets no command of its own)."""
    serve_app.command("codeworld")(serve_codeworld)


def serve_codeworld(
    host: HostOpt = None,
    port: PortOpt = None,
    token: TokenOpt = None,
    max_body_bytes: MaxBodyOpt = None,
    allowed_host: AllowedHostOpt = None,
    cors_origin: CorsOpt = None,
    fd: FdOpt = None,
    concurrency: int | None = typer.Option(
        None,
        "--concurrency",
        "--max-workers",
        help="Sandboxed processes at once, across requests (default: two per CPU).",
    ),
    timeout: float | None = typer.Option(
        None,
        "--timeout",
        "--max-seconds",
        help="Seconds one request may take; a request asking more gets this (default 300).",
    ),
    allow_rlimits_only: bool | None = typer.Option(
        None,
        "--allow-rlimits-only",
        help="Run code with rlimits alone where bubblewrap is unusable (results say so).",
    ),
) -> None:
    """Serve the CodeWorld bridge: POST /bridge/complete, GET /healthz (port 8887).

    Clients send 'Authorization: Bearer <token>' when a token is set (--token,
    SCILLM_CODEWORLD_TOKEN, CODEWORLD_TOKEN or SCILLM_SERVICE_TOKEN).
    """
    require(*SERVE_MODULES, extra="serve", feature="scillm serve codeworld")
    from scillm.codeworld.server import create_app
    from scillm.codeworld.settings import SERVICE_LEGACY, BridgeSettings

    try:
        settings = BridgeSettings.from_env(
            concurrency=concurrency,
            max_seconds=timeout,
            allow_rlimits_only=allow_rlimits_only or None,
        )
    except ValueError as exc:
        usage_error(str(exc))
    config = door(
        "codeworld",
        host,
        port,
        token,
        max_body_bytes,
        allowed_host,
        cors_origin,
        legacy=SERVICE_LEGACY,
    )
    serve(lambda: create_app(settings, config), config, "codeworld", fd)
