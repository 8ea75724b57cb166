"""Responses API wire shapes: request prompt, ``response`` object and its SSE events.

Streaming follows the public event order (``response.created`` … ``response.completed``),
including the ``output_item``/``content_part`` events clients such as Codex build items from.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from scillm.testing.replies import JSONDict, Reply, Turn, count_tokens, text_of

_WORD = re.compile(r"\S+\s*|\s+")


def prompt(body: JSONDict) -> tuple[str, int]:
    """The last user text of ``input`` (a string or a list of items) and the prompt tokens."""
    tokens = count_tokens(text_of(body.get("instructions")))
    items = body.get("input")
    if isinstance(items, str):
        return items, tokens + count_tokens(items)
    last_user = ""
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        text = text_of(item.get("content")) or text_of(item.get("output"))
        tokens += count_tokens(text)
        if item.get("role") == "user":
            last_user = text
    return last_user, tokens


def response(reply: Reply, turn: Turn) -> JSONDict:
    """A completed ``response`` object."""
    items = _items(reply, turn)
    output = reply.completion_tokens()
    usage = {
        "input_tokens": turn.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": turn.prompt_tokens + output,
    }
    return _envelope(turn, "completed", items, usage | dict(reply.usage or {}))


def events(reply: Reply, turn: Turn) -> Iterator[bytes]:
    """The SSE events of a streamed response, ``event:`` and ``data:`` lines each."""
    final = response(reply, turn)
    seq = 0

    def event(kind: str, **fields: Any) -> bytes:
        nonlocal seq
        data = {"type": kind, "sequence_number": seq} | fields
        seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"

    started = _envelope(turn, "in_progress", [], None)
    yield event("response.created", response=started)
    yield event("response.in_progress", response=started)
    for index, item in enumerate(final["output"]):
        yield event("response.output_item.added", output_index=index, item=_opening(item))
        if item["type"] == "message":
            yield from _text_events(event, index, item)
        else:
            yield from _argument_events(event, index, item)
        yield event("response.output_item.done", output_index=index, item=item)
    yield event("response.completed", response=final)


def _text_events(event: Callable[..., bytes], index: int, item: JSONDict) -> Iterator[bytes]:
    where = {"item_id": item["id"], "output_index": index, "content_index": 0}
    part = item["content"][0]
    yield event("response.content_part.added", **where, part=part | {"text": ""})
    for word in _WORD.findall(part["text"]):
        yield event("response.output_text.delta", **where, delta=word, logprobs=[])
    yield event("response.output_text.done", **where, text=part["text"], logprobs=[])
    yield event("response.content_part.done", **where, part=part)


def _argument_events(event: Callable[..., bytes], index: int, item: JSONDict) -> Iterator[bytes]:
    where = {"item_id": item["id"], "output_index": index}
    yield event("response.function_call_arguments.delta", **where, delta=item["arguments"])
    yield event("response.function_call_arguments.done", **where, arguments=item["arguments"])


def _envelope(turn: Turn, status: str, output: list[JSONDict], usage: Any) -> JSONDict:
    return {
        "id": turn.ident,
        "object": "response",
        "created_at": turn.created,
        "status": status,
        "error": None,
        "incomplete_details": None,
        "model": turn.model,
        "output": output,
        "usage": usage,
    }


def _items(reply: Reply, turn: Turn) -> list[JSONDict]:
    calls = reply.wire_tool_calls()
    items: list[JSONDict] = []
    if reply.content is not None and (reply.content or not calls):
        text = {"type": "output_text", "text": reply.content, "annotations": []}
        items.append(
            {
                "type": "message",
                "id": f"msg_{turn.ident}",
                "status": "completed",
                "role": "assistant",
                "content": [text],
            }
        )
    for call in calls:
        items.append(
            {
                "type": "function_call",
                "id": f"fc_{call['id']}",
                "call_id": call["id"],
                "name": call["function"]["name"],
                "arguments": call["function"]["arguments"],
                "status": "completed",
            }
        )
    return items


def _opening(item: JSONDict) -> JSONDict:
    if item["type"] == "message":
        return item | {"status": "in_progress", "content": []}
    return item | {"status": "in_progress", "arguments": ""}
