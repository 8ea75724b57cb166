"""MCTS over programs: nodes are executed programs, expansion asks an LLM for a new or repaired
one, and the reward is the program's executed score.

The root's children are the item's variants (and, with ``autogenerate``, ``n_variants``
programs generated first). Each rollout descends by UCT; at every node the choice is between
its children and *expanding it*: at the root that asks for a fresh program, elsewhere for a
repair of the node's program given the tests it fails (the prompt shows expected vs. got, or
the error). Expanding a node scores ``mean + c·sqrt(ln(N+1) / (expansions+1))``, a child
``mean + c·sqrt(ln(N+1) / visits)``, ties broken by the seeded RNG. A new program is executed
on every test, added as a child (refinement depth ≤ ``depth``) and its reward is backed up to
the root. Programs with the same normalized AST are one node (the known reward is backed up
again); executions are cached by (code, tests). The search stops at the first program that
passes every test, or when ``rollouts``, ``max_seconds`` or the LLM (3 failures in a row) run out.

Rewards leave out speed (timing noise would make the tree depend on the machine), so a seed
(with a deterministic model) repeats the same prompts, tree and trace. Every LLM call goes through
a Router (``model``: a model string, a Router or ``(router, group)``; default the generator of the
config): a 429 is retried as its Retry-After says, and a Router with a cache replays a seeded
search without a network call.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass, field
from typing import Any

from scillm.codeworld.evaluation import Evaluation, Evaluator
from scillm.codeworld.fingerprint import shape_hash
from scillm.codeworld.items import Item, Variant
from scillm.codeworld.llm import LLMUsage, Reply, ask, extract_code, model_of
from scillm.codeworld.metrics import search_reward
from scillm.codeworld.prompts import new_program_messages, repair_messages
from scillm.codeworld.request import RunConfig, derive_seed
from scillm.progress import track
from scillm.router.seam import EngineModel, ModelRef

__all__ = ["MAX_LLM_FAILURES", "search"]

MAX_LLM_FAILURES = 3  # consecutive failed LLM calls end the search
MAX_ERRORS_KEPT = 5


@dataclass(eq=False)
class Node:
    """A program in the tree (the root holds none). ``value`` sums backed-up rewards."""

    evaluation: Evaluation | None
    parent: Node | None = None
    depth: int = -1
    reward: float = 0.0
    visits: int = 0
    value: float = 0.0
    expansions: int = 0
    children: list[Node] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.evaluation.id if self.evaluation else "root"

    @property
    def mean(self) -> float:
        return self.value / self.visits if self.visits else 0.0


@dataclass
class _Search:
    item: Item
    config: RunConfig
    evaluator: Evaluator
    deadline: float
    rng: random.Random
    model: EngineModel
    usage: LLMUsage = field(default_factory=LLMUsage)
    root: Node = field(default_factory=lambda: Node(None))
    shapes: dict[str, Node] = field(default_factory=dict)
    evaluations: list[Evaluation] = field(default_factory=list)
    trace: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    duplicates: int = 0
    stopped: str = "rollouts"


async def search(
    item: Item,
    config: RunConfig,
    evaluator: Evaluator,
    *,
    model: ModelRef | None = None,
    progress: bool = False,
) -> tuple[list[Evaluation], dict[str, Any]]:
    """Run the search for ``item``; every program it executed, and the search's report.
    ``model`` replaces the config's generator model (its temperature still applies);
    ``progress`` shows the rollouts on stderr (:mod:`scillm.progress`)."""
    engine = model_of(config.generator, model)
    spec = config.search
    started = time.monotonic()
    limit = started + spec.max_seconds if spec.max_seconds else math.inf
    rng = random.Random(derive_seed(config.seed, item, "tree"))
    run = _Search(item, config, evaluator, min(evaluator.deadline, limit), rng, engine)
    seeds = [(v, "given") for v in item.variants]
    if spec.autogenerate:
        seeds += await _generate(run)
    await _plant(run, seeds)
    rollouts = 0
    with track(
        f"mcts {item.id}",
        spec.rollouts,
        unit="rollouts",
        enabled=progress,
        poll=lambda bar: bar.counts.update(programs=len(run.evaluations)),
    ) as bar:
        while not _finished(run):
            if rollouts >= spec.rollouts:
                break
            rollouts += 1
            await _rollout(run, rollouts)
            bar.advance()
    return run.evaluations, _report(run, rollouts, time.monotonic() - started)


async def _generate(run: _Search) -> list[tuple[Variant, str]]:
    """``n_variants`` fresh programs, asked for concurrently, each with its own seed."""
    messages = new_program_messages(run.item)
    n = run.config.search.n_variants
    replies = await asyncio.gather(*(_ask(run, messages, f"auto{k}") for k in range(1, n + 1)))
    programs = []
    for k, reply in enumerate(replies, start=1):
        code = extract_code(reply.text, run.item.language) if reply.text else None
        step = _step(f"auto{k}", "root", "generate", code, reply.error)
        if code is not None:
            variant = Variant(_fresh_id(run, f"auto{k}"), code)
            programs.append((variant, "generated"))
            step.update(result="generated", variant=variant.id)
        run.trace.append(step)
    return programs


async def _plant(run: _Search, seeds: list[tuple[Variant, str]]) -> None:
    """Execute the starting programs concurrently and hang them under the root."""
    evaluations = await asyncio.gather(
        *(run.evaluator.evaluate(run.item, v, origin=origin) for v, origin in seeds)
    )
    for evaluation in evaluations:
        run.evaluations.append(evaluation)
        if evaluation.shape in run.shapes:
            run.duplicates += 1
        else:
            _attach(run, run.root, evaluation)


async def _rollout(run: _Search, number: int) -> None:
    node = _select(run)
    program = node.evaluation
    fresh = program is None
    if program is None:
        messages = new_program_messages(run.item)
    else:
        messages = repair_messages(run.item, program)
    reply = await _ask(run, messages, f"rollout{number}")
    node.expansions += 1
    code = extract_code(reply.text, run.item.language) if reply.text else None
    action = "new" if fresh else "repair"
    step = _step(number, node.name, action, code, reply.error)
    run.trace.append(step)
    if code is None:
        _backup(node, 0.0)
        return
    known = run.shapes.get(shape_hash(code, run.item.language))
    if known is not None:
        run.duplicates += 1
        step.update(result="duplicate", variant=known.name, reward=known.reward)
        _backup(node, known.reward)
        return
    variant = Variant(_fresh_id(run, f"m{number}"), code)
    evaluation = await run.evaluator.evaluate(
        run.item,
        variant,
        origin="repair" if not fresh else "generated",
        parent=None if fresh else node.name,
        depth=node.depth + 1,
    )
    run.evaluations.append(evaluation)
    child = _attach(run, node, evaluation)
    step.update(result="child", variant=variant.id, reward=child.reward)


def _attach(run: _Search, parent: Node, evaluation: Evaluation) -> Node:
    weights = run.config.weights
    reward = search_reward(evaluation.correctness, evaluation.brevity, weights)
    child = Node(evaluation, parent, depth=parent.depth + 1 if parent.evaluation else 0)
    child.reward = reward
    parent.children.append(child)
    run.shapes[evaluation.shape] = child
    _backup(child, reward)
    return child


def _select(run: _Search) -> Node:
    """Descend by UCT to the node to expand."""
    node, c = run.root, run.config.search.uct_c
    while True:
        ln_n = math.log(node.visits + 1)
        options: list[tuple[float, Node | None]] = []
        if _expandable(run, node):
            options.append((node.mean + c * math.sqrt(ln_n / (node.expansions + 1)), None))
        for child in node.children:
            if _open(run, child):
                options.append((child.mean + c * math.sqrt(ln_n / child.visits), child))
        best = max(score for score, _ in options)
        choice = run.rng.choice([n for score, n in options if score == best])
        if choice is None:
            return node
        node = choice


def _expandable(run: _Search, node: Node) -> bool:
    return node.evaluation is None or node.depth < run.config.search.depth


def _open(run: _Search, node: Node) -> bool:
    """Whether a rollout can still expand something at or below ``node``."""
    return _expandable(run, node) or any(_open(run, c) for c in node.children)


def _backup(node: Node | None, reward: float) -> None:
    while node is not None:
        node.visits += 1
        node.value += reward
        node = node.parent


def _finished(run: _Search) -> bool:
    if any(ev.perfect for ev in run.evaluations):
        run.stopped = "perfect"
    elif time.monotonic() >= run.deadline:
        run.stopped = "max_seconds"
    elif run.usage.errors and _failures_in_a_row(run) >= MAX_LLM_FAILURES:
        run.stopped = "llm_errors"
    else:
        return False
    return True


def _failures_in_a_row(run: _Search) -> int:
    count = 0
    for step in reversed(run.trace):
        if step.get("error") is None:
            break
        count += 1
    return count


async def _ask(run: _Search, messages: list[dict[str, Any]], tag: str) -> Reply:
    seed = derive_seed(run.config.seed, run.item, tag)
    remaining = run.deadline - time.monotonic()
    reply = await ask(
        run.config.generator,
        messages,
        seed=seed,
        usage=run.usage,
        timeout_s=remaining,
        model=run.model,
    )
    if reply.error and len(run.errors) < MAX_ERRORS_KEPT:
        run.errors.append(reply.error)
    return reply


def _step(
    number: int | str, node: str, action: str, code: str | None, error: str | None
) -> dict[str, Any]:
    result = "llm_error" if error else ("no_code" if code is None else "pending")
    return {
        "rollout": number,
        "node": node,
        "action": action,
        "result": result,
        "variant": None,
        "reward": None,
        "error": error,
    }


def _fresh_id(run: _Search, base: str) -> str:
    taken = {v.id for v in run.item.variants} | {e.id for e in run.evaluations}
    taken |= {step["variant"] for step in run.trace if step["variant"]}
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}-{n}"
    return name


def _report(run: _Search, rollouts: int, elapsed_s: float) -> dict[str, Any]:
    nodes = [n for n in _walk(run.root) if n.evaluation is not None]
    best = max(nodes, key=lambda n: n.reward, default=None)
    spec = run.config.search
    return {
        "strategy": "mcts",
        "autogenerate": spec.autogenerate,
        "rollouts": rollouts,
        "rollout_budget": spec.rollouts,
        "depth": spec.depth,
        "max_depth_reached": max((n.depth for n in nodes), default=0),
        "uct_c": spec.uct_c,
        "seed": run.config.seed,
        "nodes": len(nodes),
        "visits": run.root.visits,
        "explored": len(run.evaluations),
        "duplicates": run.duplicates,
        "cache_hits": sum(1 for e in run.evaluations if e.cached),
        "llm": run.usage.to_dict(),
        "stopped": run.stopped,
        "best_variant": best.name if best else None,
        "best_value": best.reward if best else None,
        "errors": run.errors,
        "elapsed_s": round(elapsed_s, 3),
        "trace": run.trace,
    }


def _walk(node: Node) -> list[Node]:
    out = [node]
    for child in node.children:
        out.extend(_walk(child))
    return out
