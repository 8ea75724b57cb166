"""``prove``/``aprove``: a model writes a formal statement and proof, the prover checks, repeat.

    from scillm.certainly import prove
    result = prove("the sum of two even numbers is even", backend="coq",
                   model="openai/gpt-4o-mini", max_refinements=3, best_of=2)
    result.status, result.statement        # ('proved', 'Theorem ... : forall a b, ...')

Each of ``best_of`` candidates is a conversation: the model drafts, the real prover checks the
draft as a ``statement`` + ``proof`` item (so the proved theorem states exactly the drafted
statement), and on failure the prover's messages go back to the model, up to
``max_refinements`` times. Every attempt is recorded with its statement, proof, verdict and
tokens. ``result.statement`` (with ``result.imports``) is the formal statement that was proved:
a person must still read it, because a proof of a statement that does not say what the
requirement meant is worth nothing.

``model`` is a model string, a :class:`~scillm.Router` or ``(router, group)``
(:mod:`scillm.router.seam`): every call goes through the Router's pipeline, so a 429 mid-run
is retried as its Retry-After says, and a Router's cache, pacing and budget apply.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from scillm import _sync
from scillm._config import env
from scillm.certainly.coq_source import assemble as coq_assemble
from scillm.certainly.engine import DEFAULT_TIMEOUT_S, acheck
from scillm.certainly.items import BACKENDS, ProofItem, parse_item
from scillm.certainly.lean import assemble as lean_assemble
from scillm.certainly.prompts import Task, feedback, first_messages, parse_reply
from scillm.certainly.verdict import Status, Verdict
from scillm.errors import ScillmError
from scillm.progress import ProgressTask, track
from scillm.providers.registry import default_model
from scillm.router.seam import ModelRef, engine_model

__all__ = [
    "MODEL_ENV",
    "Attempt",
    "ProofResult",
    "aprove",
    "completion_text",
    "make_task",
    "model_caller",
    "model_name",
    "prove",
    "run_pipeline",
]

MODEL_ENV = "SCILLM_CERTAINLY_MODEL"
CANDIDATE_TEMPERATURE = 0.7  # when best_of > 1 and no temperature is given: candidates differ
USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")

Messages = list[dict[str, Any]]
Model = Callable[[Messages, int], Awaitable[tuple[str, dict[str, int]]]]
"""Answers a conversation for candidate ``i``: the reply's text and its token usage."""
CheckOne = Callable[[dict[str, Any]], Awaitable[Verdict]]
"""Checks one item dict and returns its verdict."""


@dataclass(frozen=True)
class Attempt:
    """One model reply and what became of it. ``error`` says why nothing was checked."""

    candidate: int
    round: int
    statement: str | None = None
    imports: tuple[str, ...] = ()
    proof: str | None = None
    verdict: Verdict | None = None
    usage: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "round": self.round,
            "statement": self.statement,
            "imports": list(self.imports),
            "proof": self.proof,
            "verdict": None if self.verdict is None else self.verdict.to_dict(),
            "usage": dict(self.usage),
            "error": self.error,
        }


@dataclass(frozen=True)
class ProofResult:
    """The outcome for one requirement or statement.

    ``status`` is ``proved`` only when a checked attempt was proved; then ``statement``,
    ``imports`` and ``proof`` are that attempt's. Otherwise they are the latest checked
    attempt's (None if nothing could be checked) and ``status`` its verdict's, or ``error``.
    """

    id: str | int
    backend: str
    status: Status
    requirement: str | None
    statement: str | None
    imports: tuple[str, ...]
    proof: str | None
    verdict: Verdict | None
    attempts: tuple[Attempt, ...]
    model: str
    error: str | None = None

    @property
    def proved(self) -> bool:
        return self.status == "proved"

    @property
    def usage(self) -> dict[str, int]:
        """Tokens over every attempt."""
        return {key: sum(a.usage.get(key, 0) for a in self.attempts) for key in USAGE_KEYS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "backend": self.backend,
            "status": self.status,
            "requirement": self.requirement,
            "statement": self.statement,
            "imports": list(self.imports),
            "proof": self.proof,
            "verdict": None if self.verdict is None else self.verdict.to_dict(),
            "attempts": [a.to_dict() for a in self.attempts],
            "usage": self.usage,
            "model": self.model,
            "error": self.error,
        }


def prove(
    requirement: str | None = None,
    *,
    statement: str | None = None,
    backend: str = "coq",
    imports: Sequence[str] = (),
    context: str | None = None,
    item_id: str | int = "goal",
    model: ModelRef | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
    temperature: float | None = None,
    seed: int = 0,
    max_refinements: int = 2,
    best_of: int = 1,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    axiom_allowlist: Iterable[str] = (),
    coqc_path: str | None = None,
    lean_path: str | None = None,
    progress: bool = False,
) -> ProofResult:
    """Prove a natural-language ``requirement`` or a formal ``statement`` with a model's help.

    ``model`` (a model string, a Router or ``(router, group)``) defaults to
    ``SCILLM_CERTAINLY_MODEL``, then scillm's default model. Candidate
    ``i`` is sampled with ``seed + i`` at ``temperature`` (default 0 for one candidate, 0.7 for
    several). ``imports`` come before the statement. The checker arguments are those of
    :func:`scillm.certainly.check`. ``progress`` shows the attempts on stderr
    (:mod:`scillm.progress`). Raises ValueError for bad arguments; model and prover failures
    are recorded in the result, never raised.
    """
    return _sync.run(
        aprove(
            requirement,
            statement=statement,
            backend=backend,
            imports=imports,
            context=context,
            item_id=item_id,
            model=model,
            api_base=api_base,
            api_key=api_key,
            temperature=temperature,
            seed=seed,
            max_refinements=max_refinements,
            best_of=best_of,
            timeout_s=timeout_s,
            axiom_allowlist=axiom_allowlist,
            coqc_path=coqc_path,
            lean_path=lean_path,
            progress=progress,
        )
    )


async def aprove(
    requirement: str | None = None,
    *,
    statement: str | None = None,
    backend: str = "coq",
    imports: Sequence[str] = (),
    context: str | None = None,
    item_id: str | int = "goal",
    model: ModelRef | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
    temperature: float | None = None,
    seed: int = 0,
    max_refinements: int = 2,
    best_of: int = 1,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    axiom_allowlist: Iterable[str] = (),
    coqc_path: str | None = None,
    lean_path: str | None = None,
    progress: bool = False,
) -> ProofResult:
    """Async twin of :func:`prove`."""
    task = make_task(item_id, backend, requirement, statement, imports, context)
    _check_counts(max_refinements, best_of)
    if isinstance(axiom_allowlist, str):
        raise ValueError("axiom_allowlist must be a list of axiom names, not a single string")
    allowlist = list(axiom_allowlist)
    name = model_name(model)
    ref = name if model is None else model
    ask = model_caller(ref, api_base, api_key, temperature, seed, best_of)

    async def check_one(item: dict[str, Any]) -> Verdict:
        [verdict] = await acheck(
            [item],
            timeout_s=timeout_s,
            max_workers=1,
            axiom_allowlist=allowlist,
            coqc_path=coqc_path,
            lean_path=lean_path,
        )
        return verdict

    return await run_pipeline(
        task,
        ask,
        check_one,
        max_refinements=max_refinements,
        best_of=best_of,
        model_name=name,
        progress=progress,
    )


def model_name(model: ModelRef | None) -> str:
    """The model to use: the argument, ``SCILLM_CERTAINLY_MODEL``, then scillm's default
    (a Router's model group by its name)."""
    if model is None or isinstance(model, str):
        return model or env(MODEL_ENV) or default_model()
    return engine_model(model).name


def model_caller(
    name: ModelRef,
    api_base: str | None,
    api_key: str | None,
    temperature: float | None,
    seed: int,
    best_of: int,
) -> Model:
    """Ask ``name`` through its Router; candidate ``i`` gets ``seed + i`` (see :func:`prove`).
    A model string defaults to ``SCILLM_CERTAINLY_MODEL``, then scillm's default."""
    if temperature is None:
        temperature = 0.0 if best_of == 1 else CANDIDATE_TEMPERATURE
    ref = model_name(name) if isinstance(name, str) else name
    model = engine_model(ref, api_base=api_base, api_key=api_key)

    async def ask(messages: Messages, candidate: int) -> tuple[str, dict[str, int]]:
        resp = await model.acompletion(
            messages,
            temperature=temperature,
            seed=seed + candidate,
        )
        return completion_text(resp)

    return ask


def make_task(
    item_id: object,
    backend: object,
    requirement: object,
    statement: object,
    imports: object,
    context: object,
) -> Task:
    """A validated :class:`Task` (from arguments or JSON); ValueError says what is wrong."""
    if isinstance(item_id, bool) or not isinstance(item_id, str | int):
        raise ValueError(f"the id must be a string or an integer, not {item_id!r}")
    if not isinstance(backend, str) or backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    wanted, formal = (
        _optional_text("requirement", requirement),
        _optional_text("statement", statement),
    )
    if wanted is None and formal is None:
        raise ValueError("give a requirement (natural language) or a formal statement to prove")
    if isinstance(imports, str) or not isinstance(imports, list | tuple):
        raise ValueError("imports must be a list of strings")
    entries = tuple(entry for entry in imports if isinstance(entry, str) and entry.strip())
    if len(entries) != len(imports):
        raise ValueError("imports must be a list of non-empty strings")
    return Task(item_id, backend, wanted, formal, entries, _optional_text("context", context))


def _optional_text(name: str, value: object) -> str | None:
    """A string field: None when absent or blank; ValueError when not a string."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, not {type(value).__name__}")
    return value if value.strip() else None


def _check_counts(max_refinements: object, best_of: object) -> None:
    for name, value, least in (("max_refinements", max_refinements, 0), ("best_of", best_of, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, not {value!r}")


def completion_text(resp: Any) -> tuple[str, dict[str, int]]:
    """The text and token usage of a chat completion."""
    content = resp["choices"][0]["message"].get("content") if resp.get("choices") else None
    usage = resp.get("usage") or {}
    counts = {key: int(usage[key]) for key in USAGE_KEYS if isinstance(usage.get(key), int)}
    return content if isinstance(content, str) else "", counts


async def run_pipeline(
    task: Task,
    model: Model,
    check_one: CheckOne,
    *,
    max_refinements: int,
    best_of: int,
    model_name: str,
    progress: bool = False,
) -> ProofResult:
    """Run ``best_of`` candidate conversations for ``task`` and choose the result.

    Candidates run concurrently; each stops when proved, when the prover is unavailable, when
    the model fails, or after ``max_refinements`` corrections. A proved attempt wins (the
    earliest round, then the lowest candidate), so the choice does not depend on timing.
    ``progress`` shows the attempts (at most ``best_of * (max_refinements + 1)``) on stderr.
    """
    rounds = max_refinements + 1
    label, counts = f"prove {task.id}", ("checked", "proved")
    with track(label, best_of * rounds, unit="attempts", counts=counts, enabled=progress) as bar:
        runs = [_candidate(task, i, model, check_one, rounds, bar) for i in range(best_of)]
        attempts = tuple(a for run in await asyncio.gather(*runs) for a in run)
    best = _best(attempts)
    if best is None or best.verdict is None:
        return ProofResult(
            id=task.id,
            backend=task.backend,
            status="error",
            requirement=task.requirement,
            statement=task.statement,
            imports=task.imports,
            proof=None,
            verdict=None,
            attempts=attempts,
            model=model_name,
            error=next((a.error for a in reversed(attempts) if a.error), "nothing was checked"),
        )
    return ProofResult(
        id=task.id,
        backend=task.backend,
        status=best.verdict.status,
        requirement=task.requirement,
        statement=best.statement,
        imports=best.imports,
        proof=best.proof,
        verdict=best.verdict,
        attempts=attempts,
        model=model_name,
    )


def _best(attempts: Sequence[Attempt]) -> Attempt | None:
    """A proved attempt (earliest round, lowest candidate), else the latest checked one."""
    checked = [(a, a.verdict) for a in attempts if a.verdict is not None]
    proved = [a for a, verdict in checked if verdict.proved]
    if proved:
        return min(proved, key=lambda a: (a.round, a.candidate))
    return max((a for a, _ in checked), key=lambda a: (a.round, -a.candidate), default=None)


async def _candidate(
    task: Task, index: int, model: Model, check_one: CheckOne, rounds: int, bar: ProgressTask
) -> list[Attempt]:
    messages = first_messages(task)
    attempts: list[Attempt] = []
    record = partial(_record, attempts, bar)
    for round_ in range(rounds):
        try:
            content, usage = await model(messages, index)
        except ScillmError as exc:
            error = f"the model call failed: {type(exc).__name__}: {exc}"
            record(Attempt(index, round_, error=error))
            break
        messages.append({"role": "assistant", "content": content})
        draft = parse_reply(content, task)
        if isinstance(draft, str):
            record(Attempt(index, round_, usage=usage, error=draft))
            messages.append({"role": "user", "content": draft})
            continue
        item = draft.item(task)
        verdict = await check_one(item)
        record(Attempt(index, round_, draft.statement, draft.imports, draft.proof, verdict, usage))
        if verdict.status in ("proved", "unavailable"):
            break
        messages.append({"role": "user", "content": feedback(verdict, _shown(item), task)})
    return attempts


def _record(attempts: list[Attempt], bar: ProgressTask, attempt: Attempt) -> None:
    attempts.append(attempt)
    bar.advance()
    if attempt.verdict is not None:
        bar.count("checked")
        bar.count("proved", attempt.verdict.proved)


def _shown(item: dict[str, Any]) -> str | None:
    """The checked file as the model wrote it, so message line numbers make sense."""
    parsed = parse_item(item, 0)
    if not isinstance(parsed, ProofItem):
        return None
    if parsed.backend == "coq":
        coq = coq_assemble(parsed)
        return None if isinstance(coq, str) else coq.shown
    lean = lean_assemble(parsed)
    return None if isinstance(lean, str) else lean.text
