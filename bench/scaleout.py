"""Scale-out: rows/s and global-limit adherence for 1, 2 and 4 Ray workers under one Redis limit.

    uv run python bench/scaleout.py                     # 300 rows, 20 requests/s, 1/2/4 workers
    uv run python bench/scaleout.py --n 600 --per-s 40 --workers 1,2,4,8

A simulated multi-node run on one host: a local Ray (``--cpus`` logical CPUs), a fresh
``redis-server`` on a free loopback port, and the project's mock server enforcing ``--per-s``
requests in any 1 s window (``--latency-ms`` per reply). For each worker count, ``scillm batch
--executor ray --limits redis://… --rpm per_s*60`` runs the rows; the server's arrival log gives
the most attempts in any 1 s (must stay ≤ the limit), the 429s it served (should be 0) and the
rows/s (should be ≈ 90 % of the limit, the limiter's headroom, whatever the worker count).
Results go to ``bench/results/scaleout.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _machine import machine_info  # bench/ is on sys.path when a script runs

from scillm.batch.command import BatchOptions, execute, prepare
from scillm.batch.summary import BatchSummary
from scillm.progress import track
from scillm.testing import MockLLMServer, RateLimit

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "scaleout.json"
PACKAGES = ("scillm", "ray", "redis")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _most_in_window(times: list[float], window_s: float) -> int:
    ordered, best, lo = sorted(times), 0, 0
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - window_s:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def _one(args: argparse.Namespace, workers: int, redis_url: str, tmp: Path) -> dict[str, Any]:
    src, out = tmp / f"in-{workers}.jsonl", tmp / f"out-{workers}.jsonl"
    src.write_text("".join(json.dumps({"id": i, "prompt": f"q {i}"}) + "\n" for i in range(args.n)))
    limit = RateLimit(rpm=args.per_s, window_s=1.0)
    with MockLLMServer(
        rate_limit=limit, rate_limit_headers=False, latency_s=args.latency_ms / 1000
    ) as srv:
        options = BatchOptions(
            src, out, model="openai/mock-model", api_base=srv.base_url, api_key=f"bench-{workers}",
            concurrency=16, rpm=args.per_s * 60, executor="ray", workers=workers,
            shard_rows=args.shard_rows, limits=redis_url,
        )  # fmt: skip
        plan = prepare(options)
        summary = BatchSummary(path=str(out), total=plan.total)
        started = time.monotonic()
        try:
            asyncio.run(execute(plan, summary))
        finally:
            plan.close()
        elapsed = time.monotonic() - started
        times = [r.received_at for r in srv.requests if r.path.endswith("/chat/completions")]
        rate_limited = srv.stats.rate_limited
    span = max(times) - min(times)
    return {
        "workers": workers,
        "rows": args.n,
        "ok": summary.succeeded,
        "elapsed_s": round(elapsed, 2),
        "rows_per_s_sending": round((len(times) - 1) / span, 2) if span else None,
        "share_of_limit": round((len(times) - 1) / span / args.per_s, 3) if span else None,
        "most_in_any_1s": _most_in_window(times, 1.0),
        "limit_per_1s": args.per_s,
        "server_429s": rate_limited,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--per-s", type=int, default=20)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--shard-rows", type=int, default=25)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--cpus", type=int, default=4)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    os.environ["RAY_ENABLE_UV_RUN_RUNTIME_ENV"] = "0"
    import ray

    port = _free_port()
    redis_proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    runs = []
    try:
        time.sleep(0.5)
        counts = [int(w) for w in args.workers.split(",")]
        with (
            tempfile.TemporaryDirectory() as tmp,
            track("scaleout", len(counts), unit="runs") as shown,
        ):
            for workers in counts:
                runs.append(_one(args, workers, f"redis://127.0.0.1:{port}/0", Path(tmp)))
                print(json.dumps(runs[-1]), file=sys.stderr)
                shown.advance()
    finally:
        ray.shutdown()
        redis_proc.terminate()
        redis_proc.wait(10)
    note = "one host: Ray actors stand in for nodes; one redis-server; mock limit per 1 s window"
    settings = {**vars(args), "out": str(args.out)}
    result = {"machine": machine_info(PACKAGES, note), "args": settings, "runs": runs}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(runs, indent=2))


if __name__ == "__main__":
    main()
