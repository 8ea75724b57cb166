"""Run by test_custom_provider.py in a child process: real litellm ``CustomLLM`` handlers.

python tests/litellm_handlers.py <mock server base URL>     # prints "ok"
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm
from litellm.llms.custom_llm import CustomLLM, CustomLLMError

import scillm

USER = [{"role": "user", "content": "ping"}]


def generic_chunk(text: str, last: bool, usage: dict[str, int] | None = None) -> dict[str, Any]:
    """A litellm GenericStreamingChunk."""
    return {
        "text": text,
        "is_finished": last,
        "finish_reason": "stop" if last else "",
        "usage": usage,
        "index": 0,
        "tool_use": None,
    }


class LitellmAsync(CustomLLM):
    """litellm's documented shape: fill the ``model_response`` it is handed and return it."""

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
        usage = {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}
        for word in ("a", "b"):
            yield generic_chunk(word, False)
        yield generic_chunk("c", True, usage)


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
        yield generic_chunk("x", False)
        yield generic_chunk("y", True)


class Raises429(CustomLLM):
    def completion(self, *args: Any, **kwargs: Any) -> Any:
        raise CustomLLMError(429, "slow down")


def main(base: str) -> None:
    scillm.register_custom_provider("lit-async", LitellmAsync())
    scillm.register_custom_provider("lit-sync", LitellmSyncOnly)
    resp = scillm.completion("lit-async/m", USER, api_base=base)
    assert resp.choices[0].message.content == "PING", resp
    assert resp["model"] == "m"
    chunks = list(scillm.completion("lit-async/m", USER, stream=True))
    assert "".join(c.choices[0].delta.content for c in chunks) == "abc"
    assert [c.choices[0].finish_reason for c in chunks] == [None, None, "stop"]
    assert chunks[-1]["usage"]["total_tokens"] == 4
    assert scillm.completion("lit-sync/m", USER).choices[0].message.content == "sync"
    stream = scillm.completion(
        model="m", messages=USER, custom_llm_provider="lit-sync", stream=True
    )
    assert "".join(c.choices[0].delta.content for c in stream) == "xy"
    try:
        scillm.register_custom_provider("empty", CustomLLM)
    except TypeError as exc:
        assert "neither a completion" in str(exc)
    else:
        raise AssertionError("a handler without completion methods was accepted")
    scillm.register_custom_provider("lit-429", Raises429)
    try:
        scillm.completion("lit-429/m", USER)
    except scillm.RateLimitError as exc:
        assert exc.status_code == 429 and exc.provider == "lit-429" and "slow down" in str(exc)
    else:
        raise AssertionError("CustomLLMError(429) did not raise RateLimitError")
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1])
