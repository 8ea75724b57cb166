"""``scillm serve all`` (and ``serve NAME NAME…``): the stack under one supervisor.

``serve all`` runs the stack under one :class:`~scillm.service.supervisor.Supervisor`: it binds
every port first, starts each service, waits for its health check, prints one table on stderr
(with ``--json`` also one ready line on stdout) and keeps them running until Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from typer import _click as click  # the click that typer vendors
from typer.core import TyperGroup

from scillm.service.catalog import SERVICES
from scillm.service.options import HostOpt, usage_error

if TYPE_CHECKING:
    from scillm.service.supervisor import ServiceStatus

__all__ = ["ServeGroup", "format_table", "register"]


class ServeGroup(TyperGroup):
    """The ``serve`` group: ``serve A B…`` (several service names) means ``serve all A B…``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if len(args) >= 2 and args[0] in SERVICES and not args[1].startswith("-"):
            args = ["all", *args]
        return super().parse_args(ctx, args)


def register(app: typer.Typer, serve_app: typer.Typer) -> None:
    """Add ``serve all``."""
    serve_app.command("all")(serve_all)


def serve_all(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help=f"Services to start, of: {', '.join(SERVICES)} (default: the stack file's, "
            "else all but proxy).",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Stack file (YAML): services, ports, options, env."),
    ] = None,
    proxy_config: Annotated[
        Path | None,
        typer.Option("--proxy-config", help="Also run the proxy on this litellm-style config."),
    ] = None,
    host: HostOpt = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="One bearer token for every service (default SCILLM_SERVICE_TOKEN; "
            "generated and printed when binding beyond loopback).",
        ),
    ] = None,
    port: Annotated[
        list[str] | None,
        typer.Option("--port", metavar="NAME=PORT", help="A service's port (repeatable)."),
    ] = None,
    free_ports: Annotated[
        bool, typer.Option("--free-ports", help="Every service on a free port.")
    ] = False,
    json_out: Annotated[
        bool,
        typer.Option("--json", help='Print one {"event": "ready", "services": [...]} line.'),
    ] = False,
    health_timeout: Annotated[
        float,
        typer.Option("--health-timeout", min=0, help="Seconds to wait for health checks."),
    ] = 60.0,
) -> None:
    """Run the stack: every service as a child process, restarted if it crashes."""
    import secrets

    from scillm._config import env
    from scillm.service.config import is_loopback
    from scillm.service.run import PortBusy
    from scillm.service.stack import StackError, StackFile, parse_ports, plan
    from scillm.service.supervisor import Supervisor

    group = ctx.parent.command if ctx.parent is not None else None
    available = set(group.commands) if isinstance(group, TyperGroup) else set(SERVICES)
    try:
        stack = StackFile.load(config) if config is not None else StackFile()
        services = plan(
            stack,
            names or (),
            host=host,
            ports=parse_ports(port or ()),
            free_ports=free_ports,
            available=available,
            proxy_config=proxy_config,
        )
    except StackError as exc:
        usage_error(str(exc))
    token = token if token is not None else stack.token
    if token is None:
        token = env("SCILLM_SERVICE_TOKEN")
    if token is None and not all(is_loopback(s.host) for s in services):
        token = secrets.token_urlsafe(24)
        typer.echo(f"token (every service): {token}", err=True)
    supervisor = Supervisor(services, token=token, health_timeout=health_timeout)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            rows = supervisor.start()
        except PortBusy as exc:
            usage_error(str(exc))
        typer.echo(format_table(rows), err=True)
        if json_out:
            line = {"event": "ready", "services": [row.as_json() for row in rows]}
            typer.echo(json.dumps(line))
        if not any(row.status in ("up", "starting", "restarting") for row in rows):
            typer.echo("error: no service is running (see the table above)", err=True)
            raise typer.Exit(1)
        typer.echo("the stack is running (Ctrl-C to stop)", err=True)
        supervisor.wait()
    except KeyboardInterrupt:
        typer.echo("stopping the stack...", err=True)
    finally:
        supervisor.stop()
        signal.signal(signal.SIGTERM, previous)


def format_table(rows: list[ServiceStatus]) -> str:
    """The stack as a text table: service, URL, status, what is missing."""
    header = ("service", "url", "status", "missing")
    lines = [header] + [(r.name, r.url, r.status, "; ".join(r.missing)) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        + "  "
        + line[3]
        for line in lines
    ).rstrip()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt
