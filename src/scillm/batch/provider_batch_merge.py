"""A finished batch's output and error files → output rows, in the online mode's format.

    {"id": ..., "response": {...}, "scillm_router": {..., "provider_batch": {"batch_id": ...}}}
    {"id": ..., "ok": false, "error": {"type", "message"}, "scillm_router": {...}}

Each reply is checked by the Router's own validation step (empty content, JSON, ``--json-schema``)
exactly as an online reply is, without the online mode's one fallback call: a reply that fails
is an error row that keeps its ``response`` (``--retry-failed`` reruns it). A request the
provider answered with an error, one that expired or was cancelled, and one missing from both
files are error rows too. ``scillm_router.provider_batch`` marks every row that went through a
batch, and every row with a reply or a provider error gets its run record (``"record"``,
:mod:`scillm.runrecord`) priced at :data:`BATCH_PRICE` of the online price, its ``cost_source``
saying so.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from scillm.batch.jobs import Job, error_row
from scillm.batch.provider_batch_requests import pipeline_of, prepare
from scillm.batch.rowcall import reason_of
from scillm.errors import ScillmError, error_from_response
from scillm.providers.openai_compat import to_completion
from scillm.router import Router
from scillm.router.pipeline import error_type_of
from scillm.runrecord import build_record

__all__ = ["BATCH_PRICE", "merged_rows", "record_of_batch_row", "results_of"]

BATCH_PRICE = 0.5
"""What a batch request costs, as a share of the same request online (OpenAI's Batch API)."""

Row = tuple[dict[str, Any], bool]


def results_of(*paths: Path | None) -> dict[str, dict[str, Any]]:
    """custom_id → result line, over the given output/error files (later files do not
    override an earlier success)."""
    results: dict[str, dict[str, Any]] = {}
    for path in paths:
        if path is None or not path.exists():
            continue
        with open(path, "rb") as f:
            for raw in f:
                try:
                    line = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(line, dict) and isinstance(line.get("custom_id"), str):
                    results.setdefault(line["custom_id"], line)
    return results


def record_of_batch_row(
    row: dict[str, Any], model: str | None, batch: Mapping[str, Any], now: float
) -> dict[str, Any]:
    """The run record of a merged row: its latency is the batch's (created → merged ``now``),
    its cost the batch price (None when unknown)."""
    meta = row.get("scillm_router") or {}
    usage = (row.get("response") or {}).get("usage")
    error = row.get("error") if row.get("ok") is False else None
    kind = str(error.get("type")) if isinstance(error, dict) else None
    created = batch.get("created_at")
    latency = None
    if isinstance(created, int | float) and not isinstance(created, bool) and created <= now:
        latency = round((now - created) * 1000, 3)
    record = build_record(
        source="batch",
        model=model,
        meta=meta,
        usage=usage,
        error_type=kind,
        ts=now,
        latency_ms=latency,
    )
    if isinstance(record.get("cost_usd"), float) and record.get("cost_source") not in (
        "no tokens",
        "cache",
    ):
        record["cost_usd"] = round(record["cost_usd"] * BATCH_PRICE, 10)
        record["cost_source"] = f"{record['cost_source']}, batch price x{BATCH_PRICE:g}"
    return record


def _failure(job: Job, kind: str, message: str, mark: dict[str, Any], error_type: str) -> Row:
    row = error_row("id", job.id, kind, message)
    row["scillm_router"] = {"error_type": error_type, "provider_batch": mark}
    return row, False


def _answered(
    router: Router, defaults: dict[str, Any], job: Job, body: dict[str, Any], mark: dict[str, Any]
) -> Row:
    prep = prepare(router, defaults, job)
    try:
        reply = to_completion(body, provider=prep.route[0][0].provider.name)
    except ScillmError as exc:
        return _failure(job, type(exc).__name__, str(exc), mark, error_type_of(exc))
    pipeline = pipeline_of(router)
    pipeline.validate(reply, prep)
    deployment = prep.route[0][0]
    meta = prep.meta
    meta.update(
        provider=deployment.provider.name,
        model=deployment.model,
        deployment=deployment.id,
        provider_batch=mark,
    )
    response = dict(reply)
    row: dict[str, Any] = {"id": job.id, "response": response, "scillm_router": meta}
    ok = meta.get("error_type", "ok") == "ok"
    if not ok:
        row["ok"] = False
        row["error"] = {"type": str(meta.get("error_type")), "message": reason_of(meta)}
    return row, ok


def merged_rows(
    router: Router,
    defaults: dict[str, Any],
    jobs: Mapping[str, Job],
    results: Mapping[str, dict[str, Any]],
    batch: Mapping[str, Any],
) -> Iterator[Row]:
    """The output row of every job of a finished ``batch`` (the provider's batch object)."""
    status = str(batch.get("status"))
    for key, job in jobs.items():
        mark = {"batch_id": batch.get("id"), "status": status}
        line = results.get(key)
        if line is None:
            message = f"the batch ended {status!r} without a result for this row"
            yield _failure(job, f"batch_{status}", message, mark, "provider_error")
            continue
        response = line.get("response")
        error = line.get("error")
        if isinstance(response, dict) and isinstance(response.get("body"), dict):
            code = response.get("status_code")
            mark["request_id"] = response.get("request_id")
            if code == 200:
                yield _answered(router, defaults, job, response["body"], mark)
                continue
            body = orjson.dumps(response["body"]).decode()
            exc = error_from_response(int(code) if isinstance(code, int) else 500, body, {})
            yield _failure(job, type(exc).__name__, str(exc), mark, error_type_of(exc))
            continue
        if isinstance(error, dict):
            kind = str(error.get("code") or "batch_error")
            yield _failure(job, kind, str(error.get("message") or kind), mark, "provider_error")
            continue
        yield _failure(
            job, "batch_error", "the batch result line is malformed", mark, "provider_error"
        )
