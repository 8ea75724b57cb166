"""Rate-limit emulation: sliding windows over requests and tokens, with OpenAI's headers.

    MockLLMServer(rate_limit=RateLimit(rpm=60, tpm=10_000))

Over a limit the server answers 429 with ``Retry-After`` (and ``retry-after-ms``) set to the
time until the window frees enough room. Rejected requests do not count against the window.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from scillm.testing.faults import format_seconds

__all__ = ["NOMINAL_RATE_LIMIT", "Limiter", "RateLimit"]


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Requests and tokens allowed per ``window_s`` (60 s, i.e. per minute); None = unlimited.

    A shorter ``window_s`` keeps tests fast.
    """

    rpm: int | None = None
    tpm: int | None = None
    window_s: float = 60.0


NOMINAL_RATE_LIMIT = RateLimit(rpm=10_000, tpm=10_000_000)
"""Limits reported (never enforced) when ``rate_limit_headers=True`` without a ``RateLimit``."""


class _Window:
    """A sliding window of ``(time, amount)`` events that admits up to ``limit`` in total."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self.events: deque[tuple[float, int]] = deque()
        self.used = 0

    def expire(self, now: float) -> None:
        while self.events and self.events[0][0] <= now - self.window_s:
            self.used -= self.events.popleft()[1]

    def wait_s(self, amount: int, now: float) -> float:
        """Seconds until ``amount`` fits (0 when it fits now; a full window if it never can)."""
        excess = self.used + amount - self.limit
        if excess <= 0:
            return 0.0
        if amount > self.limit:
            return self.window_s
        for at, spent in self.events:
            excess -= spent
            if excess <= 0:
                return at + self.window_s - now
        return self.window_s

    def add(self, amount: int, now: float) -> None:
        if amount:
            self.events.append((now, amount))
            self.used += amount

    def headers(self, name: str, now: float) -> dict[str, str]:
        reset = self.events[-1][0] + self.window_s - now if self.events else 0.0
        return {
            f"x-ratelimit-limit-{name}": str(self.limit),
            f"x-ratelimit-remaining-{name}": str(max(self.limit - self.used, 0)),
            f"x-ratelimit-reset-{name}": format_seconds(max(reset, 0.0)) + "s",
        }


class Limiter:
    """Admits requests against a ``RateLimit``; with ``enforce=False`` it only counts."""

    def __init__(self, limit: RateLimit, *, enforce: bool) -> None:
        self.enforce = enforce
        self._windows: dict[str, _Window] = {}
        if limit.rpm is not None:
            self._windows["requests"] = _Window(limit.rpm, limit.window_s)
        if limit.tpm is not None:
            self._windows["tokens"] = _Window(limit.tpm, limit.window_s)

    def admit(self, prompt_tokens: int, now: float) -> tuple[str, float] | None:
        """Record the request, or return ``(exhausted window name, seconds to wait)``."""
        asks = {"requests": 1, "tokens": prompt_tokens}
        waits = []
        for name, window in self._windows.items():
            window.expire(now)
            waits.append((window.wait_s(asks[name], now), name))
        worst, name = max(waits, default=(0.0, ""))
        if self.enforce and worst > 0:
            return name, worst
        for key, window in self._windows.items():
            window.add(asks[key], now)
        return None

    def spend_tokens(self, tokens: int, now: float) -> None:
        """Charge completion tokens once the reply is known."""
        if "tokens" in self._windows:
            self._windows["tokens"].add(tokens, now)

    def headers(self, now: float) -> dict[str, str]:
        """``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` for the current window."""
        out: dict[str, str] = {}
        for name, window in self._windows.items():
            window.expire(now)
            out |= window.headers(name, now)
        return out
