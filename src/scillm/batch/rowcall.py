"""One input row → one Router call → one output row, for ``scillm batch``.

    {"id": ..., "response": {...ChatCompletion...}, "scillm_router": {...meta...}}
    {"id": ..., "ok": false, "error": {"type", "message"}, "scillm_router": {...}}

A reply that fails validation (empty, invalid JSON, schema-invalid) is a failed row too: it keeps
its ``response`` and gets ``"ok": false`` with the reason, so ``--retry-failed`` retries it.
Each row that reached the Router also gets its run record (:mod:`scillm.runrecord`) under
``"record"``; its cost counts into the run's :class:`~scillm.cost.CostMeter`, and once the meter's
``--max-cost`` is spent no new call starts: the calls in flight finish and are written, then
:class:`~scillm.cost.BudgetReached` stops the run (rerunning resumes it).
``--rpm`` takes one token per row; ``--tpm`` reserves the row's estimated tokens (prompt
characters / 4 + ``max_tokens``) and settles with the reply's ``usage`` afterwards.
"""

from __future__ import annotations

from typing import Any

from scillm.batch.buckets import AsyncTokenBucket
from scillm.batch.jobs import Job, error_row
from scillm.batch.spend import SpendGate
from scillm.batch.summary import BatchSummary
from scillm.cost import CostMeter
from scillm.errors import RateLimitError
from scillm.router import Router
from scillm.runrecord import build_record

__all__ = ["RowCaller", "estimate_tokens", "reason_of"]


def estimate_tokens(request: dict[str, Any]) -> int:
    """A cheap estimate of a request's tokens: ~4 characters a token, plus ``max_tokens``."""
    chars = 0
    for message in request.get("messages") or ():
        content = message.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(
                len(str(part.get("text", ""))) for part in content if isinstance(part, dict)
            )
    completion = request.get("max_tokens") or request.get("max_completion_tokens") or 0
    return chars // 4 + 4 * len(request.get("messages") or ()) + int(completion)


def reason_of(meta: dict[str, Any]) -> str:
    """Why a reply failed validation, in one line (for the error row)."""
    errors = meta.get("validation_errors") or []
    detail = "; ".join(map(str, errors)) or meta.get("parse_error") or "the reply was empty"
    return f"{meta.get('error_type')}: {detail}"


class RowCaller:
    """Calls the Router for a job's request; records replies, failures, tokens and 429s."""

    def __init__(
        self,
        router: Router,
        defaults: dict[str, Any],
        summary: BatchSummary,
        rpm: AsyncTokenBucket | None = None,
        tpm: AsyncTokenBucket | None = None,
        meter: CostMeter | None = None,
    ) -> None:
        self.router, self.defaults, self.summary = router, defaults, summary
        self.rpm, self.tpm = rpm, tpm
        self.meter = meter or CostMeter()
        self.gate = SpendGate(self.meter)

    async def __call__(self, job: Job) -> tuple[dict[str, Any], bool]:
        request = {**self.defaults, **job.item}
        if request.get("model") is None:
            message = "the row names no model: pass --model, or give the row a 'model'"
            return error_row("id", job.id, "BadInput", message), False
        async with self.gate.call():  # the calls in flight finish and are written first
            return await self._call(job, request)

    async def _call(self, job: Job, request: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        reserved = 0
        limited = [0]
        try:
            if self.rpm is not None:
                await self.rpm.acquire()
            if self.tpm is not None:
                reserved = estimate_tokens(request)
                await self.tpm.acquire(max(reserved, 1))
            reply = await self.router.acompletion(
                **request, on_attempt=lambda event: self._on_attempt(event, limited)
            )
        except Exception as exc:
            if self.tpm is not None and reserved:
                self.tpm.adjust(reserved)  # nothing (known) was spent
            return self._failure(job, exc, request, limited[0]), False
        return self._reply(job, dict(reply), reserved, request, limited[0])

    def _on_attempt(self, event: dict[str, Any], limited: list[int]) -> None:
        if event.get("status_code") == 429:
            self.summary.rate_limited += 1
            limited[0] += 1

    def _record(self, row: dict[str, Any], request: dict[str, Any], **fields: Any) -> None:
        model = request.get("model")
        name = model if isinstance(model, str) else None
        record = build_record(source="batch", model=name, **fields)
        self.meter.add(record["cost_usd"], record["model"])
        row["record"] = record

    def _failure(
        self, job: Job, exc: Exception, request: dict[str, Any], limited: int
    ) -> dict[str, Any]:
        if isinstance(exc, RateLimitError):
            self.summary.rate_limited += 1
            limited += 1
        row = error_row("id", job.id, type(exc).__name__, str(exc))
        meta = getattr(exc, "scillm_router", None)
        if meta is not None:
            row["scillm_router"] = meta
        kind = type(exc).__name__
        self._record(row, request, meta=meta, error_type=kind, rate_limited=limited)
        return row

    def _reply(
        self,
        job: Job,
        reply: dict[str, Any],
        reserved: int,
        request: dict[str, Any],
        limited: int,
    ) -> tuple[dict[str, Any], bool]:
        meta = reply.pop("scillm_router", None) or {}
        usage = reply.get("usage") or {}
        spent = usage.get("total_tokens") if isinstance(usage, dict) else None
        spent = spent if isinstance(spent, int) else 0
        self.summary.tokens += spent
        if self.tpm is not None:
            self.tpm.adjust(reserved - spent)
        row: dict[str, Any] = {"id": job.id, "response": reply, "scillm_router": meta}
        ok = meta.get("error_type", "ok") == "ok"
        if not ok:
            row["ok"] = False
            row["error"] = {"type": str(meta.get("error_type")), "message": reason_of(meta)}
        self._record(row, request, meta=meta, usage=usage, rate_limited=limited)
        return row, ok
