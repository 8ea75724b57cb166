"""The ``scillm batch`` command: a JSONL file of requests → a JSONL file of results.

    scillm batch questions.jsonl -o answers.jsonl --model openai/gpt-4o-mini --rpm 500

Rerunning the same command resumes: rows already in the output are skipped. The exit status is
0 when every row succeeded, 1 when the output holds failed rows (``--allow-failures``: 0),
2 for bad options or input (found before any call) and 130 when interrupted (Ctrl-C or
SIGTERM: rows in flight are dropped, finished ones written). ``--json`` prints the final
summary (the ``.summary.json`` file's object) as one line on stdout instead of the table.
``--max-cost`` stops the run once its calls cost that many dollars (the calls in flight finish;
exit 1; rerunning resumes); ``--report`` writes OUTPUT's HTML report (``scillm report``) at
the end.
"""

from __future__ import annotations

import asyncio
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scillm.batch.command import BatchOptions, InputError, Plan, execute, prepare
from scillm.batch.display import format_duration, live_progress
from scillm.batch.provider_batch import (
    DEFAULT_BATCH_SIZE,
    ProviderBatchSettings,
    check_options,
)
from scillm.batch.provider_batch_cli import run_provider
from scillm.batch.summary import BatchSummary
from scillm.cost import BudgetReached
from scillm.errors import ScillmError

__all__ = ["batch", "register"]

EXIT_FAILED_ROWS = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def register(app: typer.Typer, serve_app: typer.Typer) -> None:
    """Add ``scillm batch`` to the command line."""
    app.command("batch", no_args_is_help=True)(batch)


def batch(
    input_path: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT.jsonl",
            help='Rows {"id", "messages"} or {"id", "prompt"}, plus any call keys.',
        ),
    ],
    output: Annotated[
        Path,
        typer.Option("--output", "-o", help="Results JSONL; when it exists the run resumes it."),
    ],
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="provider/model, or a model group of --router-config."),
    ] = None,
    router_config: Annotated[
        Path | None,
        typer.Option(help="YAML or JSON: {model_list: [...], fallbacks: [...], ...} for a Router."),
    ] = None,
    api_base: Annotated[
        str | None,
        typer.Option(
            "--api-base",
            help="Server of every call (with --router-config: of every deployment).",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            help="API key of every call (with --router-config: of every deployment).",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Seconds per call, retries included (default 600)."),
    ] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-c", help="Calls in flight.")] = 12,
    rpm: Annotated[float | None, typer.Option(help="At most this many requests a minute.")] = None,
    tpm: Annotated[float | None, typer.Option(help="At most this many tokens a minute.")] = None,
    json_schema: Annotated[
        Path | None, typer.Option(help="A JSON Schema file every reply must satisfy.")
    ] = None,
    deterministic: Annotated[
        bool, typer.Option(help="Temperature 0 and a seed for every call.")
    ] = False,
    cache: Annotated[bool, typer.Option(help="Reuse identical earlier replies (SQLite).")] = False,
    retry_failed: Annotated[
        bool, typer.Option(help="Rerun rows whose earlier result is an error.")
    ] = False,
    strict: Annotated[bool, typer.Option(help="Stop before any call when a row is bad.")] = False,
    allow_failures: Annotated[bool, typer.Option(help="Exit 0 even when rows failed.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a live progress line on stderr.")] = True,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object on stdout.")
    ] = False,
    max_cost: Annotated[
        float | None,
        typer.Option(help="Stop once this run's calls cost this many US dollars (resumable)."),
    ] = None,
    report: Annotated[
        bool, typer.Option(help="Write OUTPUT's HTML report (scillm report) at the end.")
    ] = False,
    executor: Annotated[
        str, typer.Option(help="local, or ray: shards over Ray actors (pip install 'scillm[ray]').")
    ] = "local",
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster: auto (ray start) or ray://host:10001.")
    ] = None,
    workers: Annotated[int, typer.Option(help="Ray actors (with --executor ray).")] = 2,
    shard_rows: Annotated[int, typer.Option(help="Rows per shard (with --executor ray).")] = 256,
    limits: Annotated[
        str | None,
        typer.Option(help="redis://host:6379/0: --rpm/--tpm shared by every worker and job."),
    ] = None,
    provider_batch: Annotated[
        bool, typer.Option(help="Use the provider's Batch API (/v1/files + /v1/batches).")
    ] = False,
    batch_size: Annotated[
        int, typer.Option(help="--provider-batch: at most this many requests per batch.")
    ] = DEFAULT_BATCH_SIZE,
    poll: Annotated[
        float, typer.Option(help="--provider-batch: seconds between status checks.")
    ] = 60.0,
    cancel_on_exit: Annotated[
        bool, typer.Option(help="--provider-batch: cancel running batches on Ctrl-C.")
    ] = False,
) -> None:
    """Run every row of INPUT.jsonl through a model into OUTPUT, resumably."""
    err = Console(stderr=True)
    options = BatchOptions(
        input_path,
        output,
        model,
        router_config,
        concurrency,
        rpm,
        tpm,
        json_schema,
        deterministic,
        cache,
        retry_failed,
        strict,
        api_base,
        api_key,
        timeout,
        max_cost=max_cost,
        executor=executor,
        ray_address=ray_address,
        workers=workers,
        shard_rows=shard_rows,
        limits=limits,
    )
    settings = ProviderBatchSettings(batch_size, poll_s=poll, cancel_on_exit=cancel_on_exit)
    try:
        if provider_batch:
            settings.check()
            check_options(options)
        plan = prepare(options)
    except InputError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    summary = BatchSummary(path=str(output), total=plan.total)
    if plan.checkpoint.repaired_bytes:
        cut = plan.checkpoint.repaired_bytes
        err.print(f"repaired {output}: cut a torn last line ({cut} bytes)", highlight=False)
    if provider_batch:
        outcome = run_provider(plan, settings, summary, progress, err)
        if outcome is None:
            raise typer.Exit(EXIT_BAD_INPUT)
        written = outcome
    else:
        written = _run(plan, summary, progress, err)
    cost = plan.meter.describe()
    if json_output:
        line = {**summary.as_dict(), "summary_path": plan.checkpoint.summary_path}
        line["cost_usd"] = round(plan.meter.usd, 6) if plan.meter.priced else None
        line["stopped"] = plan.meter.stop_reason
        sys.stdout.write(orjson.dumps(line).decode() + "\n")
    else:
        _print_summary(summary, plan.checkpoint.summary_path, cost)
    if report:
        _write_report(options, err)
    if plan.meter.stop_reason is not None:
        err.print(
            f"[yellow]stopped[/]: {escape(plan.meter.stop_reason)}; rerun to go on "
            "(with a higher --max-cost, or without it)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_FAILED_ROWS)
    raise typer.Exit(_exit_code(summary, allow_failures, err) if written else EXIT_FAILED_ROWS)


def _write_report(options: BatchOptions, err: Console) -> None:
    """OUTPUT.report.html, with the run's options (never the API key) as its configuration."""
    from scillm.report.cli import default_output
    from scillm.report.data import load_run
    from scillm.report.html import write_html

    shown = ("model", "router_config", "concurrency", "rpm", "tpm", "timeout", "max_cost")
    config = {f"option.{name}": getattr(options, name) for name in shown}
    try:
        path = write_html(load_run(options.output, config), default_output(options.output))
    except (OSError, ScillmError) as exc:
        err.print(f"[yellow]warning:[/] no report: {escape(str(exc))}", highlight=False)
        return
    err.print(f"report: {escape(str(path))}", highlight=False)


def _run(plan: Plan, summary: BatchSummary, progress: bool, err: Console) -> bool:
    """Run the plan and write its summary; False when the output could not be written."""
    try:
        with live_progress(summary, llm=True) if progress else nullcontext():
            asyncio.run(execute(plan, summary))
    except (KeyboardInterrupt, asyncio.CancelledError):
        summary.interrupted = True
    except BudgetReached:
        pass  # the meter says why; the rows finished are written
    except OSError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}; the rows written so far are kept")
        return False
    finally:
        try:
            plan.checkpoint.write_summary(summary.as_dict())
        except OSError as exc:
            err.print(f"[yellow]warning:[/] could not write the summary: {escape(str(exc))}")
        plan.close()
    return True


def _exit_code(summary: BatchSummary, allow_failures: bool, err: Console) -> int:
    if summary.interrupted:
        err.print("[yellow]interrupted[/]: rerun the same command to resume")
        return EXIT_INTERRUPTED
    if summary.failed_total and not allow_failures:
        err.print(
            f"[red]{summary.failed_total} row(s) failed[/] (error rows in {summary.path}); "
            "rerun with --retry-failed to retry them"
        )
        return EXIT_FAILED_ROWS
    return 0


def _print_summary(summary: BatchSummary, summary_path: str, cost: str) -> None:
    table = Table(title="scillm batch", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [
        ("input rows", f"{summary.total:,}"),
        ("done earlier (skipped)", f"{summary.skipped:,}"),
        ("  of them failed, kept", f"{summary.skipped_failed:,}"),
        ("written now: ok", f"{summary.succeeded:,}"),
        ("written now: failed", f"{summary.failed:,}"),
        ("duplicate ids", f"{summary.duplicates:,}"),
        ("generated ids", f"{summary.generated_ids:,}"),
        ("bad input rows", f"{summary.bad_input:,}"),
        ("tokens", f"{summary.tokens:,}"),
        ("429s", f"{summary.rate_limited:,}"),
        *([("calls re-sent (a worker died)", f"{summary.resent:,}")] if summary.resent else []),
        ("cost", cost),
        ("elapsed", format_duration(summary.elapsed_s)),
        ("rows/s", f"{summary.rows_per_s:,.1f}"),
        ("output", summary.path),
        ("summary", summary_path),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console = Console()
    console.print(table)
    for problem in summary.problems:
        console.print(f"[yellow]bad input[/] {escape(problem)}", highlight=False)
    if summary.bad_input > len(summary.problems):
        console.print(f"... and {summary.bad_input - len(summary.problems)} more bad rows")
