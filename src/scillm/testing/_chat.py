"""Chat Completions wire shapes: request prompt, ``chat.completion`` body and SSE chunks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from scillm.testing.replies import JSONDict, Reply, Turn, count_tokens, text_of

ARGUMENT_PIECE_CHARS = 16
"""Tool-call arguments stream in slices this long, so clients must really reassemble them."""

_WORD = re.compile(r"\S+\s*|\s+")


def prompt(messages: list[Any]) -> tuple[str, int]:
    """The last user message's text and the estimated prompt tokens of all messages."""
    last_user, tokens = "", 0
    for message in messages:
        if not isinstance(message, dict):
            continue
        text = text_of(message.get("content"))
        tokens += count_tokens(text)
        if message.get("role") == "user":
            last_user = text
    return last_user, tokens


def usage(reply: Reply, turn: Turn) -> JSONDict:
    """Usage for ``n`` identical choices, with the reply's overrides applied."""
    completion = reply.completion_tokens() * turn.n
    counted = {
        "prompt_tokens": turn.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": turn.prompt_tokens + completion,
    }
    return counted | dict(reply.usage or {})


def completion(reply: Reply, turn: Turn) -> JSONDict:
    """A full ``chat.completion`` object with ``turn.n`` identical choices."""
    calls = reply.wire_tool_calls()
    message: JSONDict = {"role": "assistant", "content": reply.content}
    if calls:
        message["tool_calls"] = calls
    choices = [
        {"index": i, "message": message, "logprobs": None, "finish_reason": reply.finish}
        for i in range(turn.n)
    ]
    return {
        "id": turn.ident,
        "object": "chat.completion",
        "created": turn.created,
        "model": turn.model,
        "choices": choices,
        "usage": usage(reply, turn),
    }


def chunks(reply: Reply, turn: Turn) -> Iterator[bytes]:
    """SSE ``data:`` lines: role, content words, tool-call deltas, finish, usage, ``[DONE]``."""
    calls = reply.wire_tool_calls()
    head = {
        "id": turn.ident,
        "object": "chat.completion.chunk",
        "created": turn.created,
        "model": turn.model,
    }

    def event(choices: list[JSONDict], **extra: Any) -> bytes:
        return b"data: " + orjson.dumps(head | {"choices": choices} | extra) + b"\n\n"

    for i in range(turn.n):
        for delta in _deltas(reply, calls):
            yield event([{"index": i, "delta": delta, "logprobs": None, "finish_reason": None}])
        yield event([{"index": i, "delta": {}, "logprobs": None, "finish_reason": reply.finish}])
    if turn.include_usage:
        yield event([], usage=usage(reply, turn))
    yield b"data: [DONE]\n\n"


def _deltas(reply: Reply, calls: list[JSONDict]) -> Iterator[JSONDict]:
    yield {"role": "assistant", "content": None if reply.content is None else ""}
    for word in _WORD.findall(reply.content or ""):
        yield {"content": word}
    for index, call in enumerate(calls):
        function = call["function"]
        start = {"name": function["name"], "arguments": ""}
        opening = {"index": index, "id": call["id"], "type": "function", "function": start}
        yield {"tool_calls": [opening]}
        args: str = function["arguments"]
        for at in range(0, len(args), ARGUMENT_PIECE_CHARS):
            piece = {"arguments": args[at : at + ARGUMENT_PIECE_CHARS]}
            yield {"tool_calls": [{"index": index, "function": piece}]}
