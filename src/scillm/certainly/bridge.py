"""The bridge's engine: answer an envelope with verdicts, and check its own health with real proofs.

``Bridge.complete`` is what ``POST /bridge/complete`` runs (``server.py`` is only its HTTP face),
and what the ``certainly`` provider runs in-process when no bridge URL is set. Formal items go
to the checker; requirements (and statements without proofs) to the prove pipeline. All prover
processes share one gate of ``max_workers``; each item gets its own verdict, and items still
running when the request's ``max_seconds`` ends get ``timeout`` while the rest are kept.

Response::

    {"summary": {"items", "proved", "failed", "unproved", "unavailable"},
     "statistics": {"successful_proofs", "failed_proofs", "unproved"},
     "results": [...], "proof_results": [...],        # the same list, one entry per item
     "duration_ms": ..., "run_manifest": {...}}

``proved + failed + unavailable = items`` and ``unproved = items - proved``; ``failed`` counts
every checked item that was not proved (failed, error, timeout).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Mapping
from typing import Any

from scillm.certainly.engine import aavailable_backends, acheck
from scillm.certainly.envelope import BridgeError, BridgeRequest, is_requirement, parse_envelope
from scillm.certainly.items import BACKENDS
from scillm.certainly.prove import ProofResult, make_task, model_caller, model_name, run_pipeline
from scillm.certainly.settings import BridgeSettings
from scillm.certainly.verdict import Message, Verdict
from scillm.router.seam import ModelRef, engine_model

__all__ = ["SCHEMA", "Bridge", "BridgeError"]

SCHEMA = "canonical+certainly@v1"
# A tiny true and a tiny false statement per backend: /healthz wants the first proved and the
# second not, so a bridge that says "proved" to everything is never healthy.
SELF_TEST = {
    "coq": (("1 + 1 = 2", "Proof. reflexivity. Qed."), ("1 + 1 = 3", "Proof. Admitted.")),
    "lean4": (("1 + 1 = 2", "rfl"), ("1 + 1 = 3", "by sorry")),
}


class Bridge:
    """Serves envelopes under one :class:`BridgeSettings`; safe to share between requests.

    ``model`` (a model string, a Router or ``(router, group)``, see :mod:`scillm.router.seam`)
    writes the proofs of requirements in place of ``settings.model``; a bad reference is a
    ValueError/TypeError here, before any request."""

    def __init__(self, settings: BridgeSettings, model: ModelRef | None = None) -> None:
        self.settings = settings
        self._model: ModelRef = model_name(settings.model) if model is None else model
        if not isinstance(self._model, str):  # a bad reference fails here, not mid-request
            engine_model(self._model, api_base=settings.llm_api_base, api_key=settings.llm_api_key)
        self._name = model_name(self._model)
        self._gate = asyncio.Semaphore(settings.max_workers or os.cpu_count() or 1)

    async def complete(self, body: object) -> dict[str, Any]:
        """The response for one envelope; raises :class:`BridgeError` (400, 503)."""
        started = time.monotonic()
        request = parse_envelope(body, self.settings)
        found = await self._backends()
        installed = [name for name in BACKENDS if found[name]["available"]]
        backend = request.backend or self.settings.backend or next(iter(installed), BACKENDS[0])
        items = [_with_backend(raw, backend) for raw in request.items]
        # Items naming no valid backend get their own error verdicts later.
        named = {item.get("backend") for item in items if isinstance(item, Mapping)}
        wanted = {name for name in BACKENDS if name in named}
        if wanted and not wanted & set(installed):
            raise BridgeError(503, _none_installed(wanted, found))
        results = await self._run_all(items, request, started + request.max_seconds)
        return {
            **_counts(results),
            "results": results,
            "proof_results": results,
            "duration_ms": round((time.monotonic() - started) * 1000),
            "run_manifest": self._manifest(request, items, backend, found),
        }

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether every installed backend proves a true and refuses a false statement."""
        found = await self._backends()
        backends: dict[str, Any] = {}
        for name in BACKENDS:
            backends[name] = dict(found[name])
            if found[name]["available"]:
                backends[name]["proof_check"] = await self._self_test(name)
        checks = [b["proof_check"]["ok"] for b in backends.values() if "proof_check" in b]
        ok = bool(checks) and all(checks)
        details = {
            "default_timeout": self.settings.item_timeout_s,
            "max_seconds": self.settings.max_seconds,
            "max_workers": self.settings.max_workers or os.cpu_count() or 1,
            "model": self._name,
        }
        return ok, {"ok": ok, "backends": backends, "details": details}

    async def _backends(self) -> dict[str, dict[str, object]]:
        return await aavailable_backends(
            coqc_path=self.settings.coqc_path, lean_path=self.settings.lean_path
        )

    async def _self_test(self, backend: str) -> dict[str, Any]:
        started = time.monotonic()
        (true, proof), (false, bogus) = SELF_TEST[backend]
        good, bad = await asyncio.gather(
            self._check({"id": "true", "backend": backend, "statement": true, "proof": proof}),
            self._check({"id": "false", "backend": backend, "statement": false, "proof": bogus}),
        )
        return {
            "ok": good.proved and not bad.proved,
            "true_statement": good.status,
            "false_statement": bad.status,
            "time_ms": round((time.monotonic() - started) * 1000),
        }

    async def _check(self, item: object, deadline: float | None = None) -> Verdict:
        """One item through the shared gate, within ``item_timeout_s`` and the ``deadline``."""
        async with self._gate:
            timeout_s = self.settings.item_timeout_s
            if deadline is not None:
                timeout_s = min(timeout_s, deadline - time.monotonic())
            if timeout_s <= 0:
                return Verdict(None, None, "timeout", (_error("no time was left for this item"),))
            [verdict] = await acheck(
                [item],
                timeout_s=timeout_s,
                max_workers=1,
                axiom_allowlist=self.settings.axiom_allowlist,
                coqc_path=self.settings.coqc_path,
                lean_path=self.settings.lean_path,
            )
        return verdict

    async def _run_all(
        self, items: list[Any], request: BridgeRequest, deadline: float
    ) -> list[dict[str, Any]]:
        tasks = [asyncio.ensure_future(self._one(item, request, deadline)) for item in items]
        done, pending = await asyncio.wait(tasks, timeout=max(deadline - time.monotonic(), 0))
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        results = []
        for item, task in zip(items, tasks, strict=True):
            if task not in done:
                text = f"the request's max_seconds ({request.max_seconds:g} s) ran out first"
                results.append(_entry(item, Verdict(None, None, "timeout", (_error(text),))))
            elif task.exception() is not None:  # one broken item must not lose the batch
                text = f"scillm could not handle this item: {task.exception()!r}"
                results.append(_entry(item, Verdict(None, None, "error", (_error(text),))))
            else:
                results.append(task.result())
        return results

    async def _one(self, item: Any, request: BridgeRequest, deadline: float) -> dict[str, Any]:
        if not is_requirement(item):
            return _entry(item, await self._check(item, deadline))
        if not request.use_llm:
            text = "a requirement needs the model to write its proof, and the request said --no-llm"
            return _entry(item, Verdict(None, None, "error", (_error(text),)))
        try:
            task = make_task(
                item.get("id"),
                item.get("backend"),
                item.get("requirement_text") or item.get("requirement"),
                item.get("statement"),
                item.get("imports") or [],
                item.get("context"),
            )
        except ValueError as exc:
            return _entry(item, Verdict(None, None, "error", (_error(str(exc)),)))
        settings = self.settings
        temperature = 0.0 if request.deterministic else None
        ask = model_caller(
            self._model,
            settings.llm_api_base,
            settings.llm_api_key,
            temperature,
            0,
            request.best_of,
        )

        async def check_one(draft: dict[str, Any]) -> Verdict:
            return await self._check(draft, deadline)

        result = await run_pipeline(
            task,
            ask,
            check_one,
            max_refinements=request.max_refinements,
            best_of=request.best_of,
            model_name=self._name,
        )
        return _proof_entry(item, result)

    def _manifest(
        self,
        request: BridgeRequest,
        items: list[Any],
        backend: str,
        found: Mapping[str, Mapping[str, object]],
    ) -> dict[str, Any]:
        return {
            "run_id": uuid.uuid4().hex,
            "schema": SCHEMA,
            "flags": list(request.flags),
            "options": {
                "max_seconds": request.max_seconds,
                "item_timeout_s": self.settings.item_timeout_s,
                "max_refinements": request.max_refinements,
                "best_of": request.best_of,
                "deterministic": request.deterministic,
                "use_llm": request.use_llm,
            },
            "session_id": request.session_id,
            "track_id": request.track_id,
            "item_ids": [item.get("id") if isinstance(item, Mapping) else None for item in items],
            "provider": {"name": "certainly", "backend": backend},
            "backends": {n: info["version"] for n, info in found.items() if info["available"]},
            "isolation": next(
                (info["isolation"] for info in found.values() if info["isolation"]), None
            ),
            "model": self._name,
        }


def _with_backend(raw: object, backend: str) -> object:
    if isinstance(raw, Mapping) and raw.get("backend") is None:
        return {**raw, "backend": backend}
    return raw


def _none_installed(wanted: set[str], found: Mapping[str, Mapping[str, object]]) -> str:
    why = "; ".join(f"{name}: {found[name]['detail']}" for name in sorted(wanted))
    return f"no prover for this request is installed ({why})"


def _error(text: str) -> Message:
    return Message("error", None, text)


def _entry(item: object, verdict: Verdict) -> dict[str, Any]:
    """A result entry: the verdict's fields plus the caller's ``item_id`` (and metadata)."""
    data = verdict.to_dict()
    if isinstance(item, Mapping):
        data["id"] = item.get("id")
        data["backend"] = data["backend"] or item.get("backend")
        if "metadata" in item:
            data["metadata"] = item["metadata"]
    data["item_id"] = data["id"]
    return data


def _proof_entry(item: Mapping[str, Any], result: ProofResult) -> dict[str, Any]:
    verdict = result.verdict or Verdict(
        result.id, result.backend, "error", (_error(str(result.error)),)
    )
    data = _entry(item, verdict)
    data.update(
        status=result.status,
        requirement=result.requirement,
        formal_statement=result.statement,
        imports=list(result.imports),
        proof=result.proof,
        attempts=[a.to_dict() for a in result.attempts],
        usage=result.usage,
        model=result.model,
    )
    return data


def _counts(results: list[dict[str, Any]]) -> dict[str, Any]:
    total = len(results)
    proved = sum(r["status"] == "proved" for r in results)
    unavailable = sum(r["status"] == "unavailable" for r in results)
    failed = total - proved - unavailable
    return {
        "summary": {
            "items": total,
            "proved": proved,
            "failed": failed,
            "unproved": total - proved,
            "unavailable": unavailable,
        },
        "statistics": {
            "successful_proofs": proved,
            "failed_proofs": failed,
            "unproved": total - proved,
        },
    }
