"""Batch scale: a million rows through ``run_batch`` and ``scillm batch``: rows/s and peak RSS.

    cd /work/main && uv run python bench/batch_scale.py                  # full: 1,000,000 rows/mode
    uv run python bench/batch_scale.py --rows 20000                      # a quick run
    uv run python bench/batch_scale.py --modes run_batch --concurrency 32

Each mode runs in a fresh interpreter against the project's mock OpenAI-compatible server
(``scillm.testing.serve``, its own process, 0 ms latency, reply "ok") on 127.0.0.1:

* ``run_batch``: a generator of N items → ``run_batch`` with ``fn`` = ``scillm.acompletion``;
* ``cli``: an N-line JSONL file → ``python -m scillm batch IN -o OUT -m openai/mock``.

Then the same run is repeated over its finished output (``resume``: every row skipped).
Peak RSS is the child's ``ru_maxrss`` (``os.wait4``); RSS is also sampled every second with the
rows written so far, to show it stays flat. Targets: peak RSS <= 300 MB, RSS growth after the
first 10 % of rows <= 64 MB (the compact id sets hold ~32 bytes per id), >= 1,000 rows/s.
Results go to ``bench/results/batch_scale.json`` (``--out``) and a table is printed. Numbers come
from a shared 2-core machine that also runs the mock server: each result records the load and
the client's own CPU time per row, which load does not inflate.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.metadata
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from scillm.progress import track

MODES = ("run_batch", "cli")
DEFAULT_ROWS = 1_000_000
DEFAULT_CONCURRENCY = 12
TARGET_PEAK_RSS_MB = 300.0
TARGET_RSS_GROWTH_MB = 64.0
TARGET_ROWS_PER_S = 1000.0
SAMPLE_EVERY_S = 1.0
RESULT_MARK = "BENCH-RESULT "
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "batch_scale.json"
PACKAGES = ("scillm", "aiohttp", "orjson", "rich", "typer")


# -- the worker: run_batch in a fresh interpreter ---------------------------------------------


def worker(rows: int, base_url: str, out: str, concurrency: int) -> None:
    """Run ``rows`` generated items through ``run_batch``; print the summary as one JSON line."""
    import scillm
    from scillm.batch import run_batch

    messages = [{"role": "user", "content": "Say ok."}]

    async def ask(item: dict[str, Any]) -> str:
        reply = await scillm.acompletion("openai/mock", messages, api_base=base_url, api_key="k")
        return str(reply.choices[0].message.content)

    items = ({"id": i} for i in range(rows))
    summary = asyncio.run(
        run_batch(items, "id", ask, out, max_concurrency=concurrency, progress=False)
    )
    print(RESULT_MARK + json.dumps(summary.as_dict()), flush=True)


# -- the parent: server, children, sampling ---------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server() -> tuple[subprocess.Popen[bytes], str]:
    """The mock server in its own process; returns it and its base URL once it answers."""
    port = _free_port()
    code = f"from scillm.testing import serve; serve({port}, reply='ok')"
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the mock server did not start") from None
            time.sleep(0.1)


def write_input(path: Path, rows: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(rows):
            f.write(f'{{"id": {i}, "prompt": "Say ok."}}\n')


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run_child(cmd: list[str], out: Path) -> dict[str, Any]:
    """Run ``cmd`` to the end, sampling its RSS and the size of ``out`` every second."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    samples: list[tuple[float, float, int]] = []
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        rss = _rss_mb(proc.pid)
        if rss is not None:
            size = out.stat().st_size if out.exists() else 0
            samples.append((round(time.monotonic() - started, 1), round(rss, 1), size))
        time.sleep(SAMPLE_EVERY_S)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = proc.communicate()
    return {
        "returncode": proc.returncode,
        "wall_s": time.monotonic() - started,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "samples": samples,
        "stdout": stdout.decode(errors="replace"),
        "stderr": stderr.decode(errors="replace")[-2000:],
    }


def _summary_of(mode: str, child: dict[str, Any], out: Path) -> dict[str, Any]:
    if child["returncode"] != 0:
        raise RuntimeError(f"{mode} exited {child['returncode']}:\n{child['stderr']}")
    if mode == "run_batch":
        line = next(x for x in child["stdout"].splitlines() if x.startswith(RESULT_MARK))
        return dict(json.loads(line[len(RESULT_MARK) :]))
    return dict(json.loads(Path(f"{out}.summary.json").read_text()))


def _flatness(samples: list[tuple[float, float, int]], rows: int, size: int) -> dict[str, Any]:
    """RSS against rows written (estimated from the output's size), and its growth."""
    per_row = size / rows if rows else 1
    points = [(t, rss, int(s / per_row)) for t, rss, s in samples]
    after = [rss for _, rss, done in points if done >= rows * 0.1]
    growth = max(after) - after[0] if after else None
    return {
        "rss_at_10pct_mb": after[0] if after else None,
        "rss_max_sampled_mb": max(after) if after else None,
        "rss_growth_after_10pct_mb": growth,
        "samples_t_rss_rows": points[:: max(1, len(points) // 60)],
    }


def measure(mode: str, rows: int, base_url: str, concurrency: int, tmp: Path) -> dict[str, Any]:
    out = tmp / f"{mode}.jsonl"
    if mode == "run_batch":
        cmd = [sys.executable, __file__, "--worker", "--rows", str(rows), "--base-url", base_url]
        cmd += ["--worker-out", str(out), "--concurrency", str(concurrency)]
    else:
        source = tmp / "in.jsonl"
        write_input(source, rows)
        cmd = [sys.executable, "-m", "scillm", "batch", str(source), "-o", str(out)]
        cmd += ["-m", "openai/mock", "-c", str(concurrency), "--no-progress"]
    os.environ.update(OPENAI_BASE_URL=base_url, OPENAI_API_KEY="k")
    print(f"[{mode}] {rows:,} rows ...", file=sys.stderr, flush=True)
    load_start = os.getloadavg()[0]
    first = run_child(cmd, out)
    summary = _summary_of(mode, first, out)
    size = out.stat().st_size
    print(f"[{mode}] resume over the finished output ...", file=sys.stderr, flush=True)
    again = run_child(cmd, out)
    resumed = _summary_of(mode, again, out)
    result = {
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "loadavg_1m_start_end": [load_start, os.getloadavg()[0]],
        "rows": rows,
        "processed": summary["processed"],
        "failed": summary["failed"],
        "elapsed_s": summary["elapsed_s"],
        "rows_per_s": summary["rows_per_s"],
        "wall_s": round(first["wall_s"], 1),
        "cpu_s": round(first["cpu_s"], 1),
        "client_cpu_ms_per_row": round(first["cpu_s"] * 1000 / max(summary["processed"], 1), 3),
        "peak_rss_mb": round(first["peak_rss_mb"], 1),
        "output_mb": round(size / 2**20, 1),
        **_flatness(first["samples"], summary["processed"], size),
        "resume": {
            "skipped": resumed["skipped"],
            "processed": resumed["processed"],
            "wall_s": round(again["wall_s"], 1),
            "peak_rss_mb": round(again["peak_rss_mb"], 1),
        },
    }
    out.unlink()
    return result


def _machine() -> dict[str, Any]:
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": packages,
        "loadavg_start": list(os.getloadavg()),
        "note": "shared 2-core machine; the mock server runs on the same cores",
    }


def _verdicts(result: dict[str, Any]) -> dict[str, bool]:
    growth = result["rss_growth_after_10pct_mb"]
    return {
        "peak_rss_ok": result["peak_rss_mb"] <= TARGET_PEAK_RSS_MB,
        "rss_flat_ok": growth is not None and growth <= TARGET_RSS_GROWTH_MB,
        "rows_per_s_ok": result["rows_per_s"] >= TARGET_ROWS_PER_S,
        "no_failed_rows": result["failed"] == 0 and result["processed"] == result["rows"],
        "resume_skips_all": result["resume"]["skipped"] == result["rows"],
    }


def _parameters(rows: int, concurrency: int) -> dict[str, Any]:
    return {
        "rows": rows,
        "concurrency": concurrency,
        "server": "scillm.testing.serve (own process, 127.0.0.1, 0 ms latency, reply 'ok')",
        "fsync": "group commit: every written group of rows is fsync'ed",
    }


def print_table(results: dict[str, dict[str, Any]]) -> None:
    head = f"{'mode':<10} {'rows':>10} {'rows/s':>8} {'CPU ms/row':>10} {'peak RSS':>9}"
    head += f" {'RSS growth':>11} {'resume s':>9} {'resume RSS':>11} {'load':>5}  targets"
    print(head)
    for mode, r in results.items():
        growth = r["rss_growth_after_10pct_mb"]
        ok = all(r["verdicts"].values())
        load = max(r["loadavg_1m_start_end"])
        print(
            f"{mode:<10} {r['rows']:>10,} {r['rows_per_s']:>8,.0f}"
            f" {r['client_cpu_ms_per_row']:>10.3f} {r['peak_rss_mb']:>6.0f} MB"
            f" {'n/a' if growth is None else f'{growth:.0f} MB':>11} {r['resume']['wall_s']:>9.1f}"
            f" {r['resume']['peak_rss_mb']:>8.0f} MB {load:>5.1f}  {'met' if ok else 'MISSED'}"
        )
    print(
        f"targets: peak RSS <= {TARGET_PEAK_RSS_MB:.0f} MB, growth after 10 % of rows <= "
        f"{TARGET_RSS_GROWTH_MB:.0f} MB, >= {TARGET_ROWS_PER_S:,.0f} rows/s; load = the highest "
        "1-minute load average seen (2 cores)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.rows, args.base_url, args.worker_out, args.concurrency)
        return
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes {sorted(unknown)}; choose from {MODES}")
    machine = _machine()
    server, base_url = start_server()
    results: dict[str, dict[str, Any]] = {}
    try:
        with (
            tempfile.TemporaryDirectory(prefix="scillm-batch-scale-") as tmp,
            track("batch scale", len(modes), unit="modes") as shown,
        ):
            for mode in modes:
                result = measure(mode, args.rows, base_url, args.concurrency, Path(tmp))
                result["verdicts"] = _verdicts(result)
                results[mode] = result
                shown.advance()
    finally:
        server.terminate()
        server.wait(timeout=10)
    machine["loadavg_end"] = list(os.getloadavg())
    report = {
        "machine": machine,
        "parameters": _parameters(args.rows, args.concurrency),
        "targets": {
            "peak_rss_mb": TARGET_PEAK_RSS_MB,
            "rss_growth_after_10pct_mb": TARGET_RSS_GROWTH_MB,
            "rows_per_s": TARGET_ROWS_PER_S,
        },
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(results)
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
