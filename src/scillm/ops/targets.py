"""Which provider models ``scillm warmup`` and ``scillm doctor`` call.

A target is an ad-hoc ``provider/model`` (``--model``, the slot variables) or one deployment of
a router config (each ``model_list`` entry is probed on its own: a probe of a group would
answer from whichever deployment the Router picked, and a fallback would hide a dead one).
The slot variables are the original's: ``LITELLM_DEFAULT_MODEL``, ``LITELLM_SMALL_TEXT_MODEL``...
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scillm._config import env

__all__ = ["SLOT_ENV", "Target", "UsageError", "config_targets", "model_targets", "slot_models"]

SLOT_ENV = (
    "LITELLM_DEFAULT_MODEL",
    "LITELLM_SMALL_VLM_MODEL",
    "LITELLM_MED_VLM_MODEL",
    "LITELLM_LARGE_VLLM_MODEL",
    "LITELLM_SMALL_TEXT_MODEL",
    "LITELLM_MED_TEXT_MODEL",
    "LITELLM_LARGE_TEXT_MODEL",
)
"""The original's model slots, read in this order (``LARGE_VLLM`` is its spelling)."""


class UsageError(ValueError):
    """Bad options or configuration, found before any call (the commands exit with 2)."""


@dataclass(frozen=True)
class Target:
    """One model to call: ``model`` as the Router is asked for it; ``deployment`` is the router
    config's ``model_list`` entry it came from (None for an ad-hoc ``provider/model``)."""

    model: str
    deployment: dict[str, Any] | None = None

    @property
    def served_by(self) -> str | None:
        """The deployment's ``provider/model`` (None for an ad-hoc target)."""
        if self.deployment is None:
            return None
        return str(self.deployment["litellm_params"]["model"])


def slot_models() -> list[str]:
    """The models named by the slot variables that are set, without repeats."""
    found = (env(name) for name in SLOT_ENV)
    return list(dict.fromkeys(model for model in found if model))


def model_targets(models: list[str]) -> list[Target]:
    """Ad-hoc targets of ``--model`` values (each may hold a comma-separated list)."""
    names = (part.strip() for model in models for part in model.split(","))
    return [Target(name) for name in dict.fromkeys(name for name in names if name)]


def config_targets(path: Path, api_base: str | None, api_key: str | None) -> list[Target]:
    """One target per deployment of the router config at ``path`` (``api_base``/``api_key``
    replace every deployment's when given); UsageError when the file is not usable."""
    from scillm.batch.command import InputError, load_router_config, with_endpoint
    from scillm.errors import ScillmError
    from scillm.router import Router

    try:
        config = with_endpoint(load_router_config(path), api_base, api_key)
    except InputError as exc:
        raise UsageError(str(exc)) from None
    entries = config.get("model_list")
    if not isinstance(entries, list) or not entries:
        raise UsageError(
            f"the router config {path} has no model_list: write "
            "model_list: [{model_name: ..., litellm_params: {model: provider/model}}]"
        )
    try:
        Router(model_list=entries).close()  # the Router's own checks of every entry
    except (TypeError, ValueError, ScillmError) as exc:
        raise UsageError(f"the router config {path} is not usable: {exc}") from None
    return [Target(str(entry["model_name"]), entry) for entry in entries]
