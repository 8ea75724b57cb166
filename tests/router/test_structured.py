"""Schema-first structured output: validation, repair, one fallback, and the meta that says so."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from pydantic import BaseModel

import scillm
from scillm import Router
from scillm.testing import Fault, MockLLMServer

USER = [{"role": "user", "content": "a city please"}]
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "pop": {"type": "integer"}},
    "required": ["city", "pop"],
}
FMT = {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA}}


def call(srv: MockLLMServer, **kwargs: Any) -> scillm.ChatCompletion:
    router = Router()
    return router.completion(  # type: ignore[no-any-return]
        model="openai/m", messages=USER, api_base=srv.base_url, **kwargs
    )


def test_valid_json_schema_reply(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply('{"city": "Oslo", "pop": 700000}')
    resp = call(mock_llm, response_format=FMT)
    meta = resp["scillm_router"]
    assert meta["error_type"] == "ok"
    assert meta["json_valid"] is True and meta["schema_valid"] is True
    assert meta["fallback_used"] is False and meta["repaired"] is False
    assert meta["response_format_used"] == "json_schema"
    body = mock_llm.last_request.body
    assert body["response_format"] == FMT
    assert body["temperature"] == 0  # JSON modes default to 0 ...


def test_caller_temperature_is_kept(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply('{"city": "Oslo", "pop": 1}')
    call(mock_llm, response_format=FMT, temperature=0.7)
    assert mock_llm.last_request.body["temperature"] == 0.7  # ... unless the caller set it


@pytest.mark.parametrize("schema", [SCHEMA, {"name": "city", "schema": SCHEMA}])
def test_original_schema_first_form(mock_llm: MockLLMServer, schema: dict[str, Any]) -> None:
    mock_llm.set_reply('{"city": "Oslo", "pop": 1}')
    resp = call(mock_llm, response_mode="schema_first", json_schema=schema)
    sent = mock_llm.last_request.body["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["schema"] == SCHEMA
    assert resp["scillm_router"]["schema_valid"] is True


def test_pydantic_model_class(mock_llm: MockLLMServer) -> None:
    class City(BaseModel):
        city: str
        pop: int

    mock_llm.set_reply('{"city": "Oslo", "pop": 1}')
    resp = call(mock_llm, response_format=City)
    sent = mock_llm.last_request.body["response_format"]
    assert sent["json_schema"]["name"] == "City"
    assert City.model_validate_json(resp.choices[0].message.content).city == "Oslo"


def test_code_fences_and_broken_json_are_repaired_without_another_call(
    mock_llm: MockLLMServer,
) -> None:
    mock_llm.set_reply('```json\n{"city": "Oslo", "pop": 1,}\n```')
    resp = call(mock_llm, response_format=FMT)
    meta = resp["scillm_router"]
    assert meta["repaired"] is True and meta["schema_valid"] is True
    assert meta["fallback_used"] is False
    assert orjson.loads(resp.choices[0].message.content) == {"city": "Oslo", "pop": 1}
    assert len(mock_llm.requests) == 1


def test_schema_violation_makes_one_fallback_call(mock_llm: MockLLMServer) -> None:
    replies = iter(['{"city": "Oslo"}', '{"city": "Oslo", "pop": 2}'])
    mock_llm.set_reply(lambda body: next(replies))
    resp = call(mock_llm, response_format=FMT)
    meta = resp["scillm_router"]
    assert meta["fallback_used"] is True and meta["response_format_used"] == "json_object"
    assert meta["schema_valid"] is True and meta["error_type"] == "ok"
    fallback = mock_llm.requests[1].body
    assert fallback["response_format"] == {"type": "json_object"}
    assert fallback["messages"][0]["role"] == "system"
    assert '"required":["city","pop"]' in fallback["messages"][0]["content"]


def test_still_invalid_after_the_fallback_is_reported_not_hidden(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply('{"city": 5}')
    resp = call(mock_llm, response_format=FMT)
    meta = resp["scillm_router"]
    assert len(mock_llm.requests) == 2  # one fallback, never more
    assert meta["error_type"] == "schema_invalid"
    assert meta["schema_valid"] is False
    assert any("pop" in e for e in meta["validation_errors"])


def test_prose_is_invalid_json(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply("I cannot do that")
    resp = call(mock_llm, response_format=FMT)
    assert resp["scillm_router"]["error_type"] == "invalid_json"
    assert resp["scillm_router"]["parse_error"]


def test_prose_without_json_mode_is_fine(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply("plain prose")
    meta = call(mock_llm)["scillm_router"]
    assert meta["error_type"] == "ok" and meta["json_valid"] is None


def test_empty_reply_is_flagged(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply("")
    assert call(mock_llm)["scillm_router"]["error_type"] == "empty_content"


def test_provider_rejecting_json_schema_goes_straight_to_fallback(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply('{"city": "Oslo", "pop": 3}')
    mock_llm.enqueue(Fault.http(400, body={"error": {"message": "json_schema unsupported"}}))
    resp = call(mock_llm, response_format=FMT)
    assert resp["scillm_router"]["fallback_used"] is True
    assert resp["scillm_router"]["schema_valid"] is True


def test_invalid_schema_fails_before_any_call(mock_llm: MockLLMServer) -> None:
    bad = {"type": "object", "properties": {"x": {"type": "strnig"}}}
    with pytest.raises(scillm.BadRequestError, match="not a valid JSON Schema"):
        call(mock_llm, response_mode="schema_first", json_schema=bad)
    assert mock_llm.requests == []


def test_json_object_mode_checks_json_only(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply('{"anything": true}')
    meta = call(mock_llm, response_format={"type": "json_object"})["scillm_router"]
    assert meta["json_valid"] is True and meta["schema_valid"] is None
