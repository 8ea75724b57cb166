"""Client overhead: CPU ms/request and req/s of raw aiohttp, scillm, its Router, openai, litellm.

    cd /work/main && uv run python bench/client_overhead.py            # full run (~5-10 min)
    uv run python bench/client_overhead.py --quick                     # smoke run (~1 min)
    uv run python bench/client_overhead.py --clients raw,scillm --latencies 0 --repeats 5
    uv run python bench/client_overhead.py --profile scillm            # cProfile one client
    uv run python bench/client_overhead.py --clients raw,scillm,router --interleave 40

Every client sends ``--n`` chat completions, ``--concurrency`` in flight, to the project's mock
OpenAI-compatible server (``scillm.testing.serve``) on 127.0.0.1, once per ``--latencies`` value.
The server runs in its own process, so its CPU is not counted. Each (client, latency, repeat)
runs in a fresh interpreter: imports, caches and memory never leak between clients. A worker
warms up (``--warmup`` requests), then times the ``--n`` requests: client CPU is the
``time.process_time()`` delta (all threads of the worker), throughput is requests / wall time.
Repeats are interleaved across clients so slow drift in background load hits all of them.

Also measured: the wall time of ``python -c "import scillm"`` (median of fresh interpreters) and
of ``import litellm`` / ``import openai`` once, for comparison.

Results go to ``bench/results/client_overhead.json`` (``--out``); a table is printed with
the targets: scillm <= 0.8 ms CPU/request, litellm/scillm CPU ratio >= 8, import scillm <= 0.3 s,
the Router adding <= 0.3 ms CPU/request over ``scillm.acompletion``, and CPU/request over raw
aiohttp's in the same run: scillm <= 1.2x, the Router <= 1.5x.
Numbers are from a shared machine: the JSON records the load average and the CPU time other
processes burnt during each timed section (``other_cpu_s``), so noisy cells can be spotted.
Workers compile every module from its source and read no ``.pyc`` file (``worker_env``): stray
``.pyc`` files were seen to move every client's CPU per request by 15-20 %.

``--interleave B`` measures the ratios over raw aiohttp more finely on a busy machine: one
worker process per latency sets every client up on one event loop, then runs ``B`` rounds of
``--n / B`` requests per client, the clients' order rotating each round, timing each block by
the thread's CPU time. Background load then hits every client within seconds of each other;
each client's ratio is the median of its per-round ratios to raw (raw must be among the
clients). Results go to ``client_overhead_interleaved.json`` beside ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import cProfile
import functools
import gc
import io
import json
import os
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypedDict

from _machine import machine_info  # bench/ is on sys.path when a script runs

CLIENTS = ("raw", "scillm", "router", "openai", "litellm")
MODEL = "mock-model"
PROMPT = "Say something short."
MESSAGES: list[dict[str, str]] = [{"role": "user", "content": PROMPT}]
API_KEY = "k"
RESULT_MARK = "BENCH-RESULT "
"""Prefix of the worker's JSON line on stdout (libraries may print other lines)."""

TARGET_SCILLM_CPU_MS = 0.8
TARGET_LITELLM_RATIO = 8.0
TARGET_IMPORT_S = 0.3
TARGET_ROUTER_EXTRA_CPU_MS = 0.3
TARGET_OVER_RAW = {"scillm": 1.2, "router": 1.5}
"""CPU per request as a multiple of raw aiohttp's, in the same run."""

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "client_overhead.json"
WORKER_TIMEOUT_S = 900.0
HEALTH_TIMEOUT_S = 30.0
MACHINE_NOTE = (
    "shared machine: other jobs may run concurrently; the mock server shares the cores "
    "with the client; see each run's other_cpu_s for interference"
)
PACKAGES = ("scillm", "aiohttp", "orjson", "openai", "httpx", "litellm", "rich")

Send = Callable[[], Awaitable[str]]
Close = Callable[[], Awaitable[None]]


class WorkerResult(TypedDict):
    """What one worker process reports (one client, one latency, one repeat)."""

    client: str
    n: int
    concurrency: int
    warmup: int
    setup_s: float
    cpu_s: float
    wall_s: float
    cpu_ms_per_req: float
    req_per_s: float
    errors: int
    empty_replies: int
    first_error: str | None
    server_cpu_ms_per_req: float | None
    other_cpu_s: float | None
    max_rss_mib: float


# -- the four clients (imported inside the worker process only) ---------------------------------


async def make_raw(base_url: str) -> tuple[Send, Close]:
    """The floor: one aiohttp session, orjson both ways, nothing else."""
    import aiohttp
    import orjson

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512))
    url = base_url + "/chat/completions"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"}

    async def send() -> str:
        body = orjson.dumps({"model": MODEL, "messages": MESSAGES})
        async with session.post(url, data=body, headers=headers) as resp:
            raw = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}: {raw[:200]!r}")
        content: str = orjson.loads(raw)["choices"][0]["message"]["content"]
        return content

    return send, session.close


async def make_scillm(base_url: str) -> tuple[Send, Close]:
    """``scillm.acompletion``, explicit base and key; its pooled session closes with the loop."""
    import scillm

    async def send() -> str:
        resp = await scillm.acompletion(
            f"openai/{MODEL}", MESSAGES, api_base=base_url, api_key=API_KEY
        )
        content: str = resp.choices[0].message.content
        return content

    async def close() -> None:
        return None

    return send, close


async def make_router(base_url: str) -> tuple[Send, Close]:
    """``Router.acompletion`` over a one-deployment ``model_list``: the whole call pipeline."""
    from scillm import Router

    router = Router(
        [
            {
                "model_name": "bench",
                "litellm_params": {
                    "model": f"openai/{MODEL}",
                    "api_base": base_url,
                    "api_key": API_KEY,
                },
            }
        ]
    )

    async def send() -> str:
        resp = await router.acompletion(model="bench", messages=MESSAGES)
        content: str = resp.choices[0].message.content
        return content

    return send, router.aclose


async def make_openai(base_url: str) -> tuple[Send, Close]:
    """The official SDK (httpx underneath), retries off."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)

    async def send() -> str:
        resp = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": PROMPT}]
        )
        return resp.choices[0].message.content or ""

    return send, client.close


async def make_litellm(base_url: str) -> tuple[Send, Close]:
    """``litellm.acompletion`` configured as scillm's litellm backend configures it."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    litellm.suppress_debug_info = True

    async def send() -> str:
        resp = await litellm.acompletion(
            model=f"openai/{MODEL}",
            messages=MESSAGES,
            api_base=base_url,
            api_key=API_KEY,
            num_retries=0,
            max_retries=0,
        )
        content: str = resp.choices[0].message.content or ""
        return content

    async def close() -> None:
        return None

    return send, close


FACTORIES: dict[str, Callable[[str], Awaitable[tuple[Send, Close]]]] = {
    "raw": make_raw,
    "scillm": make_scillm,
    "router": make_router,
    "openai": make_openai,
    "litellm": make_litellm,
}


# -- worker: one client, one timed run ----------------------------------------------------------


class _Tally:
    __slots__ = ("empty", "errors", "first_error")

    def __init__(self) -> None:
        self.errors = 0
        self.empty = 0
        self.first_error: str | None = None


async def drive(send: Send, n: int, concurrency: int) -> _Tally:
    """Send ``n`` requests with ``concurrency`` lanes, each taking the next request when free."""
    tally = _Tally()
    remaining = n

    async def lane() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            try:
                if not await send():
                    tally.empty += 1
            except Exception as exc:
                tally.errors += 1
                if tally.first_error is None:
                    tally.first_error = f"{type(exc).__name__}: {exc}"[:500]

    await asyncio.gather(*(lane() for _ in range(min(concurrency, n))))
    return tally


def _clock_ticks() -> int:
    return os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float | None:
    """User+system CPU seconds of another process (Linux ``/proc``), None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _clock_ticks()


def system_busy_s() -> float | None:
    """CPU seconds all processes of the machine spent busy since boot (Linux), else None."""
    try:
        line = Path("/proc/stat").read_text().splitlines()[0]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in line.split()[1:9])
    return (user + nice + system + irq + softirq + steal) / _clock_ticks()


def _delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


async def worker(
    client: str,
    base_url: str,
    n: int,
    concurrency: int,
    warmup: int,
    server_pid: int | None,
    profile: cProfile.Profile | None,
) -> WorkerResult:
    """Set the client up, warm it up, then time ``n`` requests."""
    t0 = time.perf_counter()
    send, close = await FACTORIES[client](base_url)
    setup_s = time.perf_counter() - t0
    if warmup:
        await drive(send, warmup, concurrency)
    gc.collect()

    server0 = process_cpu_s(server_pid) if server_pid else None
    busy0 = system_busy_s()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    tally = await drive(send, n, concurrency)
    if profile is not None:
        profile.disable()
    cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    busy = _delta(system_busy_s(), busy0)
    server_cpu = _delta(process_cpu_s(server_pid) if server_pid else None, server0)
    await close()

    other = None if busy is None or server_cpu is None else max(0.0, busy - cpu_s - server_cpu)
    import resource

    return WorkerResult(
        client=client,
        n=n,
        concurrency=concurrency,
        warmup=warmup,
        setup_s=setup_s,
        cpu_s=cpu_s,
        wall_s=wall_s,
        cpu_ms_per_req=cpu_s * 1000 / n,
        req_per_s=n / wall_s,
        errors=tally.errors,
        empty_replies=tally.empty,
        first_error=tally.first_error,
        server_cpu_ms_per_req=None if server_cpu is None else server_cpu * 1000 / n,
        other_cpu_s=other,
        max_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


async def interleaved_worker(
    clients: list[str], base_url: str, n: int, concurrency: int, warmup: int, rounds: int
) -> dict[str, list[float]]:
    """Every client on one loop; ``rounds`` rounds of one block each: CPU seconds per block."""
    made = {client: await FACTORIES[client](base_url) for client in clients}
    for send, _close in made.values():
        await drive(send, warmup, concurrency)
    gc.collect()
    block = max(1, n // rounds)
    cpu: dict[str, list[float]] = {client: [] for client in clients}
    for round_no in range(rounds):
        shift = round_no % len(clients)
        for client in clients[shift:] + clients[:shift]:
            start = time.thread_time()
            tally = await drive(made[client][0], block, concurrency)
            cpu[client].append(time.thread_time() - start)
            if tally.errors:
                raise RuntimeError(f"{client}: {tally.errors} errors, first {tally.first_error}")
    for _send, close in made.values():
        await close()
    return cpu


def worker_main(args: argparse.Namespace) -> None:
    """Entry point of a worker process: print one ``RESULT_MARK`` JSON line."""
    if args.interleave:
        cpu = asyncio.run(
            interleaved_worker(
                args.worker.split(","),
                args.base_url,
                args.n,
                args.concurrency,
                args.warmup,
                args.interleave,
            )
        )
        print(RESULT_MARK + json.dumps(cpu), flush=True)
        return
    profile = cProfile.Profile() if args.profile_out else None
    result = asyncio.run(
        worker(
            args.worker,
            args.base_url,
            args.n,
            args.concurrency,
            args.warmup,
            args.server_pid,
            profile,
        )
    )
    if profile is not None:
        profile.dump_stats(args.profile_out)
    print(RESULT_MARK + json.dumps(result), flush=True)


# -- orchestration ------------------------------------------------------------------------------


def free_port() -> int:
    """A port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def mock_server(latency_ms: float) -> Iterator[tuple[str, int]]:
    """Run ``scillm.testing.serve`` in its own process; yield (base URL, pid)."""
    port = free_port()
    code = f"from scillm.testing import serve; serve(port={port}, latency_s={latency_ms / 1000!r})"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=log)
        try:
            _wait_healthy(f"http://127.0.0.1:{port}/health", proc, log)
            yield f"http://127.0.0.1:{port}/v1", proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Any) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"mock server exited with {proc.returncode}: {log.read()[-2000:]!r}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"mock server not healthy at {url} after {HEALTH_TIMEOUT_S} s")


@functools.cache
def worker_env() -> dict[str, str]:
    """The workers' environment: every module compiled from its source, none read from a .pyc.

    ``.pyc`` files that other processes leave in ``.venv`` and ``src`` (the test suite's
    subprocesses write them) were seen to raise every client's CPU per request by 15-20 % and
    lower the ratios to raw aiohttp by 2-3 %. An empty ``PYTHONPYCACHEPREFIX``, never written to,
    makes every run load the same way.
    """
    empty = tempfile.mkdtemp(prefix="scillm-bench-pycache-")
    atexit.register(os.rmdir, empty)
    return os.environ | {
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPYCACHEPREFIX": empty,
    }


def run_worker(
    client: str,
    base_url: str,
    server_pid: int,
    args: argparse.Namespace,
    profile_out: Path | None = None,
) -> WorkerResult:
    """Run one fresh worker process and parse its result line."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        client,
        "--base-url",
        base_url,
        "--n",
        str(args.n),
        "--concurrency",
        str(args.concurrency),
        "--warmup",
        str(args.warmup),
        "--server-pid",
        str(server_pid),
    ]
    if profile_out is not None:
        cmd += ["--profile-out", str(profile_out)]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S, env=worker_env(), check=False
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result: WorkerResult = json.loads(line[len(RESULT_MARK) :])
            return result
    raise RuntimeError(
        f"worker {client} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n"
        f"{proc.stderr[-4000:]}"
    )


def import_wall_s(statement: str, runs: int) -> list[float]:
    """Wall seconds of ``python -c statement`` in ``runs`` fresh interpreters."""
    env = os.environ | {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", statement], check=True, env=env)
        times.append(time.perf_counter() - t0)
    return times


def summarize(runs: list[WorkerResult]) -> dict[str, Any]:
    """Median and range of one (client, latency) cell."""

    def stat(key: str) -> dict[str, float]:
        values = [float(run[key]) for run in runs]  # type: ignore[literal-required]
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    server = [r["server_cpu_ms_per_req"] for r in runs if r["server_cpu_ms_per_req"] is not None]
    return {
        "cpu_ms_per_req": stat("cpu_ms_per_req"),
        "req_per_s": stat("req_per_s"),
        "setup_s": stat("setup_s"),
        "max_rss_mib": stat("max_rss_mib"),
        "server_cpu_ms_per_req": statistics.median(server) if server else None,
        "errors": sum(r["errors"] for r in runs),
        "empty_replies": sum(r["empty_replies"] for r in runs),
        "runs": runs,
    }


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Every (latency, repeat, client) run, then the import timings."""
    started = time.perf_counter()
    info = machine_info(PACKAGES, MACHINE_NOTE)
    cells: dict[str, dict[str, list[WorkerResult]]] = {}
    for latency in args.latencies:
        key = f"{latency:g}ms"
        cells[key] = {client: [] for client in args.clients}
        with mock_server(latency) as (base_url, pid):
            for repeat in range(args.repeats):
                for client in args.clients:
                    result = run_worker(client, base_url, pid, args)
                    cells[key][client].append(result)
                    print(
                        f"  {key:>6} {client:<8} run {repeat + 1}/{args.repeats}: "
                        f"{result['cpu_ms_per_req']:.3f} ms CPU/req, "
                        f"{result['req_per_s']:.0f} req/s, errors {result['errors']}",
                        file=sys.stderr,
                        flush=True,
                    )
    imports = {
        "python_startup_s": import_wall_s("pass", args.import_runs),
        "scillm_s": import_wall_s("import scillm", args.import_runs),
    }
    if "openai" in args.clients:
        imports["openai_s"] = import_wall_s("import openai", 1)
    if "litellm" in args.clients:
        imports["litellm_s"] = import_wall_s("import litellm", 1)
    info["loadavg_end"] = list(os.getloadavg())
    results = {
        latency: {client: summarize(runs) for client, runs in per_client.items()}
        for latency, per_client in cells.items()
    }
    return {
        "machine": info,
        "parameters": {
            "n": args.n,
            "concurrency": args.concurrency,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "latencies_ms": args.latencies,
            "clients": args.clients,
            "import_runs": args.import_runs,
            "server": "scillm.testing.serve (separate process, 127.0.0.1, echo reply)",
        },
        "results": results,
        "imports": {
            name: {"median": statistics.median(v), "min": min(v), "max": max(v), "runs": v}
            for name, v in imports.items()
        },
        "targets": targets(results, imports),
        "elapsed_s": time.perf_counter() - started,
    }


def targets(results: dict[str, dict[str, Any]], imports: dict[str, list[float]]) -> dict[str, Any]:
    """The targets, per latency where they apply; left out when a client was not run."""
    out: dict[str, Any] = {}
    for latency, cell in results.items():
        scillm = cell.get("scillm")
        if scillm is None:
            continue
        cpu = scillm["cpu_ms_per_req"]["median"]
        out[f"scillm_cpu_ms_{latency}"] = {
            "value": cpu,
            "target": f"<= {TARGET_SCILLM_CPU_MS}",
            "met": cpu <= TARGET_SCILLM_CPU_MS,
        }
        if "router" in cell:
            extra = cell["router"]["cpu_ms_per_req"]["median"] - cpu
            out[f"router_extra_cpu_ms_{latency}"] = {
                "value": extra,
                "target": f"<= {TARGET_ROUTER_EXTRA_CPU_MS}",
                "met": extra <= TARGET_ROUTER_EXTRA_CPU_MS,
            }
        raw = cell.get("raw")
        for client, limit in TARGET_OVER_RAW.items():
            if raw is None or client not in cell:
                continue
            over = cell[client]["cpu_ms_per_req"]["median"] / raw["cpu_ms_per_req"]["median"]
            out[f"{client}_over_raw_{latency}"] = {
                "value": over,
                "target": f"<= {limit}",
                "met": over <= limit,
            }
        if "litellm" in cell:
            ratio = cell["litellm"]["cpu_ms_per_req"]["median"] / cpu
            out[f"litellm_over_scillm_{latency}"] = {
                "value": ratio,
                "target": f">= {TARGET_LITELLM_RATIO}",
                "met": ratio >= TARGET_LITELLM_RATIO,
            }
    wall = statistics.median(imports["scillm_s"])
    out["import_scillm_s"] = {
        "value": wall,
        "net_of_startup": wall - statistics.median(imports["python_startup_s"]),
        "target": f"<= {TARGET_IMPORT_S}",
        "met": wall <= TARGET_IMPORT_S,
    }
    return out


def print_report(report: dict[str, Any]) -> None:
    """A rich table of the cells, then imports and targets."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 140)
    params, machine = report["parameters"], report["machine"]
    table = Table(
        title=(
            f"client overhead: N={params['n']}, {params['concurrency']} in flight, "
            f"median of {params['repeats']} [min-max]"
        )
    )
    for column in ("client", "latency", "CPU ms/req", "req/s", "CPU ratio vs scillm"):
        table.add_column(column, justify="left" if column == "client" else "right")
    table.add_column("server CPU ms/req", justify="right", style="dim")
    table.add_column("errors", justify="right")
    for latency, cell in report["results"].items():
        base = cell.get("scillm")
        for client, summary in cell.items():
            cpu, rps = summary["cpu_ms_per_req"], summary["req_per_s"]
            ratio = f"{cpu['median'] / base['cpu_ms_per_req']['median']:.2f}x" if base else "-"
            server = summary["server_cpu_ms_per_req"]
            table.add_row(
                client,
                latency,
                f"{cpu['median']:.3f} [{cpu['min']:.3f}-{cpu['max']:.3f}]",
                f"{rps['median']:.0f} [{rps['min']:.0f}-{rps['max']:.0f}]",
                ratio,
                "-" if server is None else f"{server:.3f}",
                str(summary["errors"] + summary["empty_replies"]),
            )
        table.add_section()
    console.print(table)
    imports = report["imports"]
    parts = [f"{name.removesuffix('_s')} {v['median']:.3f} s" for name, v in imports.items()]
    console.print("import wall time (fresh interpreter, median): " + ", ".join(parts))
    for name, target in report["targets"].items():
        mark = "[green]MET[/]" if target["met"] else "[red]NOT MET[/]"
        value = target["value"]
        console.print(f"target {name}: {value:.3f} (want {target['target']}) {mark}")
    console.print(
        f"machine: {machine['cpu_count']} CPUs ({machine['cpu_model']}), "
        f"Python {machine['python']}, load avg {machine['loadavg_start'][0]:.2f} -> "
        f"{machine['loadavg_end'][0]:.2f}. {machine['note']}."
    )
    console.print(f"took {report['elapsed_s']:.0f} s")


def profile_client(args: argparse.Namespace) -> None:
    """Run one client under cProfile at the first latency; print the top functions."""
    text_path = Path(args.out).resolve().parent / f"client_overhead_profile_{args.profile}.txt"
    text_path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp, mock_server(args.latencies[0]) as (base_url, pid):
        stats_path = Path(tmp) / "profile.pstats"
        result = run_worker(args.profile, base_url, pid, args, profile_out=stats_path)
        stats = pstats.Stats(str(stats_path), stream=buffer)
        stats.strip_dirs().sort_stats("tottime").print_stats(args.profile_top)
        stats.sort_stats("cumulative").print_stats(args.profile_top)
    header = (
        f"{args.profile}: {result['cpu_ms_per_req']:.3f} ms CPU/req under cProfile "
        f"(profiling inflates this), N={args.n}, {args.concurrency} in flight, "
        f"latency {args.latencies[0]:g} ms\n"
    )
    text_path.write_text(header + buffer.getvalue())
    print(header + buffer.getvalue())
    print(f"profile: {text_path}")


def run_interleaved(args: argparse.Namespace) -> dict[str, Any]:
    """One interleaved worker per latency; each client's per-round CPU ratio to raw's."""
    info = machine_info(PACKAGES, MACHINE_NOTE)
    results: dict[str, Any] = {}
    for latency in args.latencies:
        with mock_server(latency) as (base_url, _pid):
            cmd = [sys.executable, str(Path(__file__).resolve())]
            cmd += ["--worker", ",".join(args.clients), "--base-url", base_url]
            cmd += ["--n", str(args.n), "--warmup", str(args.warmup)]
            cmd += ["--concurrency", str(args.concurrency), "--interleave", str(args.interleave)]
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=WORKER_TIMEOUT_S,
                env=worker_env(),
                check=False,
            )
        lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_MARK)]
        if not lines:
            raise RuntimeError(f"interleaved worker failed:\n{proc.stderr[-4000:]}")
        cpu: dict[str, list[float]] = json.loads(lines[-1][len(RESULT_MARK) :])
        block = args.n // args.interleave
        cell: dict[str, Any] = {}
        for client, blocks in cpu.items():
            ratios = [c / r for c, r in zip(blocks, cpu["raw"], strict=True)]
            cell[client] = {
                "cpu_ms_per_req": statistics.median(blocks) * 1000 / block,
                "over_raw": statistics.median(ratios),
                "over_raw_quartiles": statistics.quantiles(ratios, n=4),
                "block_cpu_s": blocks,
            }
        results[f"{latency:g}ms"] = cell
    info["loadavg_end"] = list(os.getloadavg())
    return {
        "machine": info,
        "parameters": {
            "n": args.n,
            "rounds": args.interleave,
            "concurrency": args.concurrency,
            "latencies_ms": args.latencies,
            "clients": args.clients,
        },
        "results": results,
    }


def print_interleaved(report: dict[str, Any]) -> None:
    """One line per (latency, client): CPU/request and the median ratio to raw."""
    params, machine = report["parameters"], report["machine"]
    print(
        f"interleaved: N={params['n']} per client in {params['rounds']} rounds, "
        f"{params['concurrency']} in flight, load avg {machine['loadavg_start'][0]:.2f} -> "
        f"{machine['loadavg_end'][0]:.2f}"
    )
    for latency, cell in report["results"].items():
        for client, row in cell.items():
            low, _mid, high = row["over_raw_quartiles"]
            target = TARGET_OVER_RAW.get(client)
            verdict = "" if target is None else f" (want <= {target}: "
            if target is not None:
                verdict += "MET)" if row["over_raw"] <= target else "NOT MET)"
            print(
                f"  {latency:>6} {client:<8} {row['cpu_ms_per_req']:.3f} ms CPU/req, "
                f"{row['over_raw']:.3f}x raw [quartiles {low:.3f}-{high:.3f}]{verdict}"
            )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (``--worker`` and friends are internal)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument(
        "--n", type=int, default=None, help="timed requests per run (2000; interleaved 20000)"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--latencies", default="0,50", help="server latencies in ms, comma-sep")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated clients")
    parser.add_argument("--repeats", type=int, default=None, help="runs per cell (3)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up requests (100)")
    parser.add_argument("--import-runs", type=int, default=None, help="import timings (10)")
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="JSON result path")
    parser.add_argument("--profile", choices=CLIENTS, help="cProfile one client instead")
    parser.add_argument("--profile-top", type=int, default=30, help="functions to list")
    parser.add_argument(
        "--interleave", type=int, default=0, help="rounds of one in-process run (see above)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    args.n = args.n or (200 if quick else 20000 if args.interleave else 2000)
    args.repeats = args.repeats or (1 if quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (20 if quick else 100)
    args.import_runs = args.import_runs or (3 if quick else 10)
    unusable = "raw" not in str(args.clients).split(",") or args.interleave < 2
    if args.interleave and args.worker is None and unusable:
        parser.error("--interleave needs raw among --clients and at least 2 rounds")
    if args.worker is None:
        args.latencies = [float(v) for v in str(args.latencies).split(",") if v.strip()]
        args.clients = [c.strip() for c in str(args.clients).split(",") if c.strip()]
        unknown = set(args.clients) - set(CLIENTS)
        if unknown:
            parser.error(f"unknown client(s) {sorted(unknown)}; choose from {', '.join(CLIENTS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (or a worker, or a profile) as the options say."""
    args = parse_args(argv)
    if args.worker is not None:
        worker_main(args)
        return
    if args.profile is not None:
        profile_client(args)
        return
    if args.interleave:
        report = run_interleaved(args)
        out = Path(args.out).with_name("client_overhead_interleaved.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print_interleaved(report)
        print(f"results: {out}")
        return
    print(
        f"client overhead: clients {args.clients}, latencies {args.latencies} ms, "
        f"N={args.n}, {args.concurrency} in flight, {args.repeats} repeats, "
        f"{os.cpu_count()} CPUs (shared machine: other jobs may be running)",
        file=sys.stderr,
        flush=True,
    )
    report = run_bench(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print_report(report)
    print(f"results: {out}")


if __name__ == "__main__":
    main()
