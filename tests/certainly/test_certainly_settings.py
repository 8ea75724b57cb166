"""The bridge's settings and the prover lookup: argument > environment > default."""

from __future__ import annotations

import pytest

from precedence import Setting, precedence_test
from scillm.certainly.coq import find_coqc
from scillm.certainly.settings import BridgeSettings

BRIDGE = BridgeSettings.from_env
TIMEOUT_ENV = ("CERTAINLY_BRIDGE_TIMEOUT_SECONDS", "LEAN4_BRIDGE_TIMEOUT_SECONDS")

test_argument_beats_environment_beats_default = precedence_test(
    {
        "max_seconds": Setting(BRIDGE, "max_seconds", TIMEOUT_ENV, ("42", 42.0), 7.0, "soon"),
        "backend": Setting(BRIDGE, "backend", ("CERTAINLY_BACKEND",), ("lean4",) * 2, "coq"),
        "model": Setting(BRIDGE, "model", ("SCILLM_CERTAINLY_MODEL",), ("m-env",) * 2, "m-arg"),
    }
)


async def test_the_prover_path_argument_beats_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCILLM_COQC", "/nonexistent/env/coqc")
    assert "'/nonexistent/env/coqc' not found" in str((await find_coqc()).problem)
    found = await find_coqc("/nonexistent/arg/coqc")
    assert "'/nonexistent/arg/coqc' not found" in str(found.problem)
