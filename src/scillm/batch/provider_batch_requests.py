"""Rows → batch request lines, through the same normaliser and Router steps as online calls.

    built = build(router, defaults, job)      # ScillmError/ValueError for a row that cannot go
    built.line    # b'{"custom_id": "q1", "method": "POST", "url": "/v1/chat/completions", ...}\\n'
    built.target  # Target(base="https://api.openai.com/v1", ...): where the batch goes

A row is normalised by :func:`scillm._request.normalise` and prepared by the Router's pipeline
(routing, determinism, image policy, the structured-output plan), then the first deployment of
its route writes the body exactly as an online call would send it. The line's ``custom_id`` is
the row's id as a string. Only OpenAI-compatible providers have a batch API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from scillm._request import normalise
from scillm.batch.jobs import Job
from scillm.errors import BadRequestError
from scillm.router import Router
from scillm.router.pipeline import Pipeline, Prepared

__all__ = ["BATCH_URL", "Built", "Target", "build", "pipeline_of", "prepare"]

BATCH_URL = "/v1/chat/completions"
_CHAT_PATH = "/chat/completions"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a run's batches go: the ``.../v1`` base, its headers (the key) and provider."""

    base: str
    headers: tuple[tuple[str, str], ...]
    provider: str


@dataclass(frozen=True, slots=True)
class Built:
    """One row ready for a request file."""

    line: bytes
    model: str
    target: Target


def pipeline_of(router: Router) -> Pipeline:
    """The Router's call pipeline (the steps a batch row shares with online calls)."""
    return router.pipeline


def prepare(router: Router, defaults: dict[str, Any], job: Job) -> Prepared:
    """The row's call, normalised and prepared as ``Router.acompletion`` would."""
    request = {**defaults, **job.item}
    if request.get("model") is None:
        raise BadRequestError("the row names no model: pass --model, or give the row a 'model'")
    model = request.pop("model")
    messages = request.pop("messages")
    return pipeline_of(router).prepare(normalise(model, messages, request))


def build(router: Router, defaults: dict[str, Any], job: Job) -> Built:
    """The request line of ``job`` and where it goes (ScillmError/ValueError when it cannot)."""
    prep = prepare(router, defaults, job)
    deployment = prep.route[0][0]
    provider = deployment.provider
    endpoint_of = getattr(provider, "endpoint", None)
    body_of = getattr(provider, "body", None)
    if endpoint_of is None or body_of is None:
        raise BadRequestError(
            f"provider {provider.name!r} has no batch API; --provider-batch needs an "
            "OpenAI-compatible one (openai, or any server with /v1/files and /v1/batches)"
        )
    call = Pipeline.call_for(prep, deployment, prep.messages, prep.params, prep.timeout)
    endpoint = endpoint_of(call)
    if not endpoint.url.endswith(_CHAT_PATH):
        raise BadRequestError(f"provider {provider.name!r} has no batch API")
    target = Target(
        endpoint.url.removesuffix(_CHAT_PATH),
        tuple(sorted(endpoint.headers.items())),
        provider.name,
    )
    body: dict[str, Any] = body_of(call)
    line = {"custom_id": job.key, "method": "POST", "url": BATCH_URL, "body": body}
    try:
        encoded = orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError as exc:
        raise ValueError(f"the request cannot be written as JSON: {exc}") from None
    return Built(encoded, str(body["model"]), target)
