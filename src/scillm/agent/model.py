"""The model seam of the agent loop: anything that answers ``(messages, tools)`` with a completion.

:class:`ScillmChat` is the usual one: a model string, a Router or ``(router, group)``, every call
through the Router's pipeline (:mod:`scillm.router.seam`: retries honouring Retry-After, pacing,
cache, budgets). Anything else plugs in as an async callable with the same shape.
"""

from __future__ import annotations

from typing import Any, Protocol

from scillm.router.seam import ModelRef, engine_model
from scillm.types import ChatCompletion

__all__ = ["ChatModel", "ScillmChat"]


class ChatModel(Protocol):
    """Answer a conversation, offering ``tools`` (OpenAI specs; empty means none)."""

    async def __call__(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> ChatCompletion: ...


class ScillmChat:
    """A model through its Router, ``(messages, tools=..., **kwargs)``, as a :class:`ChatModel`.

    model = ScillmChat("openai/gpt-4o-mini", temperature=0, seed=1)
    model = ScillmChat((router, "fast"), temperature=0)

    ``api_base``/``api_key`` in ``kwargs`` go with a model string (ValueError with a Router).
    """

    def __init__(self, model: ModelRef, **kwargs: Any) -> None:
        transport = {key: kwargs.pop(key) for key in ("api_base", "api_key") if key in kwargs}
        self.engine = engine_model(model, **transport)
        self.model, self.kwargs = self.engine.name, kwargs

    def __repr__(self) -> str:
        return f"ScillmChat({self.model!r})"

    async def __call__(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]]
    ) -> ChatCompletion:
        kwargs: dict[str, Any] = {**self.kwargs, **({"tools": tools} if tools else {})}
        return await self.engine.acompletion(messages, **kwargs)
