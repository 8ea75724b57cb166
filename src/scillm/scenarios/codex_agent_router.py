"""codex-agent through the Router: Router → ``codex-agent`` provider → Codex sidecar → the
real Codex CLI → the stack's model (by default the mock server's Responses API).

A fan-out of two requests through one Router group must come back as two completions, each
from its own Codex run (distinct thread ids) with the CLI's token usage (its instructions make
the prompt far longer than the question, which an echo could not fake), each answering its own
request. A sidecar in echo mode (``CODEX_SIDECAR_ECHO``) runs no CLI: the scenario fails on it.
``CODEX_AGENT_MODEL`` names the model (default ``gpt-5``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from scillm._config import env
from scillm._sync import run as run_sync
from scillm.scenarios.base import Scenario, Skip, check, placeholder_free
from scillm.scenarios.run_all import run_one
from scillm.scenarios.stack import Context

QUESTIONS = ("Reply with the word alpha-17.", "Reply with the word beta-42.")


def run(ctx: Context) -> str:
    import scillm

    health = ctx.call("codex-sidecar", "/healthz")
    body: dict[str, Any] = health.body if isinstance(health.body, dict) else {}
    check(body.get("echo") is False, f"the sidecar is in echo mode: no Codex runs ({body})")
    if not body.get("ok"):
        raise Skip(f"the Codex sidecar cannot run the Codex CLI: {body.get('codex') or body}")
    model = placeholder_free(env("CODEX_AGENT_MODEL")) or "gpt-5"
    params = {"model": f"codex-agent/{model}", "api_base": ctx.url("codex-sidecar")}
    if ctx.token:
        params["api_key"] = ctx.token
    router = scillm.Router(model_list=[{"model_name": "codex", "litellm_params": params}])

    async def fan_out() -> list[Any]:
        calls = [
            router.acompletion(model="codex", messages=[{"role": "user", "content": q}])
            for q in QUESTIONS
        ]
        return await asyncio.gather(*calls)

    replies = run_sync(fan_out())
    threads = set()
    for question, resp in zip(QUESTIONS, replies, strict=True):
        word = question.rsplit(" ", 1)[-1].rstrip(".")
        content = resp.choices[0].message.content or ""
        check(word in content, f"the reply to {question!r} does not name {word}: {content!r}")
        check(resp.choices[0].finish_reason == "stop", f"finish_reason {resp.choices[0]}")
        codex = resp["codex"]
        check(bool(codex.get("thread_id")), f"no Codex thread: the CLI did not run ({codex})")
        threads.add(codex["thread_id"])
        prompt_words = len(question.split())
        check(
            resp.usage.prompt_tokens > 10 * prompt_words,
            f"prompt_tokens {resp.usage.prompt_tokens}: the CLI's instructions are missing",
        )
    check(len(threads) == len(QUESTIONS), f"the fan-out shared Codex runs: {threads}")
    return f"{len(replies)} Codex runs through the Router (model {model}), each its own answer"


SCENARIO = Scenario(
    "codex_agent_router",
    "codex-agent through the Router to the Codex sidecar (real Codex CLI)",
    ("codex-sidecar",),
    run,
)

if __name__ == "__main__":
    run_one(SCENARIO)
