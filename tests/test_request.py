"""One request normaliser: the same argument means the same thing at every door.

Each case runs against the real mock server; a refused request must reach nothing.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

import scillm
from scillm import Router
from scillm.testing import Fault, MockLLMServer

USER = [{"role": "user", "content": "hello"}]


class Answer(BaseModel):
    answer: int


SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}


def doors(mock_llm: MockLLMServer) -> list[Any]:
    """``completion``, a Router ad-hoc call and a Router group call, as plain functions."""
    entry = {"model": "openai/m", "api_base": mock_llm.base_url}
    group = Router([{"model_name": "g", "litellm_params": entry}])
    return [
        lambda **kw: scillm.completion(
            **{"model": "openai/m", "api_base": mock_llm.base_url, **kw}
        ),
        lambda **kw: Router().completion(
            **{"model": "openai/m", "base_url": mock_llm.base_url, **kw}
        ),
        lambda **kw: group.completion(**{"model": "g", **kw}),
    ]


@pytest.mark.parametrize(
    "structured",
    [
        {"response_format": Answer},
        {"json_schema": SCHEMA},
        {"json_schema": {"name": "Answer", "schema": SCHEMA}, "response_mode": "schema_first"},
        {"response_format": {"type": "json_schema", "json_schema": {"schema": SCHEMA}}},
    ],
)
def test_every_structured_form_is_sent_and_checked_alike_at_every_door(
    mock_llm: MockLLMServer, structured: dict[str, Any]
) -> None:
    mock_llm.set_reply('{"answer": 42}')
    for door in doors(mock_llm):
        resp = door(messages=USER, **structured)
        body = mock_llm.last_request.body
        assert body["response_format"]["type"] == "json_schema"
        answer = body["response_format"]["json_schema"]["schema"]["properties"]["answer"]
        assert answer["type"] == "integer"
        assert "json_schema" not in body and "response_mode" not in body
        meta = resp["scillm_router"]
        assert meta["schema_mode"] == "json_schema" and meta["schema_valid"] is True
        assert orjson.loads(resp.choices[0].message.content) == {"answer": 42}


def test_completion_validates_and_falls_back_like_the_router(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply("no json here")
    resp = scillm.completion("openai/m", USER, api_base=mock_llm.base_url, json_schema=SCHEMA)
    assert resp["scillm_router"]["fallback_used"] is True
    assert resp["scillm_router"]["error_type"] == "invalid_json"
    assert mock_llm.last_request.body["response_format"] == {"type": "json_object"}


def test_completion_retries_only_when_asked(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.http(500))
    with pytest.raises(scillm.ServerError):
        scillm.completion("openai/m", USER, api_base=mock_llm.base_url)
    mock_llm.enqueue(Fault.http(500))
    resp = scillm.completion(
        "openai/m", USER, api_base=mock_llm.base_url, num_retries=1, retry_base_s=0.01
    )
    assert resp["scillm_router"]["retries"]["attempts"] == 2


def test_plain_completion_stays_the_servers_json(mock_llm: MockLLMServer) -> None:
    resp = scillm.completion("openai/m", USER, api_base=mock_llm.base_url, temperature=None)
    assert "scillm_router" not in resp and "temperature" not in mock_llm.last_request.body


BAD: list[tuple[dict[str, Any], str]] = [
    ({"timeout": -1}, "timeout=-1 is not a number > 0"),
    ({"timeout": math.nan}, "timeout=nan is not a finite number"),
    ({"timeout": "10"}, "timeout='10' is not a finite number"),
    ({"timeout": True}, "timeout=True is not a finite number"),
    ({"temperature": "hot"}, "temperature='hot' is not a finite number"),
    ({"max_tokens": 0}, "max_tokens=0 is not an integer >= 1"),
    ({"max_tokens": 2.5}, "max_tokens=2.5 is not an integer"),
    ({"stop": ["a", 1]}, "stop=['a', 1] is not a string or a list of strings"),
    ({"tools": "search"}, "tools='search' is not a list"),
    ({"response_format": "json"}, "response_format='json' is not a dict"),
    ({"response_format": {"type": "yaml"}}, "is not understood"),
    ({"extra_headers": {"X-N": 1}}, "extra_headers="),
    ({"api_key": 7}, "api_key=7 is not a string"),
    ({"retry_jitter_pct": 2}, "retry_jitter_pct=2 is not a number within [0, 1]"),
    ({"num_retries": -1}, "num_retries=-1 is not an integer >= 0"),
    ({"on_attempt": "print"}, "on_attempt='print' is not a function"),
    ({"deterministic": "yes"}, "deterministic='yes' is not True or False"),
    ({"json_schema": SCHEMA, "response_format": {"type": "json_object"}}, "pass one"),
    ({"response_mode": "strict"}, "the only mode is 'schema_first'"),
    ({"stream": "yes"}, "stream='yes' is not True or False"),
    ({"model": 123}, "model=123 is not a model name"),
    ({"model": ""}, "model='' is not a model name"),
    ({"messages": "hello"}, "messages must be a non-empty list"),
    ({"temprature": 0.2}, "unknown parameter(s) temprature"),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD)
def test_bad_arguments_are_refused_alike_before_anything_is_sent(
    mock_llm: MockLLMServer, kwargs: dict[str, Any], message: str
) -> None:
    for door in doors(mock_llm):
        call = {"messages": USER, **kwargs}
        with pytest.raises(scillm.BadRequestError) as info:
            door(**call)
        assert message in str(info.value)
    assert mock_llm.requests == []


def test_api_base_and_base_url_are_one_setting(mock_llm: MockLLMServer) -> None:
    for door in (scillm.completion, Router().completion):
        resp = door(model="openai/m", messages=USER, base_url=mock_llm.base_url)
        assert resp.choices[0].message.content
        with pytest.raises(scillm.BadRequestError, match="differ"):
            door(
                model="openai/m",
                messages=USER,
                api_base=mock_llm.base_url,
                base_url="http://127.0.0.1:9/v1",
            )
    with pytest.raises(scillm.BadRequestError, match="http:// or https:// URL"):
        scillm.completion("openai/m", USER, api_base="127.0.0.1:8000")


async def test_a_fan_out_item_without_a_model_fails_instead_of_running_elsewhere(
    mock_llm: MockLLMServer,
) -> None:
    entry = {"model": "openai/m", "api_base": mock_llm.base_url}
    router = Router([{"model_name": "g", "litellm_params": entry}])
    results = await router.parallel_acompletions(
        [{"model": "g", "messages": USER}, {"model": None, "messages": USER}]
    )
    assert results[0].ok and not results[1].ok
    assert "no model" in results[1].meta["exception"]
    assert len(mock_llm.requests) == 1


def test_image_policy_off_with_an_empty_dict(mock_llm: MockLLMServer) -> None:
    big = "data:image/png;base64," + "A" * 8_000_000
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": big}}]}]
    with pytest.raises(scillm.ImagePolicyError):
        Router().completion(model="openai/m", messages=image, api_base=mock_llm.base_url)
    resp = Router(image_policy={}).completion(
        model="openai/m", messages=image, api_base=mock_llm.base_url
    )
    assert resp.choices[0].message.content is not None


def test_router_refuses_a_bad_timeout_at_construction() -> None:
    for bad in (-1, math.inf, "10"):
        with pytest.raises(ValueError, match="timeout"):
            Router(timeout=bad)  # type: ignore[arg-type]
