"""The usage log: one JSON line per request, in the record format of ``scillm batch``'s rows.

    {"id": "req-…", "key_alias": "team-a", "model": "fast", "status": 200, "stream": false,
     "latency_ms": 12.3, "ts": 1767225600.0, "cost_usd": 0.0001,
     "response": {"id": …, "model": …, "usage": {…}},        # no choices: nothing said is logged
     "scillm_router": {"deployment": "fast#0", "retries": {"attempts": 1, …}, "timing_ms": …, …}}
    {"id": "req-…", "ok": false, "error": {"type": "rate_limit_exceeded", "message": …},
     "status": 429, …}

As in a batch output file, a failure has ``"ok": false`` and ``error``; the Router's meta is
under ``scillm_router``, the tokens under ``response.usage``, and the run record
(:mod:`scillm.runrecord`) under ``record``, so ``scillm report`` reads both.
Keys are never written, only their alias. Lines are appended with one ``write`` each
(``O_APPEND``: concurrent writers never interleave a line).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scillm.runrecord import RecordLog, read_rows, record_of

__all__ = ["UsageLog", "spent_by_alias"]


class UsageLog(RecordLog):
    """An append-only JSONL file (created 0600: it names who called what)."""

    def write(self, line: Mapping[str, Any]) -> None:
        """Append one request's line, with its run record under ``record``."""
        record = record_of(line)
        super().write({**line, "record": record} if record is not None else line)


def spent_by_alias(path: str | Path) -> dict[str, tuple[int, float]]:
    """Tokens and dollars each key alias has spent, summed over the log at ``path``."""
    path = Path(path)
    totals: dict[str, tuple[int, float]] = {}
    if not path.exists():
        return totals
    for record in read_rows(path):
        alias = record.get("key_alias")
        response = record.get("response")
        usage = response.get("usage") if isinstance(response, dict) else None
        if not isinstance(alias, str) or not isinstance(usage, dict):
            continue
        tokens = usage.get("total_tokens")
        cost = record.get("cost_usd")
        before = totals.get(alias, (0, 0.0))
        totals[alias] = (
            before[0] + (tokens if isinstance(tokens, int) else 0),
            before[1] + (cost if isinstance(cost, int | float) else 0.0),
        )
    return totals
