"""``scillm serve codeworld``: the CodeWorld bridge on 127.0.0.1:8887 (uvicorn)."""

from __future__ import annotations

import typer

from scillm._extras import SERVE_MODULES, command_requires
from scillm.codeworld.settings import DEFAULT_HOST, DEFAULT_PORT, BridgeSettings

__all__ = ["register"]

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(app: typer.Typer, serve_app: typer.Typer) -> None:
    """Add ``scillm serve codeworld`` (``app`` gets no command of its own)."""

    @serve_app.command("codeworld")
    def serve_codeworld(
        host: str = typer.Option(DEFAULT_HOST, help="Interface to listen on."),
        port: int = typer.Option(DEFAULT_PORT, help="Port (0 picks a free one)."),
        concurrency: int = typer.Option(0, help="Sandboxed processes at once (0: two per CPU)."),
        allow_rlimits_only: bool = typer.Option(
            False,
            "--allow-rlimits-only",
            help="Run code with rlimits alone where bubblewrap is unusable (results say so).",
        ),
    ) -> None:
        """Serve the CodeWorld bridge: POST /bridge/complete, GET /healthz.

        A bearer token is required when CODEWORLD_TOKEN (or SCILLM_CODEWORLD_TOKEN) is set.
        """
        command_requires(*SERVE_MODULES, extra="serve", feature="scillm serve codeworld")
        import uvicorn

        from scillm.codeworld.server import create_app

        env = BridgeSettings.from_env()
        settings = BridgeSettings(
            concurrency=concurrency or env.concurrency,
            allow_rlimits_only=allow_rlimits_only or env.allow_rlimits_only,
            token=env.token,
        )
        if host not in LOOPBACK and not settings.token:
            typer.echo(f"warning: serving on {host} without a token; set CODEWORLD_TOKEN", err=True)
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
