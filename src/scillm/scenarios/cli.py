"""``scillm scenarios list | run NAME... | run-all``: the live scenarios against the stack."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["register"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
NoStartOpt = Annotated[
    bool,
    typer.Option("--no-start", help="Never start a service: one that does not answer fails."),
]


def register(app: typer.Typer, serve_app: typer.Typer) -> None:
    """Add ``scillm scenarios``."""
    scenarios = typer.Typer(
        help="Live scenarios against the local stack: exit 0 pass, 77 skipped, 1 failed.",
        no_args_is_help=True,
    )
    scenarios.command("list")(list_scenarios)
    scenarios.command("run", no_args_is_help=True)(run)
    scenarios.command("run-all")(run_all)
    app.add_typer(scenarios, name="scenarios")


def list_scenarios(as_json: JsonOpt = False) -> None:
    """List the scenarios, in the order run-all runs them, with the services they use."""
    import json

    from scillm.scenarios.registry import all_scenarios

    found = all_scenarios()
    if as_json:
        rows = [{"name": s.name, "summary": s.summary, "services": list(s.services)} for s in found]
        typer.echo(json.dumps(rows))
        return
    for s in found:
        typer.echo(f"{s.name:24} {s.summary}  [{', '.join(s.services)}]")


def run(
    names: Annotated[list[str], typer.Argument(help="Scenario names (see 'scenarios list').")],
    as_json: JsonOpt = False,
    no_start: NoStartOpt = False,
) -> None:
    """Run the named scenarios; exit 0 all passed, 1 any failed, 77 all skipped."""
    from scillm.scenarios.run_all import run_command

    code = run_command(names, as_json=as_json, stop_on_first_failure=False, start=not no_start)
    raise typer.Exit(code)


def run_all(
    as_json: JsonOpt = False,
    stop_on_first_failure: Annotated[
        bool,
        typer.Option(help="Stop after the first failure (env SCENARIOS_STOP_ON_FIRST_FAILURE)."),
    ] = False,
    no_start: NoStartOpt = False,
) -> None:
    """Run every scenario; print passed/skipped/failed; exit 1 on any failure, 77 if all skipped."""
    from scillm.scenarios.run_all import run_command

    code = run_command(
        [], as_json=as_json, stop_on_first_failure=stop_on_first_failure, start=not no_start
    )
    raise typer.Exit(code)
