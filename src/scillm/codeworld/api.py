"""``evaluate`` / ``aevaluate``: the engine as a plain Python API."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from scillm import _sync
from scillm.codeworld.engine import run_request
from scillm.codeworld.request import parse_request
from scillm.codeworld.settings import EngineSettings
from scillm.codeworld.signals import Sessions

__all__ = ["aevaluate", "evaluate"]

_SESSIONS = Sessions()  # plateau signals of this process's sessions


async def aevaluate(
    items: Sequence[Mapping[str, Any]],
    *,
    max_seconds: float | None = None,
    session_id: str | None = None,
    track_id: str | None = None,
    messages: Sequence[Mapping[str, Any]] = (),
    settings: EngineSettings | None = None,
    **args: Any,
) -> dict[str, Any]:
    """Run code variants x tests in the sandbox and score, rank and (optionally) search.

        payload = await aevaluate(
            [{"id": "add", "entrypoint": "solve",
              "variants": {"a": "def solve(x, y):\\n    return x + y\\n"},
              "tests": [{"args": [1, 2], "expected": 3}]}])
        payload["results"][0]["best_variant"]        # 'a'

    ``args`` are the bridge's ``provider.args``: ``strategy`` ("baseline" | "mcts"),
    ``strategy_config``, ``rollouts``, ``depth``, ``uct_c`` (or ``exploration_constant``),
    ``seed``, ``autogenerate``, ``n_variants``, ``generator_model``, ``generator_api_base``,
    ``generator_api_key``, ``temperature``, ``scoring``, ``judge``, ``judge_mode``, ``weights``.
    ``generator_model`` and ``judge["model"]`` take a model the way every engine does
    (:mod:`scillm.router.seam`): a model string, a :class:`~scillm.Router` or
    ``(router, "group")``; every LLM call goes through the Router's retries, pacing and cache.
    Bad input (a bad model reference included) raises
    :class:`~scillm.codeworld.InvalidRequest` listing every problem; no sandbox raises
    :class:`~scillm.EngineUnavailable`.
    """
    options = {"max_seconds": max_seconds, "session_id": session_id, "track_id": track_id}
    body = {
        "messages": list(messages),
        "items": list(items),
        "provider": {"name": "codeworld", "args": args},
        "options": {k: v for k, v in options.items() if v is not None},
    }
    request = parse_request(body)
    return await run_request(request, settings or EngineSettings.from_env(), _SESSIONS)


def evaluate(
    items: Sequence[Mapping[str, Any]],
    *,
    max_seconds: float | None = None,
    session_id: str | None = None,
    track_id: str | None = None,
    messages: Sequence[Mapping[str, Any]] = (),
    settings: EngineSettings | None = None,
    **args: Any,
) -> dict[str, Any]:
    """Sync twin of :func:`aevaluate` (same arguments)."""
    return _sync.run(
        aevaluate(
            items,
            max_seconds=max_seconds,
            session_id=session_id,
            track_id=track_id,
            messages=messages,
            settings=settings,
            **args,
        )
    )
