"""``scillm serve mock`` (and its old name ``scillm mock-server``): the mock server as a service."""

from __future__ import annotations

import typer

from scillm.service.catalog import SERVICES
from scillm.service.options import FdOpt, HostOpt, PortOpt, usage_error

__all__ = ["register", "serve_mock"]


def register(app: typer.Typer, serve_app: typer.Typer) -> None:
    """Add ``serve mock`` and its old name ``mock-server``."""
    serve_app.command("mock")(serve_mock)
    app.command("mock-server", help="Same as `scillm serve mock`.")(serve_mock)


def serve_mock(
    host: HostOpt = None,
    port: PortOpt = None,
    fd: FdOpt = None,
    latency_s: float = typer.Option(0.0, help="Delay before every reply, in seconds."),
    latency_jitter_s: float = typer.Option(0.0, help="Uniform +/- jitter on that delay."),
    reply: str = typer.Option("", help="Static reply text (default: echo the last user message)."),
    rpm: int = typer.Option(0, help="Emulate a requests-per-minute limit (429s past it)."),
    tpm: int = typer.Option(0, help="Emulate a tokens-per-minute limit (429s past it)."),
) -> None:
    """Serve the mock OpenAI-compatible LLM server (default 127.0.0.1:8000) until Ctrl-C."""
    from scillm.service.run import PortBusy
    from scillm.testing import ECHO, RateLimit, serve

    limit = RateLimit(rpm=rpm or None, tpm=tpm or None) if rpm or tpm else None
    try:
        serve(
            port=SERVICES["mock"].port if port is None else port,
            host=host or "127.0.0.1",
            reply=reply or ECHO,
            latency_s=latency_s,
            latency_jitter_s=latency_jitter_s,
            rate_limit=limit,
            fd=fd,
        )
    except PortBusy as exc:
        usage_error(str(exc))
