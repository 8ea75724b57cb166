"""The scenarios, in the order ``run_all`` runs them (fast, local checks first; Codex last)."""

from __future__ import annotations

import importlib

from scillm.scenarios.base import Scenario

__all__ = ["MODULES", "all_scenarios", "find"]

MODULES = (
    "codeworld_bridge",
    "codeworld_judge",
    "mcts_codeworld",
    "certainly_bridge",
    "provider_warmup_probe",
    "mini_agent",
    "batch_resume",
    "codex_agent_router",
)


def all_scenarios() -> list[Scenario]:
    """Every scenario, in run order."""
    return [_load(name) for name in MODULES]


def find(name: str) -> Scenario:
    """The scenario called ``name`` (``-`` or ``_``); a ValueError naming the known ones."""
    key = name.replace("-", "_")
    if key not in MODULES:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(MODULES)}")
    return _load(key)


def _load(name: str) -> Scenario:
    scenario: Scenario = importlib.import_module(f"scillm.scenarios.{name}").SCENARIO
    return scenario
