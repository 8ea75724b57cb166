"""``scillm._config`` reads the environment as it is at each call, set, changed or removed."""

from __future__ import annotations

import os

import pytest

from scillm._config import env, env_float, env_int, reader, setting


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


def test_a_reader_gives_what_setting_gives_at_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    read = reader(int, "SCILLM_TEST_A", "SCILLM_TEST_B")
    monkeypatch.delenv("SCILLM_TEST_A", raising=False)
    monkeypatch.delenv("SCILLM_TEST_B", raising=False)
    assert read(None, 3) == 3 and read(5, 3) == 5
    monkeypatch.setenv("SCILLM_TEST_A", "")  # empty is unset: the next name is read
    monkeypatch.setenv("SCILLM_TEST_B", "7")
    assert read(None, 3) == 7 == setting(None, 3, int, "SCILLM_TEST_A", "SCILLM_TEST_B")
    os.environ["SCILLM_TEST_A"] = "8"
    assert read(None, 3) == 8 and read(5, 3) == 5
    os.environ["SCILLM_TEST_A"] = "eight"
    with pytest.raises(ValueError, match="SCILLM_TEST_A='eight' is not an integer"):
        read(None, 3)
    del os.environ["SCILLM_TEST_A"]
    assert read(None, 3) == 7
