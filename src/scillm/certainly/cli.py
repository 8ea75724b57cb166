"""``scillm serve certainly``: run the Certainly proof bridge (default 127.0.0.1:8787)."""

from __future__ import annotations

import typer

from scillm._extras import SERVE_MODULES, command_requires

__all__ = ["register"]

DEFAULT_PORT = 8787


def register(app: typer.Typer, serve_app: typer.Typer) -> None:
    """Add this feature's commands to the ``scillm`` CLI."""
    serve_app.command("certainly")(serve)


def serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(DEFAULT_PORT, help="Port to listen on."),
    max_workers: int | None = typer.Option(
        None, help="Prover processes at once, across requests (default: CPU count)."
    ),
    item_timeout: float | None = typer.Option(
        None, help="Seconds one prover run may take (default 60)."
    ),
    max_seconds: float | None = typer.Option(
        None,
        help="Seconds one request may take (default CERTAINLY_BRIDGE_TIMEOUT_SECONDS or 300).",
    ),
    backend: str | None = typer.Option(
        None, help="Backend for items that name none (default CERTAINLY_BACKEND, else installed)."
    ),
    model: str | None = typer.Option(
        None, help="Model that writes proofs (default SCILLM_CERTAINLY_MODEL, else scillm's)."
    ),
    llm_api_base: str | None = typer.Option(
        None, help="Base URL of that model's server (its key comes from its usual env variable)."
    ),
    allow_axiom: list[str] = typer.Option(  # noqa: B008 - typer reads options from defaults
        [], help="An axiom proofs may use, as verdicts name it (repeatable)."
    ),
) -> None:
    """Serve the Certainly proof bridge: POST /bridge/complete, GET /healthz."""
    command_requires(*SERVE_MODULES, extra="serve", feature="scillm serve certainly")
    import uvicorn

    from scillm.certainly.server import create_app
    from scillm.certainly.settings import BridgeSettings

    try:
        settings = BridgeSettings.from_env(
            max_workers=max_workers,
            item_timeout_s=item_timeout,
            max_seconds=max_seconds,
            backend=backend,
            model=model,
            llm_api_base=llm_api_base,
            axiom_allowlist=tuple(allow_axiom) or None,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
