"""Gateway overhead: ``scillm serve proxy`` vs litellm's own proxy, same config, same mock upstream.

    uv run python bench/proxy.py                       # both gateways (litellm's via uv --with)
    uv run python bench/proxy.py --quick               # a smoke run (fewer requests)
    uv run python bench/proxy.py --gateways scillm     # scillm's alone

Three processes on 127.0.0.1: the mock OpenAI-compatible server (``scillm.testing.serve``, no
latency), a gateway (one worker) with the same ``config.yaml`` (one model group over the mock, a
master key), and this load generator (aiohttp). litellm's proxy runs from ``litellm[proxy]`` in
a throwaway environment (``uv run --no-project --with 'litellm[proxy]==1.108.0'``), so the bench
adds nothing to ``uv.lock``. For each gateway:

* **throughput**: ``--requests`` chat completions with ``--concurrency`` (64) in flight:
  requests/s, and requests per CPU-second of the gateway process (its user+system time over the
  phase, from ``/proc``): the fair comparison on a shared machine;
* **added latency**: ``--rate`` (200) requests/s sent open-loop for ``--seconds`` (10), first
  straight to the mock and then through the gateway; the added latency at p50/p99 is the
  gateway's percentile minus the direct one.

Targets (issue 14): >= 5x litellm's throughput at equal CPU, p99 added latency <= 2 ms at
200 req/s. Results go to ``bench/results/proxy.json`` (``--out``) with the machine's load
average before and after, and a table is printed. Loopback only; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from _machine import machine_info

from scillm.progress import track

MASTER = "sk-bench-master"
BODY = {"model": "bench", "messages": [{"role": "user", "content": "a short prompt of six words"}]}
ROOT = Path(__file__).resolve().parent
LITELLM_PROXY_VERSION = "1.108.0"
"""The newest litellm whose ``proxy`` extra installs from PyPI alone (later ones need a
``litellm-proxy`` package PyPI does not have); ``--litellm-version`` picks another."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its descendants, from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def start_gateway(
    name: str, config: Path, port: int, litellm_version: str
) -> subprocess.Popen[bytes]:
    """The gateway in its own process group (``uv run`` starts litellm's as its child)."""
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    if name == "scillm":
        scillm = Path(sys.executable).parent / "scillm"
        cmd = [str(scillm), "serve", "proxy", "--config", str(config), "--port", str(port)]
    else:
        cmd = ["uv", "run", "--no-project", "--with", f"litellm[proxy]=={litellm_version}",
               "python", "-m", "litellm.proxy.proxy_cli", "--config", str(config),
               "--port", str(port), "--host", "127.0.0.1", "--num_workers", "1"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    wait_http(f"http://127.0.0.1:{port}/health/liveliness", proc, timeout=600)
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
    except ProcessLookupError:
        pass


async def closed_loop(url: str, n: int, concurrency: int) -> tuple[float, int]:
    """Seconds for ``n`` requests with ``concurrency`` in flight, and how many failed."""
    headers = {"authorization": f"Bearer {MASTER}"}
    failed = 0
    todo = iter(range(n))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:

        async def worker() -> None:
            nonlocal failed
            for _ in todo:
                async with s.post(url, json=BODY, headers=headers) as r:
                    await r.read()
                    failed += r.status != 200

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - t0, failed


async def open_loop(url: str, rate: float, seconds: float) -> tuple[list[float], int]:
    """Latencies (ms) of requests sent at ``rate`` per second for ``seconds``."""
    headers = {"authorization": f"Bearer {MASTER}"}
    latencies: list[float] = []
    failed = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:

        async def one() -> None:
            nonlocal failed
            t0 = time.perf_counter()
            async with s.post(url, json=BODY, headers=headers) as r:
                await r.read()
                failed += r.status != 200
            latencies.append((time.perf_counter() - t0) * 1000)

        for _ in range(int(rate)):  # warm the connection pool
            await one()
        latencies.clear()
        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return latencies, failed


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


def run(args: argparse.Namespace) -> dict[str, Any]:
    mock_port = free_port()
    mock = subprocess.Popen(
        [sys.executable, "-c", f"from scillm.testing import serve; serve(port={mock_port})"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    results: dict[str, Any] = {"gateways": {}}
    try:
        wait_http(f"http://127.0.0.1:{mock_port}/health", mock)
        direct_url = f"http://127.0.0.1:{mock_port}/v1/chat/completions"
        config = {
            "model_list": [
                {
                    "model_name": "bench",
                    "litellm_params": {
                        "model": "openai/mock-model",
                        "api_base": f"http://127.0.0.1:{mock_port}/v1",
                        "api_key": "sk-upstream",
                    },
                }
            ],
            "general_settings": {"master_key": MASTER},
        }
        workdir = Path(tempfile.mkdtemp(prefix="scillm-bench-proxy-"))
        config_path = workdir / "config.yaml"
        config_path.write_text(yaml.safe_dump(config))
        direct, failed = asyncio.run(open_loop(direct_url, args.rate, args.seconds))
        results["direct"] = {"p50_ms": pct(direct, 50), "p99_ms": pct(direct, 99), "failed": failed}
        with track("gateways", len(args.gateways), unit="gateways") as shown:
            for name in args.gateways:
                port = free_port()
                proc = start_gateway(name, config_path, port, args.litellm_version)
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                try:
                    asyncio.run(closed_loop(url, min(500, args.requests), args.concurrency))  # warm
                    cpu0 = cpu_seconds(proc.pid)
                    wall, failed = asyncio.run(closed_loop(url, args.requests, args.concurrency))
                    cpu = cpu_seconds(proc.pid) - cpu0
                    lat, lat_failed = asyncio.run(open_loop(url, args.rate, args.seconds))
                finally:
                    stop(proc)
                results["gateways"][name] = {
                    "requests": args.requests,
                    "failed": failed + lat_failed,
                    "req_per_s": args.requests / wall,
                    "cpu_s": cpu,
                    "req_per_cpu_s": args.requests / cpu if cpu else None,
                    "p50_ms": pct(lat, 50),
                    "p99_ms": pct(lat, 99),
                    "added_p50_ms": pct(lat, 50) - results["direct"]["p50_ms"],
                    "added_p99_ms": pct(lat, 99) - results["direct"]["p99_ms"],
                    "saturated": args.requests / wall < args.rate,
                }
                shown.advance()
    finally:
        mock.terminate()
        mock.wait(30)
    gw = results["gateways"]
    if "scillm" in gw and "litellm" in gw:
        results["ratio_req_per_s"] = gw["scillm"]["req_per_s"] / gw["litellm"]["req_per_s"]
        if gw["scillm"]["req_per_cpu_s"] and gw["litellm"]["req_per_cpu_s"]:
            results["ratio_req_per_cpu_s"] = (
                gw["scillm"]["req_per_cpu_s"] / gw["litellm"]["req_per_cpu_s"]
            )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gateways", default="scillm,litellm")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--litellm-version",
        default=LITELLM_PROXY_VERSION,
        help="litellm[proxy] version to compare with (default: %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="1000 requests, 5 s at the rate")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "proxy.json")
    args = parser.parse_args()
    args.gateways = [g.strip() for g in args.gateways.split(",") if g.strip()]
    if args.quick:
        args.requests, args.seconds = 1000, 5.0
    note = "loopback; mock, gateway and load generator share the machine's cores"
    info = machine_info(["scillm", "aiohttp", "uvicorn", "fastapi"], note)
    info["litellm_proxy"] = args.litellm_version
    results = run(args)
    info["loadavg_end"] = list(os.getloadavg())
    report = {
        "machine": info,
        "settings": {
            "requests": args.requests,
            "concurrency": args.concurrency,
            "rate": args.rate,
            "seconds": args.seconds,
        },
        **results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    print_table(report)


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"gateways over the mock ({report['settings']['concurrency']} in flight)")
    for col in ("gateway", "req/s", "req/CPU-s", f"p50 @{report['settings']['rate']:g}/s",
                "p99", "added p50", "added p99", "failed"):  # fmt: skip
        table.add_column(col, justify="right")
    direct = report["direct"]
    table.add_row("direct", "", "", f"{direct['p50_ms']:.2f} ms", f"{direct['p99_ms']:.2f} ms",
                  "", "", str(direct["failed"]))  # fmt: skip
    for name, g in report["gateways"].items():
        per_cpu = f"{g['req_per_cpu_s']:.0f}" if g["req_per_cpu_s"] else "-"
        table.add_row(
            name, f"{g['req_per_s']:.0f}", per_cpu, f"{g['p50_ms']:.2f} ms",
            f"{g['p99_ms']:.2f} ms", f"{g['added_p50_ms']:.2f} ms", f"{g['added_p99_ms']:.2f} ms",
            str(g["failed"]),
        )  # fmt: skip
    console = Console(width=120)
    console.print(table)
    for name, g in report["gateways"].items():
        if g["saturated"]:
            console.print(
                f"{name}: its throughput is below {report['settings']['rate']:g} req/s, so its "
                "latency at that rate is queueing, not overhead"
            )
    for key in ("ratio_req_per_s", "ratio_req_per_cpu_s"):
        if key in report:
            console.print(f"{key}: {report[key]:.1f}x (scillm / litellm)")
    console.print(f"load average: {report['machine']['loadavg_start']} → "
                  f"{report['machine']['loadavg_end']}")  # fmt: skip


if __name__ == "__main__":
    main()
