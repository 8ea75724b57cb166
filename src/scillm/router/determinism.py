"""Deterministic mode: fixed sampling parameters and a seed, with the effective values recorded."""

from __future__ import annotations

import warnings
from typing import Any

from scillm._config import setting

__all__ = ["FIXED_SAMPLING", "DeterminismWarning", "apply_determinism", "sampling_of"]

FIXED_SAMPLING: dict[str, float] = {
    "temperature": 0,
    "top_p": 1,
    "presence_penalty": 0,
    "frequency_penalty": 0,
}
SAMPLING_KEYS = (*FIXED_SAMPLING, "seed")
SEED_ENV = "SCILLM_DETERMINISTIC_SEED"


class DeterminismWarning(UserWarning):
    """A caller's sampling value was overridden by deterministic mode."""


def apply_determinism(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with sampling forced to its deterministic values and a seed when one is known.

    Seed precedence: the call's ``seed``, then ``SCILLM_DETERMINISTIC_SEED`` (an integer; a
    malformed one is a ValueError naming it).
    """
    overridden = {k: params[k] for k, v in FIXED_SAMPLING.items() if params.get(k) not in (None, v)}
    if overridden:
        warnings.warn(
            f"deterministic mode overrides {overridden} with {FIXED_SAMPLING}",
            DeterminismWarning,
            stacklevel=4,
        )
    out = {**params, **FIXED_SAMPLING}
    seed = setting(out.get("seed"), None, int, SEED_ENV)
    if seed is not None:
        out["seed"] = seed
    return out


def sampling_of(params: dict[str, Any]) -> dict[str, Any]:
    """The effective sampling parameters of a request (None where the provider default applies)."""
    return {k: params.get(k) for k in SAMPLING_KEYS}
