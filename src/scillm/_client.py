"""``completion`` / ``acompletion``: validate, resolve the provider, send. Nothing else.

Bad input is refused here, before any network call: malformed ``messages`` and unknown
keyword arguments raise :class:`BadRequestError` saying what to change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Literal, overload

from scillm import _sync
from scillm._config import env_float
from scillm.errors import BadRequestError
from scillm.providers.base import Call, Provider
from scillm.providers.registry import default_model, resolve
from scillm.types import ChatCompletion, ChatCompletionChunk

__all__ = [
    "OPENAI_PARAMS",
    "acompletion",
    "build_call",
    "check_messages",
    "check_params",
    "completion",
    "default_timeout",
]

DEFAULT_TIMEOUT_S = 600.0

OPENAI_PARAMS = frozenset(
    {
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "reasoning",
        "reasoning_effort",
        "response_format",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
"""Body parameters passed through to the provider; anything else belongs in ``extra_body``."""

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})

Messages = Sequence[Mapping[str, Any]]


def check_messages(messages: object) -> list[dict[str, Any]]:
    """``messages`` as a list of dicts, or :class:`BadRequestError` saying what is wrong."""
    if not isinstance(messages, list | tuple) or not messages:
        raise BadRequestError(
            "messages must be a non-empty list of {'role': ..., 'content': ...} dicts, "
            f"got {type(messages).__name__}: {str(messages)[:80]!r}"
        )
    checked: list[dict[str, Any]] = []
    for i, msg in enumerate(messages):
        if not isinstance(msg, Mapping):
            raise BadRequestError(
                f"messages[{i}] must be a dict with 'role' and 'content', "
                f"got {type(msg).__name__}: {str(msg)[:80]!r}"
            )
        role = msg.get("role")
        if role not in ROLES:
            raise BadRequestError(
                f"messages[{i}] has role {role!r}; use one of {', '.join(sorted(ROLES))}"
            )
        content = msg.get("content")
        if content is None and not (msg.get("tool_calls") or msg.get("function_call")):
            raise BadRequestError(
                f"messages[{i}] ({role}) has no 'content'; give a string or a list of parts"
            )
        if content is not None and not isinstance(content, str | list):
            raise BadRequestError(
                f"messages[{i}].content must be a string or a list of parts, "
                f"got {type(content).__name__}"
            )
        checked.append(msg if isinstance(msg, dict) else dict(msg))
    return checked


def check_params(params: dict[str, Any], provider: object = None) -> None:
    """Refuse keywords that are neither OpenAI body parameters nor ones ``provider`` accepts
    (typos never reach a provider)."""
    unknown = sorted(set(params) - OPENAI_PARAMS - getattr(provider, "accepts", frozenset()))
    if unknown:
        raise BadRequestError(
            f"unknown parameter(s) {', '.join(unknown)}. scillm passes these OpenAI parameters "
            f"through: {', '.join(sorted(OPENAI_PARAMS))}; send anything provider-specific "
            "in extra_body={...}."
        )


def default_timeout() -> float:
    """Seconds a request may take when no ``timeout`` is given: ``SCILLM_TIMEOUT`` or 600."""
    return env_float(DEFAULT_TIMEOUT_S, "SCILLM_TIMEOUT")


def build_call(
    model: str | None,
    messages: object,
    *,
    custom_llm_provider: str | None = None,
    api_base: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    extra_headers: Mapping[str, str] | None = None,
    extra_body: Mapping[str, Any] | None = None,
    params: dict[str, Any],
) -> tuple[Provider, Call]:
    """Validate a request and address it: the one step every entry point shares."""
    checked = check_messages(messages)
    provider, name = resolve(model or default_model(), custom_llm_provider)
    check_params(params, provider)
    call = Call(
        model=name,
        messages=checked,
        params={k: v for k, v in params.items() if v is not None},
        api_base=api_base,
        api_key=api_key,
        timeout=timeout if timeout is not None else default_timeout(),
        extra_headers=dict(extra_headers) if extra_headers else None,
        extra_body=dict(extra_body) if extra_body else None,
    )
    return provider, call


@overload
async def acompletion(
    model: str | None = ...,
    messages: Messages | None = ...,
    *,
    stream: Literal[False] = ...,
    **kwargs: Any,
) -> ChatCompletion: ...
@overload
async def acompletion(
    model: str | None = ...,
    messages: Messages | None = ...,
    *,
    stream: Literal[True],
    **kwargs: Any,
) -> AsyncIterator[ChatCompletionChunk]: ...
async def acompletion(
    model: str | None = None,
    messages: Messages | None = None,
    *,
    stream: bool = False,
    custom_llm_provider: str | None = None,
    api_base: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    extra_headers: Mapping[str, str] | None = None,
    extra_body: Mapping[str, Any] | None = None,
    **params: Any,
) -> ChatCompletion | AsyncIterator[ChatCompletionChunk]:
    """Chat completion (async). ``stream=True`` returns an async iterator of chunks.

        resp = await scillm.acompletion("local/smollm2", [{"role": "user", "content": "Hi"}])
        print(resp.choices[0].message.content)

    ``model`` is ``"<provider>/<model>"`` (see README); ``base_url`` is an alias of ``api_base``;
    ``timeout`` (seconds, default ``SCILLM_TIMEOUT`` or 600) bounds the whole request.
    """
    provider, call = build_call(
        model,
        messages,
        custom_llm_provider=custom_llm_provider,
        api_base=api_base or base_url,
        api_key=api_key,
        timeout=timeout,
        extra_headers=extra_headers,
        extra_body=extra_body,
        params=params,
    )
    if stream:
        return await provider.astream(call)
    return await provider.acompletion(call)


@overload
def completion(
    model: str | None = ...,
    messages: Messages | None = ...,
    *,
    stream: Literal[False] = ...,
    **kwargs: Any,
) -> ChatCompletion: ...
@overload
def completion(
    model: str | None = ...,
    messages: Messages | None = ...,
    *,
    stream: Literal[True],
    **kwargs: Any,
) -> Iterator[ChatCompletionChunk]: ...
def completion(
    model: str | None = None,
    messages: Messages | None = None,
    *,
    stream: bool = False,
    custom_llm_provider: str | None = None,
    api_base: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    extra_headers: Mapping[str, str] | None = None,
    extra_body: Mapping[str, Any] | None = None,
    **params: Any,
) -> ChatCompletion | Iterator[ChatCompletionChunk]:
    """Chat completion (sync twin of :func:`acompletion`, same arguments).

    Runs on scillm's background event loop, so it also works inside Jupyter's running loop.
    ``stream=True`` returns an iterator of chunks (``close()`` it to stop early).
    """
    provider, call = build_call(
        model,
        messages,
        custom_llm_provider=custom_llm_provider,
        api_base=api_base or base_url,
        api_key=api_key,
        timeout=timeout,
        extra_headers=extra_headers,
        extra_body=extra_body,
        params=params,
    )
    if stream:
        return _sync.SyncIterator(_sync.run(provider.astream(call)))
    return _sync.run(provider.acompletion(call))
