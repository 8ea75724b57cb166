"""``local/smollm2``: the embedded model, served by llama.cpp on 127.0.0.1.

The server starts on first use (in a worker thread, so the event loop keeps running) and
stops at interpreter exit. Requests then go over the ordinary OpenAI-compatible path.

With ``SCILLM_LOCAL_API_BASE`` set (``http://127.0.0.1:8090/v1``: ``scillm serve local``,
as ``scillm serve all`` wires it), calls go to that server instead and none is started here;
its token is ``SCILLM_LOCAL_TOKEN`` or ``SCILLM_SERVICE_TOKEN`` unless the call has a key.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

from scillm._config import env
from scillm.errors import UnknownProviderError
from scillm.providers.base import Call
from scillm.providers.openai_compat import OpenAICompatible, ProviderSpec
from scillm.types import ChatCompletion, ChatCompletionChunk

__all__ = ["LOCAL_MODELS", "LocalModel"]

LOCAL_MODELS = ("smollm2",)


class LocalModel:
    """The ``local/<model>`` provider (``local/smollm2`` is the default model of scillm)."""

    name = "local"

    def __init__(self) -> None:
        self._wire = OpenAICompatible(ProviderSpec("local"))

    async def _addressed(self, call: Call) -> Call:
        if call.model not in LOCAL_MODELS:
            raise UnknownProviderError(
                f"unknown local model {call.model!r}; the embedded models are: "
                + ", ".join(f"local/{m}" for m in LOCAL_MODELS)
            )
        shared = env("SCILLM_LOCAL_API_BASE")
        if shared:
            from scillm.local.embedded import MODEL_ALIAS

            key = call.api_key or env("SCILLM_LOCAL_TOKEN", "SCILLM_SERVICE_TOKEN")
            return replace(call, model=MODEL_ALIAS, api_base=shared.rstrip("/"), api_key=key)
        from scillm.local.embedded import get_server  # xllamacpp loads only when used

        server = await asyncio.to_thread(get_server)
        return replace(call, model=server.model_alias, api_base=server.base_url + "/v1")

    async def acompletion(self, call: Call) -> ChatCompletion:
        """Complete on the embedded model, starting it if needed."""
        return await self._wire.acompletion(await self._addressed(call))

    async def astream(self, call: Call) -> AsyncIterator[ChatCompletionChunk]:
        """Stream from the embedded model, starting it if needed."""
        return await self._wire.astream(await self._addressed(call))
