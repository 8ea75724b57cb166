"""Ray workers under one Redis limit: the window holds, Retry-After holds everyone, TPM."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from scaleout_helpers import (
    calls_per_row,
    most_in_window,
    options,
    output_ids,
    row_id,
    run,
    write_rows,
)

from scillm.testing import Fault, MockLLMServer, RateLimit

pytestmark = [pytest.mark.requires("redis-server", apt="redis-server")]

PER_S = 20  # the mock's limit: 20 requests in any 1 s
IN_FLIGHT_SLACK_S = 0.25


def test_two_workers_hold_the_global_window(
    tmp_path: Path, ray_local: Any, flush_redis: str
) -> None:
    n = 120
    src, out = write_rows(tmp_path / "in.jsonl", n), tmp_path / "out.jsonl"
    # The mock sends x-ratelimit-* headers: the workers' Routers ignore them (one process's view
    # of the quota would hold requests the global limiter already spaced, then send them together).
    limit = RateLimit(rpm=PER_S, window_s=1.0)
    with MockLLMServer(rate_limit=limit, rate_limit_headers=True) as srv:
        opts = options(srv, src, out, workers=2, shard_rows=10, rpm=PER_S * 60, limits=flush_redis)
        summary = run(opts)
        times = [r.received_at for r in srv.requests if r.path.endswith("/chat/completions")]
        assert srv.stats.rate_limited == 0
    assert most_in_window(times, 1.0) <= PER_S
    assert len(times) == n
    rate = (n - 1) / (max(times) - min(times))
    assert rate >= 0.8 * PER_S, f"{rate:.1f} requests/s"
    assert sorted(output_ids(out)) == sorted(f"q{i}" for i in range(n))
    assert (summary.succeeded, summary.failed, summary.rate_limited) == (n, 0, 0)
    assert not (tmp_path / "out.jsonl.parts").exists() or not any(
        (tmp_path / "out.jsonl.parts").iterdir()
    )


def test_a_429_with_retry_after_holds_every_worker(
    tmp_path: Path, ray_local: Any, flush_redis: str
) -> None:
    n = 60
    src, out = write_rows(tmp_path / "in.jsonl", n), tmp_path / "out.jsonl"
    with MockLLMServer() as srv:

        def fault_when_warm() -> None:  # both workers sending: a 429 in the middle of the run
            deadline = time.monotonic() + 240
            while len(srv.requests) < 15 and time.monotonic() < deadline:
                time.sleep(0.01)
            srv.enqueue(Fault.rate_limit(retry_after=2))

        threading.Thread(target=fault_when_warm, daemon=True).start()
        opts = options(srv, src, out, workers=2, shard_rows=5, rpm=PER_S * 60, limits=flush_redis)
        summary = run(opts)
        calls = calls_per_row(srv)
        requests = [r for r in srv.requests if r.path.endswith("/chat/completions")]
    (limited,) = [key for key, count in calls.items() if count == 2]  # the row sent twice
    limited_at = next(r.received_at for r in requests if row_id(r.body) == limited)
    times = [r.received_at - limited_at for r in requests]
    # Requests already admitted when the 429 was served may land just after it; then nothing
    # from any worker until Retry-After has passed.
    inside = [t for t in times if IN_FLIGHT_SLACK_S < t < 2.0]
    assert inside == []
    assert len(times) == n + 1
    assert sorted(output_ids(out)) == sorted(f"q{i}" for i in range(n))
    assert (summary.succeeded, summary.failed, summary.rate_limited) == (n, 0, 1)


def test_tpm_holds_the_token_window(tmp_path: Path, ray_local: Any, flush_redis: str) -> None:
    n, tokens_per_s = 30, 60
    src = write_rows(tmp_path / "in.jsonl", n, max_tokens=40)
    out = tmp_path / "out.jsonl"
    with MockLLMServer(rate_limit=RateLimit(tpm=tokens_per_s, window_s=1.0)) as srv:
        opts = options(
            srv, src, out, workers=2, shard_rows=5, tpm=tokens_per_s * 60, limits=flush_redis
        )
        summary = run(opts)
        assert srv.stats.rate_limited == 0
    assert summary.tokens >= 2 * tokens_per_s  # the limit was binding: over two windows' worth
    assert (summary.succeeded, summary.failed) == (n, 0)
    assert max(calls_per_row(srv).values()) == 1
