"""The ``scillm`` command line (typer + rich)."""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.markup import escape

from scillm.errors import ScillmError

__all__ = ["app", "main"]

app = typer.Typer(help="scillm: fast, reproducible, verified LLM calls.", no_args_is_help=True)
serve_app = typer.Typer(help="Run a scillm HTTP service on 127.0.0.1.", no_args_is_help=True)
app.add_typer(serve_app, name="serve")
console = Console()

# Feature modules add their commands here: each has ``register(app, serve_app)``.
FEATURE_COMMANDS: tuple[str, ...] = (
    "scillm.codeworld.cli",
    "scillm.certainly.cli",
    "scillm.agent.cli",
    "scillm.batch.cli",
    "scillm.service.cli",
    "scillm.ops.cli",
    "scillm.scenarios.cli",
    "scillm.proxy.cli",
)


@app.command()
def demo(
    model: str = typer.Option("local/smollm2", help="Model to run the demo on."),
) -> None:
    """Run the main job on the embedded model: completion, stream, JSON schema, fan-out of 8."""
    from scillm.demo import run_demo

    console.print(f"[dim]scillm demo on {model} (offline, no key)[/]")
    t0 = time.perf_counter()
    try:
        timings = run_demo(
            model, say=console.print, on_token=lambda s: console.print(s, end="", markup=False)
        )
    except ScillmError as exc:
        console.print(f"[red]demo failed:[/] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    console.print(
        f"[green]done[/] in {time.perf_counter() - t0:.2f} s: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
    )


@app.command("mock-server")
def mock_server(
    port: int = typer.Option(8000, help="Port on 127.0.0.1 (0 picks a free one)."),
    latency_s: float = typer.Option(0.0, help="Delay before every reply, in seconds."),
    latency_jitter_s: float = typer.Option(0.0, help="Uniform +/- jitter on that delay."),
    reply: str = typer.Option("", help="Static reply text (default: echo the last user message)."),
    rpm: int = typer.Option(0, help="Emulate a requests-per-minute limit (429s past it)."),
    tpm: int = typer.Option(0, help="Emulate a tokens-per-minute limit (429s past it)."),
) -> None:
    """Serve the mock OpenAI-compatible LLM server on 127.0.0.1 until Ctrl-C."""
    from scillm.testing import ECHO, RateLimit, serve

    limit = RateLimit(rpm=rpm or None, tpm=tpm or None) if rpm or tpm else None
    serve(
        port=port,
        reply=reply or ECHO,
        latency_s=latency_s,
        latency_jitter_s=latency_jitter_s,
        rate_limit=limit,
    )


def _register_features() -> None:
    import importlib

    for module in FEATURE_COMMANDS:
        importlib.import_module(module).register(app, serve_app)


_register_features()


def main() -> None:
    """Console-script entry point."""
    app()
