"""The original's ENABLE flags: every engine/agent provider is on by default; a flag switches it
off, read when a model string is resolved (SCILLM_ before LITELLM_)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import scillm
from scillm import Router
from scillm.providers.registry import ENABLE_FLAGS, enable_flags
from scillm.testing import MockLLMServer

USER = [{"role": "user", "content": "ping"}]
SWITCHABLE = ("codex-agent", "codex_cli_agent", "mini-agent", "codeworld", "certainly", "lean4")


@pytest.fixture(autouse=True)
def no_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in {n for key in ENABLE_FLAGS for n in enable_flags(key)}:
        monkeypatch.delenv(name, raising=False)


def test_all_are_on_by_default() -> None:
    assert set(SWITCHABLE) <= set(scillm.provider_names())


@pytest.mark.parametrize("value", ["0", "false", "off"])
def test_a_flag_switches_a_provider_off_and_the_error_names_it(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SCILLM_ENABLE_CODEWORLD", value)
    with pytest.raises(scillm.UnknownProviderError, match=f"SCILLM_ENABLE_CODEWORLD={value}"):
        scillm.completion("codeworld/mcts", USER)
    with pytest.raises(scillm.UnknownProviderError, match="switched off"):
        scillm.completion(model="x", messages=USER, custom_llm_provider="codeworld")
    assert "codeworld" not in scillm.provider_names()
    with pytest.raises(ValueError, match=r"model_list\[0\].*SCILLM_ENABLE_CODEWORLD"):
        Router(model_list=[{"model_name": "cw", "litellm_params": {"model": "codeworld"}}])
    monkeypatch.setenv("SCILLM_ENABLE_CODEWORLD", "1")  # read per resolution, not at import
    assert "codeworld" in scillm.provider_names()


def test_scillm_prefix_wins_over_litellm(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LITELLM_ENABLE_CODEX_AGENT", "0")
    for name in ("codex-agent", "codex_cli_agent", "code-agent", "code_agent"):
        with pytest.raises(scillm.UnknownProviderError, match="LITELLM_ENABLE_CODEX_AGENT=0"):
            scillm.completion(f"{name}/mini", USER, api_base=mock_llm.base_url)
    monkeypatch.setenv("SCILLM_ENABLE_CODEX_AGENT", "1")
    resp = scillm.completion("codex-agent/mini", USER, api_base=mock_llm.base_url)
    assert resp.choices[0].message.content == "ping"
    assert mock_llm.last_request.path == "/v1/chat/completions"


def test_lean4_and_certainly_are_one_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCILLM_ENABLE_LEAN4", "0")
    assert not {"lean4", "certainly"} & set(scillm.provider_names())
    monkeypatch.setenv("LITELLM_ENABLE_CERTAINLY", "1")  # a name's own flag is read first
    assert "certainly" in scillm.provider_names()
    assert "lean4" not in scillm.provider_names()
    with pytest.raises(scillm.UnknownProviderError, match="SCILLM_ENABLE_LEAN4=0"):
        scillm.completion("lean4", USER)


def test_mini_agent_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCILLM_ENABLE_MINI_AGENT", "no")
    with pytest.raises(scillm.UnknownProviderError, match="SCILLM_ENABLE_MINI_AGENT=no"):
        scillm.completion("mini-agent/openai/m", USER)


def test_a_malformed_flag_is_an_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCILLM_ENABLE_CODEWORLD", "maybe")
    with pytest.raises(ValueError, match="SCILLM_ENABLE_CODEWORLD='maybe' is not a flag"):
        scillm.completion("codeworld", USER)


def test_other_providers_have_no_flag() -> None:
    assert enable_flags("openai") == ()
    assert enable_flags("certainly") == (
        "SCILLM_ENABLE_CERTAINLY",
        "LITELLM_ENABLE_CERTAINLY",
        "SCILLM_ENABLE_LEAN4",
        "LITELLM_ENABLE_LEAN4",
    )


def test_a_switched_off_engine_is_not_even_imported() -> None:
    script = (
        "import os, sys, scillm\n"
        "os.environ['SCILLM_ENABLE_CODEWORLD'] = '0'\n"
        "try:\n"
        "    scillm.completion('codeworld', [{'role': 'user', 'content': 'x'}])\n"
        "except scillm.UnknownProviderError:\n"
        "    print('scillm.codeworld.provider' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
