"""register_custom_provider (litellm CustomLLM handlers); register_provider checks replies."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

import scillm
from scillm import Router
from scillm.providers import Call, register_provider
from scillm.testing import MockLLMServer
from scillm.types import ChatCompletion, ChatCompletionChunk

USER = [{"role": "user", "content": "ping"}]


def post(base: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    """A plain blocking HTTP call to the mock server, as a handler would make."""
    req = urllib.request.Request(
        f"{base}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


class PlainHandler:
    """Not a litellm class: a sync ``completion`` naming only the keywords it wants."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}

    def completion(
        self,
        model: str,
        messages: list[dict[str, Any]],
        api_base: str,
        api_key: str,
        optional_params: dict[str, Any],
        headers: dict[str, str],
        timeout: float,
    ) -> dict[str, Any]:
        try:
            asyncio.get_running_loop()
            loop_here = True
        except RuntimeError:
            loop_here = False
        self.seen = {"api_key": api_key, "headers": headers, "timeout": timeout, "loop": loop_here}
        return post(api_base, {"model": model, "messages": messages, **optional_params}, headers)


async def test_a_sync_handler_runs_off_the_loop_with_litellm_keywords(
    mock_llm: MockLLMServer,
) -> None:
    handler = scillm.register_custom_provider("plain", PlainHandler)
    assert isinstance(handler, PlainHandler)  # a class is instantiated, the instance returned
    resp = await scillm.acompletion(
        "plain/m-1",
        USER,
        api_base=mock_llm.base_url,
        api_key="k",
        temperature=0.2,
        extra_body={"top_k": 3},
        extra_headers={"x-tag": "a"},
        timeout=30,
    )
    assert isinstance(resp, ChatCompletion) and resp.choices[0].message.content == "ping"
    body = mock_llm.last_request.body
    assert body is not None
    assert (body["model"], body["temperature"], body["top_k"]) == ("m-1", 0.2, 3)
    assert mock_llm.last_request.headers["x-tag"] == "a"
    assert handler.seen == {"api_key": "k", "headers": {"x-tag": "a"}, "timeout": 30, "loop": False}


@pytest.fixture(scope="module")
def litellm_handlers() -> tuple[type, ...]:
    """litellm's CustomLLM and CustomLLMError, a handler in its documented async shape, and a
    sync-only one.

    litellm is imported here (not at collection: it takes seconds) as scillm's backend does."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm
    from litellm.llms.custom_llm import CustomLLM, CustomLLMError

    class LitellmAsync(CustomLLM):
        """Fills the ``model_response`` litellm hands it, and streams GenericStreamingChunks."""

        async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
            reply = await scillm.acompletion(
                "openai/" + kwargs["model"], kwargs["messages"], api_base=kwargs["api_base"]
            )
            response = kwargs["model_response"]
            assert isinstance(response, litellm.ModelResponse)
            response.choices[0].message.content = reply.choices[0].message.content.upper()
            return response

        async def astreaming(self, *args: Any, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
            assert kwargs["optional_params"]["stream"] is True
            for i, word in enumerate(["a", "b", "c"]):
                last = i == 2
                usage = {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}
                yield {
                    "text": word,
                    "is_finished": last,
                    "finish_reason": "stop" if last else "",
                    "usage": usage if last else None,
                    "index": 0,
                    "tool_use": None,
                }

    class LitellmSyncOnly(CustomLLM):
        """Only the sync methods: the inherited ``acompletion``/``astreaming`` are litellm's
        not-implemented stubs and must not be called."""

        def completion(self, *args: Any, **kwargs: Any) -> Any:
            assert kwargs["acompletion"] is False
            return litellm.ModelResponse(
                model=kwargs["model"],
                choices=[{"index": 0, "message": {"role": "assistant", "content": "sync"}}],
            )

        def streaming(self, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
            for text in ("x", "y"):
                yield {
                    "text": text,
                    "is_finished": text == "y",
                    "finish_reason": "stop" if text == "y" else "",
                    "usage": None,
                    "index": 0,
                    "tool_use": None,
                }

    return CustomLLM, CustomLLMError, LitellmAsync, LitellmSyncOnly


# litellm's first ModelResponse makes pydantic warn about litellm's own types.
@pytest.mark.filterwarnings("ignore:Item .* is using the `ReadOnly` qualifier:UserWarning")
def test_litellm_custom_llm_handlers(
    mock_llm: MockLLMServer, litellm_handlers: tuple[type, ...]
) -> None:
    base, error, lit_async, lit_sync = litellm_handlers
    scillm.register_custom_provider("lit-async", lit_async())
    scillm.register_custom_provider("lit-sync", lit_sync)
    resp = scillm.completion("lit-async/m", USER, api_base=mock_llm.base_url)
    assert resp.choices[0].message.content == "PING"
    assert resp["model"] == "m"
    chunks = list(scillm.completion("lit-async/m", USER, stream=True))
    assert all(isinstance(c, ChatCompletionChunk) for c in chunks)
    assert "".join(c.choices[0].delta.content for c in chunks) == "abc"
    assert [c.choices[0].finish_reason for c in chunks] == [None, None, "stop"]
    assert chunks[-1]["usage"]["total_tokens"] == 4
    assert scillm.completion("lit-sync/m", USER).choices[0].message.content == "sync"
    stream = scillm.completion(
        model="m", messages=USER, custom_llm_provider="lit-sync", stream=True
    )
    assert "".join(c.choices[0].delta.content for c in stream) == "xy"
    with pytest.raises(TypeError, match="neither a completion"):
        scillm.register_custom_provider("empty", base)
    scillm.register_custom_provider("lit-429", Raises(error(429, "slow down")))
    with pytest.raises(scillm.RateLimitError, match="slow down") as rate:
        scillm.completion("lit-429/m", USER)
    assert rate.value.status_code == 429 and rate.value.provider == "lit-429"


def test_a_handler_that_cannot_stream_says_so() -> None:
    class NoStream:
        def completion(self, **kwargs: Any) -> dict[str, Any]:
            return {"choices": [{"message": {"role": "assistant", "content": "x"}}]}

    scillm.register_custom_provider("no-stream", NoStream())
    assert scillm.completion("no-stream/m", USER).choices[0].message.content == "x"
    with pytest.raises(scillm.BadRequestError, match="'no-stream' cannot stream"):
        list(scillm.completion("no-stream/m", USER, stream=True))


class Returns:
    """A handler returning whatever it is given."""

    def __init__(self, value: Any) -> None:
        self.value = value

    async def acompletion(self, **kwargs: Any) -> Any:
        return self.value


def test_a_handler_returning_none_is_an_api_error_naming_it() -> None:
    scillm.register_custom_provider("returns-none", Returns(None))
    with pytest.raises(scillm.APIError, match="provider 'returns-none' returned None"):
        scillm.completion("returns-none/m", USER)
    scillm.register_custom_provider("returns-int", Returns(42))
    with pytest.raises(scillm.APIError, match="returned int '42' from acompletion"):
        scillm.completion("returns-int/m", USER)


class StatusError(Exception):
    """Like litellm's CustomLLMError: an exception carrying an HTTP ``status_code``."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class Raises:
    """A sync handler raising the exception it is given."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def completion(self, **kwargs: Any) -> Any:
        raise self.exc


def test_handler_errors_become_scillm_errors() -> None:
    scillm.register_custom_provider("raises-503", Raises(StatusError(503, "overloaded")))
    with pytest.raises(scillm.ServerError, match="overloaded"):
        scillm.completion("raises-503/m", USER)
    scillm.register_custom_provider("raises-refused", Raises(ConnectionRefusedError("refused")))
    with pytest.raises(scillm.ConnectionError, match="'raises-refused': refused"):
        scillm.completion("raises-refused/m", USER)
    scillm.register_custom_provider("raises-key", Raises(KeyError("k")))
    with pytest.raises(scillm.APIError, match="'raises-key' raised KeyError") as other:
        scillm.completion("raises-key/m", USER)
    assert isinstance(other.value.__cause__, KeyError) and other.value.status_code is None


def test_the_router_retries_a_handler_429_and_routes_to_handlers(mock_llm: MockLLMServer) -> None:
    class FlakyOnce:
        calls = 0

        async def acompletion(self, **kwargs: Any) -> Any:
            FlakyOnce.calls += 1
            if FlakyOnce.calls == 1:
                raise StatusError(429, "busy")
            return await scillm.acompletion(
                "openai/" + kwargs["model"], kwargs["messages"], api_base=kwargs["api_base"]
            )

    scillm.register_custom_provider("flaky", FlakyOnce)
    router = Router(
        model_list=[
            {
                "model_name": "g",
                "litellm_params": {"model": "flaky/m", "api_base": mock_llm.base_url},
            }
        ]
    )
    resp = router.completion(model="g", messages=USER, retry_base_s=0.01)
    assert resp.choices[0].message.content == "ping"
    assert resp["scillm_router"]["retries"]["attempts"] == 2
    assert resp["scillm_router"]["provider"] == "flaky"
    # Ad-hoc: custom_llm_provider + api_base, no model_list entry.
    adhoc = Router().completion(
        model="m", messages=USER, custom_llm_provider="flaky", api_base=mock_llm.base_url
    )
    assert adhoc.choices[0].message.content == "ping"


def test_a_blocking_handler_is_bounded_by_the_timeout() -> None:
    release = threading.Event()

    class Stuck:
        def completion(self, **kwargs: Any) -> Any:
            release.wait(30)
            return {"choices": []}

    scillm.register_custom_provider("stuck", Stuck())
    try:
        with pytest.raises(scillm.TimeoutError, match="'stuck' did not answer within"):
            scillm.completion("stuck/m", USER, timeout=0.2)
    finally:
        release.set()


class Raw:
    """A scillm provider (register_provider) returning a raw value from acompletion."""

    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self.value = value

    async def acompletion(self, call: Call) -> Any:
        return self.value

    async def astream(self, call: Call) -> Any:
        return self.value


def test_register_provider_checks_what_a_provider_returns() -> None:
    register_provider("raw-none", Raw("raw-none", None))
    with pytest.raises(scillm.APIError, match="provider 'raw-none' returned None from acompletion"):
        scillm.completion("raw-none/m", USER)
    with pytest.raises(scillm.APIError, match="must return an async iterator"):
        scillm.completion("raw-none/m", USER, stream=True)
    reply = {"choices": [{"index": 0, "message": {"role": "assistant", "content": None}}]}
    register_provider("raw-dict", Raw("raw-dict", reply))
    resp = scillm.completion("raw-dict/m", USER)
    assert isinstance(resp, ChatCompletion)
    assert resp.choices[0].message.content == ""  # a text reply's content is always a string


NONE_PROVIDER = Raw("lazy-none", None)


def test_a_lazily_registered_provider_is_checked_too() -> None:
    register_provider("lazy-none", f"{__name__}:NONE_PROVIDER")
    with pytest.raises(scillm.APIError, match="returned None"):
        scillm.completion("lazy-none/m", USER)
