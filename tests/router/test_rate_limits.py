"""Retry callbacks and telemetry, the shared per-endpoint pacer, and proactive rpm pacing."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import scillm
from scillm import Router
from scillm.router.events import EVENT_KEYS
from scillm.router.pacing import EndpointPacer, Ticket, parse_duration
from scillm.testing import Fault, MockLLMServer, RateLimit

USER = [{"role": "user", "content": "hi"}]


def call(router: Router, srv: MockLLMServer, **kwargs: Any) -> Any:
    return router.completion(model="openai/m", messages=USER, api_base=srv.base_url, **kwargs)


def test_callbacks_get_one_documented_payload(mock_llm: MockLLMServer) -> None:
    events: list[dict[str, Any]] = []
    mock_llm.enqueue(Fault.http(500), Fault.rate_limit(retry_after=0.5))
    call(
        Router(),
        mock_llm,
        retry_base_s=0.01,
        on_attempt=events.append,
        on_success=events.append,
        on_giveup=events.append,
    )
    assert [e["event"] for e in events] == ["retry", "429_retry", "success"]
    for event in events:
        assert tuple(event) == EVENT_KEYS
    first, second, success = events
    assert first["status_code"] == 500 and first["error_class"] == "ServerError"
    assert first["attempt"] == 1 and first["remaining_attempts"] == 1
    assert second["retry_after_s"] == 0.5 and second["next_sleep_s"] >= 0.5
    assert second["cumulative_sleep_s"] >= 0.5  # includes the sleep it announces
    assert success["attempt"] == 3 and success["error_class"] is None


async def test_async_callbacks_and_first_try_success(mock_llm: MockLLMServer) -> None:
    seen: list[str] = []

    async def on_success(event: dict[str, Any]) -> None:
        seen.append(event["event"])

    await Router().acompletion(
        model="openai/m", messages=USER, api_base=mock_llm.base_url, on_success=on_success
    )
    assert seen == ["success"]


def test_a_raising_callback_is_logged_and_the_call_goes_on(
    mock_llm: MockLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("callback bug")

    mock_llm.enqueue(Fault.http(503))
    with caplog.at_level(logging.ERROR, logger="scillm.router"):
        resp = call(Router(), mock_llm, retry_base_s=0.01, on_attempt=broken, on_success=broken)
    assert resp.choices[0].message.content == "hi"
    assert "on_attempt callback raised" in caplog.text


def test_giving_up_raises_the_last_error_with_stats_and_the_first_chained(
    mock_llm: MockLLMServer,
) -> None:
    giveups: list[dict[str, Any]] = []
    mock_llm.enqueue(Fault.http(500), Fault.http(502), Fault.http(503))
    with pytest.raises(scillm.ServerError) as info:
        call(Router(), mock_llm, retry_base_s=0.01, on_giveup=giveups.append)
    err = info.value
    assert err.status_code == 503
    assert isinstance(err.__cause__, scillm.ServerError) and err.__cause__.status_code == 500
    assert err.retry_stats["attempts"] == 3  # type: ignore[attr-defined]
    assert giveups[0]["remaining_attempts"] == 0 and giveups[0]["next_sleep_s"] is None
    assert len(mock_llm.requests) == 3  # and no sleep after the last one


def test_429_forever_ends_within_the_budget(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(*[Fault.rate_limit(retry_after=0.5)] * 50)
    with pytest.raises(scillm.RateLimitError) as info:
        call(Router(), mock_llm, retry_enabled=True, retry_base_s=0.1, retry_time_budget_s=1.6)
    stats = info.value.retry_stats  # type: ignore[attr-defined]
    assert stats["total_sleep_s"] <= 1.6
    assert 2 <= stats["attempts"] <= 4


def test_json_telemetry_lines_on_stderr(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.http(500), Fault.http(500), Fault.http(500))
    script = textwrap.dedent(
        f"""
        import scillm
        r = scillm.Router()
        kw = dict(model="openai/m", messages=[{{"role": "user", "content": "x"}}],
                  api_base="{mock_llm.base_url}", retry_base_s=0.01, num_retries=4)
        r.completion(**kw)
        """
    )
    env = {"SCILLM_LOG_JSON": "1", "SCILLM_RETRY_LOG_EVERY": "2", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    # Three retries, every second one logged, then the success after retries.
    assert [(e["event"], e["attempt"]) for e in lines] == [("retry", 2), ("success", 4)]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("12ms", 0.012), ("1h2m3s", 3723.0), ("0.5", 0.5)],
)
def test_reset_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", [None, "", "soon", "1x", "s1"])
def test_unparseable_reset_durations(text: str | None) -> None:
    assert parse_duration(text) is None


async def test_headers_at_zero_remaining_defer_the_schedule() -> None:
    pacer = EndpointPacer()
    ticket = await pacer.acquire(10)
    headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "0.3s"}
    pacer.release(ticket, status=200, retry_after_s=None, headers=headers, used_tokens=5)
    second = await pacer.acquire(10)
    assert second.waited_s >= 0.25
    pacer.release(second, status=200, retry_after_s=None, headers={}, used_tokens=5)


async def test_retry_after_pauses_the_endpoint_then_one_probe_goes_first() -> None:
    pacer = EndpointPacer()
    first = await pacer.acquire(1)
    pacer.release(first, status=429, retry_after_s=0.3, headers={}, used_tokens=None)
    probe = await pacer.acquire(1)
    assert probe.probe and probe.waited_s >= 0.25
    import asyncio

    follower = asyncio.ensure_future(pacer.acquire(1))
    await asyncio.sleep(0.1)
    assert not follower.done()  # nobody passes the probe
    pacer.release(probe, status=200, retry_after_s=None, headers={}, used_tokens=None)
    after: Ticket = await asyncio.wait_for(follower, 2)
    assert not after.probe
    pacer.release(after, status=200, retry_after_s=None, headers={}, used_tokens=None)


async def test_a_batch_meeting_a_rate_limit_sees_few_429s() -> None:
    limit = RateLimit(rpm=30, window_s=1.0)  # 30 requests a second, like a real window
    with MockLLMServer(rate_limit=limit) as srv:
        requests = [
            {"model": "openai/m", "messages": USER, "api_base": srv.base_url} for _ in range(120)
        ]
        results = await Router(num_retries=10).parallel_acompletions(requests, max_concurrency=40)
        assert all(r.ok for r in results), [r.meta.get("exception") for r in results if not r.ok]
        assert srv.stats.rate_limited <= 15  # the first wave (10) at most, not one per request


async def test_rpm_from_litellm_params_paces_before_any_429() -> None:
    with MockLLMServer(rate_limit=RateLimit(rpm=25, window_s=1.0)) as srv:
        router = Router(
            [
                {
                    "model_name": "g",
                    "litellm_params": {"model": "openai/m", "api_base": srv.base_url, "rpm": 1400},
                }
            ]
        )
        batch = [{"model": "g", "messages": USER} for _ in range(60)]
        results = await router.parallel_acompletions(batch, max_concurrency=60)
        assert all(r.ok for r in results)
        assert srv.stats.rate_limited <= 1


async def test_a_paced_endpoint_does_not_stall_for_a_whole_window() -> None:
    # Paced at 1200 rpm against a full sliding window: a slot frees every ~50 ms, so the next
    # request waits about one interval, not the 60 s until the whole window has reset.
    pacer = EndpointPacer()
    pacer.configure(rpm=1200, tpm=None)
    ticket = await pacer.acquire(100)
    headers = {
        "x-ratelimit-limit-requests": "1200",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "59.95s",
    }
    pacer.release(ticket, status=200, retry_after_s=None, headers=headers, used_tokens=100)
    nxt = await pacer.acquire(100)
    assert nxt.waited_s < 1.0
    pacer.release(nxt, status=200, retry_after_s=None, headers={}, used_tokens=100)
