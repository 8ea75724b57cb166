"""The engines' model seam: what a model reference may be, and the Router every call takes."""

from __future__ import annotations

import pytest

import scillm
from scillm.router import Router
from scillm.router.seam import EngineModel, engine_model, engine_router
from scillm.testing import Fault, Reply, ScriptedModel, ScriptExhausted

MESSAGES = [{"role": "user", "content": "hi"}]


def test_a_model_string_shares_one_router_per_retry_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SCILLM_RETRY_MAX_ATTEMPTS", raising=False)
    a, b = engine_model("openai/a"), engine_model("openai/b", api_base="http://h/v1")
    assert a.router is b.router is engine_router()
    assert (a.name, dict(a.defaults), dict(b.defaults)) == (
        "openai/a",
        {},
        {"api_base": "http://h/v1"},
    )
    monkeypatch.setenv("SCILLM_RETRY_MAX_ATTEMPTS", "0")
    assert engine_model("openai/a").router is not a.router
    assert engine_model(a) is a


def test_routers_and_groups_are_checked() -> None:
    one = Router(model_list=[{"model_name": "g", "litellm_params": {"model": "openai/x"}}])
    assert (engine_model(one).name, engine_model((one, "g")).name) == ("g", "g")
    assert engine_model((one, "openai/adhoc")).name == "openai/adhoc"
    two = Router(
        model_list=[
            {"model_name": "a", "litellm_params": {"model": "openai/x"}},
            {"model_name": "b", "litellm_params": {"model": "openai/y"}},
        ]
    )
    with pytest.raises(ValueError, match="has model groups a, b; name one"):
        engine_model(two)
    with pytest.raises(ValueError, match="unknown model group 'c'; this Router has: a, b"):
        engine_model((two, "c"))
    with pytest.raises(ValueError, match="non-empty string"):
        engine_model((two, ""))
    with pytest.raises(ValueError, match="api_base/api_key go with a model string"):
        engine_model((two, "a"), api_key="k")
    with pytest.raises(ValueError, match="the model string is empty"):
        engine_model("  ")
    for bad in (42, (two,), ("a", two), [two, "a"]):
        with pytest.raises(TypeError, match="a model is a model string, a scillm Router"):
            engine_model(bad)  # type: ignore[arg-type]


async def test_the_script_is_served_in_order_faults_included() -> None:
    script = ["one", Fault.http(503), Reply("two"), lambda body: f"echo {body['seed']}"]
    async with ScriptedModel(script) as model:
        seam = engine_model((model.router(), "scripted"))
        assert model.left == 4
        first = await seam.acompletion(MESSAGES)
        second = await seam.acompletion(MESSAGES)  # the 503 is retried
        third = await seam.acompletion(MESSAGES, seed=9)
        assert isinstance(seam, EngineModel) and model.left == 0 and model.calls == 4
        texts = [r.choices[0].message.content for r in (first, second, third)]
        assert texts == ["one", "two", "echo 9"]
        assert second["scillm_router"]["retries"]["attempts"] == 2
        with pytest.raises(scillm.ServerError, match=ScriptExhausted.__name__):
            await seam.acompletion(MESSAGES, num_retries=0)
        model.push("three")
        assert (await seam.acompletion(MESSAGES)).choices[0].message.content == "three"


async def test_then_answers_after_the_script_and_bad_entries_are_refused() -> None:
    async with ScriptedModel(["first"], then="later") as model:
        seam = engine_model(model.model, api_base=model.base_url)
        texts = [(await seam.acompletion(MESSAGES)).choices[0].message.content for _ in range(3)]
    assert texts == ["first", "later", "later"]
    with pytest.raises(TypeError, match="reply must be"):
        ScriptedModel([42])  # type: ignore[list-item]
