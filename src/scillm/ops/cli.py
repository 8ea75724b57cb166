"""``scillm doctor`` and ``scillm warmup`` (see ``docs/doctor.md``).

Exit status: 0 ready / warm, 1 a check or model failed (see each command), 2 bad options or
configuration (found before any call), 130 interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["doctor", "register", "warmup"]

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130

ModelOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--model", "--models", "-m", help="provider/model to call (repeatable, or a,b,c)."
    ),
]
RouterConfigOpt = Annotated[
    Path | None,
    typer.Option("--router-config", help="YAML/JSON router config: each deployment is called."),
]
ApiBaseOpt = Annotated[
    str | None,
    typer.Option("--api-base", help="Server for the models (with --router-config: all of them)."),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option("--api-key", help="API key for the models (with --router-config: all of them)."),
]
TimeoutOpt = Annotated[
    float, typer.Option("--timeout", help="Seconds each call may take (no retries).")
]
ConcurrencyOpt = Annotated[
    int, typer.Option("--concurrency", "-c", help="Model calls in flight at once.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")]


def register(app: typer.Typer, serve_app: typer.Typer) -> None:
    """Add ``scillm doctor`` and ``scillm warmup``."""
    app.command("doctor")(doctor)
    app.command("warmup")(warmup)


def _usage(message: str) -> Any:
    from scillm.service.options import usage_error

    usage_error(message)


def _check_options(timeout: float, concurrency: int, api_base: str | None) -> None:
    from scillm._request import TRANSPORT_CHECKS
    from scillm.errors import ScillmError

    if not 0 < timeout < float("inf"):
        _usage(f"--timeout must be a positive number of seconds, got {timeout}")
    if concurrency < 1:
        _usage(f"--concurrency must be at least 1, got {concurrency}")
    if api_base is not None:
        try:
            TRANSPORT_CHECKS["api_base"]("api_base", api_base)
        except ScillmError as exc:
            _usage(f"--api-base: {exc}")


def doctor(
    strict: Annotated[
        bool,
        typer.Option("--strict", envvar="STRICT_READY", help="Also fail when a check is skipped."),
    ] = False,
    json_output: JsonOpt = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write doctor.json and PROJECT_READY.md into this directory."),
    ] = None,
    model: ModelOpt = None,
    router_config: RouterConfigOpt = None,
    api_base: ApiBaseOpt = None,
    api_key: ApiKeyOpt = None,
    service: Annotated[
        list[str] | None,
        typer.Option(
            "--service", help="A service to ask for /healthz: NAME or NAME=URL (repeatable)."
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", help="Bearer token for the services (default SCILLM_SERVICE_TOKEN)."
        ),
    ] = None,
    check: Annotated[
        list[str] | None,
        typer.Option("--check", help="Run only these environment checks (repeatable)."),
    ] = None,
    timeout: TimeoutOpt = 60.0,
    concurrency: ConcurrencyOpt = 4,
) -> None:
    """Check that this machine can run the stack: real tiny jobs, READY or NOT READY."""
    from scillm.ops.checks import ENV_CHECKS
    from scillm.ops.doctor import DoctorPlan, run_doctor, service_probe
    from scillm.ops.targets import UsageError, config_targets, model_targets, slot_models

    _check_options(timeout, concurrency, api_base)
    unknown = sorted(set(check or ()) - set(ENV_CHECKS))
    if unknown:
        _usage(f"--check {', '.join(unknown)}: the checks are {', '.join(ENV_CHECKS)}")
    try:
        targets = model_targets([*(model or ()), *slot_models()])
        if router_config is not None:
            targets += config_targets(router_config, api_base, api_key)
        services = [service_probe(spec, token) for spec in service or ()]
    except UsageError as exc:
        _usage(str(exc))
    if out is not None:
        _make_dir(out)
    plan = DoctorPlan(
        env_checks=[name for name in ENV_CHECKS if not check or name in check],
        targets=targets,
        services=services,
        api_base=api_base,
        api_key=api_key,
        timeout=timeout,
        concurrency=concurrency,
    )
    try:
        report = run_doctor(plan)
    except KeyboardInterrupt:
        _interrupted()
    if out is not None:
        _write_report(out, report, strict)
    if json_output:
        _print_json(report.as_dict(strict))
    else:
        _print_doctor(report, strict)
    raise typer.Exit(0 if report.ready(strict) else EXIT_FAILED)


def warmup(
    model: ModelOpt = None,
    api_base: ApiBaseOpt = None,
    api_key: ApiKeyOpt = None,
    router_config: RouterConfigOpt = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            envvar="STRICT_WARMUPS",
            help="Fail (exit 1) when any model fails; without it only when all do.",
        ),
    ] = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the results JSON to this file.")
    ] = None,
    stamp: Annotated[
        Path | None,
        typer.Option(
            "--stamp", help="Touch this file only when every model answered (else remove it)."
        ),
    ] = None,
    json_output: JsonOpt = False,
    timeout: TimeoutOpt = 60.0,
    concurrency: ConcurrencyOpt = 4,
    progress: Annotated[
        bool, typer.Option(help="Show the models answered so far on stderr.")
    ] = True,
) -> None:
    """Send each model one tiny call (max_tokens 8, temperature 0) and report how it answered."""
    from scillm.ops.targets import (
        SLOT_ENV,
        UsageError,
        config_targets,
        model_targets,
        slot_models,
    )
    from scillm.ops.warmup import run_warmup, update_stamp, write_json

    _check_options(timeout, concurrency, api_base)
    try:
        targets = model_targets(list(model or ()))
        if router_config is not None:
            targets += config_targets(router_config, api_base, api_key)
    except UsageError as exc:
        _usage(str(exc))
    if not targets:
        targets = model_targets(slot_models())
    if not targets:
        _usage(
            "no models to warm up: pass --model provider/model (repeatable) or "
            f"--router-config FILE, or set one of {', '.join(SLOT_ENV)}"
        )
    try:
        report = run_warmup(
            targets,
            api_base=api_base,
            api_key=api_key,
            timeout=timeout,
            concurrency=concurrency,
            progress=progress,
        )
    except KeyboardInterrupt:
        _interrupted()
    data = report.as_dict()
    try:
        if out is not None:
            write_json(out, data)
        if stamp is not None:
            update_stamp(stamp, report)
    except OSError as exc:
        typer.echo(f"error: cannot write {exc.filename}: {exc.strerror}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    if json_output:
        _print_json(data)
    else:
        _print_warmup(data)
    code = report.exit_code(strict)
    if report.failed:
        if strict:
            why = "--strict: any failure fails the warm-up"
        elif code:
            why = "every model failed"
        else:
            why = "exit 0 as others answered; --strict or STRICT_WARMUPS=1 fails on any"
        typer.echo(f"{report.failed} of {len(report.results)} model(s) failed ({why})", err=True)
    raise typer.Exit(code)


def _write_report(out: Path, report: Any, strict: bool) -> None:
    from scillm.ops.warmup import write_json

    try:
        write_json(out / "doctor.json", report.as_dict(strict))
        (out / "PROJECT_READY.md").write_text(report.markdown(strict), encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: cannot write the report into {out}: {exc.strerror}", err=True)
        raise typer.Exit(EXIT_FAILED) from None


def _interrupted() -> Any:
    typer.echo("interrupted: nothing was written", err=True)
    raise typer.Exit(EXIT_INTERRUPTED)


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _usage(f"--out {path}: cannot create the directory: {exc.strerror}")


def _print_json(data: Any) -> None:
    import sys

    import orjson

    sys.stdout.write(orjson.dumps(data).decode() + "\n")


def _print_doctor(report: Any, strict: bool) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from scillm.ops.doctor import printable, result_word

    colour = {"ok": "green", "FAILED": "red", "skipped": "yellow"}
    table = Table(title="scillm doctor", title_justify="left")
    for column in ("check", "result", "required", "details", "ms"):
        table.add_column(column, justify="right" if column == "ms" else "left")
    for c in report.checks:
        word = result_word(c)
        table.add_row(
            escape(printable(c.name)),
            f"[{colour[word]}]{word}[/]",
            "yes" if c.required else "no",
            escape(printable(c.details)),
            f"{c.elapsed_ms:,.0f}",
        )
    console = Console()
    console.print(table)
    verdict = "[green]READY[/]" if report.ready(strict) else "[red]NOT READY[/]"
    console.print(f"Summary: {verdict}" + (" (strict: skips fail)" if strict else ""))


def _print_warmup(data: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from scillm.ops.doctor import printable

    table = Table(title="scillm warmup", title_justify="left")
    for column in ("model", "result", "ms", "reply / error"):
        table.add_column(column, justify="right" if column == "ms" else "left")
    for r in data["results"]:
        name = r["model"] + (f" ({r['deployment']})" if "deployment" in r else "")
        word = "[green]ok[/]" if r["ok"] else "[red]FAILED[/]"
        said = repr(r["content"]) if r["ok"] else r["error"]
        row = (escape(printable(name)), word, f"{r['elapsed_ms']:,.0f}", escape(printable(said)))
        table.add_row(*row)
    Console().print(table)
