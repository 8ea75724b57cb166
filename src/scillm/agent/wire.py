"""OpenAI chat-completion shapes the agent pieces answer with: whole replies, chunks, SSE.

Both servers run the whole job first and then stream the finished reply: the status code can
then say whether the run worked, and a failed run is never a 200 with a half-sent answer. Error
replies are :mod:`scillm.service`'s (:class:`~scillm.service.ApiError`).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import orjson

__all__ = ["chunks", "completion_body", "sse"]


def completion_body(
    model: str,
    content: str,
    finish_reason: str,
    usage: dict[str, Any],
    *,
    message_extra: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``chat.completion`` with one choice; ``extra`` adds top-level keys (side data)."""
    message = {"role": "assistant", "content": content, **(message_extra or {})}
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": usage,
        **(extra or {}),
    }


def chunks(body: dict[str, Any], *, include_usage: bool = False) -> Iterator[dict[str, Any]]:
    """The ``chat.completion.chunk`` events of a finished reply: role, content, finish, usage.

    Side data rides on the finishing chunk; usage gets its own chunk when asked for
    (``stream_options.include_usage``), as OpenAI sends it.
    """
    head = {k: body[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}
    choice = body["choices"][0]
    message = dict(choice["message"])
    content = message.pop("content")
    message.pop("role", None)
    yield head | {"choices": [_delta({"role": "assistant", "content": "", **message})]}
    if content:
        yield head | {"choices": [_delta({"content": content})]}
    side = {k: v for k, v in body.items() if k not in (*head, "choices", "usage", "object")}
    yield head | {"choices": [_delta({}, choice["finish_reason"])]} | side
    if include_usage:
        yield head | {"choices": [], "usage": body["usage"]}


def _delta(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "finish_reason": finish_reason}


def sse(events: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """Server-sent events, ending with ``data: [DONE]``."""
    for event in events:
        yield b"data: " + orjson.dumps(event) + b"\n\n"
    yield b"data: [DONE]\n\n"
