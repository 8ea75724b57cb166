"""Retry events: the callbacks ``on_attempt``/``on_success``/``on_giveup`` and JSON telemetry.

Every event is one dict with the same keys (``None`` where a key does not apply)::

    event               "retry" (on_attempt) | "success" (on_success) | "giveup" (on_giveup)
    model, deployment   the model string and deployment id that was called
    attempt             1-based number of the attempt that just ended
    status_code         HTTP status of that attempt (None for timeouts/connection errors)
    error_class         exception class name of that attempt (None on success)
    retry_after_s       the server's Retry-After, when it sent one
    next_sleep_s        the wait before the next attempt ("retry" only)
    elapsed_s           since the call started
    cumulative_sleep_s  retry sleeps so far
    remaining_time_s    of the retry time budget (None: no budget)
    remaining_attempts  retries still allowed

Callbacks may be plain functions or coroutines; one that raises is logged and the call goes on.
With ``SCILLM_LOG_JSON=1`` each retry, give-up and success-after-retry is also one JSON line on
stderr (logger ``scillm.telemetry``); ``SCILLM_RETRY_LOG_EVERY=N`` keeps every N-th retry line.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from scillm._config import env

__all__ = ["EVENT_KEYS", "Telemetry", "emit"]

EVENT_KEYS = (
    "event",
    "model",
    "deployment",
    "attempt",
    "status_code",
    "error_class",
    "retry_after_s",
    "next_sleep_s",
    "elapsed_s",
    "cumulative_sleep_s",
    "remaining_time_s",
    "remaining_attempts",
)
CALLBACK_FOR = {"retry": "on_attempt", "success": "on_success", "giveup": "on_giveup"}

log = logging.getLogger("scillm.router")
telemetry_log = logging.getLogger("scillm.telemetry")


class Telemetry:
    """JSON lines for retry events, configured from the environment when a Router is built."""

    def __init__(self) -> None:
        self.enabled = env("SCILLM_LOG_JSON", "LITELLM_LOG_JSON") in ("1", "true", "yes")
        self.every = max(1, int(env("SCILLM_RETRY_LOG_EVERY") or 1))
        self._retries = itertools.count(1)
        if self.enabled and not telemetry_log.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            telemetry_log.addHandler(handler)
            telemetry_log.setLevel(logging.INFO)
            telemetry_log.propagate = False

    def record(self, payload: Mapping[str, Any]) -> None:
        if not self.enabled:
            return
        event = payload["event"]
        if event == "success" and payload["attempt"] == 1:
            return  # only successes that needed a retry are news
        if event == "retry" and next(self._retries) % self.every:
            return
        telemetry_log.info(orjson.dumps(dict(payload)).decode())


async def emit(
    callbacks: Mapping[str, Callable[..., Any]], telemetry: Telemetry, payload: dict[str, Any]
) -> None:
    """Log the event and hand it to its callback, if the caller gave one."""
    telemetry.record(payload)
    callback = callbacks.get(CALLBACK_FOR[payload["event"]])
    if callback is None:
        return
    try:
        result = callback(dict(payload))
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("the %s callback raised; the call goes on", CALLBACK_FOR[payload["event"]])
