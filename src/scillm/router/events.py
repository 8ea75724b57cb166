"""Retry events: the callbacks ``on_attempt``/``on_success``/``on_giveup`` and JSON telemetry.

Every event is one dict with the same keys (``None`` where a key does not apply)::

    event               on_attempt: "429_retry" after an HTTP 429, else "retry";
                        on_giveup: "429_giveup" after a 429, else "giveup"; on_success: "success"
    model, deployment   the model string and deployment id that was called
    attempt             1-based number of the attempt that just ended
    status_code         HTTP status of that attempt (None for timeouts/connection errors)
    error_class         exception class name of that attempt (None on success)
    retry_after_s       the server's Retry-After, when it sent one
    next_sleep_s        the wait before the next attempt (retry events only)
    elapsed_s           since the first attempt on this model group
    cumulative_sleep_s  retry sleeps so far
    remaining_time_s    of the retry time budget (None: no budget)
    remaining_attempts  retries still allowed
  the original's names, kept for code written for it:
    attempt_no          = attempt
    retry_after         = retry_after_s
    reason              the status code as text ("429", "503"), else the error class
    attempt_start_monotonic  time.monotonic() when the event was emitted
    attempts            attempts made so far (= attempt)
    retries             retries made so far (= attempt - 1)
    latency_ms          elapsed_s in milliseconds (success only)
    last_error          "<error class>: <message>" of the attempt that failed, ≤ 200 chars

Callbacks may be plain functions or coroutines; one that raises is logged and the call goes on.
With ``SCILLM_LOG_JSON=1`` each retry, give-up and success-after-retry is also one JSON line on
stderr (logger ``scillm.telemetry``): the event dict plus the original's log keys ``sleep_s``
(retries) and ``error`` (give-ups). ``SCILLM_RETRY_LOG_EVERY=N`` keeps every N-th retry line.
"""

from __future__ import annotations

import inspect
import itertools
import logging
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from scillm._config import env_flag, env_int, twins

__all__ = ["EVENT_KEYS", "Telemetry", "emit", "with_aliases"]

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
    "attempt_no",
    "retry_after",
    "reason",
    "attempt_start_monotonic",
    "attempts",
    "retries",
    "latency_ms",
    "last_error",
)
CALLBACK_FOR = {"retry": "on_attempt", "success": "on_success", "giveup": "on_giveup"}
RATE_LIMITED = 429

log = logging.getLogger("scillm.router")
telemetry_log = logging.getLogger("scillm.telemetry")


class Telemetry:
    """JSON lines for retry events, configured from the environment when a Router is built."""

    def __init__(self) -> None:
        self.enabled = env_flag(False, *twins("LOG_JSON"))
        self.every = max(1, env_int(1, "SCILLM_RETRY_LOG_EVERY"))
        self._retries = itertools.count(1)
        if self.enabled and not telemetry_log.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(message)s"))
            telemetry_log.addHandler(handler)
            telemetry_log.setLevel(logging.INFO)
            telemetry_log.propagate = False

    def record(self, kind: str, payload: Mapping[str, Any]) -> None:
        """Log one event of ``kind`` ("retry", "success" or "giveup")."""
        if not self.enabled:
            return
        if kind == "success" and payload["attempt"] == 1:
            return  # only successes that needed a retry are news
        line = dict(payload)
        if kind == "retry":
            if next(self._retries) % self.every:
                return
            line["sleep_s"] = payload["next_sleep_s"]
        elif kind == "giveup":
            line["error"] = payload["last_error"]
        telemetry_log.info(orjson.dumps(line).decode())


def with_aliases(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The pipeline's event dict in :data:`EVENT_KEYS` order, 429 events renamed, the
    original's names added (a key the pipeline already set is kept as it is)."""
    kind = payload["event"]
    status = payload["status_code"]
    error_class = payload["error_class"]
    attempt = payload["attempt"]
    aliases: dict[str, Any] = {
        "attempt_no": attempt,
        "retry_after": payload["retry_after_s"],
        "reason": str(status) if status is not None else error_class,
        "attempt_start_monotonic": time.monotonic(),
        "attempts": attempt,
        "retries": attempt - 1,
    }
    if kind == "success":
        aliases["latency_ms"] = round(payload["elapsed_s"] * 1000, 3)
    out = dict.fromkeys(EVENT_KEYS)
    out.update(payload)
    for key, value in aliases.items():
        if payload.get(key) is None:
            out[key] = value
    if status == RATE_LIMITED and kind in ("retry", "giveup"):
        out["event"] = f"429_{kind}"
    return out


async def emit(
    callbacks: Mapping[str, Callable[..., Any]], telemetry: Telemetry, payload: dict[str, Any]
) -> None:
    """Log the event and hand it to its callback, if the caller gave one.

    ``payload["event"]`` is "retry", "success" or "giveup" as the pipeline built it; what is
    logged and handed over is :func:`with_aliases` of it.
    """
    kind = payload["event"]
    name = CALLBACK_FOR[kind]
    callback = callbacks.get(name)
    if callback is None and not telemetry.enabled:
        return  # the common case: nobody listens
    event = with_aliases(payload)
    telemetry.record(kind, event)
    if callback is None:
        return
    try:
        result = callback(event)
        if inspect.isawaitable(result):
            await result
    except Exception:
        log.exception("the %s callback raised; the call goes on", name)
