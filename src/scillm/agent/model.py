"""The model seam of the agent loop: anything that answers ``(messages, tools)`` with a completion.

:class:`ScillmChat` is the usual one (a model string sent through ``scillm.acompletion``); tests
and custom routing plug in any other async callable with the same shape.
"""

from __future__ import annotations

from typing import Any, Protocol

from scillm.types import ChatCompletion

__all__ = ["ChatModel", "ScillmChat"]


class ChatModel(Protocol):
    """Answer a conversation, offering ``tools`` (OpenAI specs; empty means none)."""

    async def __call__(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> ChatCompletion: ...


class ScillmChat:
    """``scillm.acompletion(model, messages, tools=..., **kwargs)`` as a :class:`ChatModel`.

    model = ScillmChat("openai/gpt-4o-mini", temperature=0, seed=1)
    """

    def __init__(self, model: str, **kwargs: Any) -> None:
        self.model, self.kwargs = model, kwargs

    def __repr__(self) -> str:
        return f"ScillmChat({self.model!r})"

    async def __call__(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> ChatCompletion:
        from scillm._client import acompletion

        kwargs: dict[str, Any] = {**self.kwargs, **({"tools": tools} if tools else {})}
        return await acompletion(self.model, messages, stream=False, **kwargs)
