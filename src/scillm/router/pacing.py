"""One pacer per endpoint and model (provider, base URL, key, model), shared process-wide.

Providers count limits per key and per model, so a ``Retry-After`` for one model never holds back
calls to another model on the same server.

* **Retry-After pauses the endpoint**: after a 429 (or a 503 that says when to come back), every
  queued and new request waits until that moment; then one probe goes first and the rest follow
  only once it is answered. A batch meets a rate limit with a handful of 429s, not hundreds.
* **The live quota**: each reply's ``x-ratelimit-remaining-{requests,tokens}`` (minus what is
  still in flight) is what may still be sent until ``x-ratelimit-reset-*``; after the reset the
  quota is ``x-ratelimit-limit-*`` again. Durations like ``"1s"``, ``"6m0s"``, ``"12ms"`` parse.
  A Router built with ``pace_from_headers=False`` never hands these headers to its pacers.
* **Proactive rpm/tpm pacing** by virtual scheduling (GCRA) at 99 % of the given rate: each
  request reserves its departure time and sleeps once — O(1), FIFO-fair, no thundering herd.
  A request's token cost is a cheap prompt estimate + ``max_tokens``; the unused part is
  refunded when the reply says its usage.
* **Adaptive concurrency** (AIMD): halve the in-flight limit on a 429, add ``1/limit`` a success.

Waiting works across event loops (the sync API's loop and yours): state is guarded by a thread
lock and waiters are woken with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scillm.errors import RateLimitError, TimeoutError

__all__ = [
    "EndpointPacer",
    "LocalLimiter",
    "Ticket",
    "estimate_tokens",
    "pacer_for",
    "parse_duration",
]

DEFAULT_COMPLETION_TOKENS = 256
HEADROOM = 0.99  # pace at 99 % of a given rpm/tpm
PROBE_RECHECK_S = 1.0
KINDS = ("requests", "tokens")
_HEADERS = tuple(
    (f"x-ratelimit-remaining-{k}", f"x-ratelimit-reset-{k}", f"x-ratelimit-limit-{k}")
    for k in KINDS
)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | None) -> float | None:
    """Seconds in an ``x-ratelimit-reset-*`` value (``"1s"``, ``"6m0s"``, ``"12ms"``, ``"0.5"``)."""
    if not text:
        return None
    text = text.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def estimate_tokens(messages: list[dict[str, Any]], params: Mapping[str, Any]) -> int:
    """A cheap estimate of a request's tokens: ~4 characters a token, plus ``max_tokens``."""
    chars = 0
    for msg in messages:
        content = msg.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            chars += sum(len(p.get("text", "")) for p in content if isinstance(p, dict))
    completion = params.get("max_tokens") or params.get("max_completion_tokens")
    return chars // 4 + 4 * len(messages) + int(completion or DEFAULT_COMPLETION_TOKENS)


class _Signal:
    """Wake waiters on whichever event loop they run (one pacer serves every loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    async def wait(self, timeout: float | None) -> None:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        entry = (loop, fut)
        with self._lock:
            self._waiters.append(entry)
        try:
            await asyncio.wait((fut,), timeout=timeout)
        finally:
            with self._lock:
                if entry in self._waiters:
                    self._waiters.remove(entry)

    def notify(self, n: int | None = None) -> None:
        """Wake ``n`` waiters in arrival order (all when ``n`` is None)."""
        # The usual case, read without the lock: a waiter joining at this instant is missed
        # just as it would be a moment after the lock was released (a list's length is atomic).
        if not self._waiters:
            return
        with self._lock:
            cut = len(self._waiters) if n is None else n
            woken, self._waiters = self._waiters[:cut], self._waiters[cut:]
        for loop, fut in woken:
            loop.call_soon_threadsafe(_resolve, fut)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


@dataclass(slots=True)
class _Quota:
    """What the provider's headers say may still be sent, and until when that holds.

    ``left`` is the quota at the last header (minus what was sent since). With ``steady``, the
    quota is taken to refill evenly from that header's ``remaining`` up to ``limit`` by the
    reset moment — true of a sliding window fed at a steady rate (paced traffic); otherwise
    nothing comes back before the reset (after a burst, the whole window frees at its end).
    """

    left: float = math.inf
    since: float = 0.0
    until: float = 0.0
    limit: float | None = None
    refill: float = 0.0  # how much comes back by ``until`` (steady mode)

    def roll(self, now: float) -> None:
        """Past the reset moment the window is fresh: the full limit (if known) is available."""
        if self.until and now >= self.until:
            self.left = self.limit if self.limit is not None else math.inf
            self.until = self.refill = 0.0

    def have(self, now: float) -> float:
        if not self.refill:
            return self.left
        return self.left + self.refill * (now - self.since) / (self.until - self.since)

    def wait_for(self, need: float, now: float) -> float:
        """Seconds until ``need`` is available (``until - now`` without steady refill)."""
        if not self.refill:
            return self.until - now
        rate = self.refill / (self.until - self.since)
        return max((need - self.have(now)) / rate, 0.001)


@dataclass(slots=True)
class Ticket:
    """What :meth:`EndpointPacer.acquire` hands out; give it back to ``release``."""

    tokens: int
    probe: bool
    waited_s: float


@dataclass(eq=False)
class EndpointPacer:
    """The shared pacing state of one endpoint. Use :func:`pacer_for` to get one."""

    rpm: float | None = None
    tpm: float | None = None
    paused_until: float = 0.0
    need_probe: bool = False
    probing: bool = False
    limit: float = math.inf
    in_flight: int = 0
    in_flight_tokens: int = 0
    rate_limited: int = 0
    _req_tat: float = 0.0  # GCRA: when the next request may depart
    _tok_tat: float = 0.0
    _quota: dict[str, _Quota] = field(default_factory=lambda: {k: _Quota() for k in KINDS})
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _signal: _Signal = field(default_factory=_Signal)

    def __hash__(self) -> int:
        return id(self)

    def configure(self, rpm: float | None, tpm: float | None) -> None:
        """Apply known limits (the lowest one wins when several callers share the endpoint)."""
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        with self._lock:
            if rpm is not None:
                self.rpm = rpm if self.rpm is None else min(self.rpm, rpm)
            if tpm is not None:
                self.tpm = tpm if self.tpm is None else min(self.tpm, tpm)

    async def acquire(self, tokens: int, deadline: float | None = None) -> Ticket:
        """Wait until this request may go; reserve its place in the schedule.

        Waiting never passes ``deadline`` (``time.monotonic()`` seconds): a pause
        (``Retry-After``) lasting past it raises :class:`RateLimitError` at once, and a wait for
        quota, a slot or the rpm/tpm schedule that would end after it raises
        :class:`TimeoutError` when the deadline comes.
        """
        with self._lock:
            if self._idle(time.monotonic()):  # nothing known limits this endpoint: go now
                self.in_flight += 1
                self.in_flight_tokens += tokens
                return Ticket(tokens, False, 0.0)
        start = time.monotonic()
        while True:
            probe, depart = False, 0.0
            with self._lock:
                now = time.monotonic()
                wait = self._blocked_for(now, tokens)
                paused_for = self.paused_until - now
                if wait == 0.0:
                    probe = self.need_probe
                    if probe:
                        self.need_probe, self.probing = False, True
                    depart = self._reserve(now, tokens)
            left = None if deadline is None else deadline - now
            if wait != 0.0:
                if left is not None and paused_for > left:
                    raise RateLimitError(
                        f"this endpoint is paused for {paused_for:.3g} s more by a server's "
                        f"Retry-After, past this call's deadline ({max(left, 0):.3g} s left); "
                        "raise timeout= or come back later",
                        status_code=429,
                    )
                if left is not None and left <= 0:
                    raise TimeoutError("the call's deadline came while it waited for rate limits")
                if left is not None:
                    wait = left if wait is None else min(wait, left)
                await self._signal.wait(wait)
                continue
            if left is not None and depart - now >= left:
                self._undo(tokens, probe)
                raise TimeoutError(
                    f"rpm/tpm pacing would send this request {depart - now:.3g} s from now, "
                    "after the call's deadline"
                )
            try:
                if depart > now:
                    await asyncio.sleep(depart - now)
            except BaseException:  # cancelled while waiting: give the slot back
                self._undo(tokens, probe)
                raise
            with self._lock:
                late_pause = not probe and self.paused_until > time.monotonic()
            if late_pause:  # a pause that began while this request waited applies to it too
                self._undo(tokens, probe)
                continue
            return Ticket(tokens, probe, time.monotonic() - start)

    def _idle(self, now: float) -> bool:
        """No pause, probe, concurrency cap, rpm/tpm or quota from headers: nothing to wait for
        (``_blocked_for`` would say 0 and ``_reserve`` would schedule the request now)."""
        requests, tokens = self._quota["requests"], self._quota["tokens"]
        return (
            self.paused_until <= now
            and not (self.probing or self.need_probe or self.rpm or self.tpm)
            and self.limit == math.inf
            and requests.left == tokens.left == math.inf
            and not (requests.until or tokens.until)
        )

    def _blocked_for(self, now: float, tokens: int) -> float | None:
        """0.0 when a request may be scheduled now, else how long to wait (None: until woken)."""
        if self.paused_until > now:
            return self.paused_until - now
        if self.probing:
            return PROBE_RECHECK_S
        if self.in_flight >= self.limit:
            return None
        for kind, need in zip(KINDS, (1, tokens), strict=True):
            quota = self._quota[kind]
            if not quota.until and quota.left == math.inf:
                continue  # no header has said anything about this quota
            quota.roll(now)
            if quota.have(now) < need:
                if quota.until > now:
                    return quota.wait_for(need, now)
                if self.in_flight:  # a reply will bring fresh headers
                    return None
        return 0.0

    def _reserve(self, now: float, tokens: int) -> float:
        self.in_flight += 1
        self.in_flight_tokens += tokens
        self._quota["requests"].left -= 1
        self._quota["tokens"].left -= tokens
        # Strict spacing, no burst: providers count over sliding windows, and a burst at the
        # start of one is a 429 at its end. HEADROOM keeps latency jitter from pushing a
        # window one request over.
        depart = now
        if self.rpm:
            depart = max(depart, self._req_tat)
            self._req_tat = max(self._req_tat, now) + 60.0 / (self.rpm * HEADROOM)
        if self.tpm:
            depart = max(depart, self._tok_tat)
            self._tok_tat = max(self._tok_tat, now) + tokens * 60.0 / (self.tpm * HEADROOM)
        return depart

    def _undo(self, tokens: int, probe: bool) -> None:
        with self._lock:
            self.in_flight -= 1
            self.in_flight_tokens -= tokens
            self._quota["requests"].left += 1
            self._quota["tokens"].left += tokens
            if probe:
                self.probing, self.need_probe = False, True
        self._signal.notify(None if probe else 1)

    def release(
        self,
        ticket: Ticket,
        *,
        status: int | None,
        retry_after_s: float | None,
        headers: Mapping[str, str],
        used_tokens: int | None,
    ) -> None:
        """Account for a finished request: pause on Retry-After, resync, refund, adapt."""
        with self._lock:
            now = time.monotonic()
            self.in_flight -= 1
            self.in_flight_tokens -= ticket.tokens
            limited = status == 429 or (status == 503 and retry_after_s is not None)
            if limited:
                self.rate_limited += 1
                if self.paused_until <= now:  # one decrease per pause, not one per 429
                    self.limit = max(1.0, self.in_flight / 2)
                if retry_after_s is not None:
                    self.paused_until = max(self.paused_until, now + retry_after_s)
                self.need_probe = True
            elif status is not None and status < 400 and self.limit < math.inf:
                self.limit += 1.0 / self.limit
            if ticket.probe:
                self.probing = False
            if used_tokens is not None and self.tpm and ticket.tokens > used_tokens:
                refund = (ticket.tokens - used_tokens) * 60.0 / self.tpm
                self._tok_tat = max(now, self._tok_tat - refund)
            self._resync(headers, now)
            free = self._quota["requests"].left
        if ticket.probe or limited:
            self._signal.notify()  # everyone re-checks: the pause or the probe's outcome
        else:  # as many as the quota now admits (bounded), at least the slot just freed
            self._signal.notify(int(max(1.0, min(free, 64.0))))

    def _resync(self, headers: Mapping[str, str], now: float) -> None:
        """Adopt the provider's view of the quota (it has not yet seen what is in flight)."""
        in_flight = {"requests": self.in_flight, "tokens": self.in_flight_tokens}
        for kind, (remaining_h, reset_h, limit_h) in zip(KINDS, _HEADERS, strict=True):
            remaining = _number(headers.get(remaining_h)) if headers else None
            if remaining is None:
                continue
            quota = self._quota[kind]
            reset = parse_duration(headers.get(reset_h))
            quota.limit = _number(headers.get(limit_h)) or quota.limit
            quota.left = remaining - in_flight[kind]
            quota.since, quota.until = now, (now + reset if reset else 0.0)
            paced = self.rpm if kind == "requests" else self.tpm
            steady = paced and reset and quota.limit is not None
            quota.refill = max(quota.limit - remaining, 0.0) if steady and quota.limit else 0.0


# Weak: a pacer lives as long as some deployment (of some Router) points at its endpoint.
_PacerKey = tuple[str, str | None, str | None, str]
_pacers: weakref.WeakValueDictionary[_PacerKey, EndpointPacer] = weakref.WeakValueDictionary()
_pacers_lock = threading.Lock()


def pacer_for(
    provider: str, api_base: str | None, api_key: str | None, model: str
) -> EndpointPacer:
    """The process-wide pacer of an endpoint and model (created on first use)."""
    key = (provider, api_base.rstrip("/") if api_base else None, api_key, model)
    with _pacers_lock:
        pacer = _pacers.get(key)
        if pacer is None:
            pacer = _pacers[key] = EndpointPacer()
        return pacer


class LocalLimiter:
    """The in-process pacer behind :class:`scillm.batch.limits.base.Limiter`: one
    :class:`EndpointPacer` per endpoint name, for callers within one process."""

    def __init__(self, rpm: float | None, tpm: float | None) -> None:
        self.rpm, self.tpm = rpm, tpm
        self._pacers: dict[str, EndpointPacer] = {}

    def _pacer(self, endpoint: str) -> EndpointPacer:
        pacer = self._pacers.get(endpoint)
        if pacer is None:
            pacer = self._pacers[endpoint] = EndpointPacer()
            pacer.configure(self.rpm, self.tpm)
        return pacer

    async def acquire(self, endpoint: str, cost: int) -> int:
        pacer = self._pacer(endpoint)
        ticket = await pacer.acquire(cost if self.tpm else 0)
        pacer.release(ticket, status=None, retry_after_s=None, headers={}, used_tokens=None)
        return ticket.tokens

    async def settle(self, endpoint: str, charged: int, spent: int) -> None:
        pacer = self._pacer(endpoint)
        if self.tpm and spent != charged:
            with pacer._lock:
                now = time.monotonic()
                shift = (spent - charged) * 60.0 / (self.tpm * HEADROOM)
                pacer._tok_tat = max(now, pacer._tok_tat + shift)

    async def penalize(self, endpoint: str, retry_after_s: float) -> None:
        pacer = self._pacer(endpoint)
        with pacer._lock:
            pacer.paused_until = max(pacer.paused_until, time.monotonic() + retry_after_s)

    async def aclose(self) -> None:
        self._pacers.clear()
