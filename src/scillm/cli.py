"""The ``scillm`` command line (typer + rich).

Every command fails the same way: one line ``error: ...`` on stderr and exit status 1 (it
failed) or 2 (bad usage or input); ``--debug`` (anywhere before ``--``) or ``SCILLM_DEBUG=1``
adds the traceback. The exit codes are in ``docs/cli.md``: 0 ok, 1 failure, 2 usage, 77
skipped, 130 interrupted.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # typer vendors click
from typer.core import TyperGroup

from scillm.errors import ScillmError
from scillm.service.cli import ServeGroup

__all__ = ["EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_SKIPPED", "EXIT_USAGE", "app", "main"]

EXIT_FAILURE, EXIT_USAGE, EXIT_SKIPPED, EXIT_INTERRUPTED = 1, 2, 77, 130


class ScillmGroup(TyperGroup):
    """The root command: runs a command line and turns any failure into one line on stderr."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        extra.pop("windows_expand_args", None)
        argv = list(sys.argv[1:] if args is None else args)
        end = argv.index("--") if "--" in argv else len(argv)
        debug = "--debug" in argv[:end] or os.environ.get("SCILLM_DEBUG", "") not in ("", "0")
        argv = [a for a in argv[:end] if a != "--debug"] + argv[end:]
        prog_name = prog_name or "scillm"
        self._main_shell_completion(extra, prog_name, complete_var)
        code = _run(self, argv, prog_name, debug, extra)
        if standalone_mode:
            sys.exit(code)
        return code


def _run(group: TyperGroup, argv: list[str], prog_name: str, debug: bool, extra: Any) -> int:
    """Parse and invoke; the exit status, with every error reported as one line."""
    try:
        with group.make_context(prog_name, argv, **extra) as ctx:
            group.invoke(ctx)
        return 0
    except typer.Exit as exc:
        return exc.exit_code
    except NoArgsIsHelpError as exc:
        typer.echo(exc.ctx.get_help() if exc.ctx is not None else exc.format_message())
        return EXIT_USAGE
    except UsageError as exc:
        path = exc.ctx.command_path if exc.ctx is not None else _command_path(group, argv)
        _error(f"{exc.format_message()} (see '{path} --help')")
        return exc.exit_code
    except typer.TyperException as exc:
        _error(exc.format_message())
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt, EOFError):
        _error("interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        if debug:
            traceback.print_exc()
        if isinstance(exc, ScillmError | OSError):
            _error(str(exc))
        else:
            tip = "" if debug else " (run with --debug for the traceback)"
            _error(f"{type(exc).__name__}: {exc}{tip}")
        return EXIT_FAILURE


def _command_path(group: TyperGroup, argv: list[str]) -> str:
    """``scillm serve mock``: the (sub)command ``argv`` names, for a usage error without one."""
    words, command = ["scillm"], cast(object, group)
    for arg in argv:
        sub = command.commands.get(arg) if isinstance(command, TyperGroup) else None
        if sub is None:
            break
        words.append(arg)
        command = sub
    return " ".join(words)


def _error(message: str) -> None:
    """``error: message`` on stderr, on one line."""
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    typer.echo(f"error: {line}", err=True)


app = typer.Typer(
    cls=ScillmGroup,
    help="scillm: fast, reproducible, verified LLM calls.",
    epilog="Exit status: 0 ok, 1 failure, 2 bad usage or input, 77 skipped, 130 interrupted.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
serve_app = typer.Typer(
    cls=ServeGroup,
    help="Run scillm HTTP services: one (serve NAME) or several (serve all, serve A B...).",
    no_args_is_help=True,
)
app.add_typer(serve_app, name="serve")
console = Console()


@app.callback()
def root(
    debug: bool = typer.Option(False, "--debug", help="Show the traceback of an error."),
) -> None:
    """scillm: fast, reproducible, verified LLM calls."""


# Feature modules add their commands here: each has ``register(app, serve_app)``.
FEATURE_COMMANDS: tuple[str, ...] = (
    "scillm.codeworld.cli",
    "scillm.certainly.cli",
    "scillm.agent.cli",
    "scillm.batch.cli",
    "scillm.service.cli",
    "scillm.local.cli",
    "scillm.testing.cli",
    "scillm.ops.cli",
    "scillm.scenarios.cli",
    "scillm.proxy.cli",
    "scillm.report.cli",
)


@app.command()
def demo(
    model: Annotated[str, typer.Option(help="Model to run the demo on.")] = "local/smollm2",
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Everything end to end: batch, extraction, CodeWorld, Coq, agent."
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="--full: an empty folder for its files (default: a new temp dir)."),
    ] = None,
    rows: Annotated[
        int | None, typer.Option(min=10, help="--full: rows of the batch step (default 200).")
    ] = None,
) -> None:
    """Run the main job on the embedded model: completion, stream, JSON schema, fan-out of 8;
    --full runs everything end to end (batch, extraction, CodeWorld, Coq, agent, report)."""
    if not full:
        if out is not None or rows is not None:
            raise typer.BadParameter("--out and --rows go with --full")
        _quick_demo(model)
        return
    _full_demo(model, out, rows)


def _quick_demo(model: str) -> None:
    from scillm.demo import run_demo

    console.print(f"[dim]scillm demo on {model} (offline, no key)[/]")
    t0 = time.perf_counter()
    timings = run_demo(
        model, say=console.print, on_token=lambda s: console.print(s, end="", markup=False)
    )
    console.print(
        f"[green]done[/] in {time.perf_counter() - t0:.2f} s: "
        + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
    )


def _full_demo(model: str, out: Path | None, rows: int | None) -> None:
    """``demo --full``: exit 1 unless every step proved what it shows."""
    import tempfile

    from scillm.demo import DEFAULT_ROWS, run_full_demo

    if out is None:
        out = Path(tempfile.mkdtemp(prefix="scillm-demo-"))
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise typer.BadParameter(f"{out} is not an empty folder: give a new or empty one")
    out.mkdir(parents=True, exist_ok=True)
    console.print(
        f"[dim]scillm demo --full on {model} (offline, no key); files in {out}[/]",
        highlight=False,
        soft_wrap=True,
    )
    t0 = time.perf_counter()
    results = run_full_demo(model, out, console.print, rows=rows or DEFAULT_ROWS)
    bad = [r for r in results if r.outcome != "ok"]
    took = time.perf_counter() - t0
    if (out / "report.html").is_file():
        console.print(f"report: {out / 'report.html'}", highlight=False, soft_wrap=True)
    if bad:
        names = ", ".join(f"{r.name} {r.outcome}" for r in bad)
        console.print(f"[red]{len(bad)} of {len(results)} steps did not pass[/] ({names})")
        raise typer.Exit(EXIT_FAILURE)
    console.print(f"[green]all {len(results)} steps passed[/] in {took:.1f} s")


def _register_features() -> None:
    import importlib

    for module in FEATURE_COMMANDS:
        importlib.import_module(module).register(app, serve_app)


_register_features()


def main() -> None:
    """Console-script entry point."""
    if "SCILLM_SUPERVISOR_FD" in os.environ:  # started by `scillm serve all`
        from scillm.service.supervisor import watch_supervisor

        watch_supervisor()
    app()
