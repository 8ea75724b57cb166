"""register_custom_provider (litellm CustomLLM handlers); register_provider checks replies."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import scillm
from scillm import Router
from scillm.providers import Call, register_provider
from scillm.testing import MockLLMServer
from scillm.types import ChatCompletion

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


def test_litellm_custom_llm_handlers(mock_llm: MockLLMServer) -> None:
    """Real litellm CustomLLM subclasses, in a child process: importing litellm installs
    warning filters that pytest drops between tests, which would break later litellm tests."""
    script = Path(__file__).with_name("litellm_handlers.py")
    out = subprocess.run(
        [sys.executable, str(script), mock_llm.base_url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert mock_llm.last_request.body is not None


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
    scillm.register_custom_provider("returns-no-choices", Returns({"id": "x"}))
    with pytest.raises(scillm.APIError, match="returns-no-choices returned a reply without"):
        scillm.completion("returns-no-choices/m", USER)


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
