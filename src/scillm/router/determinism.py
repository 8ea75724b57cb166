"""Deterministic mode: fixed sampling parameters and a seed, with the effective values recorded."""

from __future__ import annotations

import warnings
from typing import Any

from scillm._config import env

__all__ = ["FIXED_SAMPLING", "DeterminismWarning", "apply_determinism", "sampling_of"]

FIXED_SAMPLING: dict[str, float] = {
    "temperature": 0,
    "top_p": 1,
    "presence_penalty": 0,
    "frequency_penalty": 0,
}
SAMPLING_KEYS = (*FIXED_SAMPLING, "seed")


class DeterminismWarning(UserWarning):
    """A caller's sampling value was overridden by deterministic mode."""


def _env_seed() -> int | None:
    raw = env("SCILLM_DETERMINISTIC_SEED")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"SCILLM_DETERMINISTIC_SEED={raw!r} is not an integer") from None


def apply_determinism(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with sampling forced to its deterministic values and a seed when one is known.

    Seed precedence: the call's ``seed``, then ``SCILLM_DETERMINISTIC_SEED``.
    """
    overridden = {k: params[k] for k, v in FIXED_SAMPLING.items() if params.get(k) not in (None, v)}
    if overridden:
        warnings.warn(
            f"deterministic mode overrides {overridden} with {FIXED_SAMPLING}",
            DeterminismWarning,
            stacklevel=4,
        )
    out = {**params, **FIXED_SAMPLING}
    if out.get("seed") is None:
        seed = _env_seed()
        if seed is not None:
            out["seed"] = seed
    return out


def sampling_of(params: dict[str, Any]) -> dict[str, Any]:
    """The effective sampling parameters of a request (None where the provider default applies)."""
    return {k: params.get(k) for k in SAMPLING_KEYS}
