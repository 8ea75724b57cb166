"""The ``codeworld`` provider: ``codeworld``, ``codeworld/mcts`` and ``codeworld/mcts:auto``.

    resp = scillm.completion("codeworld/mcts", [{"role": "user", "content": "judge these"}],
                             items=[...], rollouts=8, seed=7, generator_model="openai/gpt-4o-mini")
    json.loads(resp.choices[0].message.content)   # per item: best variant, aggregate, pass rate
    resp["codeworld"]                              # the full payload (results, run_manifest, ...)

With ``api_base`` (or ``CODEWORLD_BASE``) the request goes to a bridge (``scillm serve
codeworld``), with ``api_key`` (else ``SCILLM_CODEWORLD_TOKEN``, ``CODEWORLD_TOKEN``,
``SCILLM_SERVICE_TOKEN``) as its bearer token; without, the engine runs in this process.
``codeworld/mcts`` sets ``strategy="mcts"``; ``:auto`` also generates ``n_variants`` programs
first. ``temperature`` and ``seed`` are the search's; other
OpenAI sampling parameters do not apply and are ignored. Streaming yields the reply as one chunk.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from scillm.codeworld.engine import run_request
from scillm.codeworld.request import ARG_KEYS, Request, parse_request
from scillm.codeworld.settings import SERVICE_LEGACY, EngineSettings, setting
from scillm.codeworld.signals import Sessions
from scillm.errors import (
    BadRequestError,
    TimeoutError,
)
from scillm.providers.base import Call
from scillm.providers.bridge_client import post_to_service
from scillm.types import ChatCompletion, ChatCompletionChunk

__all__ = ["MODELS", "CodeWorldProvider"]

MODELS: dict[str, dict[str, Any]] = {
    "codeworld": {},
    "mcts": {"strategy": "mcts"},
    "mcts:auto": {"strategy": "mcts", "autogenerate": True},
}


class CodeWorldProvider:
    """Judges code variants x tests (and searches for better ones) as a chat completion."""

    name = "codeworld"
    accepts = frozenset({"items", "options", *ARG_KEYS})

    def __init__(self) -> None:
        self.sessions = Sessions()

    async def acompletion(self, call: Call) -> ChatCompletion:
        envelope = self.envelope(call)
        request = parse_request(envelope)  # bad input is refused here, bridge or not
        base = call.api_base or setting("BASE")
        if base:
            payload = await self._bridge(base, envelope, call)
        else:
            payload = await self._local(request, call)
        return _completion(call.model, payload)

    async def astream(self, call: Call) -> AsyncIterator[ChatCompletionChunk]:
        """The whole reply as one chunk (the engine has nothing to say before it is done)."""
        resp = await self.acompletion(call)
        return _one_chunk(resp)

    def envelope(self, call: Call) -> dict[str, Any]:
        """The bridge request for ``call``."""
        if call.model not in MODELS:
            raise BadRequestError(
                f"unknown CodeWorld model {call.model!r}: use codeworld, codeworld/mcts or "
                "codeworld/mcts:auto",
                provider=self.name,
                model=call.model,
            )
        if call.params.get("items") is None:
            raise BadRequestError(
                "codeworld needs items=[{id, task, variants, tests}, ...]",
                provider=self.name,
                model=call.model,
            )
        args = {k: v for k, v in call.params.items() if k in ARG_KEYS}
        for key, value in MODELS[call.model].items():
            if args.setdefault(key, value) != value:
                raise BadRequestError(
                    f"model codeworld/{call.model} means {key}={value!r}, but {key}="
                    f"{args[key]!r} was given",
                    provider=self.name,
                    model=call.model,
                )
        return {
            "messages": call.messages,
            "items": call.params["items"],
            "provider": {"name": self.name, "args": args},
            "options": call.params.get("options") or {},
        }

    async def _local(self, request: Request, call: Call) -> dict[str, Any]:
        try:
            async with asyncio.timeout(call.timeout):
                return await run_request(request, EngineSettings.from_env(), self.sessions)
        except asyncio.TimeoutError as exc:
            raise TimeoutError(
                f"codeworld did not finish within timeout={call.timeout} s; raise timeout or "
                "lower options.max_seconds / the search budget"
            ) from exc

    async def _bridge(self, base: str, envelope: dict[str, Any], call: Call) -> dict[str, Any]:
        return await post_to_service(
            "codeworld", "the CodeWorld bridge", base, "/bridge/complete", envelope, call,
            legacy=SERVICE_LEGACY,
        )  # fmt: skip


def _completion(model: str, payload: dict[str, Any]) -> ChatCompletion:
    usage = payload.get("usage") or {}
    return ChatCompletion(
        {
            "id": "codeworld-" + str((payload.get("run_manifest") or {}).get("run_id", "")),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model if model == "codeworld" else f"codeworld/{model}",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": summary_text(payload)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": usage.get("prompt_tokens", 0),
                "completion_tokens": usage.get("completion_tokens", 0),
                "total_tokens": usage.get("total_tokens", 0),
            },
            "codeworld": payload,
        }
    )


def summary_text(payload: dict[str, Any]) -> str:
    """The compact JSON summary that is the reply's content."""
    items = [
        {
            "id": r.get("item_id"),
            "status": r.get("status"),
            "best_variant": r.get("best_variant"),
            "aggregate": (r.get("scores") or {}).get("aggregate"),
            "pass_rate": r.get("pass_rate"),
        }
        for r in payload.get("results", [])
    ]
    return json.dumps({"summary": payload.get("summary"), "items": items}, separators=(",", ":"))


async def _one_chunk(resp: ChatCompletion) -> AsyncIterator[ChatCompletionChunk]:
    message = resp["choices"][0]["message"]
    yield ChatCompletionChunk(
        {
            "id": resp["id"],
            "object": "chat.completion.chunk",
            "created": resp["created"],
            "model": resp["model"],
            "choices": [
                {
                    "index": 0,
                    "delta": {"role": "assistant", "content": message["content"]},
                    "finish_reason": "stop",
                }
            ],
            "usage": resp["usage"],
            "codeworld": resp["codeworld"],
        }
    )
