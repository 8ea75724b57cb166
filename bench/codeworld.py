"""CodeWorld throughput: sandboxed variant x test executions per second.

    cd /work/main && uv run python bench/codeworld.py                 # full run (~1-2 min)
    uv run python bench/codeworld.py --variants 16 --repeats 1        # smoke run

One item, ``--tests`` tests (default 10), ``--variants`` distinct Python variants (all correct,
so every call runs to the end), strategy ``baseline``, through ``scillm.codeworld.aevaluate``
exactly as a user calls it: real bwrap sandbox, one process per variant running all its tests,
verdicts, metrics and ranking included. Repeated for each ``--concurrency`` (sandboxed
processes at once; 0 = the engine's default) and ``--repeats`` times, interleaved; the median
is reported. Also measured: the wall time of one bare sandboxed ``python`` run (the per-process
floor), and MCTS rollouts per second against the mock LLM (``--rollouts``, each a real LLM
round trip over loopback plus a sandboxed execution).

Results go to ``bench/results/codeworld.json`` (``--out``) and a table is printed, with the
target: >= 40 executions/s (python, 10 tests per variant) on this 2-core machine. The machine
is shared: the JSON records the load average before and after each timed run.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from scillm import sandbox
from scillm.codeworld import EngineSettings, aevaluate
from scillm.progress import track
from scillm.testing import MockLLMServer

TARGET_EXECUTIONS_PER_S = 40.0
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "codeworld.json"


def variant(k: int) -> str:
    """A correct, distinct program (distinct code, so the execution cache cannot help)."""
    return (
        f"def solve(xs):\n    total = {k} - {k}\n    for x in xs:\n"
        "        total += x * x\n    return total\n"
    )


def item(n_variants: int, n_tests: int) -> dict[str, Any]:
    tests = [
        {
            "id": f"t{i}",
            "args": [list(range(i * 10))],
            "expected": sum(x * x for x in range(i * 10)),
        }
        for i in range(n_tests)
    ]
    variants = {f"v{k}": variant(k) for k in range(n_variants)}
    return {"id": "squares", "task": "sum of squares", "variants": variants, "tests": tests}


async def throughput(n_variants: int, n_tests: int, concurrency: int) -> dict[str, Any]:
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    payload = await aevaluate(
        [item(n_variants, n_tests)], settings=EngineSettings(concurrency=concurrency)
    )
    wall = time.perf_counter() - started
    result = payload["results"][0]
    passed = sum(v["passed"] for v in result["variants"])
    executions = n_variants * n_tests
    return {
        "concurrency": concurrency or EngineSettings().processes,
        "executions": executions,
        "passed": passed,
        "sandbox_processes": payload["run_manifest"]["sandbox_processes"],
        "wall_s": round(wall, 3),
        "executions_per_s": round(executions / wall, 1),
        "load_before": round(load_before, 2),
        "load_after": round(os.getloadavg()[0], 2),
    }


def bare_sandbox_ms(repeats: int) -> float:
    """Median wall ms of one sandboxed ``python -c pass``-like run (the per-process floor)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = sandbox.run("pass", timeout_s=10)
        assert result.status == "ok", result
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


async def mcts_rate(rollouts: int) -> dict[str, Any]:
    """Rollouts per second against the mock LLM: one LLM round trip + one execution each."""
    counter = iter(range(10**6))

    def wrong(body: dict[str, Any]) -> str:
        return f"```python\ndef solve(xs):\n    return {next(counter)} - 1\n```"

    with MockLLMServer(reply=wrong) as llm:
        started = time.perf_counter()
        payload = await aevaluate(
            [item(1, 10) | {"variants": {"v": "def solve(xs):\n    return -1\n"}}],
            strategy="mcts",
            rollouts=rollouts,
            seed=1,
            generator_model="openai/mock",
            generator_api_base=llm.base_url,
        )
        wall = time.perf_counter() - started
    search = payload["results"][0]["search"]
    return {
        "rollouts": search["rollouts"],
        "wall_s": round(wall, 3),
        "rollouts_per_s": round(search["rollouts"] / wall, 2),
        "stopped": search["stopped"],
    }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    host = sandbox.isolation_available()
    if not host["isolated"]:
        raise SystemExit(f"no bwrap sandbox here: {host['problem']}")
    await throughput(4, args.tests, 0)  # warm-up: imports, the sandbox probe
    runs: dict[int, list[dict[str, Any]]] = {c: [] for c in args.concurrency}
    with track("throughput", args.repeats * len(args.concurrency), unit="runs") as shown:
        for _ in range(args.repeats):
            for concurrency in args.concurrency:
                runs[concurrency].append(await throughput(args.variants, args.tests, concurrency))
                shown.advance()
    rows = []
    for concurrency, samples in runs.items():
        rates = [s["executions_per_s"] for s in samples]
        rows.append(
            {
                "concurrency": samples[0]["concurrency"],
                "default": concurrency == 0,
                "executions_per_s_median": statistics.median(rates),
                "executions_per_s_min": min(rates),
                "executions_per_s_max": max(rates),
                "samples": samples,
            }
        )
    default = next(r for r in rows if r["default"]) if 0 in runs else rows[0]
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "isolation": host["isolation"],
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        },
        "parameters": {
            "variants": args.variants,
            "tests_per_variant": args.tests,
            "repeats": args.repeats,
            "language": "python",
            "strategy": "baseline",
        },
        "bare_sandbox_run_ms": bare_sandbox_ms(10),
        "throughput": rows,
        "mcts": await mcts_rate(args.rollouts),
        "target": {
            "executions_per_s": TARGET_EXECUTIONS_PER_S,
            "measured_default": default["executions_per_s_median"],
            "met": default["executions_per_s_median"] >= TARGET_EXECUTIONS_PER_S,
        },
        "elapsed_s": round(time.perf_counter() - started, 1),
    }


def table(report: dict[str, Any]) -> str:
    lines = [
        f"CodeWorld throughput: python, {report['parameters']['tests_per_variant']} tests x "
        f"{report['parameters']['variants']} variants, baseline, {report['machine']['cpus']} CPUs",
        f"{'concurrency':>12} {'exec/s median':>14} {'min':>8} {'max':>8}",
    ]
    for row in report["throughput"]:
        mark = " (default)" if row["default"] else ""
        lines.append(
            f"{row['concurrency']:>12} {row['executions_per_s_median']:>14.1f} "
            f"{row['executions_per_s_min']:>8.1f} {row['executions_per_s_max']:>8.1f}{mark}"
        )
    target = report["target"]
    verdict = "met" if target["met"] else "NOT met"
    lines += [
        f"bare sandboxed python run: {report['bare_sandbox_run_ms']} ms (median of 10)",
        f"MCTS against the mock LLM: {report['mcts']['rollouts_per_s']} rollouts/s "
        f"({report['mcts']['rollouts']} rollouts)",
        f"target >= {target['executions_per_s']:.0f} exec/s: {verdict} "
        f"({target['measured_default']:.1f} at the default concurrency)",
    ]
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", type=int, default=48)
    parser.add_argument("--tests", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--concurrency", type=lambda s: [int(c) for c in s.split(",")], default=[1, 2, 0, 8]
    )
    parser.add_argument("--rollouts", type=int, default=20)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    return parser.parse_args()


if __name__ == "__main__":
    options = parse_args()
    report = asyncio.run(main(options))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"wrote {options.out}")
