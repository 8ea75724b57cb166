"""Run records: one JSON object per model call, the same in ``scillm batch`` output rows,
``run_batch`` checkpoints and the proxy's usage log (under the row's ``"record"`` key) and in a
``Router(record_path=...)`` file (one bare record a line), read by ``scillm report``.

    {"v": 1, "source": "batch", "ts": 1767225600.125, "model": "openai/gpt-4o-mini",
     "deployment": "openai/gpt-4o-mini#0", "status": "ok", "http_status": null,
     "tokens_in": 31, "tokens_out": 12, "latency_ms": 812.4, "queue_ms": 0.0,
     "attempts": 2, "retries": 1, "rate_limited": 1, "retry_wait_s": 1.0,
     "retry_after_s": 1.0, "cache_hit": false, "cost_usd": 2.1e-05, "cost_source": "genai-prices"}

``ts`` is when the call ended (Unix seconds); it started ``latency_ms`` earlier. ``status`` is
``"ok"`` or the failure's type. ``cost_usd`` is null when the price is unknown (never 0 for
unknown; a cache hit, and a failure that reported no tokens, cost 0). Fields are only ever
added within a version; a change of meaning bumps ``v``. docs/records.md documents every field.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson

from scillm.cost import call_cost, price_name
from scillm.types import ChatCompletion

__all__ = [
    "RECORD_VERSION",
    "RecordLog",
    "build_record",
    "read_rows",
    "record_of",
    "record_of_reply",
]

RECORD_VERSION = 1


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _priced_model(meta: Mapping[str, Any], model: str | None) -> str | None:
    """The name to price: the deployment's provider/model when the Router said, else ``model``."""
    provider, name = meta.get("provider"), meta.get("model")
    if isinstance(name, str) and name:
        return price_name(provider if isinstance(provider, str) else None, name)
    return model


def build_record(
    *,
    source: str,
    meta: Mapping[str, Any] | None,
    usage: Any = None,
    model: str | None = None,
    error_type: str | None = None,
    ts: float | None = None,
    latency_ms: float | None = None,
    http_status: int | None = None,
    rate_limited: int | None = None,
    cost_usd: float | None = None,
) -> dict[str, Any]:
    """The record of one call from the Router's ``scillm_router`` meta and the reply's ``usage``.

    ``error_type`` (None: the meta's) is the failure, ``rate_limited`` (None: the meta's count)
    the 429s it got, ``cost_usd`` a price already known (the proxy's configured one); without it
    the price comes from :func:`scillm.cost.call_cost`.
    """
    meta = meta or {}
    usage = usage if isinstance(usage, Mapping) else {}
    retries = meta.get("retries") if isinstance(meta.get("retries"), Mapping) else {}
    assert isinstance(retries, Mapping)
    tokens_in, tokens_out = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
    status = error_type or str(meta.get("error_type") or "ok")
    cache_hit = meta.get("cache_hit") is True
    attempts = _int(retries.get("attempts"))
    cost_source: str | None = "proxy config" if cost_usd is not None else None
    if cost_usd is None and cache_hit:
        cost_usd, cost_source = 0.0, "cache"
    elif cost_usd is None and status != "ok" and not (tokens_in or tokens_out):
        cost_usd, cost_source = 0.0, "no tokens"  # a refused or failed call bills nothing
    elif cost_usd is None and (tokens_in or tokens_out):
        priced = call_cost(_priced_model(meta, model), tokens_in, tokens_out)
        if priced is not None:
            cost_usd, cost_source = priced.usd, priced.source
    return {
        "v": RECORD_VERSION,
        "source": source,
        "ts": round(time.time() if ts is None else ts, 3),
        "model": model if model is not None else meta.get("model"),
        "deployment": meta.get("deployment"),
        "status": status,
        "http_status": http_status,
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "latency_ms": latency_ms if latency_ms is not None else _num(meta.get("timing_ms")),
        "queue_ms": _num(meta.get("queue_ms")) or 0.0,
        "attempts": attempts,
        "retries": max(attempts - 1, 0),
        "rate_limited": _int(retries.get("rate_limited")) if rate_limited is None else rate_limited,
        "retry_wait_s": _num(retries.get("total_sleep_s")) or 0.0,
        "retry_after_s": _num(retries.get("last_retry_after_s")),
        "cache_hit": cache_hit,
        "cost_usd": cost_usd,
        "cost_source": cost_source,
    }


def record_of(row: Mapping[str, Any]) -> dict[str, Any] | None:
    """A row's record: its ``"record"`` when it has one of a known version, else one derived
    from what an older row holds (None for a row of no call: a bad-input row)."""
    record = row.get("record")
    if isinstance(record, dict) and record.get("v") == RECORD_VERSION:
        return record
    meta = row.get("scillm_router")
    if not isinstance(meta, Mapping) and "status" not in row:
        return None
    response = row.get("response")
    usage = response.get("usage") if isinstance(response, Mapping) else None
    error = row.get("error")
    status = _int(row.get("status")) or None
    return build_record(
        source="proxy" if "key_alias" in row else "batch",
        meta=meta if isinstance(meta, Mapping) else None,
        usage=usage,
        model=row.get("model") if isinstance(row.get("model"), str) else None,
        error_type=str(error.get("type")) if isinstance(error, Mapping) else None,
        ts=_num(row.get("ts")) or 0.0,
        latency_ms=_num(row.get("latency_ms")),
        http_status=status,
        cost_usd=_num(row.get("cost_usd")),
    )


def record_of_reply(
    reply: Any, source: str, error: BaseException | None = None
) -> dict[str, Any] | None:
    """The record of what a call returned: a ChatCompletion (``scillm.completion``, a Router
    reply or fan-out result, or such a dict), else None. With ``error``, the record of a Router
    call that raised it (None when the error carries no ``scillm_router`` meta)."""
    if error is not None:
        meta = getattr(error, "scillm_router", None)
        if not isinstance(meta, Mapping):
            return None
        name = _priced_model(meta, None)
        return build_record(source=source, meta=meta, model=name, error_type=type(error).__name__)
    if not isinstance(reply, ChatCompletion) and not (
        isinstance(reply, Mapping) and reply.get("object") == "chat.completion"
    ):
        return None
    meta = reply.get("scillm_router")
    meta = meta if isinstance(meta, Mapping) else {}
    answered = reply.get("model")
    name = _priced_model(meta, answered if isinstance(answered, str) else None)
    return build_record(source=source, meta=meta, usage=reply.get("usage"), model=name)


def read_rows(path: str | Path) -> Iterator[dict[str, Any]]:
    """The JSON-object lines of a batch output or proxy usage log (a line cut by a crash, or
    one that is no object, is passed over)."""
    with Path(path).open("rb") as lines:
        for line in lines:
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(row, dict):
                yield row


class RecordLog:
    """An append-only JSONL file of records (created 0600). Each line is one ``write`` to an
    ``O_APPEND`` file: concurrent writers, other processes included, never interleave a line."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def write(self, line: Mapping[str, Any]) -> None:
        """Append one JSON object as a line."""
        if self._fd < 0:
            raise ValueError(f"the record log {self.path} is closed")
        os.write(self._fd, orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
