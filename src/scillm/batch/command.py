"""``scillm batch`` without the terminal: check everything first, then run the rows.

:func:`prepare` refuses bad options and input before any call (an unreadable input, a bad
router config or schema, an unwritable output, and with ``strict`` any bad row);
:func:`execute` runs the rows through a Router with :func:`scillm.batch.engine.drive`.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from scillm._request import TRANSPORT_CHECKS
from scillm.batch.buckets import AsyncTokenBucket
from scillm.batch.checkpoint import JsonlCheckpoint
from scillm.batch.engine import drive
from scillm.batch.limits.backends import make_limiter
from scillm.batch.limits.base import Limiter, Rates
from scillm.batch.rowcall import RowCaller
from scillm.batch.rows import count_rows, read_jobs, survey
from scillm.batch.summary import MAX_PROBLEMS, BatchSummary
from scillm.cost import CostMeter, budget_meter, call_cost
from scillm.errors import ScillmError
from scillm.router import Router

__all__ = [
    "BatchOptions",
    "InputError",
    "Plan",
    "execute",
    "load_router_config",
    "prepare",
    "sigterm_cancels",
    "with_endpoint",
]

BURST_SHARE = 0.1
"""``--rpm``/``--tpm`` buckets hold a tenth of a minute's allowance: short bursts, steady rate."""


class InputError(Exception):
    """Options or input refused before any call (``scillm batch`` exits with status 2)."""


@dataclass(frozen=True, slots=True)
class BatchOptions:
    """The options of one ``scillm batch`` run (the command line's, as data)."""

    input: Path
    output: Path
    model: str | None = None
    router_config: Path | None = None
    concurrency: int = 12
    rpm: float | None = None
    tpm: float | None = None
    json_schema: Path | None = None
    deterministic: bool = False
    cache: bool = False
    retry_failed: bool = False
    strict: bool = False
    api_base: str | None = None
    api_key: str | None = None
    timeout: float | None = None
    max_cost: float | None = None
    executor: str = "local"
    ray_address: str | None = None
    workers: int = 2
    shard_rows: int = 256
    shard_attempts: int = 3
    limits: str | None = None


@dataclass(slots=True)
class Plan:
    """Everything checked and opened, ready to run."""

    options: BatchOptions
    router: Router
    checkpoint: JsonlCheckpoint
    defaults: dict[str, Any]
    total: int
    buckets: dict[str, AsyncTokenBucket] = field(default_factory=dict)
    meter: CostMeter = field(default_factory=CostMeter)
    limiter: Limiter | None = None

    def close(self) -> None:
        self.router.close()
        self.checkpoint.close()


def _load_structured(path: Path, what: str) -> Any:
    """JSON, or YAML for ``.yaml``/``.yml`` files (needs PyYAML)."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read the {what} {path}: {exc.strerror}") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            yaml = importlib.import_module("yaml")
        except ImportError:
            raise InputError(
                f"the {what} {path} is YAML, which needs PyYAML: pip install pyyaml "
                "(or write it as JSON)"
            ) from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InputError(f"the {what} {path} is not valid YAML: {exc}") from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the {what} {path} is not valid JSON: {exc}") from None


def load_router_config(path: Path) -> dict[str, Any]:
    """The Router keywords of a YAML/JSON router config (litellm proxy's ``router_settings``
    merged in); InputError when it is unreadable or not a mapping."""
    config = _load_structured(path, "router config")
    if not isinstance(config, dict):
        raise InputError(
            f"the router config {path} must be a mapping like "
            "{model_list: [...], fallbacks: [...]}, got " + type(config).__name__
        )
    settings = config.pop("router_settings", None) or {}
    return {**settings, **config}


def with_endpoint(
    config: dict[str, Any], api_base: str | None, api_key: str | None
) -> dict[str, Any]:
    """``config`` with ``api_base``/``api_key`` (when given) in every deployment's params."""
    given = {k: v for k, v in (("api_base", api_base), ("api_key", api_key)) if v is not None}
    entries = config.get("model_list")
    if not given or not isinstance(entries, list):
        return config
    model_list = [
        {**entry, "litellm_params": {**(entry.get("litellm_params") or {}), **given}}
        if isinstance(entry, dict)
        else entry
        for entry in entries
    ]
    return {**config, "model_list": model_list}


def _router_kwargs(options: BatchOptions) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if options.router_config is not None:
        config = load_router_config(options.router_config)
        config = with_endpoint(config, options.api_base, options.api_key)
    if options.deterministic:
        config["deterministic"] = True
    if options.cache:
        config["cache"] = True
    limited = options.rpm is not None or options.tpm is not None
    if limited and (options.limits is not None or options.executor == "ray"):
        config["pace_from_headers"] = False  # the global limiter paces; headers are per process
    return config


def _call_defaults(options: BatchOptions) -> dict[str, Any]:
    """What every call gets: ``--timeout``, and without a router config ``--api-base`` and
    ``--api-key`` (with one, they are in its deployments: a group name is no ad-hoc model)."""
    given = {"api_base": options.api_base, "api_key": options.api_key, "timeout": options.timeout}
    defaults = {key: value for key, value in given.items() if value is not None}
    for key, value in defaults.items():
        try:
            TRANSPORT_CHECKS[key](key, value)
        except ScillmError as exc:
            raise InputError(f"--{key.replace('_', '-')}: {exc}") from None
    if options.router_config is not None:
        defaults.pop("api_base", None)
        defaults.pop("api_key", None)
    return defaults


def _schema_options(path: Path) -> dict[str, Any]:
    import jsonschema

    schema = _load_structured(path, "JSON schema")
    if not isinstance(schema, dict):
        raise InputError(f"the JSON schema {path} must be a JSON object")
    inner = schema["schema"] if isinstance(schema.get("schema"), dict) else schema
    try:
        jsonschema.validators.validator_for(inner).check_schema(inner)
    except jsonschema.SchemaError as exc:
        raise InputError(f"{path} is not a valid JSON Schema: {exc.message}") from None
    return {"response_mode": "schema_first", "json_schema": schema}


def _default_model(options: BatchOptions, router: Router) -> str | None:
    if options.model:
        return options.model
    if options.router_config is not None:
        groups = router.model_names
        return groups[0] if len(groups) == 1 else None  # else each row names its group
    model = Router.resolve_default_model()
    if model is None:
        raise InputError(
            "no model: pass --model provider/model (e.g. openai/gpt-4o-mini) or --router-config"
        )
    return model


def _check_input(options: BatchOptions) -> int:
    """The number of input rows; with ``strict``, InputError listing every bad row."""
    if options.input.is_dir() or not os.access(options.input, os.R_OK):
        raise InputError(f"cannot read the input file {options.input}")
    if options.output.exists() and options.output.resolve() == options.input.resolve():
        raise InputError("the output file must not be the input file")
    if not options.strict:
        return count_rows(options.input)
    rows, problems = survey(options.input)
    if problems:
        shown = "\n  ".join(problems[:MAX_PROBLEMS])
        extra = len(problems) - MAX_PROBLEMS
        more = f"\n  ... and {extra} more" if extra > 0 else ""
        raise InputError(
            f"{options.input} has {len(problems)} bad row(s); --strict stops before any "
            f"call:\n  {shown}{more}"
        )
    return rows


def _buckets(options: BatchOptions) -> dict[str, AsyncTokenBucket]:
    buckets = {}
    for name, per_minute in (("rpm", options.rpm), ("tpm", options.tpm)):
        if per_minute is None:
            continue
        if not per_minute > 0:
            raise InputError(f"--{name} must be a positive number, got {per_minute}")
        burst = max(1.0, per_minute * BURST_SHARE)
        buckets[name] = AsyncTokenBucket(per_minute / 60, burst, name=name)
    return buckets


def _meter(max_cost: float | None) -> CostMeter:
    try:
        return budget_meter(max_cost, "--max-cost")
    except ValueError as exc:
        raise InputError(str(exc)) from None


def _limiter(options: BatchOptions) -> Limiter | None:
    """The global limiter of ``--limits`` (checked reachable), or None: the local buckets."""
    if options.executor not in ("local", "ray"):
        raise InputError(f"--executor must be 'local' or 'ray', got {options.executor!r}")
    for name in ("workers", "shard_rows", "shard_attempts"):
        if getattr(options, name) < 1:
            flag = name.replace("_", "-")
            raise InputError(f"--{flag} must be at least 1, got {getattr(options, name)}")
    needs = {"ray": options.executor == "ray", "redis": options.limits not in (None, "memory")}
    for module in (name for name, needed in needs.items() if needed):
        if importlib.util.find_spec(module) is None:
            raise InputError(f"{module} is not installed: pip install 'scillm[ray]'")
    limited = options.rpm is not None or options.tpm is not None
    if options.executor == "ray" and limited and options.workers > 1 and not options.limits:
        raise InputError(
            "--rpm/--tpm with --executor ray need one limit for every worker: "
            "add --limits redis://host:6379/0"
        )
    if options.limits is None:
        return None
    try:
        limiter = make_limiter(options.limits, Rates(options.rpm, options.tpm), options.api_key)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    try:
        asyncio.run(_reach(limiter))
    except Exception as exc:
        raise InputError(f"--limits {options.limits}: cannot reach Redis ({exc})") from None
    return limiter


async def _reach(limiter: Limiter) -> None:
    """Raise when the limiter's store cannot be reached (its connections closed again)."""
    ping = getattr(limiter, "ping", None)
    try:
        if ping is not None:
            await ping()
    finally:
        await limiter.aclose()


def prepare(options: BatchOptions) -> Plan:
    """Check the options and the input, build the Router and open the output; no call yet."""
    if options.concurrency < 1:
        raise InputError(f"--concurrency must be at least 1, got {options.concurrency}")
    meter = _meter(options.max_cost)
    buckets = _buckets(options)
    limiter = _limiter(options)
    defaults = _call_defaults(options)
    total = _check_input(options)
    if options.json_schema:
        defaults.update(_schema_options(options.json_schema))
    try:
        router = Router(**_router_kwargs(options))
    except (TypeError, ValueError, ScillmError) as exc:
        raise InputError(f"the router config is not usable: {exc}") from None
    try:
        model = _default_model(options, router)
        if model is not None:
            defaults["model"] = model
            call_cost(model, 1, 1)  # loads the price list now, not on the event loop
        summary_path = f"{options.output}.summary.json"
        checkpoint = JsonlCheckpoint(options.output, "id", summary_path=summary_path)
    except OSError as exc:
        router.close()
        raise InputError(f"cannot write the output file {options.output}: {exc}") from None
    except InputError:
        router.close()
        raise
    return Plan(options, router, checkpoint, defaults, total, buckets, meter, limiter)


@contextmanager
def sigterm_cancels(task: asyncio.Task[Any]) -> Iterator[None]:
    """SIGTERM stops the run like Ctrl-C: in-flight rows are cancelled, finished ones written."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


async def execute(plan: Plan, summary: BatchSummary) -> None:
    """Run the plan's rows (resuming what its output already holds), updating ``summary``."""
    task = asyncio.current_task()
    assert task is not None
    if plan.options.executor == "ray":
        with sigterm_cancels(task):
            await _execute_on_ray(plan, summary)
        return
    caller = RowCaller(
        plan.router,
        plan.defaults,
        summary,
        plan.buckets.get("rpm"),
        plan.buckets.get("tpm"),
        plan.meter,
    )
    if plan.limiter is not None:
        from scillm.batch.limits.caller import LimitedRowCaller

        endpoint = _endpoint(plan)
        caller = LimitedRowCaller(
            plan.router, plan.defaults, summary, plan.limiter, endpoint, plan.meter
        )
    with sigterm_cancels(task):
        await drive(
            read_jobs(plan.options.input),
            caller,
            plan.checkpoint,
            summary,
            max_concurrency=plan.options.concurrency,
            retry_failed=plan.options.retry_failed,
        )


def _endpoint(plan: Plan) -> str:
    """The name the global limits of this run are kept under (with the API key's hash)."""
    return (plan.options.api_base or "default").rstrip("/")


async def _execute_on_ray(plan: Plan, summary: BatchSummary) -> None:
    from scillm.batch.cluster.driver import RayOptions, run_on_ray
    from scillm.batch.cluster.worker import WorkerConfig

    options = plan.options
    config = WorkerConfig(
        input=options.input,
        output=options.output,
        run_dir=options.output,  # the driver picks the run's own folder
        router_kwargs=_router_kwargs(options),
        defaults=plan.defaults,
        limits=options.limits or "memory",
        rates=Rates(options.rpm, options.tpm),
        api_key=options.api_key,
        endpoint=_endpoint(plan),
        concurrency=options.concurrency,
        retry_failed=options.retry_failed,
    )
    ray_options = RayOptions(
        options.ray_address,
        options.workers,
        options.shard_rows,
        max_shard_attempts=options.shard_attempts,
    )
    await run_on_ray(config, ray_options, summary, plan.meter)
