"""How long a server asked us to wait: ``retry-after-ms``, ``Retry-After`` seconds or HTTP-date."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

__all__ = ["MIN_RETRY_AFTER_S", "parse_retry_after"]

MIN_RETRY_AFTER_S = 0.5
"""A server that says "retry after 0 s" (or less, or a date in the past) still gets this much rest;
a positive value is taken as it is."""


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        for key, val in headers.items():
            if key.lower() == name:
                return val
    return value


def _rest(seconds: float) -> float | None:
    if math.isnan(seconds):
        return None
    return seconds if seconds > 0 else MIN_RETRY_AFTER_S


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait according to the headers, or None when they do not say.

    ``retry-after-ms`` wins over ``Retry-After``; ``Retry-After`` may be seconds or an HTTP-date.
    Values at or below zero become ``MIN_RETRY_AFTER_S``.
    """
    raw_ms = _header(headers, "retry-after-ms")
    if raw_ms is not None:
        try:
            return _rest(float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        return _rest(float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return _rest(when.timestamp() - current)
