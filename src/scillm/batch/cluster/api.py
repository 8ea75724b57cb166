"""``run_batch`` for files on a Ray cluster: ``scillm batch --executor ray`` from Python.

    from scillm.scaleout import run_batch

    summary = run_batch(
        "in.jsonl", "out.jsonl", model="openai/gpt-4o-mini", rpm=5000,
        executor="ray", executor_options={"address": "auto", "num_workers": 8},
        limits_backend="redis://redis:6379/0",
    )

It takes the command's options (``model``, ``router_config``, ``api_base``, ``api_key``,
``timeout``, ``rpm``, ``tpm``, ``json_schema``, ``deterministic``, ``cache``, ``retry_failed``,
``strict``, ``max_cost``) as keywords, checks them as the command does (ValueError naming what
is wrong), and resumes the output like it. Blocking: it runs its own event loop. A spent
``max_cost`` raises :class:`~scillm.cost.BudgetReached` once the finished rows are merged.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from scillm.batch.command import BatchOptions, InputError, execute, prepare
from scillm.batch.summary import BatchSummary

__all__ = ["EXECUTOR_OPTIONS", "run_batch"]

EXECUTOR_OPTIONS = {
    "address": "ray_address",
    "num_workers": "workers",
    "shard_rows": "shard_rows",
    "max_inflight_per_worker": "concurrency",
    "max_shard_attempts": "shard_attempts",
}
"""``executor_options`` keys and the command options they set."""


def run_batch(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    executor: str = "ray",
    executor_options: dict[str, Any] | None = None,
    limits_backend: str | None = None,
    **options: Any,
) -> BatchSummary:
    """Run a JSONL file of requests into a JSONL file of results; see the module docstring."""
    given = dict(executor_options or {})
    unknown = sorted(set(given) - set(EXECUTOR_OPTIONS))
    if unknown:
        raise ValueError(
            f"unknown executor_options {unknown}: use {', '.join(sorted(EXECUTOR_OPTIONS))}"
        )
    mapped = {EXECUTOR_OPTIONS[key]: value for key, value in given.items()}
    try:
        batch_options = BatchOptions(
            Path(input_path),
            Path(output_path),
            executor=executor,
            limits=limits_backend,
            **{**options, **mapped},
        )
        plan = prepare(batch_options)
    except InputError as exc:
        raise ValueError(str(exc)) from None
    summary = BatchSummary(path=str(output_path), total=plan.total)
    try:
        asyncio.run(execute(plan, summary))
    finally:
        try:
            plan.checkpoint.write_summary(summary.as_dict())
        finally:
            plan.close()
    return summary
