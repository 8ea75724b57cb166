"""``scillm demo``: the main job on the embedded model, offline, with timings.

One completion, one streamed completion, one JSON-schema-constrained completion and a parallel
fan-out of 8 requests through the Router, all against ``local/smollm2`` (or any model you name).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson

from scillm._client import acompletion
from scillm.router import Router

__all__ = ["run_demo"]

QUESTIONS = [
    "Name a planet.",
    "Name a color.",
    "Name a fruit.",
    "Name an animal.",
    "Name a metal.",
    "Name a country.",
    "Name a flower.",
    "Name a musical instrument.",
]

CITY_SCHEMA: dict[str, Any] = {
    "name": "city",
    "schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
        "additionalProperties": False,
    },
}

Say = Callable[..., None]


def _user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


async def _demo(model: str, say: Say, on_token: Say) -> dict[str, float]:
    timings: dict[str, float] = {}
    common: dict[str, Any] = {"temperature": 0, "seed": 7, "max_tokens": 48}

    t0 = time.perf_counter()
    resp = await acompletion(model, _user("In one sentence, what is a proof?"), **common)
    timings["completion"] = time.perf_counter() - t0
    say(
        f"[bold]1. completion[/] ({timings['completion']:.2f} s, "
        f"{resp.usage.completion_tokens} tokens)\n   {resp.choices[0].message.content.strip()}"
    )

    t0 = time.perf_counter()
    say("[bold]2. streamed completion[/]")
    first: float | None = None
    on_token("   ")
    async for chunk in await acompletion(model, _user("Count from 1 to 5."), stream=True, **common):
        delta = chunk.choices[0].delta.get("content") if chunk.get("choices") else None
        if delta:
            first = first if first is not None else time.perf_counter() - t0
            on_token(delta.replace("\n", " "))
    timings["stream"] = time.perf_counter() - t0
    timings["stream_first_token"] = first or 0.0
    say(
        f"\n   (first token {timings['stream_first_token']:.2f} s, total {timings['stream']:.2f} s)"
    )

    t0 = time.perf_counter()
    resp = await acompletion(
        model,
        _user("Give a famous city and its country as JSON."),
        response_format={"type": "json_schema", "json_schema": CITY_SCHEMA},
        **common,
    )
    timings["json_schema"] = time.perf_counter() - t0
    data = orjson.loads(resp.choices[0].message.content)
    say(f"[bold]3. JSON-schema completion[/] ({timings['json_schema']:.2f} s)\n   {data}")

    t0 = time.perf_counter()
    requests = [{"model": model, "messages": _user(q), **common} for q in QUESTIONS]
    results = await Router().parallel_acompletions(requests, max_concurrency=len(QUESTIONS))
    timings["fan_out_8"] = time.perf_counter() - t0
    say(f"[bold]4. parallel fan-out of {len(QUESTIONS)}[/] ({timings['fan_out_8']:.2f} s)")
    for question, result in zip(QUESTIONS, results, strict=True):
        answer = (
            result.content.strip().replace("\n", " ") if result.ok else f"error: {result.error}"
        )
        ms = result.meta["timing_ms"]
        say(f"   {question:<27} {ms:6.0f} ms  {answer[:36]}", markup=False)
    return timings


def run_demo(model: str, say: Say, on_token: Say) -> dict[str, float]:
    """Run the four demo steps and return their wall times in seconds."""
    return asyncio.run(_demo(model, say, on_token))
