"""The ``certainly`` provider: check proofs (or have them written) as a chat completion.

    resp = scillm.completion("certainly/coq", [{"role": "user", "content": "check"}],
                             items=[{"id": "t", "code": "Theorem t : 1 + 1 = 2. Proof. ..."}])
    resp.choices[0].message.content   # '{"items":1,"proved":1,"failed":0,"unproved":0,...}'
    resp["certainly"]["results"]      # one verdict per item

Model strings: ``certainly`` (backend from ``backend=``, ``CERTAINLY_BACKEND``, else the first
installed prover), ``certainly/coq``, ``certainly/lean4`` and ``lean4``. The envelope keywords
(``items``, ``lean4_requirements``, ``backend``, ``options``, ``lean4_flags``) and the options
(``max_seconds``, ``session_id``, ``track_id``, ``max_refinements``, ``best_of``) are passed as
keyword arguments. Without items, the last user message is a requirement to prove.

Where: ``api_base``, else ``CERTAINLY_BRIDGE_BASE``, else ``LEAN4_BRIDGE_BASE`` names a bridge
(``scillm serve certainly``), sent ``api_key`` (else ``SCILLM_CERTAINLY_TOKEN``,
``CERTAINLY_TOKEN``, ``SCILLM_SERVICE_TOKEN``) as its bearer token; with none, the bridge runs
in this process. Either way, no installed prover for the request is :class:`EngineUnavailable`.
The bridge is told to finish within the call's ``timeout`` (less a margin), so its answer
arrives before the client gives up.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from scillm._config import env
from scillm.errors import BadRequestError, EngineUnavailable
from scillm.providers.base import Call
from scillm.providers.bridge_client import post_to_service
from scillm.types import ChatCompletion, ChatCompletionChunk

__all__ = ["CertainlyProvider"]

BASE_ENV = ("CERTAINLY_BRIDGE_BASE", "LEAN4_BRIDGE_BASE")
BACKEND_ENV = "CERTAINLY_BACKEND"
MODELS: dict[str, str | None] = {"certainly": None, "coq": "coq", "lean4": "lean4"}
ENVELOPE_KEYS = ("items", "lean4_requirements", "backend", "lean4_flags")
OPTION_KEYS = ("max_seconds", "session_id", "track_id", "max_refinements", "best_of")
SUMMARY_KEYS = ("items", "proved", "failed", "unproved", "unavailable")
USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens")
TIMEOUT_MARGIN_S = 5.0  # the bridge stops this much before the client's timeout


class CertainlyProvider:
    """Proof checking behind the chat-completion interface (see the module docstring)."""

    name = "certainly"
    accepts = frozenset({*ENVELOPE_KEYS, "options", *OPTION_KEYS})

    async def acompletion(self, call: Call) -> ChatCompletion:
        """Check the call's items (or prove its requirements) and summarise the verdicts."""
        body = envelope(call)
        base = call.api_base or env(*BASE_ENV)
        payload = await (_remote(base, call, body) if base else _in_process(call, body))
        return _completion(call, payload)

    async def astream(self, call: Call) -> AsyncIterator[ChatCompletionChunk]:
        """The whole answer as one chunk (verdicts arrive together)."""
        return _one_chunk(await self.acompletion(call))


def envelope(call: Call) -> dict[str, Any]:
    """The bridge envelope for ``call``: messages, its keyword arguments, and the backend."""
    if call.model not in MODELS:
        raise BadRequestError(
            f"unknown certainly model {call.model!r}; use certainly, certainly/coq, "
            "certainly/lean4 or lean4",
            provider="certainly",
            model=call.model,
        )
    params = call.params
    body: dict[str, Any] = {"messages": call.messages}
    body.update({key: params[key] for key in ENVELOPE_KEYS if key in params})
    backend = MODELS[call.model]
    if backend is not None and body.get("backend") not in (None, backend):
        raise BadRequestError(
            f"model {call.model!r} checks {backend}, but backend={body['backend']!r} was given",
            provider="certainly",
            model=call.model,
        )
    body["backend"] = backend or body.get("backend") or env(BACKEND_ENV)
    options = params.get("options") or {}
    if not isinstance(options, Mapping):
        raise BadRequestError("options must be a dict", provider="certainly", model=call.model)
    options = {**options, **{key: params[key] for key in OPTION_KEYS if key in params}}
    if call.timeout is not None:
        within = max(call.timeout - TIMEOUT_MARGIN_S, 1.0)
        given = options.get("max_seconds")
        wanted = given if isinstance(given, int | float) and not isinstance(given, bool) else within
        options["max_seconds"] = min(wanted, within)
    body["options"] = options
    return body


async def _remote(base: str, call: Call, body: dict[str, Any]) -> dict[str, Any]:
    from scillm.certainly.settings import SERVICE_LEGACY

    return await post_to_service(
        "certainly", "the Certainly bridge", base, "/bridge/complete", body, call,
        legacy=SERVICE_LEGACY,
    )  # fmt: skip


async def _in_process(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    from scillm.certainly.bridge import Bridge
    from scillm.certainly.envelope import BridgeError
    from scillm.certainly.settings import BridgeSettings

    try:
        return await Bridge(BridgeSettings.from_env()).complete(body)
    except BridgeError as exc:
        if exc.status == 503:
            raise EngineUnavailable(exc.message) from exc
        raise BadRequestError(
            exc.message, status_code=exc.status, provider="certainly", model=call.model
        ) from exc


def _completion(call: Call, payload: dict[str, Any]) -> ChatCompletion:
    summary = payload.get("summary") or {}
    content = orjson.dumps({key: summary.get(key, 0) for key in SUMMARY_KEYS}).decode()
    usages = [r.get("usage") or {} for r in payload.get("results") or () if isinstance(r, dict)]
    usage = {key: sum(int(u.get(key) or 0) for u in usages) for key in USAGE_KEYS}
    run_id = (payload.get("run_manifest") or {}).get("run_id") or "local"
    return ChatCompletion(
        {
            "id": f"certainly-{run_id}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.model if call.model == "certainly" else f"certainly/{call.model}",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
            "certainly": payload,
        }
    )


async def _one_chunk(resp: ChatCompletion) -> AsyncIterator[ChatCompletionChunk]:
    message = resp["choices"][0]["message"]
    yield ChatCompletionChunk(
        {
            "id": resp["id"],
            "object": "chat.completion.chunk",
            "created": resp["created"],
            "model": resp["model"],
            "choices": [{"index": 0, "delta": dict(message), "finish_reason": "stop"}],
            "usage": resp["usage"],
            "certainly": resp["certainly"],
        }
    )
