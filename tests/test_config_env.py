"""``scillm._config`` reads the environment as it is at each call, set, changed or removed."""

from __future__ import annotations

import os

import pytest

from scillm._config import env, env_float, env_int, setting


def test_every_read_sees_the_environment_of_the_moment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCILLM_TEST_KNOB", raising=False)
    assert env("SCILLM_TEST_KNOB") is None and env_int(3, "SCILLM_TEST_KNOB") == 3
    monkeypatch.setenv("SCILLM_TEST_KNOB", "7")
    assert env("SCILLM_TEST_KNOB") == "7" and env_int(3, "SCILLM_TEST_KNOB") == 7
    os.environ["SCILLM_TEST_KNOB"] = "8"  # the plain API, as a user's script would
    assert env_float(1.0, "SCILLM_TEST_KNOB") == 8.0
    del os.environ["SCILLM_TEST_KNOB"]
    assert env("SCILLM_TEST_KNOB") is None


def test_first_non_empty_name_wins_and_text_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCILLM_TEST_A", "")
    monkeypatch.setenv("SCILLM_TEST_B", "héllo wörld")
    assert env("SCILLM_TEST_A", "SCILLM_TEST_B") == "héllo wörld"
    assert setting(None, "d", str, "SCILLM_TEST_A", "SCILLM_TEST_B") == "héllo wörld"
    assert setting("given", "d", str, "SCILLM_TEST_B") == "given"
