"""A run read from its records, as columns, and the figures computed from them.

Memory is a few numbers per call (no row is kept), so a 200k-call run reads in seconds.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from scillm.runrecord import read_rows, record_of

__all__ = ["ModelTotals", "Run", "TimeBins", "load_run", "money", "percentile"]

EXAMPLES_PER_ERROR = 3
"""How many example rows the error table shows per error type."""
MESSAGE_CHARS = 300


@dataclass(slots=True)
class ModelTotals:
    """Calls, tokens and cost of one model; ``unknown_cost`` calls had no known price."""

    calls: int = 0
    failed: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    unknown_cost: int = 0


@dataclass(slots=True)
class Run:
    """What ``scillm report`` shows: per-call columns, per-model totals, errors, configuration."""

    path: str
    rows: int = 0
    start: list[float] = field(default_factory=list)
    end: list[float] = field(default_factory=list)
    latency_ms: list[float] = field(default_factory=list)
    ok: list[bool] = field(default_factory=list)
    rate_limited: list[int] = field(default_factory=list)
    retries: list[int] = field(default_factory=list)
    queue_ms: list[float] = field(default_factory=list)
    cache_hits: int = 0
    models: dict[str, ModelTotals] = field(default_factory=dict)
    deployments: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def calls(self) -> int:
        return len(self.ok)

    @property
    def failed_calls(self) -> int:
        return self.ok.count(False)

    @property
    def failed_rows(self) -> int:
        """Rows that failed, calls and rows that never made one (bad input) alike."""
        return sum(self.errors.values())

    @property
    def cost_usd(self) -> float:
        return sum(m.cost_usd for m in self.models.values())

    @property
    def unknown_cost(self) -> int:
        return sum(m.unknown_cost for m in self.models.values())

    @property
    def tokens(self) -> tuple[int, int]:
        models = self.models.values()
        return sum(m.tokens_in for m in models), sum(m.tokens_out for m in models)

    @property
    def span_s(self) -> float:
        return max(self.end) - min(self.start) if self.ok else 0.0

    def latency_percentiles(self) -> dict[str, float | None]:
        ordered = sorted(self.latency_ms)
        return {f"p{q}": percentile(ordered, q) for q in (50, 95, 99)}

    def summary(self) -> dict[str, Any]:
        """The headline figures as a JSON-ready dict (``scillm report --json``)."""
        tokens_in, tokens_out = self.tokens
        span = self.span_s
        known = self.calls > self.unknown_cost  # some call was priced
        return {
            "path": self.path,
            "rows": self.rows,
            "calls": self.calls,
            "failed_calls": self.failed_calls,
            "failed_rows": self.failed_rows,
            "span_s": round(span, 3),
            "calls_per_s": round(self.calls / span, 3) if span > 0 else None,
            "latency_ms": self.latency_percentiles(),
            "tokens_in": tokens_in,
            "tokens_out": tokens_out,
            "cost_usd": round(self.cost_usd, 6) if known else None,
            "calls_of_unknown_cost": self.unknown_cost,
            "rate_limited": sum(self.rate_limited),
            "retries": sum(self.retries),
            "cache_hits": self.cache_hits,
            "errors": dict(self.errors.most_common()),
        }

    def add(self, row: Mapping[str, Any]) -> None:
        """Count one row of a batch output or usage log."""
        self.rows += 1
        record = record_of(row)
        error = row.get("error")
        if row.get("ok") is False or isinstance(error, Mapping):
            kind = str(error.get("type")) if isinstance(error, Mapping) else "unknown"
            message = str(error.get("message", "")) if isinstance(error, Mapping) else ""
            self.errors[kind] += 1
            shown = self.examples.setdefault(kind, [])
            if len(shown) < EXAMPLES_PER_ERROR:
                shown.append((str(row.get("id")), message[:MESSAGE_CHARS]))
        if record is not None:
            self._add_record(record)

    def _add_record(self, record: Mapping[str, Any]) -> None:
        end = _float(record.get("ts"))
        latency = _float(record.get("latency_ms"))
        if end is None or end <= 0 or latency is None:
            return  # no time: counted in the errors, not in the timelines
        self.start.append(end - latency / 1000)
        self.end.append(end)
        self.latency_ms.append(latency)
        self.ok.append(record.get("status") == "ok")
        self.rate_limited.append(_count(record.get("rate_limited")))
        self.retries.append(_count(record.get("retries")))
        self.queue_ms.append(_float(record.get("queue_ms")) or 0.0)
        self.cache_hits += record.get("cache_hit") is True
        self.sources[str(record.get("source"))] += 1
        if isinstance(record.get("deployment"), str):
            self.deployments[record["deployment"]] += 1
        totals = self.models.setdefault(str(record.get("model") or "unknown"), ModelTotals())
        totals.calls += 1
        totals.failed += record.get("status") != "ok"
        totals.tokens_in += _count(record.get("tokens_in"))
        totals.tokens_out += _count(record.get("tokens_out"))
        cost = _float(record.get("cost_usd"))
        if cost is None:
            totals.unknown_cost += 1
        else:
            totals.cost_usd += cost


def _float(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def money(usd: float) -> str:
    """Dollars with the digits a small cost needs: $12.35, $0.0123, $0.000021."""
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.4f}" if usd >= 0.01 else f"${usd:.6f}"


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q``-th percentile of sorted values (None when there are none)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class TimeBins:
    """The run's time cut into equal bins: ``edges[i]`` is bin ``i``'s start (seconds into the
    run)."""

    t0: float
    width: float
    count: int

    @classmethod
    def of(cls, run: Run, target: int = 120) -> TimeBins:
        t0 = min(run.start)
        span = max(max(run.end) - t0, 1e-3)
        width = _nice(span / target)
        return cls(t0, width, max(1, math.ceil(span / width)))

    def edges(self) -> list[float]:
        return [round(i * self.width, 6) for i in range(self.count)]

    def index(self, t: float) -> int:
        return min(self.count - 1, max(0, int((t - self.t0) / self.width)))

    def per_second(self, times: Sequence[float]) -> list[float]:
        """Events per second in each bin."""
        sums = [0.0] * self.count
        for t in times:
            sums[self.index(t)] += 1
        return [s / self.width for s in sums]

    def concurrency(self, starts: Sequence[float], ends: Sequence[float]) -> list[float]:
        """Calls in flight in each bin, on average over the bin."""
        busy = [0.0] * self.count
        for a, b in zip(starts, ends, strict=True):
            first, last = self.index(a), self.index(b)
            for i in range(first, last + 1):
                lo = max(a, self.t0 + i * self.width)
                hi = min(b, self.t0 + (i + 1) * self.width)
                busy[i] += max(0.0, hi - lo)
        return [s / self.width for s in busy]


def _nice(x: float) -> float:
    """The smallest of 1, 2 or 5 times a power of ten that is at least ``x``."""
    power = 10.0 ** math.floor(math.log10(x))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= x)


def load_run(path: str | Path, config: Mapping[str, Any] | None = None) -> Run:
    """Read a batch output or proxy usage log; ``config`` (the options of the run) is shown
    with the ``PATH.summary.json`` a batch run writes beside its output, when there is one."""
    run = Run(path=str(path))
    for row in read_rows(path):
        run.add(row)
    summary = Path(f"{path}.summary.json")
    if summary.is_file():
        try:
            found = orjson.loads(summary.read_bytes())
        except orjson.JSONDecodeError:
            found = None
        if isinstance(found, dict):
            run.config.update({f"summary.{k}": v for k, v in found.items()})
    run.config.update(config or {})
    return run
