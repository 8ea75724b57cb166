"""What every provider is given (:class:`Call`) and what it must do (:class:`Provider`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from scillm.types import ChatCompletion, ChatCompletionChunk

__all__ = ["Call", "Provider"]


@dataclass(slots=True)
class Call:
    """One validated chat request, addressed to a provider.

    ``model`` is the name the provider expects (the ``provider/`` prefix already stripped);
    ``params`` holds the OpenAI body parameters the caller passed (temperature, tools, ...).
    ``follow_redirects`` (None: ``SCILLM_FOLLOW_REDIRECTS``, default off) lets a redirect to
    another origin carry the request; ``max_response_bytes`` (None: ``SCILLM_MAX_RESPONSE_BYTES``)
    caps what is read of a reply.

    The request path makes calls by position (``_client.address``, ``Pipeline.call_for``):
    keep the fields in this order, or change those two with them.
    """

    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any] = field(default_factory=dict)
    api_base: str | None = None
    api_key: str | None = None
    timeout: float | None = None
    extra_headers: dict[str, str] | None = None
    extra_body: dict[str, Any] | None = None
    follow_redirects: bool | None = None
    max_response_bytes: int | None = None


class Provider(Protocol):
    """A wire protocol or backend. ``name`` appears in errors and meta.

    A provider that takes keyword arguments beyond the OpenAI ones (``items=`` for an engine
    bridge) lists them in a class attribute ``accepts: frozenset[str]``; they arrive in
    ``Call.params``.
    """

    name: str

    async def acompletion(self, call: Call) -> ChatCompletion:
        """Send the call and return the whole reply."""
        ...

    async def astream(self, call: Call) -> AsyncIterator[ChatCompletionChunk]:
        """Send the call with ``stream: true``; HTTP errors raise here, chunks arrive after."""
        ...
