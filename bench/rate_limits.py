"""Rate-limit saturation: scillm's Router vs litellm.Router vs the openai SDK on a limited mock.

    cd /work/main && uv run python bench/rate_limits.py            # full run (~16 min)
    uv run python bench/rate_limits.py --quick                     # smoke run (~3 min)
    uv run python bench/rate_limits.py --clients scillm,openai --n 1000 --rpm 600

Every client sends ``--n`` chat completions (``--concurrency`` in flight, 64) to the project's
mock OpenAI-compatible server (``scillm.testing.MockLLMServer``) with a rate limit: ``--rpm``
requests and ``--tpm`` tokens per minute (defaults 1200 and 200k), enforced over a sliding window
of ``--window-s`` seconds (60; the server admits ``rpm * window_s / 60`` requests per window),
``--latency-ms`` ± ``--jitter-ms`` (200 ± 50) before each reply. Over a limit the server answers
429 with ``Retry-After``/``retry-after-ms`` and OpenAI-style ``x-ratelimit-*`` headers (also on
every 200). The server runs in its own process on 127.0.0.1 and a fresh one is started for each
client, so windows never leak between runs; it prints its own counters (requests, 429s and which
window refused them) when its stdin closes. Each client runs in a fresh interpreter.

Clients:

* ``scillm``: ``Router.parallel_acompletions(max_concurrency=64)``, short retry profile, the
  deployment given no rpm/tpm: it must find the limit from 429s and ``x-ratelimit-*`` headers;
* ``scillm-long``: the same with ``retry_enabled=True`` (the long-run retry profile);
* ``scillm-paced``: ``rpm``/``tpm`` in ``litellm_params`` (proactive pacing);
* ``litellm``: ``litellm.Router`` with its defaults, ``asyncio.gather`` behind a Semaphore(64);
* ``openai``: ``AsyncOpenAI`` with its default retries (2), behind a Semaphore(64).

Each request is ``--prompt-words`` words (50) with ``max_tokens=--max-tokens`` (100); the mock
counts a token per word and echoes the prompt, so a request costs ~2 x 50 = 100 tokens: 120k
tokens/min at the full 1200 RPM, so the RPM limit binds.

Every HTTP attempt is logged client-side with its logical call (an ``x-bench-call`` header):
scillm's transport function ``scillm._http.post_json`` is wrapped in the worker; litellm and
openai get an httpx client with event hooks (litellm via ``litellm.aclient_session`` around
litellm's own default transport; openai via ``openai.DefaultAsyncHttpxClient``, the SDK's
default client). Measured per client:

* throughput: successes per minute of wall time (first send to last reply) as % of ``--rpm``,
  and tokens per minute (from the replies' ``usage``) as % of ``--tpm``; the larger is the
  binding one. A sliding window that starts empty admits a full window at once, so a client that
  bursts can exceed 100 % on a short run: ``ceiling_pct`` is what an oracle reaches (the n-th
  request admitted at ``floor((n-1)/per_window) * window_s``, plus latency); a client pacing
  evenly at exactly the limit scores 100 %;
* 429 share: the server's own count / its chat requests (and the client-side count);
* attempts per success (HTTP attempts / successful calls), failures, wall time;
* Retry-After compliance: of the retries that followed a 429 carrying ``Retry-After``, the % whose
  next request of the same call left at least that long after the 429 arrived (HTTP log, 1 ms
  tolerance for the header's millisecond rounding; all clients). For scillm also from the
  ``on_attempt`` payloads: ``next_sleep_s >= retry_after_s``.

Targets (issue 4) for scillm: >= 95 % of the allowed rate, <= 1 % 429s, <= 1.05 attempts per
success, 100 % Retry-After compliance (met trivially when nothing was retried).

``--quick``: n=300 at 600 RPM / 100k TPM over a 10 s window (100 requests per window), same
latency: the same limits per unit of time, six times faster windows (~3 min in all).
Results go to ``bench/results/rate_limits.json`` (``--out``) and a rich table is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from _machine import machine_info  # bench/ is on sys.path when a script runs

from scillm.progress import track

CLIENTS = ("scillm", "scillm-long", "scillm-paced", "litellm", "openai")
LABELS = {
    "scillm": "scillm Router (short profile, no rpm)",
    "scillm-long": "scillm Router (retry_enabled=True)",
    "scillm-paced": "scillm Router (rpm/tpm given)",
    "litellm": "litellm.Router (defaults)",
    "openai": "openai AsyncOpenAI (default retries)",
}
SCILLM_CLIENTS = frozenset({"scillm", "scillm-long", "scillm-paced"})
MODEL = "mock-model"
API_KEY = "k"
CALL_HEADER = "x-bench-call"
RESULT_MARK = "BENCH-RESULT "
SERVER_MARK = "SERVER-STATS "
FILLER_TEXT = (
    "the quick brown fox jumps over a lazy dog while seven curious otters count shiny "
    "pebbles along quiet river banks under pale morning light"
)
FILLER = FILLER_TEXT.split()

TARGET_RATE_PCT = 95.0
TARGET_429_PCT = 1.0
TARGET_ATTEMPTS_PER_SUCCESS = 1.05
TARGET_RA_COMPLIANCE_PCT = 100.0
RA_TOLERANCE_S = 0.001

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "rate_limits.json"
WORKER_TIMEOUT_S = 1800.0
HEALTH_TIMEOUT_S = 30.0
MACHINE_NOTE = "shared machine; the mock server runs in its own process on the same cores"
PACKAGES = ("scillm", "aiohttp", "openai", "httpx", "httpx2", "litellm", "rich")

# The rate-limited mock in its own process. It prints its counters when stdin closes (or on
# SIGTERM); the limiter's ``admit`` is wrapped to count which window refused each 429.
SERVER_CODE = """
import json, signal, sys, threading
from scillm.testing import MockLLMServer, RateLimit

done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())

def _watch_stdin():
    sys.stdin.read()
    done.set()

threading.Thread(target=_watch_stdin, daemon=True).start()
srv = MockLLMServer(
    port={port},
    latency_s={latency_s!r},
    latency_jitter_s={jitter_s!r},
    rate_limit=RateLimit(rpm={rpm_window}, tpm={tpm_window}, window_s={window_s!r}),
)
refused = {{}}
limiter = getattr(srv, "_limiter", None)
if limiter is not None:
    _admit = limiter.admit

    def _counting_admit(prompt_tokens, now):
        out = _admit(prompt_tokens, now)
        if out is not None:
            refused[out[0]] = refused.get(out[0], 0) + 1
        return out

    limiter.admit = _counting_admit
with srv:
    while not done.wait(0.5):
        pass
    log = srv.requests
stats = srv.stats
chat = [r for r in log if r.path.endswith("/chat/completions")]
print("{mark}" + json.dumps({{
    "requests": stats.requests,
    "chat_requests": len(chat),
    "rate_limited": stats.rate_limited,
    "refused_by_window": refused,
    "first_chat_at": min((r.received_at for r in chat), default=None),
    "last_chat_at": max((r.received_at for r in chat), default=None),
}}), flush=True)
"""


# -- the HTTP attempt log (worker side) -----------------------------------------------------------


@dataclass(slots=True)
class Attempt:
    """One HTTP attempt of one logical call, as the client's transport saw it."""

    call: int
    sent: float
    received: float | None = None
    status: int | None = None
    retry_after_s: float | None = None


@dataclass
class Recorder:
    """Every attempt in send order; a call has at most one attempt in flight at a time."""

    attempts: list[Attempt] = field(default_factory=list)
    open: dict[int, Attempt] = field(default_factory=dict)
    retry_events: list[dict[str, Any]] = field(default_factory=list)

    def start(self, call: int) -> Attempt:
        attempt = Attempt(call, time.monotonic())
        self.attempts.append(attempt)
        self.open[call] = attempt
        return attempt

    def finish(self, call: int, status: int | None, headers: Mapping[str, str]) -> None:
        attempt = self.open.pop(call, None)
        if attempt is None:
            return
        attempt.received = time.monotonic()
        attempt.status = status
        attempt.retry_after_s = retry_after_of(headers)

    def on_attempt(self, payload: dict[str, Any]) -> None:
        """scillm's ``on_attempt`` callback."""
        self.retry_events.append(payload)


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    """The server's requested wait (``retry-after-ms`` first, then ``Retry-After`` seconds)."""
    lowered = {k.lower(): v for k, v in headers.items() if k.lower().startswith("retry-after")}
    try:
        if "retry-after-ms" in lowered:
            return float(lowered["retry-after-ms"]) / 1000.0
        if "retry-after" in lowered:
            return float(lowered["retry-after"])
    except ValueError:
        return None
    return None


def call_of(headers: Mapping[str, str]) -> int:
    try:
        return int(headers.get(CALL_HEADER, "-1"))
    except ValueError:
        return -1


def httpx_hooks(rec: Recorder) -> dict[str, list[Callable[[Any], Awaitable[None]]]]:
    """Event hooks for an httpx (or httpx2) AsyncClient that feed ``rec``."""

    async def on_request(request: Any) -> None:
        rec.start(call_of(request.headers))

    async def on_response(response: Any) -> None:
        rec.finish(call_of(response.request.headers), response.status_code, response.headers)

    return {"request": [on_request], "response": [on_response]}


# -- the five clients (imported inside the worker only) ---------------------------------------


@dataclass(slots=True)
class Outcome:
    """What one logical call ended with."""

    ok: bool
    tokens: int = 0
    error: str | None = None


def prompt_for(index: int, words: int) -> str:
    """A unique prompt of exactly ``words`` whitespace-separated words."""
    head = ["request", str(index)]
    body = [FILLER[i % len(FILLER)] for i in range(max(0, words - len(head)))]
    return " ".join((head + body)[: max(words, 1)])


def messages_for(index: int, cfg: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt_for(index, int(cfg["prompt_words"]))}]


async def run_scillm(cfg: Mapping[str, Any], rec: Recorder) -> tuple[list[Outcome], dict[str, Any]]:
    """scillm's Router over one deployment: fan-out with ``parallel_acompletions``."""
    from scillm import Router, _http
    from scillm.errors import APIError
    from scillm.router.pacing import estimate_tokens

    client = cfg["client"]
    original = _http.post_json

    async def logged_post_json(
        endpoint: _http.Endpoint, body: Mapping[str, Any], *, timeout: float | None, model: str
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        call = call_of(endpoint.headers)
        rec.start(call)
        try:
            data, headers = await original(endpoint, body, timeout=timeout, model=model)
        except APIError as exc:
            rec.finish(call, exc.status_code, exc.headers)
            raise
        except BaseException:
            rec.finish(call, None, {})
            raise
        rec.finish(call, 200, headers)
        return data, headers

    _http.post_json = logged_post_json
    params: dict[str, Any] = {"model": f"openai/{MODEL}", "api_base": cfg["base_url"]}
    params["api_key"] = API_KEY
    if client == "scillm-paced":
        params |= {"rpm": cfg["rpm"], "tpm": cfg["tpm"]}
    router = Router([{"model_name": "bench", "litellm_params": params}])
    extra: dict[str, Any] = {"on_attempt": rec.on_attempt}
    if client == "scillm-long":
        extra["retry_enabled"] = True
    requests = [
        {
            "model": "bench",
            "messages": messages_for(i, cfg),
            "max_tokens": cfg["max_tokens"],
            "extra_headers": {CALL_HEADER: str(i)},
            **extra,
        }
        for i in range(cfg["n"])
    ]
    results = await router.parallel_acompletions(requests, max_concurrency=cfg["concurrency"])
    outcomes: list[Outcome] = []
    meta_attempts = 0
    queue_ms: list[float] = []
    for result in results:
        meta = result.meta
        meta_attempts += int((meta.get("retries") or {}).get("attempts") or 0)
        queue_ms.append(float(meta.get("queue_ms") or 0.0))
        if result.ok:
            usage = result.get("usage") or {}
            outcomes.append(Outcome(True, int(usage.get("total_tokens") or 0)))
        else:
            outcomes.append(Outcome(False, error=str(meta.get("exception"))[:300]))
    pacer = router._pipeline.groups["bench"][0].pacer
    sample = estimate_tokens(messages_for(0, cfg), {"max_tokens": cfg["max_tokens"]})
    extras = {
        "estimated_tokens_per_request": sample,
        "meta_attempts": meta_attempts,
        "queue_ms_mean": statistics.fmean(queue_ms) if queue_ms else None,
        "queue_ms_max": max(queue_ms, default=None),
        "pacer": {
            "rate_limited": pacer.rate_limited,
            "final_concurrency_limit": None if math.isinf(pacer.limit) else pacer.limit,
            "rpm": pacer.rpm,
            "tpm": pacer.tpm,
        },
    }
    await router.aclose()
    return outcomes, extras


async def gather_limited(
    n: int, concurrency: int, one: Callable[[int], Awaitable[Outcome]]
) -> list[Outcome]:
    """``asyncio.gather`` over all calls behind an ``asyncio.Semaphore``."""
    sem = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> Outcome:
        async with sem:
            try:
                return await one(i)
            except Exception as exc:
                return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:300])

    return list(await asyncio.gather(*(guarded(i) for i in range(n))))


async def run_litellm(
    cfg: Mapping[str, Any], rec: Recorder
) -> tuple[list[Outcome], dict[str, Any]]:
    """``litellm.Router`` with its defaults; litellm's own transport inside a hooked client."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import httpx
    import litellm
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler
    from litellm.router import Router

    litellm.suppress_debug_info = True
    transport = AsyncHTTPHandler.create_async_transport()
    litellm.aclient_session = httpx.AsyncClient(
        transport=transport, event_hooks=httpx_hooks(rec), timeout=600.0
    )
    params = {"model": f"openai/{MODEL}", "api_base": cfg["base_url"], "api_key": API_KEY}
    router = Router(model_list=[{"model_name": "bench", "litellm_params": params}])

    async def one(i: int) -> Outcome:
        resp: Any = await router.acompletion(
            model="bench",
            messages=messages_for(i, cfg),
            max_tokens=cfg["max_tokens"],
            extra_headers={CALL_HEADER: str(i)},
        )
        usage = getattr(resp, "usage", None)
        return Outcome(True, int(getattr(usage, "total_tokens", 0) or 0))

    outcomes = await gather_limited(cfg["n"], cfg["concurrency"], one)
    extras = {"num_retries": getattr(router, "num_retries", None)}
    await litellm.aclient_session.aclose()
    return outcomes, extras


async def run_openai(cfg: Mapping[str, Any], rec: Recorder) -> tuple[list[Outcome], dict[str, Any]]:
    """The official SDK with its default retries, on its default client plus event hooks."""
    import openai

    http_client = openai.DefaultAsyncHttpxClient(event_hooks=httpx_hooks(rec))
    client = openai.AsyncOpenAI(base_url=cfg["base_url"], api_key=API_KEY, http_client=http_client)

    async def one(i: int) -> Outcome:
        resp = await client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": prompt_for(i, int(cfg["prompt_words"]))}],
            max_tokens=cfg["max_tokens"],
            extra_headers={CALL_HEADER: str(i)},
        )
        return Outcome(True, resp.usage.total_tokens if resp.usage else 0)

    outcomes = await gather_limited(cfg["n"], cfg["concurrency"], one)
    extras = {"max_retries": client.max_retries}
    await client.close()
    return outcomes, extras


RUNNERS: dict[
    str, Callable[[Mapping[str, Any], Recorder], Awaitable[tuple[list[Outcome], dict[str, Any]]]]
] = {
    "scillm": run_scillm,
    "scillm-long": run_scillm,
    "scillm-paced": run_scillm,
    "litellm": run_litellm,
    "openai": run_openai,
}


# -- analysis -----------------------------------------------------------------------------------


def pct(part: float, whole: float) -> float | None:
    return None if whole == 0 else 100.0 * part / whole


def ceiling_wall_s(n: int, per_window: float, window_s: float, latency_s: float) -> float:
    """The least wall time any client needs for ``n`` admissions in a fresh sliding window."""
    return math.floor((n - 1) / max(per_window, 1.0)) * window_s + latency_s


def retry_after_compliance(rec: Recorder) -> dict[str, Any]:
    """Gaps between each 429 and the next attempt of the same call, against its Retry-After."""
    by_call: dict[int, list[Attempt]] = {}
    for attempt in rec.attempts:
        by_call.setdefault(attempt.call, []).append(attempt)
    gaps: list[float] = []
    slack: list[float] = []
    not_retried = 0
    for attempts in by_call.values():
        for prev, nxt in zip(attempts, [*attempts[1:], None], strict=True):
            if prev.status != 429 or prev.received is None:
                continue
            if nxt is None:
                not_retried += 1
                continue
            if prev.retry_after_s is None:
                continue
            gap = nxt.sent - prev.received
            gaps.append(gap)
            slack.append(gap - prev.retry_after_s)
    compliant = sum(1 for s in slack if s >= -RA_TOLERANCE_S)
    return {
        "retries_after_429_with_header": len(slack),
        "compliant": compliant,
        "pct": pct(compliant, len(slack)),
        "min_slack_s": min(slack, default=None),
        "median_slack_s": statistics.median(slack) if slack else None,
        "median_gap_s": statistics.median(gaps) if gaps else None,
        "429_not_retried": not_retried,
    }


def callback_compliance(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """scillm's ``on_attempt`` payloads: did each retry plan to sleep at least Retry-After?"""
    with_header = [e for e in events if e.get("retry_after_s") is not None]
    ok = sum(1 for e in with_header if (e.get("next_sleep_s") or 0.0) >= e["retry_after_s"])
    statuses: dict[str, int] = {}
    for event in events:
        key = str(event.get("status_code"))
        statuses[key] = statuses.get(key, 0) + 1
    return {
        "retry_events": len(events),
        "retry_events_by_status": statuses,
        "with_retry_after": len(with_header),
        "compliant": ok,
        "pct": pct(ok, len(with_header)),
    }


def timeline(rec: Recorder, t0: float, bucket_s: float) -> dict[str, Any]:
    """Replies per time bucket since the first send: 200s and 429s."""
    ends = [a.received for a in rec.attempts if a.received is not None]
    buckets = int((max(ends, default=t0) - t0) // bucket_s) + 1
    ok, limited = [0] * buckets, [0] * buckets
    for attempt in rec.attempts:
        if attempt.received is None:
            continue
        index = int((attempt.received - t0) // bucket_s)
        if attempt.status == 200:
            ok[index] += 1
        elif attempt.status == 429:
            limited[index] += 1
    return {"bucket_s": bucket_s, "ok": ok, "429": limited}


def idle_spans(rec: Recorder, t_end: float) -> dict[str, Any]:
    """Stretches with no attempt in flight (a client stalling while the batch is unfinished)."""
    spans = sorted((a.sent, a.received if a.received is not None else t_end) for a in rec.attempts)
    gaps: list[float] = []
    busy_until = spans[0][1] if spans else t_end
    for start, end in spans[1:]:
        if start > busy_until:
            gaps.append(start - busy_until)
        busy_until = max(busy_until, end)
    return {"total_s": sum(gaps), "longest_s": max(gaps, default=0.0), "count": len(gaps)}


def analyze(
    cfg: Mapping[str, Any], rec: Recorder, outcomes: list[Outcome], t0: float, t1: float
) -> dict[str, Any]:
    """Per-client numbers from the outcomes and the HTTP attempt log."""
    n = cfg["n"]
    wall = t1 - t0
    successes = sum(1 for o in outcomes if o.ok)
    tokens = sum(o.tokens for o in outcomes)
    rate_per_min = successes * 60.0 / wall if wall > 0 else 0.0
    tokens_per_min = tokens * 60.0 / wall if wall > 0 else 0.0
    rate_pct = 100.0 * rate_per_min / cfg["rpm"]
    tpm_pct = 100.0 * tokens_per_min / cfg["tpm"]
    statuses: dict[str, int] = {}
    for attempt in rec.attempts:
        key = str(attempt.status)
        statuses[key] = statuses.get(key, 0) + 1
    n429 = statuses.get("429", 0)
    first_reply = min((a.received for a in rec.attempts if a.received is not None), default=t1)
    first_wave_429 = sum(1 for a in rec.attempts if a.status == 429 and a.sent < first_reply)
    first_429 = min(
        (a.received for a in rec.attempts if a.status == 429 and a.received), default=None
    )
    tokens_per_req = tokens / successes if successes else 0.0
    window_s = cfg["window_s"]
    per_window = min(
        cfg["rpm"] * window_s / 60.0,
        math.floor(cfg["tpm"] * window_s / 60.0 / tokens_per_req) if tokens_per_req else math.inf,
    )
    ceiling = ceiling_wall_s(n, per_window, window_s, cfg["latency_s"])
    errors = [o.error for o in outcomes if not o.ok and o.error]
    return {
        "client": cfg["client"],
        "label": LABELS[cfg["client"]],
        "n": n,
        "successes": successes,
        "failures": n - successes,
        "first_error": errors[0] if errors else None,
        "wall_s": wall,
        "rate_per_min": rate_per_min,
        "rate_pct": rate_pct,
        "tokens": tokens,
        "tokens_per_request": tokens_per_req,
        "tokens_per_min": tokens_per_min,
        "tpm_pct": tpm_pct,
        "binding": "rpm" if rate_pct >= tpm_pct else "tpm",
        "binding_pct": max(rate_pct, tpm_pct),
        "ceiling_wall_s": ceiling,
        "ceiling_pct": 100.0 * n * 60.0 / ceiling / cfg["rpm"],
        "attempts": len(rec.attempts),
        "status_counts": statuses,
        "client_429": n429,
        "client_429_pct": pct(n429, len(rec.attempts)),
        "attempts_per_success": len(rec.attempts) / successes if successes else None,
        "first_wave_429": first_wave_429,
        "first_429_at_s": None if first_429 is None else first_429 - t0,
        "retry_after": retry_after_compliance(rec),
        "callbacks": callback_compliance(rec.retry_events)
        if cfg["client"] in SCILLM_CLIENTS
        else None,
        "idle": idle_spans(rec, t1),
        "timeline": timeline(rec, t0, max(window_s / 6.0, 0.5)),
    }


async def worker(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """Run one client's whole batch against the server at ``cfg['base_url']``."""
    rec = Recorder()
    runner = RUNNERS[cfg["client"]]
    # Imports and client setup happen inside the runner; the clock starts at the first send.
    started = time.monotonic()
    outcomes, extras = await runner(cfg, rec)
    t1 = time.monotonic()
    t0 = min((a.sent for a in rec.attempts), default=started)
    result = analyze(cfg, rec, outcomes, t0, t1)
    result["setup_s"] = t0 - started
    result["extras"] = extras
    return result


def worker_main(raw: str) -> None:
    """Entry point of a worker process: print one ``RESULT_MARK`` JSON line."""
    cfg = json.loads(raw)
    result = asyncio.run(worker(cfg))
    print(RESULT_MARK + json.dumps(result), flush=True)


# -- orchestration ------------------------------------------------------------------------------


def free_port() -> int:
    """A port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerRun:
    """A running mock server; ``stats`` is filled in once it has stopped."""

    base_url: str
    pid: int
    stats: dict[str, Any] | None = None


@contextmanager
def mock_server(args: argparse.Namespace) -> Iterator[ServerRun]:
    """A fresh rate-limited mock in its own process; its counters are read when it stops."""
    port = free_port()
    code = SERVER_CODE.format(
        port=port,
        latency_s=args.latency_ms / 1000.0,
        jitter_s=args.jitter_ms / 1000.0,
        rpm_window=per_window(args.rpm, args.window_s),
        tpm_window=per_window(args.tpm, args.window_s),
        window_s=float(args.window_s),
        mark=SERVER_MARK,
    )
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        run = ServerRun(f"http://127.0.0.1:{port}/v1", proc.pid)
        try:
            _wait_healthy(f"http://127.0.0.1:{port}/health", proc, log)
            yield run
        finally:
            try:
                out, _ = proc.communicate(input="", timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            for line in reversed(out.splitlines()):
                if line.startswith(SERVER_MARK):
                    run.stats = json.loads(line[len(SERVER_MARK) :])
                    break


def per_window(per_minute: float, window_s: float) -> int:
    """A per-minute limit as the mock's per-window limit."""
    return max(1, round(per_minute * window_s / 60.0))


def _wait_healthy(url: str, proc: subprocess.Popen[str], log: IO[bytes]) -> None:
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


def run_worker(client: str, base_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """One fresh worker process for ``client``; returns its parsed result."""
    cfg = {
        "client": client,
        "base_url": base_url,
        "n": args.n,
        "concurrency": args.concurrency,
        "rpm": args.rpm,
        "tpm": args.tpm,
        "window_s": float(args.window_s),
        "latency_s": args.latency_ms / 1000.0,
        "prompt_words": args.prompt_words,
        "max_tokens": args.max_tokens,
    }
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(cfg)]
    env = os.environ | {"LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S, env=env, check=False
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
            return result
    raise RuntimeError(
        f"worker {client} failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n"
        f"{proc.stderr[-4000:]}"
    )


def add_server_view(result: dict[str, Any], stats: dict[str, Any] | None) -> None:
    """The server's own 429 count and share, next to the client's."""
    result["server"] = stats
    if stats is None:
        result["server_429_pct"] = None
        return
    result["server_429_pct"] = pct(stats["rate_limited"], stats["chat_requests"])


def targets(result: dict[str, Any]) -> dict[str, Any]:
    """Issue 4's four targets for one client (reported for every client, binding for scillm)."""
    share = result["server_429_pct"]
    if share is None:
        share = result["client_429_pct"]
    aps = result["attempts_per_success"]
    ra = result["retry_after"]["pct"]
    callbacks = result.get("callbacks")
    cb = callbacks["pct"] if callbacks else None
    compliance = [v for v in (ra, cb) if v is not None]
    ra_value = min(compliance) if compliance else None
    return {
        "rate_pct": {
            "value": result["binding_pct"],
            "target": f">= {TARGET_RATE_PCT}",
            "met": result["binding_pct"] >= TARGET_RATE_PCT and result["failures"] == 0,
        },
        "429_pct": {
            "value": share,
            "target": f"<= {TARGET_429_PCT}",
            "met": share is not None and share <= TARGET_429_PCT,
        },
        "attempts_per_success": {
            "value": aps,
            "target": f"<= {TARGET_ATTEMPTS_PER_SUCCESS}",
            "met": aps is not None and aps <= TARGET_ATTEMPTS_PER_SUCCESS,
        },
        "retry_after_compliance_pct": {
            "value": ra_value,
            "target": f"= {TARGET_RA_COMPLIANCE_PCT:g} (vacuous when nothing was retried)",
            "met": ra_value is None or ra_value >= TARGET_RA_COMPLIANCE_PCT,
        },
    }


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    """Each client against its own fresh server, one after the other."""
    started = time.perf_counter()
    info = machine_info(PACKAGES, MACHINE_NOTE)
    results: dict[str, dict[str, Any]] = {}
    with track("rate limits", len(args.clients), unit="clients") as shown:
        for client in args.clients:
            print(f"  {client}: running ...", file=sys.stderr, flush=True)
            with mock_server(args) as server:
                result = run_worker(client, server.base_url, args)
            add_server_view(result, server.stats)
            result["targets"] = targets(result)
            result["targets_apply"] = client in SCILLM_CLIENTS
            results[client] = result
            print(
                f"  {client}: {result['binding_pct']:.1f} % of the {result['binding']} limit, "
                f"429s {_fmt(result['server_429_pct'], '.2f')} %, "
                f"{_fmt(result['attempts_per_success'], '.3f')} attempts/success, "
                f"{result['failures']} failed, {result['wall_s']:.1f} s",
                file=sys.stderr,
                flush=True,
            )
            shown.advance()
    info["loadavg_end"] = list(os.getloadavg())
    scillm = {c: r["targets"] for c, r in results.items() if c in SCILLM_CLIENTS}
    return {
        "machine": info,
        "parameters": {
            "n": args.n,
            "concurrency": args.concurrency,
            "rpm": args.rpm,
            "tpm": args.tpm,
            "window_s": args.window_s,
            "server_limit_per_window": {
                "requests": per_window(args.rpm, args.window_s),
                "tokens": per_window(args.tpm, args.window_s),
            },
            "latency_ms": args.latency_ms,
            "jitter_ms": args.jitter_ms,
            "prompt_words": args.prompt_words,
            "max_tokens": args.max_tokens,
            "quick": args.quick,
            "clients": args.clients,
            "server": (
                "scillm.testing.MockLLMServer(rate_limit=RateLimit(...)), echo reply, own "
                "process on 127.0.0.1, fresh per client"
            ),
            "ra_tolerance_s": RA_TOLERANCE_S,
        },
        "results": results,
        "targets": {
            "definition": {
                "rate_pct": f">= {TARGET_RATE_PCT} (binding limit; no failures)",
                "429_pct": f"<= {TARGET_429_PCT} (server count)",
                "attempts_per_success": f"<= {TARGET_ATTEMPTS_PER_SUCCESS}",
                "retry_after_compliance_pct": f"= {TARGET_RA_COMPLIANCE_PCT:g}",
            },
            "scillm_all_met": all(t["met"] for per in scillm.values() for t in per.values()),
            "scillm": scillm,
        },
        "elapsed_s": time.perf_counter() - started,
    }


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def print_report(report: dict[str, Any]) -> None:
    """A rich table of the clients, with the targets marked for scillm."""
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)
    p = report["parameters"]
    table = Table(
        title=(
            f"rate limits: N={p['n']}, {p['rpm']} RPM / {p['tpm']} TPM over a {p['window_s']:g} s "
            f"sliding window, {p['latency_ms']:g}±{p['jitter_ms']:g} ms, {p['concurrency']} in "
            "flight"
        )
    )
    columns = (
        "client",
        "% RPM",
        "% TPM",
        "ceiling %",
        "429s % (server)",
        "429s (client)",
        "attempts/success",
        "Retry-After kept",
        "wall s",
        "failed",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "client" else "right")

    def mark(result: dict[str, Any], key: str, text: str) -> str:
        if not result["targets_apply"]:
            return text
        return f"[green]{text}[/]" if result["targets"][key]["met"] else f"[red]{text}[/]"

    for result in report["results"].values():
        ra = result["retry_after"]
        ra_text = (
            "n/a (no retry)"
            if ra["pct"] is None
            else f"{ra['pct']:.1f} % of {ra['retries_after_429_with_header']}"
        )
        cb = result.get("callbacks")
        if cb and cb["pct"] is not None:
            ra_text += f" (cb {cb['pct']:.0f} %)"
        rate = f"{result['rate_pct']:.1f}"
        tpm = f"{result['tpm_pct']:.1f}"
        if result["binding"] == "rpm":
            rate = mark(result, "rate_pct", rate)
        else:
            tpm = mark(result, "rate_pct", tpm)
        table.add_row(
            result["label"],
            rate,
            tpm,
            f"{result['ceiling_pct']:.0f}",
            mark(result, "429_pct", _fmt(result["server_429_pct"], ".2f")),
            f"{result['client_429']} ({result['first_wave_429']} 1st wave)",
            mark(result, "attempts_per_success", _fmt(result["attempts_per_success"], ".3f")),
            mark(result, "retry_after_compliance_pct", ra_text),
            f"{result['wall_s']:.1f}",
            str(result["failures"]),
        )
    console.print(table)
    console.print(
        "% RPM / % TPM: successes (tokens) per minute of wall time vs the limit; ceiling: an "
        "oracle's % on this fresh sliding window (a client pacing evenly at the limit scores "
        "100). Colours: issue 4 targets, scillm rows only."
    )
    verdict = "all met" if report["targets"]["scillm_all_met"] else "NOT all met"
    console.print(f"scillm targets: {verdict}")
    m = report["machine"]
    console.print(
        f"machine: {m['cpu_count']} CPUs ({m['cpu_model']}), Python {m['python']}, load avg "
        f"{m['loadavg_start'][0]:.2f} -> {m['loadavg_end'][0]:.2f}; took "
        f"{report['elapsed_s']:.0f} s"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (``--worker`` is internal)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=None, help="requests per client (3000)")
    parser.add_argument("--rpm", type=int, default=None, help="requests per minute (1200)")
    parser.add_argument("--tpm", type=int, default=None, help="tokens per minute (200000)")
    parser.add_argument("--window-s", type=float, default=None, help="sliding window (60)")
    parser.add_argument("--latency-ms", type=float, default=200.0, help="server latency")
    parser.add_argument("--jitter-ms", type=float, default=50.0, help="latency jitter (±)")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--prompt-words", type=int, default=50, help="words (tokens) a prompt")
    parser.add_argument("--max-tokens", type=int, default=100, help="max_tokens sent")
    parser.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated clients")
    parser.add_argument("--quick", action="store_true", help="n=300, 600 RPM, 10 s window")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="JSON result path")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    args.n = args.n or (300 if quick else 3000)
    args.rpm = args.rpm or (600 if quick else 1200)
    args.tpm = args.tpm or (100_000 if quick else 200_000)
    args.window_s = args.window_s or (10.0 if quick else 60.0)
    args.clients = [c.strip() for c in str(args.clients).split(",") if c.strip()]
    unknown = set(args.clients) - set(CLIENTS)
    if unknown:
        parser.error(f"unknown client(s) {sorted(unknown)}; choose from {', '.join(CLIENTS)}")
    for name in ("n", "rpm", "tpm", "concurrency", "prompt_words", "max_tokens"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (or, internally, one worker)."""
    args = parse_args(argv)
    if args.worker is not None:
        worker_main(args.worker)
        return
    print(
        f"rate limits: clients {args.clients}, N={args.n}, {args.rpm} RPM / {args.tpm} TPM, "
        f"window {args.window_s:g} s, latency {args.latency_ms:g}±{args.jitter_ms:g} ms",
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
