"""``scillm report RUN.jsonl [-o report.html] [--open] [--json]``: a run's summary in the
terminal and its HTML report (one self-contained file).

RUN.jsonl is a ``scillm batch`` output or a proxy usage log (``--usage-log``). The HTML goes to
``-o`` (default: RUN.report.html beside the input); ``--no-html`` prints the summary only.
"""

from __future__ import annotations

import sys
import webbrowser
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

__all__ = ["default_output", "register", "report"]

EXIT_BAD_INPUT = 2


def register(app: typer.Typer, serve_app: typer.Typer) -> None:
    """Add ``scillm report`` to the command line."""
    app.command("report", no_args_is_help=True)(report)


def default_output(run_path: Path) -> Path:
    """``answers.jsonl`` → ``answers.report.html``, beside it."""
    return run_path.with_name(run_path.stem + ".report.html")


def report(
    run_path: Annotated[
        Path,
        typer.Argument(metavar="RUN.jsonl", help="A scillm batch output or a proxy usage log."),
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The HTML file (default: RUN.report.html)."),
    ] = None,
    open_it: Annotated[
        bool, typer.Option("--open", help="Open the HTML report in a web browser.")
    ] = False,
    html: Annotated[bool, typer.Option(help="Write the HTML report.")] = True,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object on stdout.")
    ] = False,
) -> None:
    """Summarise a run: throughput, latency, 429s and retries, tokens, cost, errors."""
    from scillm.report.data import load_run
    from scillm.report.terminal import print_summary

    if not run_path.is_file():
        typer.echo(f"error: cannot read {run_path}: no such file", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    run = load_run(run_path)
    if not run.rows:
        typer.echo(
            f"error: {run_path} holds no rows: give a scillm batch output or a proxy usage log",
            err=True,
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    if json_output:
        sys.stdout.write(orjson.dumps(run.summary()).decode() + "\n")
    else:
        print_summary(run, Console())
    if not html:
        return
    from scillm.report.html import write_html

    written = write_html(run, output or default_output(run_path))
    typer.echo(f"report: {written}", err=True)
    if open_it:
        webbrowser.open(written.resolve().as_uri())
