"""Holding the final answer to ``response_format``: check it, ask the model once more, or fail.

The loop's steps cannot all be constrained (tool calls are not JSON answers), so the format is
checked at the end: a final answer that already fits is kept; otherwise one more model call,
without tools and with ``response_format`` sent, asks for the answer in that shape. If that
does not fit either, the run fails with :class:`ContentValidationError`.
"""

from __future__ import annotations

from typing import Any

import orjson

from scillm._schema import SchemaPlan, plan_structured
from scillm.agent.model import ChatModel
from scillm.agent.records import AgentResult
from scillm.errors import ContentValidationError
from scillm.router.structured import validate_reply

__all__ = ["conform", "fit", "plan_format"]


def plan_format(response_format: Any) -> SchemaPlan | None:
    """The checked plan for ``response_format`` (BadRequestError for a broken one), or None."""
    if response_format is None:
        return None
    plan, _ = plan_structured({"response_format": response_format}, None, None)
    return plan


async def conform(
    result: AgentResult, task: list[dict[str, Any]], plan: SchemaPlan, chat: ChatModel
) -> None:
    """Make ``result.final_answer`` satisfy ``plan`` (one extra call at most) or raise.

    ``task`` is the conversation the run started from; ``chat`` sends ``response_format``.
    """
    if _fits(result, plan):
        return
    instruction = "Give your final answer now as one JSON object, nothing else."
    if plan.schema is not None:
        instruction += (
            f" It must validate against this JSON Schema: {orjson.dumps(plan.schema).decode()}"
        )
    messages = [
        *task,
        {"role": "assistant", "content": result.final_answer},
        {"role": "user", "content": instruction},
    ]
    reply = await chat(messages, [])
    for key, value in (reply.get("usage") or {}).items():
        if key in result.usage and isinstance(value, int):
            result.usage[key] += value
    result.final_answer = str(reply["choices"][0]["message"].get("content") or "")
    result.messages += [messages[-1], {"role": "assistant", "content": result.final_answer}]
    if not _fits(result, plan):
        raise ContentValidationError(
            "the agent's final answer does not satisfy response_format "
            f"({plan.mode}), even when asked once more: {result.final_answer[:300]!r}"
        )


def fit(text: str, plan: SchemaPlan) -> str | None:
    """``text`` when it satisfies ``plan`` (unfenced or repaired JSON made clean), else None."""
    validation, value = validate_reply(text, plan)
    if not validation.ok:
        return None
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return orjson.dumps(value).decode()
    return text


def _fits(result: AgentResult, plan: SchemaPlan) -> bool:
    fitted = fit(result.final_answer, plan)
    if fitted is not None:
        result.final_answer = fitted
    return fitted is not None
