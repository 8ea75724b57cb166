"""The engine: a checked request in, the CodeWorld payload out.

Per item: the strategy produces executed variants (``baseline`` runs the given ones, ``mcts``
searches), the scoring function adds its metrics, the rubric scores everything, the judge ranks.
Items run concurrently; sandboxed processes are capped by ``EngineSettings.concurrency``.
An item that fails for any reason is an ``error`` result with the reason, never a crash of the
whole request. Without a usable sandbox nothing runs: :class:`EngineUnavailable`.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from scillm.codeworld import mcts
from scillm.codeworld.evaluation import Evaluation, Evaluator
from scillm.codeworld.execute import SandboxPool
from scillm.codeworld.items import Item
from scillm.codeworld.judge import llm_judge, rank
from scillm.codeworld.metrics import BUILTIN_METRICS, aggregate, speeds
from scillm.codeworld.request import Request, RunConfig
from scillm.codeworld.scoring import apply_scoring
from scillm.codeworld.settings import EngineSettings
from scillm.codeworld.signals import Sessions
from scillm.errors import EngineUnavailable
from scillm.sandbox import isolation_available

__all__ = ["SCHEMA", "run_request"]

SCHEMA = "canonical+codeworld@v1"
NOT_RUN = ("rejected", "sandbox_error", "skipped")
log = logging.getLogger("scillm.codeworld")


async def run_request(
    request: Request, settings: EngineSettings, sessions: Sessions | None = None
) -> dict[str, Any]:
    """Run every item of ``request``; the payload (summary, results, run_manifest, signals)."""
    host = await asyncio.to_thread(isolation_available)
    if not host["isolated"] and not settings.allow_rlimits_only:
        raise EngineUnavailable(
            f"CodeWorld needs the sandbox and it is unusable here: {host['problem']}. Install "
            "bubblewrap, point CODEWORLD_BASE at a bridge that has it, or accept rlimits-only "
            "isolation explicitly (SCILLM_CODEWORLD_ALLOW_RLIMITS_ONLY=1)."
        )
    config = request.config
    started, wall = time.monotonic(), datetime.datetime.now(datetime.UTC)
    pool = SandboxPool(settings.processes, settings.allow_rlimits_only)
    evaluator = Evaluator(pool, started + config.max_seconds)
    results = await asyncio.gather(
        *(_item_result(item, config, evaluator, pool) for item in request.items)
    )
    solved = sum(1 for r in results if r["status"] == "solved")
    errors = sum(1 for r in results if r["status"] == "error")
    current = sum(r["scores"].get("aggregate") or 0.0 for r in results) / len(results)
    manifest = _manifest(request, host, pool, evaluator, started, wall)
    return {
        "summary": {
            "items": len(results),
            "succeeded": solved,
            "failed": len(results) - solved,
            "errors": errors,
        },
        "results": results,
        "usage": _usage(results),
        "run_manifest": manifest,
        "signals": sessions.record(config.session_id, current)
        if sessions is not None and config.session_id
        else None,
    }


async def _item_result(
    item: Item, config: RunConfig, evaluator: Evaluator, pool: SandboxPool
) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = await _judged(item, config, evaluator, pool)
    except Exception as exc:  # one item's failure is its own result, never the request's
        log.exception("codeworld item %r failed", item.id)
        result = {"status": "error", "message": f"{type(exc).__name__}: {exc}", "scores": {}}
    duration = {"duration_ms": round((time.perf_counter() - started) * 1000, 3)}
    return {"index": item.index, "item_id": item.id, **result, "timings": duration}


async def _judged(
    item: Item, config: RunConfig, evaluator: Evaluator, pool: SandboxPool
) -> dict[str, Any]:
    search = None
    if config.strategy == "mcts":
        evaluations, search = await mcts.search(item, config, evaluator)
    else:
        evaluations = list(
            await asyncio.gather(*(evaluator.evaluate(item, v) for v in item.variants))
        )
    if config.scoring is not None:
        await apply_scoring(config.scoring, item, evaluations, pool, evaluator.deadline)
    _score(evaluations, config.weights)
    ranked = rank(evaluations, config.judge_mode)
    verdict = None
    if config.judge is not None and ranked:
        verdict = await llm_judge(config.judge, item, evaluations, config.seed, evaluator.deadline)
    return _report(item, config, evaluations, ranked, search, verdict)


def _score(evaluations: Sequence[Evaluation], weights: dict[str, float]) -> None:
    speed = speeds({ev.id: ev.verdicts for ev in evaluations})
    for ev in evaluations:
        custom = {k: v for k, v in ev.scores.items() if k not in BUILTIN_METRICS}
        ev.scores = {
            "correctness": ev.correctness,
            "speed": speed[ev.id],
            "brevity": ev.brevity,
            **custom,
        }
        ev.scores["aggregate"] = aggregate(ev.scores, weights)


def _report(
    item: Item,
    config: RunConfig,
    evaluations: list[Evaluation],
    ranked: list[Evaluation],
    search: dict[str, Any] | None,
    verdict: dict[str, Any] | None,
) -> dict[str, Any]:
    ran = [ev for ev in ranked if ev.status not in NOT_RUN]
    best = ran[0] if ran else None
    if best is None:
        status = "error"
        reasons = {f"{ev.status}: {ev.message}" for ev in evaluations} or {"no program to run"}
        message = "no variant ran: " + "; ".join(sorted(reasons))[:1000]
    else:
        status, message = ("solved" if best.perfect else "unsolved"), ""
    return {
        "status": status,
        "message": message,
        "language": item.language,
        "mode": item.mode,
        "best_variant": best.id if best else None,
        "best_code": best.variant.code if best else None,
        "scores": dict(best.scores) if best else {},
        "pass_rate": best.correctness if best else 0.0,
        "tests": [v.to_dict() for v in best.verdicts] if best else [],
        "ranking": [ev.id for ev in ranked],
        "judge": {
            "mode": config.judge_mode,
            "lex_ranking": [ev.id for ev in rank(evaluations, "lex")],
            "llm": verdict,
        },
        "variants": [ev.to_dict() for ev in evaluations],
        "search": search,
        "notes": _notes(item),
        "errors": _errors(evaluations, search, verdict),
        "isolation": next((ev.isolation for ev in ran), None),
    }


def _notes(item: Item) -> list[str]:
    unchecked = [t.id for t in item.tests if not t.checked]
    if not unchecked:
        return []
    return [
        f"tests {', '.join(unchecked)} have no expected value: scored by exit status only "
        "(passed = the call returned / the program exited 0)"
    ]


def _errors(
    evaluations: list[Evaluation], search: dict[str, Any] | None, verdict: dict[str, Any] | None
) -> list[str]:
    errors = [
        f"variant {ev.id}: scoring: {ev.scoring_error}" for ev in evaluations if ev.scoring_error
    ]
    errors += [
        f"variant {ev.id}: {ev.status}: {ev.message}" for ev in evaluations if ev.status in NOT_RUN
    ]
    errors += [f"search: {e}" for e in (search or {}).get("errors", [])]
    if verdict and verdict.get("error"):
        errors.append(f"llm judge: {verdict['error']}")
    return errors


def _usage(results: list[dict[str, Any]]) -> dict[str, int]:
    total = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    for result in results:
        judge = (result.get("judge") or {}).get("llm") or {}
        for usage in ((result.get("search") or {}).get("llm"), judge.get("usage")):
            for key in total:
                total[key] += (usage or {}).get(key, 0)
    return total


def _manifest(
    request: Request,
    host: dict[str, Any],
    pool: SandboxPool,
    evaluator: Evaluator,
    started: float,
    wall: datetime.datetime,
) -> dict[str, Any]:
    config = request.config
    search = config.search
    params: dict[str, Any] = {}
    if config.strategy == "mcts":
        params = {
            "rollouts": search.rollouts,
            "depth": search.depth,
            "uct_c": search.uct_c,
            "max_seconds": search.max_seconds,
            "autogenerate": search.autogenerate,
            "n_variants": search.n_variants if search.autogenerate else None,
            "generator_model": config.generator.model,
            "temperature": config.generator.temperature,
        }
    return {
        "run_id": uuid.uuid4().hex,
        "schema": SCHEMA,
        "started_at": wall.isoformat(),
        "duration_ms": round((time.monotonic() - started) * 1000, 3),
        "options": {
            "max_seconds": config.max_seconds,
            "session_id": config.session_id,
            "track_id": config.track_id,
        },
        "item_ids": [item.id for item in request.items],
        "strategy_name": config.strategy,
        "strategy_seed": config.seed,
        "strategy_params": params,
        "weights": config.weights,
        "judge_mode": config.judge_mode,
        "judge_model": config.judge.llm.model if config.judge else None,
        "scoring": config.scoring is not None,
        "isolation": host["isolation"],
        "sandbox_processes": pool.processes,
        "cache_hits": evaluator.cache_hits,
    }
