"""scillm's replies read like the openai SDK's: absent OpenAI fields are None, typos still raise.

Replies come from the mock server over loopback; where the openai SDK can read the same reply,
every SDK field is compared with scillm's. The field table in ``scillm.types`` is checked
against the installed SDK's models, so a new SDK field shows up here.
"""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import typing
from typing import Any

import openai
import orjson
import pytest
from openai.types.chat import ChatCompletion as SDKCompletion
from openai.types.chat import ChatCompletionChunk as SDKChunk
from openai.types.chat import ChatCompletionMessageParam
from pydantic import BaseModel

import scillm
from scillm import types
from scillm.testing import MockLLMServer, Reply

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "weather in Paris?"}]
MODEL = "openai/mock-model"

WIRE_REPLY: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1730000000,
    "model": "mock-model",
    "system_fingerprint": "fp_1",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "reasoning_content": "look it up",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            "logprobs": {
                "content": [
                    {
                        "token": "Hi",
                        "logprob": -0.1,
                        "bytes": [72, 105],
                        "top_logprobs": [{"token": "Hi", "logprob": -0.1}],
                    }
                ],
                "refusal": None,
            },
            "finish_reason": "tool_calls",
        },
        {
            "index": 1,
            "message": {
                "role": "assistant",
                "content": "Sunny.",
                "annotations": [
                    {
                        "type": "url_citation",
                        "url_citation": {
                            "start_index": 0,
                            "end_index": 6,
                            "title": "t",
                            "url": "u",
                        },
                    }
                ],
            },
            "finish_reason": "stop",
        },
    ],
    "usage": {
        "prompt_tokens": 9,
        "completion_tokens": 12,
        "total_tokens": 21,
        "completion_tokens_details": {"reasoning_tokens": 4},
    },
    "provider_extra": {"region": "eu"},
}
"""A reply sent verbatim: tool calls, logprobs, annotations, partial usage details, extra keys."""


def ask(srv: MockLLMServer, **kwargs: Any) -> Any:
    return scillm.completion(MODEL, USER, api_base=srv.base_url, api_key="k", **kwargs)


def assert_reads_like(sdk: object, ours: object, path: str, skip: frozenset[str]) -> None:
    """Every field the SDK model has reads the same on scillm's object (None when absent)."""
    if isinstance(sdk, BaseModel):
        for name in type(sdk).model_fields:
            if f"{path}.{name}" not in skip:
                assert_reads_like(getattr(sdk, name), getattr(ours, name), f"{path}.{name}", skip)
    elif isinstance(sdk, list):
        assert isinstance(ours, list), path
        assert len(ours) == len(sdk), path
        for i, (a, b) in enumerate(zip(sdk, ours, strict=True)):
            assert_reads_like(a, b, f"{path}[{i}]", skip)
    else:
        assert ours == sdk, path


# --- the field table against the installed openai SDK ----------------------------------------


def sdk_models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models inside an annotation (through Optional, List, Union, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in sdk_models(arg)]


def drift(kind: type[types.AttrDict], models: list[type[BaseModel]], path: str) -> list[str]:
    """Where ``kind`` (and its nested kinds) differ from the union of the SDK ``models``."""
    sdk_fields = {name for model in models for name in model.model_fields}
    problems = []
    if kind._openai_fields != sdk_fields:
        missing = sorted(sdk_fields - kind._openai_fields)
        extra = sorted(kind._openai_fields - sdk_fields)
        problems.append(f"{path} ({kind.__name__}): missing {missing}, not in the SDK {extra}")
    for name in sorted(sdk_fields | set(kind._nested)):
        inner = [
            sub
            for model in models
            if name in model.model_fields
            for sub in sdk_models(model.model_fields[name].annotation)
        ]
        nested = kind._nested.get(name)
        if inner and nested is None:
            problems.append(f"{path}.{name}: the SDK has a model here, scillm has no kind")
        elif nested is not None and not inner:
            problems.append(f"{path}.{name}: scillm has kind {nested.__name__}, the SDK no model")
        elif nested is not None:
            problems += drift(nested, list(dict.fromkeys(inner)), f"{path}.{name}")
    return problems


def test_the_field_table_matches_the_installed_openai_sdk() -> None:
    problems = drift(types.ChatCompletion, [SDKCompletion], "ChatCompletion")
    problems += drift(types.ChatCompletionChunk, [SDKChunk], "ChatCompletionChunk")
    assert problems == [], f"openai {openai.__version__}: update scillm/types.py:\n" + "\n".join(
        problems
    )


def test_import_scillm_does_not_import_openai() -> None:
    code = "import sys, scillm, scillm.types; print('openai' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- whole replies ----------------------------------------------------------------------------


def test_a_reply_reads_like_the_sdk_and_stays_exactly_what_was_sent(
    mock_llm: MockLLMServer,
) -> None:
    mock_llm.set_reply(lambda body: WIRE_REPLY)
    resp = ask(mock_llm)
    with openai.OpenAI(base_url=mock_llm.base_url, api_key="k") as client:
        sdk = client.chat.completions.create(model="mock-model", messages=USER)
    assert_reads_like(sdk, resp, "resp", frozenset())
    # Reading absent fields inserted nothing: the JSON is byte for byte what the server sent.
    assert orjson.dumps(resp) == orjson.dumps(WIRE_REPLY)
    assert "service_tier" not in resp
    assert "refusal" not in resp.choices[0].message


def test_absent_openai_fields_read_none(mock_llm: MockLLMServer) -> None:
    resp = ask(mock_llm)
    sent = orjson.dumps(resp)
    choice = resp.choices[0]
    message = choice.message
    assert message.content == "weather in Paris?"
    assert message.tool_calls is None
    assert message.refusal is None
    assert message.function_call is None
    assert choice.logprobs is None
    assert resp.service_tier is None
    assert resp.system_fingerprint is None
    assert resp.usage.completion_tokens_details is None
    assert resp.usage.prompt_tokens_details is None
    assert "refusal" not in message
    assert orjson.dumps(resp) == sent


def test_nested_objects_know_their_kind(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply(lambda body: WIRE_REPLY)
    resp = ask(mock_llm)
    first, second = resp.choices
    call = first.message.tool_calls[0]
    kinds = {
        "choice": (first, types.Choice),
        "message": (first.message, types.ChatCompletionMessage),
        "tool call": (call, types.ChatCompletionMessageToolCall),
        "function": (call.function, types.Function),
        "logprobs": (first.logprobs, types.ChoiceLogprobs),
        "token logprob": (first.logprobs.content[0], types.ChatCompletionTokenLogprob),
        "top logprob": (first.logprobs.content[0].top_logprobs[0], types.TopLogprob),
        "annotation": (second.message.annotations[0], types.Annotation),
        "usage": (resp.usage, types.CompletionUsage),
        "details": (resp.usage.completion_tokens_details, types.CompletionTokensDetails),
        "unknown": (resp.provider_extra, types.AttrDict),
    }
    for what, (obj, kind) in kinds.items():
        assert type(obj) is kind, what
    assert call.custom is None
    assert first.logprobs.content[0].top_logprobs[0].bytes is None
    assert resp.usage.completion_tokens_details.audio_tokens is None


def test_keys_the_server_sent_beyond_the_sdk_read_as_attributes(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply(lambda body: WIRE_REPLY)
    resp = ask(mock_llm)
    assert resp.provider_extra.region == "eu"
    assert resp.choices[0].message.reasoning_content == "look it up"


def test_an_unknown_name_raises_attribute_error_naming_the_fields(
    mock_llm: MockLLMServer,
) -> None:
    resp = ask(mock_llm)
    message = resp.choices[0].message
    with pytest.raises(AttributeError, match="ChatCompletionMessage has no field 'contnet'") as e:
        message.contnet  # noqa: B018
    assert "content" in str(e.value) and "tool_calls" in str(e.value)
    with pytest.raises(AttributeError, match="Choice has no field 'mesage'"):
        resp.choices[0].mesage  # noqa: B018
    with pytest.raises(AttributeError, match="ChatCompletion has no field 'choice'"):
        resp.choice  # noqa: B018
    with pytest.raises(
        AttributeError, match="ChatCompletionMessage has no key 'refusal' to delete"
    ):
        del message.refusal  # an absent field reads None but cannot be deleted
    assert hasattr(message, "refusal")  # like the SDK
    assert not hasattr(message, "nonsense")
    assert getattr(message, "nonsense", "default") == "default"


def test_attributes_can_still_be_set_and_deleted() -> None:
    resp = types.ChatCompletion({"choices": [{"message": {"content": "hi"}}]})
    message = resp.choices[0].message
    message.refusal = "no"
    assert message["refusal"] == "no"
    del message.refusal
    assert "refusal" not in message
    assert message.refusal is None


# --- streaming --------------------------------------------------------------------------------


STREAMED = Reply(
    "Paris is sunny today.",
    tool_calls=[{"id": "call_1", "name": "get_weather", "arguments": {"city": "Paris"}}],
)


async def scillm_chunks(srv: MockLLMServer) -> list[Any]:
    stream = await scillm.acompletion(
        MODEL,
        USER,
        api_base=srv.base_url,
        api_key="k",
        stream=True,
        stream_options={"include_usage": True},
    )
    return [chunk async for chunk in stream]


async def test_a_stream_reads_with_the_openai_idioms(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply(STREAMED)
    text = ""
    calls: dict[int, dict[str, str]] = {}
    finish: str | None = None
    usage: Any = None
    for chunk in await scillm_chunks(mock_llm):
        assert type(chunk) is types.ChatCompletionChunk
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            text += delta.content or ""
            assert delta.refusal is None
            assert choice.logprobs is None
            for tc in delta.tool_calls or []:
                call = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                call["id"] += tc.id or ""
                if tc.function:
                    call["name"] += tc.function.name or ""
                    call["arguments"] += tc.function.arguments or ""
            finish = choice.finish_reason or finish
    assert text == "Paris is sunny today."
    assert calls == {0: {"id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'}}
    assert finish == "tool_calls"
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details is None


async def test_stream_chunks_read_like_the_sdk_chunks(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply(STREAMED)
    ours = await scillm_chunks(mock_llm)
    async with openai.AsyncOpenAI(base_url=mock_llm.base_url, api_key="k") as client:
        stream = await client.chat.completions.create(
            model="mock-model",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
        sdk = [chunk async for chunk in stream]
    assert len(ours) == len(sdk)
    per_request = frozenset({"chunk.id", "chunk.created"})
    for sdk_chunk, chunk in zip(sdk, ours, strict=True):
        assert_reads_like(sdk_chunk, chunk, "chunk", per_request)


# --- constructors, pickling, copying ------------------------------------------------------------


def test_constructors_keep_their_signatures() -> None:
    headers = {"x-ratelimit-remaining-requests": "9"}
    resp = types.ChatCompletion({"choices": [], "scillm_router": {"retries": 0}}, headers=headers)
    assert resp.response_headers == headers
    assert resp.additional_kwargs == {"router": {"retries": 0}}
    assert types.ChatCompletion().response_headers == {}
    chunk = types.ChatCompletionChunk({"choices": [{"delta": {}}], "scillm_router": {"n": 1}})
    assert type(chunk.choices[0].delta) is types.ChoiceDelta
    assert chunk.additional_kwargs == {"router": {"n": 1}}
    assert types.ChatCompletionChunk({}, headers=headers).response_headers == headers
    assert types.wrap([{"a": {"b": 1}}]) == [{"a": {"b": 1}}]
    assert type(types.wrap({"a": {}})["a"]) is types.AttrDict
    assert type(types.wrap({"message": {}}, types.Choice).message) is types.ChatCompletionMessage


@pytest.mark.parametrize("kind", [types.ChatCompletion, types.ChatCompletionChunk])
@pytest.mark.parametrize("headers", [None, {"x-request-id": "r1"}])
def test_reply_makes_what_the_constructor_makes(
    kind: type[types.ChatCompletion] | type[types.ChatCompletionChunk],
    headers: dict[str, str] | None,
) -> None:
    made, built = types.reply(kind, WIRE_REPLY, headers), kind(WIRE_REPLY, headers=headers)
    assert type(made) is kind and made == built == WIRE_REPLY
    assert made.response_headers == built.response_headers == (headers or {})
    assert made["choices"] is not WIRE_REPLY["choices"]  # a copy, the caller's dicts untouched
    assert [type(c) for c in made.choices] == [type(c) for c in built.choices]
    assert pickle.loads(pickle.dumps(made)).response_headers == (headers or {})


def test_pickle_and_copy_keep_the_reply_its_kinds_and_headers(mock_llm: MockLLMServer) -> None:
    mock_llm.set_reply(lambda body: WIRE_REPLY)
    resp = ask(mock_llm)
    chunk = types.ChatCompletionChunk(
        {"choices": [{"delta": {"content": "x"}}]}, headers={"a": "1"}
    )
    roundtrips = {
        "pickle": lambda obj: pickle.loads(pickle.dumps(obj)),
        "copy": copy.copy,
        "deepcopy": copy.deepcopy,
    }
    for how, roundtrip in roundtrips.items():
        again = roundtrip(resp)
        assert type(again) is types.ChatCompletion, how
        assert orjson.dumps(again) == orjson.dumps(WIRE_REPLY), how  # no slot leaked into the dict
        assert type(again.choices[0].message) is types.ChatCompletionMessage, how
        assert again.choices[0].message.refusal is None, how
        assert again.response_headers["Content-Type"] == resp.response_headers["content-type"], how
        chunk_again = roundtrip(chunk)
        assert chunk_again == chunk, how
        assert chunk_again.response_headers == {"a": "1"}, how
        assert chunk_again.choices[0].delta.tool_calls is None, how
