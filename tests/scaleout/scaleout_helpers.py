"""Helpers of the scale-out tests: input files, runs through the command API, window counts."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scillm.batch.command import BatchOptions, execute, prepare
from scillm.batch.summary import BatchSummary
from scillm.testing import MockLLMServer

MODEL = "openai/mock-model"


def write_rows(path: Path, n: int, **extra: Any) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"q{i}", "prompt": f"question q{i} ?", **extra}) + "\n")
    return path


def run(options: BatchOptions) -> BatchSummary:
    """One ``scillm batch`` run in this process, through the command's own functions."""
    plan = prepare(options)
    summary = BatchSummary(path=str(options.output), total=plan.total)
    try:
        asyncio.run(execute(plan, summary))
    finally:
        plan.close()
    return summary


def options(srv: MockLLMServer, src: Path, out: Path, **kw: Any) -> BatchOptions:
    base: dict[str, Any] = {"model": MODEL, "api_base": srv.base_url, "api_key": "k"}
    return BatchOptions(src, out, **{**base, "executor": "ray", **kw})


def output_ids(out: Path) -> list[str]:
    return [json.loads(line)["id"] for line in out.read_text().splitlines()]


def row_id(body: dict[str, Any] | None) -> str:
    """The row id a recorded request was for (the prompt names it)."""
    assert body is not None
    return str(body["messages"][0]["content"]).split()[1]


def calls_per_row(srv: MockLLMServer) -> Counter[str]:
    return Counter(row_id(r.body) for r in srv.requests if r.path.endswith("/chat/completions"))


def most_in_window(times: Sequence[float], window_s: float) -> int:
    """The most events in any window of ``window_s`` seconds (events sorted or not)."""
    ordered, best, lo = sorted(times), 0, 0
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
