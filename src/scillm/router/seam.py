"""One model seam for the engines: a model string, a Router, or a model group of a Router.

    from scillm.router.seam import engine_model
    model = engine_model("openai/gpt-4o-mini")   # scillm's engine Router, an ad-hoc deployment
    model = engine_model(router)                 # the Router's only model group
    model = engine_model((router, "fast"))       # a named group
    resp = await model.acompletion(messages, temperature=0, seed=1)

Every call goes through :meth:`Router.acompletion`, so retries (Retry-After honoured), cooldowns,
pacing, the cache, budgets and determinism are the Router's. A model string is served by a
process-wide Router with no model list (one ad-hoc deployment per model, endpoint and key; its
retry policy is the ``SCILLM_RETRY_*`` in force when the model is made, else 2 retries): it
answers what :func:`scillm.acompletion` answers, and a 429 or 5xx in a long search is retried
instead of ending it (``SCILLM_RETRY_MAX_ATTEMPTS=0`` turns that off). The Router holds no
event-loop state (each loop gets its own HTTP session), so one model serves every loop.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from scillm.providers.registry import default_model
from scillm.router.retry import env_knobs
from scillm.router.router import Router
from scillm.types import ChatCompletion

__all__ = ["EngineModel", "ModelRef", "engine_model", "engine_router"]

_shared: dict[tuple[tuple[str, Any], ...], Router] = {}
_shared_lock = threading.Lock()


@dataclass(frozen=True, eq=False)
class EngineModel:
    """A model the engines call: ``router`` asked for ``model`` (a group or a model string),
    with ``defaults`` (``api_base``/``api_key`` of a model string) under every call's own."""

    router: Router
    model: str
    defaults: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """What results record as the model."""
        return self.model

    async def acompletion(self, messages: list[dict[str, Any]], **kwargs: Any) -> ChatCompletion:
        """One non-streamed chat completion through the Router's pipeline."""
        call = {**self.defaults, **kwargs, "stream": False}
        reply: ChatCompletion = await self.router.acompletion(self.model, messages, **call)
        return reply


ModelRef: TypeAlias = "str | Router | tuple[Router, str] | EngineModel"
"""How every engine takes its model: a model string, a Router, ``(router, group)``, or an
:class:`EngineModel` already made."""


def engine_router() -> Router:
    """The Router behind model strings, shared by every engine (one per ``SCILLM_RETRY_*``)."""
    knobs = tuple(sorted(env_knobs().items()))
    with _shared_lock:
        router = _shared.get(knobs)
        if router is None:
            router = _shared[knobs] = Router(image_policy=False)
        return router


def engine_model(
    ref: ModelRef | None, *, api_base: str | None = None, api_key: str | None = None
) -> EngineModel:
    """The :class:`EngineModel` for ``ref`` (None: scillm's default model string).

    ``api_base``/``api_key`` belong to a model string; a Router's deployments carry their own,
    so giving them with a Router is refused. Raises ValueError/TypeError saying what to pass.
    """
    if isinstance(ref, EngineModel):
        _no_transport(ref, api_base, api_key)
        return ref
    if ref is None or isinstance(ref, str):
        name = ref if ref is not None else default_model()
        if not name.strip():
            raise ValueError("the model string is empty; pass e.g. 'openai/gpt-4o-mini'")
        transport = {"api_base": api_base, "api_key": api_key}
        defaults = {key: value for key, value in transport.items() if value is not None}
        return EngineModel(engine_router(), name, defaults)
    if isinstance(ref, Router):
        _no_transport(ref, api_base, api_key)
        groups = ref.model_names
        if len(groups) == 1:
            return EngineModel(ref, groups[0])
        if not groups:
            return EngineModel(ref, default_model())
        raise ValueError(
            f"this Router has model groups {', '.join(groups)}; name one: (router, 'group')"
        )
    if isinstance(ref, tuple) and len(ref) == 2 and isinstance(ref[0], Router):
        router, group = ref
        _no_transport(router, api_base, api_key)
        if not isinstance(group, str) or not group:
            raise ValueError(f"a model group must be a non-empty string, not {group!r}")
        groups = router.model_names
        if groups and group not in groups and "/" not in group:
            raise ValueError(f"unknown model group {group!r}; this Router has: {', '.join(groups)}")
        return EngineModel(router, group)
    raise TypeError(
        "a model is a model string, a scillm Router, or (router, 'group'), "
        f"not {type(ref).__name__}"
    )


def _no_transport(ref: object, api_base: str | None, api_key: str | None) -> None:
    if api_base is not None or api_key is not None:
        raise ValueError(
            f"api_base/api_key go with a model string; {type(ref).__name__} deployments carry "
            "their own (put them in the Router's model_list)"
        )
