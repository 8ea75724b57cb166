"""The judge: a deterministic ranking always, and an optional LLM opinion on top.

The ranking is lexicographic: correctness, then speed, then brevity (then the order the
variants were given or found, so it is total). ``judge_mode="weighted"`` picks the best by the
aggregate instead, ties broken the same way. The LLM judge (``judge={"model", "rubric"}``)
sees the task and the ``JUDGE_MAX_VARIANTS`` most correct programs with their executed test
results and scores (not speed: measured times vary, and the prompt must repeat exactly for a
seed), in an order shuffled by the run's seed under anonymous labels, and replies with a
ranking. It is advice: recorded with its prompt and response hashes, never a verdict over the
executed tests.
"""

from __future__ import annotations

import hashlib
import json
import random
import string
import time
from collections.abc import Sequence
from typing import Any

from scillm.codeworld.evaluation import Evaluation
from scillm.codeworld.items import Item
from scillm.codeworld.llm import LLMUsage, ask
from scillm.codeworld.prompts import judge_messages
from scillm.codeworld.request import JudgeSpec, derive_seed

__all__ = ["JUDGE_MAX_VARIANTS", "llm_judge", "rank"]

JUDGE_MAX_VARIANTS = 8
MIN_JUDGE_TIMEOUT_S = 30.0


def rank(evaluations: Sequence[Evaluation], mode: str = "lex") -> list[Evaluation]:
    """Best first: lexicographic, or by aggregate (``weighted``) with the same tie-breaks."""
    position = {id(ev): i for i, ev in enumerate(evaluations)}

    def lex(ev: Evaluation) -> tuple[float, ...]:
        s = ev.scores
        return (
            -(s.get("correctness") or 0.0),
            -(s.get("speed") or 0.0),
            -(s.get("brevity") or 0.0),
            position[id(ev)],
        )

    if mode == "weighted":
        return sorted(evaluations, key=lambda ev: (-(ev.scores.get("aggregate") or 0.0), *lex(ev)))
    return sorted(evaluations, key=lex)


async def llm_judge(
    spec: JudgeSpec, item: Item, evaluations: Sequence[Evaluation], seed: int, deadline: float
) -> dict[str, Any]:
    """Ask ``spec.llm`` to rank the top programs; the record of what it was shown and said.

    Which programs are shown, and in which order, depends only on executed results and the
    seed (correctness, brevity, then the order found; never on measured time).
    """
    best = sorted(
        range(len(evaluations)),
        key=lambda i: (-evaluations[i].correctness, -evaluations[i].brevity, i),
    )[:JUDGE_MAX_VARIANTS]
    shown = [evaluations[i] for i in sorted(best)]
    random.Random(derive_seed(seed, item, "judge")).shuffle(shown)
    labelled = list(zip(string.ascii_uppercase, shown, strict=False))
    messages = judge_messages(item, labelled, spec.rubric)
    usage = LLMUsage()
    timeout = max(deadline - time.monotonic(), MIN_JUDGE_TIMEOUT_S)
    reply = await ask(spec.llm, messages, seed=seed, usage=usage, timeout_s=timeout)
    record: dict[str, Any] = {
        "model": spec.llm.model,
        "order": [ev.id for ev in shown],
        "labels": {label: ev.id for label, ev in labelled},
        "prompt_sha256": _sha256(json.dumps(messages, sort_keys=True)),
        "response_sha256": _sha256(reply.text) if reply.text is not None else None,
        "ranking": None,
        "best": None,
        "reason": None,
        "error": reply.error,
        "usage": usage.to_dict(),
    }
    if reply.text is not None:
        record.update(_verdict(reply.text, record["labels"]))
    return record


def _verdict(text: str, labels: dict[str, str]) -> dict[str, Any]:
    """The ranking in the reply, mapped back to variant ids, or the reason it is unusable."""
    start, end = text.find("{"), text.rfind("}")
    try:
        data = json.loads(text[start : end + 1]) if 0 <= start < end else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return {"error": "the judge's reply holds no JSON object"}
    ranking = data.get("ranking")
    if not isinstance(ranking, list) or not ranking or any(r not in labels for r in ranking):
        return {"error": f"the judge's ranking {ranking!r:.200} does not use the labels given"}
    best = data.get("best", ranking[0])
    if best not in labels:
        return {"error": f"the judge's best {best!r:.50} is not one of the labels given"}
    reason = data.get("reason")
    return {
        "ranking": [labels[r] for r in dict.fromkeys(ranking)],
        "best": labels[best],
        "reason": reason if isinstance(reason, str) else None,
    }


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
