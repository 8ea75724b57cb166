"""CodeWorld: run code variants x tests in the sandbox, score them, rank them, search for better.

    from scillm import codeworld
    payload = codeworld.evaluate([{
        "id": "add", "task": "Add two numbers", "entrypoint": "solve",
        "variants": {"plus": "def solve(a, b):\\n    return a + b\\n",
                     "minus": "def solve(a, b):\\n    return a - b\\n"},
        "tests": [{"args": [1, 2], "expected": 3}, {"args": [5, 5], "expected": 10}],
    }])
    result = payload["results"][0]
    result["best_variant"], result["status"], result["scores"]["correctness"]
    # ('plus', 'solved', 1.0)

Every variant runs on every test in the sandbox (one process per variant; a crash costs only
the test it happened on). Verdicts are ``passed`` or what went wrong (failed, error, timeout,
memory_limit, output_limit, compile_error, rejected, sandbox_error, skipped): only ``passed``
counts. Metrics (see :mod:`scillm.codeworld.metrics`): correctness, speed, brevity, aggregate.
``strategy="mcts"`` searches with an LLM (:mod:`scillm.codeworld.mcts`). The HTTP bridge is
:func:`create_app`; the ``codeworld`` provider calls it or this engine.

Known limits: expected values never enter the sandbox, so a program cannot pass by reading them,
but in function mode a program shares its process with the harness and could misreport its own
CPU time (the speed metric). Repair prompts show failing tests' expected values to the LLM, so a
searched program may special-case them: keep held-out tests for the final verdict. Python runs
with the standard library only (``-I -S``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scillm.codeworld.api import aevaluate, evaluate
from scillm.codeworld.engine import SCHEMA
from scillm.codeworld.items import FUNCTION_LANGUAGES
from scillm.codeworld.metrics import BUILTIN_METRICS, DEFAULT_WEIGHTS
from scillm.codeworld.request import STRATEGIES
from scillm.codeworld.settings import BridgeSettings, EngineSettings
from scillm.codeworld.signals import Sessions
from scillm.codeworld.validation import InvalidRequest, Problem
from scillm.codeworld.verdicts import VERDICTS

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = [
    "BUILTIN_METRICS",
    "DEFAULT_WEIGHTS",
    "FUNCTION_LANGUAGES",
    "SCHEMA",
    "STRATEGIES",
    "VERDICTS",
    "BridgeSettings",
    "EngineSettings",
    "InvalidRequest",
    "Problem",
    "Sessions",
    "aevaluate",
    "create_app",
    "evaluate",
]


def create_app(settings: BridgeSettings | None = None) -> FastAPI:
    """The CodeWorld bridge (FastAPI); see :mod:`scillm.codeworld.server`. Imports FastAPI."""
    from scillm.codeworld.server import create_app as build

    return build(settings)
