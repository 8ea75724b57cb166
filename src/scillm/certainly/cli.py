"""``scillm serve certainly``: run the Certainly proof bridge (default 127.0.0.1:8787).

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
    """Add this feature's commands to the ``scillm`` CLI."""
    serve_app.command("certainly")(serve_certainly)


def serve_certainly(
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
        help="Prover processes at once, across requests (default: CPU count).",
    ),
    timeout: float | None = typer.Option(
        None,
        "--timeout",
        "--max-seconds",
        help="Seconds one request may take; a request asking more gets this "
        "(default CERTAINLY_BRIDGE_TIMEOUT_SECONDS or 300).",
    ),
    item_timeout: float | None = typer.Option(
        None, "--item-timeout", help="Seconds one prover run may take (default 60)."
    ),
    backend: str | None = typer.Option(
        None, help="Backend for items that name none (default CERTAINLY_BACKEND, else installed)."
    ),
    model: str | None = typer.Option(
        None, help="Model that writes proofs (default SCILLM_CERTAINLY_MODEL, else scillm's)."
    ),
    api_base: str | None = typer.Option(
        None, "--api-base", "--llm-api-base", help="Base URL of that model's server."
    ),
    api_key: str | None = typer.Option(
        None, "--api-key", help="That model's API key (default: its provider's usual variable)."
    ),
    allow_axiom: list[str] = typer.Option(  # noqa: B008 - typer reads options from defaults
        [], help="An axiom proofs may use, as verdicts name it (repeatable)."
    ),
) -> None:
    """Serve the Certainly proof bridge: POST /bridge/complete, GET /healthz (port 8787).

    Clients send 'Authorization: Bearer <token>' when a token is set (--token,
    SCILLM_CERTAINLY_TOKEN, CERTAINLY_TOKEN or SCILLM_SERVICE_TOKEN).
    """
    require(*SERVE_MODULES, extra="serve", feature="scillm serve certainly")
    from scillm.certainly.server import create_app
    from scillm.certainly.settings import SERVICE_LEGACY, BridgeSettings

    try:
        settings = BridgeSettings.from_env(
            max_workers=concurrency,
            item_timeout_s=item_timeout,
            max_seconds=timeout,
            backend=backend,
            model=model,
            llm_api_base=api_base,
            llm_api_key=api_key,
            axiom_allowlist=tuple(allow_axiom) or None,
        )
    except ValueError as exc:
        usage_error(str(exc))
    config = door(
        "certainly",
        host,
        port,
        token,
        max_body_bytes,
        allowed_host,
        cors_origin,
        legacy=SERVICE_LEGACY,
    )
    serve(lambda: create_app(settings, config), config, "certainly", fd)
