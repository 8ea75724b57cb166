"""The sync API is the async API run on one background event-loop thread.

One loop means one connection pool and one code path for sync and async callers. Because the
loop lives on its own thread, sync calls also work where a loop is already running (Jupyter).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["SyncIterator", "run"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="scillm-loop", daemon=True)
            thread.start()
            _loop, _thread = loop, thread
            atexit.register(_shutdown, loop, thread)
        return _loop


def _shutdown(loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
    """Close pooled sessions and async generators, then stop the loop (at interpreter exit)."""
    if not thread.is_alive():
        return
    # Exit must never hang or raise because a server misbehaves.
    with contextlib.suppress(Exception):
        asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop).result(timeout=5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the background loop and wait for its result."""
    if threading.current_thread() is _thread:
        coro.close()
        raise RuntimeError(
            "a sync scillm call was made from scillm's own event-loop thread (e.g. inside an "
            "async callback); use the async API (acompletion) there instead."
        )
    future = asyncio.run_coroutine_threadsafe(coro, _background_loop())
    try:
        return future.result()
    except BaseException:
        future.cancel()
        raise


class SyncIterator(Iterator[T]):
    """Drive an async iterator from sync code, one item per round trip to the loop."""

    def __init__(self, agen: AsyncIterator[T]) -> None:
        self._agen = agen

    def __iter__(self) -> SyncIterator[T]:
        return self

    def __next__(self) -> T:
        try:
            return run(_anext(self._agen))
        except StopAsyncIteration:
            raise StopIteration from None

    def close(self) -> None:
        """Stop the stream early and release its connection."""
        aclose = getattr(self._agen, "aclose", None)
        if aclose is not None:
            run(aclose())

    def __enter__(self) -> SyncIterator[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def _anext(agen: AsyncIterator[T]) -> T:
    return await agen.__anext__()
