"""The options every ``scillm serve NAME`` command takes, spelled once, and how they apply.

    def serve_agent(host: HostOpt = None, port: PortOpt = None, token: TokenOpt = None,
                    max_body_bytes: MaxBodyOpt = None, allowed_host: AllowedHostOpt = None,
                    cors_origin: CorsOpt = None, fd: FdOpt = None, ...) -> None:
        config = door("agent", host, port, token, max_body_bytes, allowed_host, cors_origin)
        serve(lambda: create_app(settings, config), config, "agent", fd)

A bad value or a busy port is one line on stderr and exit status 2 (see ``docs/cli.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, NoReturn

import typer

from scillm.service.config import ServiceConfig

__all__ = [
    "EXIT_USAGE",
    "AllowedHostOpt",
    "CorsOpt",
    "FdOpt",
    "HostOpt",
    "MaxBodyOpt",
    "PortOpt",
    "TokenOpt",
    "door",
    "serve",
    "usage_error",
]

EXIT_USAGE = 2

HostOpt = Annotated[
    str | None, typer.Option("--host", help="Interface to listen on (default 127.0.0.1).")
]
PortOpt = Annotated[
    int | None, typer.Option("--port", help="Port (default: the service's; 0 picks a free one).")
]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="Bearer token clients must send (default SCILLM_<NAME>_TOKEN or "
        "SCILLM_SERVICE_TOKEN; generated and printed when binding beyond loopback).",
    ),
]
MaxBodyOpt = Annotated[
    int | None,
    typer.Option("--max-body-bytes", help="Largest request body (default 16 MiB); more is 413."),
]
AllowedHostOpt = Annotated[
    list[str] | None,
    typer.Option("--allowed-host", help="Another Host name clients may use (repeatable)."),
]
CorsOpt = Annotated[
    list[str] | None,
    typer.Option("--cors-origin", help="A web origin allowed to call the service (repeatable)."),
]
FdOpt = Annotated[
    int | None,
    typer.Option("--fd", hidden=True, help="Serve on this inherited listening socket."),
]


def usage_error(message: str) -> NoReturn:
    """One line on stderr, exit status 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def door(
    service: str,
    host: str | None,
    port: int | None,
    token: str | None,
    max_body_bytes: int | None,
    allowed_host: list[str] | None,
    cors_origin: list[str] | None,
    *,
    legacy: dict[str, tuple[str, ...]] | None = None,
) -> ServiceConfig:
    """The secured :class:`ServiceConfig` of a ``serve`` command's options (exit 2 if bad)."""
    try:
        config = ServiceConfig.from_env(
            service,
            legacy=legacy,
            host=host,
            port=port,
            token=token,
            max_body_bytes=max_body_bytes,
            allowed_hosts=tuple(allowed_host) if allowed_host else None,
            cors_origins=tuple(cors_origin) if cors_origin else None,
        )
        return config.secured()
    except ValueError as exc:
        usage_error(str(exc))


def serve(make_app: Callable[[], Any], config: ServiceConfig, name: str, fd: int | None) -> None:
    """Bind (or take ``fd``), build the app, announce, serve; a busy port exits 2 in one line."""
    from scillm.service.run import PortBusy, bind, run_service

    try:
        sock = None if fd is not None else bind(config.host, config.port)
    except PortBusy as exc:
        usage_error(str(exc))
    run_service(make_app(), config, name, sock, fd=fd)
