"""The LLM calls of the search and the judge, through the Router (:mod:`scillm.router.seam`),
with usage accounting: retries honour Retry-After, and a Router's cache, pacing and budget apply.

An LLM failure never raises out of here: it is counted and returned as ``Reply.error``, and the
caller decides (the search spends the rollout, the judge records the error).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from scillm.codeworld.settings import LLMSpec
from scillm.errors import ScillmError
from scillm.router.seam import EngineModel, ModelRef, engine_model

__all__ = ["LLMUsage", "Reply", "ask", "extract_code", "model_of"]

ERROR_CAP = 500
FENCE = re.compile(r"```([^\n`]*)\n(.*?)```", re.DOTALL)
LANGUAGE_TAGS = {
    "python": ("python", "py", "python3"),
    "javascript": ("javascript", "js", "node"),
    "c": ("c",),
    "cpp": ("cpp", "c++", "cc"),
    "bash": ("bash", "sh", "shell"),
}


@dataclass
class LLMUsage:
    """What the LLM calls of one item cost."""

    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "calls": self.calls,
            "errors": self.errors,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


@dataclass(frozen=True)
class Reply:
    """The reply text, or why there is none."""

    text: str | None
    error: str | None = None


def model_of(spec: LLMSpec, model: ModelRef | None = None) -> EngineModel:
    """``model`` when one is given, else the Router model ``spec`` was given as, else the model
    string ``spec`` names (with its endpoint)."""
    if model is not None:
        return engine_model(model)
    if spec.engine is not None:
        return spec.engine
    return engine_model(spec.model, api_base=spec.api_base, api_key=spec.api_key)


async def ask(
    spec: LLMSpec,
    messages: list[dict[str, Any]],
    *,
    seed: int,
    usage: LLMUsage,
    timeout_s: float,
    model: ModelRef | None = None,
) -> Reply:
    """One chat completion at ``spec.temperature`` through ``model`` (default: ``spec``'s);
    ``seed`` is sent so a deterministic server repeats itself. ``timeout_s`` bounds the call,
    retries included."""
    usage.calls += 1
    try:
        resp = await model_of(spec, model).acompletion(
            messages,
            temperature=spec.temperature,
            seed=seed,
            timeout=max(timeout_s, 1.0),
        )
    except ScillmError as exc:
        usage.errors += 1
        return Reply(None, f"{type(exc).__name__}: {exc}"[:ERROR_CAP])
    counted = resp.get("usage") or {}
    usage.prompt_tokens += int(counted.get("prompt_tokens") or 0)
    usage.completion_tokens += int(counted.get("completion_tokens") or 0)
    try:
        text = resp["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        text = None
    if not isinstance(text, str) or not text.strip():
        usage.errors += 1
        return Reply(None, "the model replied with no text")
    return Reply(text)


def extract_code(text: str, language: str) -> str | None:
    """The program in a reply: the first fenced block tagged with the language, else the first
    fenced block, else the whole reply when it has no fence at all."""
    blocks = FENCE.findall(text)
    tags = LANGUAGE_TAGS.get(language, (language,))
    for tag, body in blocks:
        if tag.strip().lower() in tags and body.strip():
            return str(body).strip("\n") + "\n"
    for _, body in blocks:
        if body.strip():
            return str(body).strip("\n") + "\n"
    if "```" in text or not text.strip():
        return None
    return text.strip("\n") + "\n"
