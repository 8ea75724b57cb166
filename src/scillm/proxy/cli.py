"""``scillm serve proxy --config config.yaml`` and the ``scillm-proxy`` console script.

A bad config is one line on stderr naming the place in the YAML, exit status 2; settings scillm
does not apply are warnings naming them. The master key is ``general_settings.master_key``, else
the service token (``--token``, ``SCILLM_PROXY_TOKEN``, ``SCILLM_SERVICE_TOKEN``; generated and
printed when bound beyond loopback).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

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

__all__ = ["main", "register", "serve_proxy"]

ConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config", "-c", help="litellm proxy config.yaml (model_list, router_settings, keys)."
    ),
]
UsageLogOpt = Annotated[
    Path | None,
    typer.Option(
        "--usage-log",
        help="Append one JSON line per request here (scillm batch's record format; the key "
        "budgets resume from it).",
    ),
]


def register(app: typer.Typer, serve_app: typer.Typer) -> None:
    """Add ``scillm serve proxy``."""
    serve_app.command("proxy")(serve_proxy)


def serve_proxy(
    config: ConfigOpt,
    host: HostOpt = None,
    port: PortOpt = None,
    token: TokenOpt = None,
    max_body_bytes: MaxBodyOpt = None,
    allowed_host: AllowedHostOpt = None,
    cors_origin: CorsOpt = None,
    fd: FdOpt = None,
    usage_log: UsageLogOpt = None,
) -> None:
    """Serve an OpenAI-compatible gateway over litellm's proxy config.yaml (default port 4000)."""
    from scillm._extras import SERVE_MODULES, require

    require(*SERVE_MODULES, extra="serve", feature="scillm serve proxy")
    from scillm.proxy.app import Gateway, create_app
    from scillm.proxy.config import ConfigError, load_config

    try:
        proxy = load_config(config)
    except ConfigError as exc:
        usage_error(f"{config}: {exc}")
    for warning in proxy.warnings:
        typer.echo(f"warning: {config}: {warning}", err=True)
    service = door("proxy", host, port, token, max_body_bytes, allowed_host, cors_origin)
    if proxy.master_key is None:
        proxy.master_key = service.token  # the service token is the master key
    else:
        if service.token and not service.token_generated and service.token != proxy.master_key:
            typer.echo(
                f"warning: {config}: general_settings.master_key is the master key; the "
                "service token (--token or SCILLM_*_TOKEN) is not accepted",
                err=True,
            )
        service = replace(service, token=None, token_generated=False)
    try:
        gateway = Gateway(proxy, str(usage_log) if usage_log is not None else None)
    except OSError as exc:
        usage_error(f"cannot open the usage log {usage_log}: {exc.strerror}")
    except ValueError as exc:
        usage_error(f"{config}: {exc}")
    # The keys are the gateway's to check: the door checks Host, Origin, JSON and size only.
    open_door = replace(service, token=None)
    try:
        serve(lambda: create_app(gateway, open_door), service, "proxy", fd)
    finally:
        gateway.close()


def main() -> None:
    """The ``scillm-proxy`` console script: ``scillm serve proxy`` on its own."""
    app = typer.Typer(add_completion=False)
    app.command()(serve_proxy)
    app()
