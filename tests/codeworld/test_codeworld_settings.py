"""CodeWorld's engine and bridge settings: argument > environment > default."""

from __future__ import annotations

import pytest

from precedence import Setting, precedence_test
from scillm.codeworld import BridgeSettings, EngineSettings
from scillm.codeworld.settings import SERVICE_LEGACY, env_names
from scillm.service import ServiceConfig
from scillm.service.config import token_names

ENGINE = EngineSettings.from_env

test_argument_beats_environment_beats_default = precedence_test(
    {
        "concurrency": Setting(ENGINE, "concurrency", env_names("CONCURRENCY"), ("3", 3), 5, "8o"),
        "allow_rlimits_only": Setting(  # "1", the documented spelling
            ENGINE,
            "allow_rlimits_only",
            env_names("ALLOW_RLIMITS_ONLY"),
            ("1", True),
            False,
            "ture",
        ),
        "bridge max_seconds": Setting(
            BridgeSettings.from_env, "max_seconds", env_names("MAX_SECONDS"), ("60", 60), 9, "1m"
        ),
        "bridge token": Setting(
            lambda **given: ServiceConfig.from_env("codeworld", legacy=SERVICE_LEGACY, **given),
            "token",
            token_names("codeworld", SERVICE_LEGACY),
            ("t-env",) * 2,
            "t-arg",
        ),
    }
)


def test_flags_and_counts_are_read_strictly(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_names("TOKEN") == token_names("codeworld", SERVICE_LEGACY)[:2]
    for raw, expected in (("yes", True), ("ON", True), ("false", False), ("0", False)):
        monkeypatch.setenv("CODEWORLD_ALLOW_RLIMITS_ONLY", raw)
        assert BridgeSettings.from_env().allow_rlimits_only is expected
    monkeypatch.setenv("CODEWORLD_CONCURRENCY", "-2")
    with pytest.raises(ValueError, match=r"SCILLM_CODEWORLD_CONCURRENCY.* not -2"):
        EngineSettings.from_env()


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf")])
def test_the_bridge_s_max_seconds_must_be_a_positive_finite_number(seconds: float) -> None:
    with pytest.raises(ValueError, match="SCILLM_CODEWORLD_MAX_SECONDS"):
        BridgeSettings(max_seconds=seconds)
