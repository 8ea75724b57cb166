"""Fan-out: many requests through one Router, lossless results, bounded memory.

Requests are consumed lazily (a generator of a million requests is fine): at most
``max_concurrency`` are in flight and no task exists for a request not yet started.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from scillm.types import ChatCompletion

__all__ = ["RouterParallelRequest", "RouterResult", "fan_out", "request_kwargs"]

_TYPED = ("model", "messages", "temperature", "max_tokens", "top_p")


@dataclass
class RouterParallelRequest:
    """One request of a fan-out (the original's form); extras go in ``kwargs``."""

    model: str | None
    messages: list[dict[str, Any]]
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stream: bool | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


class RouterResult(ChatCompletion):
    """A fan-out result: the full response dict plus ``index``, ``content``, ``error``, ``ok``.

    A failed request is a result too: content ``""``, ``scillm_router.error_type`` and
    ``exception`` say what happened, and ``.error`` holds the exception itself.
    """

    __slots__ = ("_error", "_request")

    def __init__(
        self,
        data: dict[str, Any],
        *,
        index: int,
        request: Any = None,
        error: BaseException | None = None,
    ) -> None:
        super().__init__(data)
        object.__setattr__(self, "_error", error)
        object.__setattr__(self, "_request", request)
        self.setdefault("scillm_router", {})["index"] = index

    @property
    def index(self) -> int:
        return int(self["scillm_router"]["index"])

    @property
    def error(self) -> BaseException | None:
        return self._error  # type: ignore[no-any-return]

    @property
    def request(self) -> Any:
        return self._request

    @property
    def ok(self) -> bool:
        return self._error is None

    @property
    def response(self) -> RouterResult | None:
        """The original object contract: the response, or None for a failed request."""
        return self if self._error is None else None

    @property
    def meta(self) -> dict[str, Any]:
        return self["scillm_router"]  # type: ignore[no-any-return]

    @property
    def content(self) -> str:
        choices = self.get("choices") or []
        if not choices:
            return ""
        content = (choices[0].get("message") or {}).get("content")
        return content if isinstance(content, str) else ""

    @classmethod
    def failure(
        cls, index: int, request: Any, error: BaseException, meta: dict[str, Any]
    ) -> RouterResult:
        """The result of a request that raised."""
        body = {
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": None}
            ],
            "usage": None,
            "scillm_router": meta,
        }
        return cls(body, index=index, request=request, error=error)


def request_kwargs(request: Any) -> dict[str, Any]:
    """Call keywords of a request given as a dict, a dataclass or an object with attributes.

    A dict may carry any call keyword at the top level plus a ``kwargs`` dict (the original's
    form); top-level values win. ``stream`` is dropped: a fan-out result is always whole.
    """
    if isinstance(request, dict):
        top = dict(request)
    elif dataclasses.is_dataclass(request) and not isinstance(request, type):
        top = {f.name: getattr(request, f.name) for f in dataclasses.fields(request)}
    else:
        top = {k: getattr(request, k) for k in (*_TYPED, "kwargs") if hasattr(request, k)}
    extra = top.pop("kwargs", None) or {}
    if not isinstance(extra, dict):
        raise TypeError(f"request 'kwargs' must be a dict, got {type(extra).__name__}")
    top.pop("stream", None)
    return {**extra, **{k: v for k, v in top.items() if v is not None}}


async def _aiter(requests: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(requests, AsyncIterable):
        async for item in requests:
            yield item
    else:
        for item in requests:
            yield item


async def fan_out(
    requests: Iterable[Any] | AsyncIterable[Any],
    run_one: Callable[[int, Any], Awaitable[RouterResult]],
    limit: int | None,
    *,
    stop_on_error: bool = False,
) -> AsyncIterator[RouterResult]:
    """Run requests with at most ``limit`` in flight; yield results as they complete.

    With ``stop_on_error`` the first failed result is yielded, the rest are cancelled and no
    further request is started.
    """
    pending: set[asyncio.Task[RouterResult]] = set()
    source = _aiter(requests)
    index = 0
    exhausted = False
    try:
        while True:
            while not exhausted and (limit is None or len(pending) < limit):
                try:
                    request = await anext(source)
                except StopAsyncIteration:
                    exhausted = True
                    break
                pending.add(asyncio.ensure_future(run_one(index, request)))
                index += 1
            if not pending:
                return
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=lambda t: t.result().index):
                result = task.result()
                yield result
                if stop_on_error and not result.ok:
                    return
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
