"""Retry events under the original's names: 429_retry / 429_giveup and its payload keys."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

import scillm
from scillm import Router
from scillm.router.events import EVENT_KEYS, with_aliases
from scillm.testing import Fault, MockLLMServer

USER = [{"role": "user", "content": "hi"}]


def call(srv: MockLLMServer, events: list[dict[str, Any]], **kwargs: Any) -> Any:
    return Router().completion(
        model="openai/m",
        messages=USER,
        api_base=srv.base_url,
        retry_base_s=0.01,
        on_attempt=events.append,
        on_success=events.append,
        on_giveup=events.append,
        **kwargs,
    )


def test_a_429_retry_carries_the_original_names(mock_llm: MockLLMServer) -> None:
    events: list[dict[str, Any]] = []
    mock_llm.enqueue(Fault.rate_limit(retry_after=0.5), Fault.http(503))
    call(mock_llm, events)
    assert [e["event"] for e in events] == ["429_retry", "retry", "success"]
    assert all(tuple(e) == EVENT_KEYS for e in events)
    limited, server, success = events
    assert limited["attempt_no"] == limited["attempt"] == 1
    assert limited["retry_after"] == limited["retry_after_s"] == 0.5
    assert limited["reason"] == "429" and server["reason"] == "503"
    assert limited["last_error"].startswith("RateLimitError: ")
    assert "HTTP 429" in limited["last_error"] and len(limited["last_error"]) <= 200
    assert limited["attempt_start_monotonic"] <= server["attempt_start_monotonic"]
    assert (server["attempts"], server["retries"]) == (2, 1)
    assert (success["attempts"], success["retries"], success["attempt_no"]) == (3, 2, 3)
    assert success["latency_ms"] == pytest.approx(success["elapsed_s"] * 1000, abs=0.01)
    assert success["cumulative_sleep_s"] >= 0.5
    assert success["reason"] is None and success["last_error"] is None


def test_giveup_after_a_429_is_429_giveup(mock_llm: MockLLMServer) -> None:
    events: list[dict[str, Any]] = []
    mock_llm.enqueue(*[Fault.http(429)] * 3)
    with pytest.raises(scillm.RateLimitError):
        call(mock_llm, events)
    assert [e["event"] for e in events] == ["429_retry", "429_retry", "429_giveup"]
    giveup = events[-1]
    assert giveup["attempts"] == 3 and giveup["elapsed_s"] > 0
    assert giveup["last_error"].startswith("RateLimitError: ") and "429" in giveup["last_error"]
    assert giveup["latency_ms"] is None


def test_other_failures_keep_retry_and_giveup(mock_llm: MockLLMServer) -> None:
    events: list[dict[str, Any]] = []
    mock_llm.enqueue(Fault.http(500), Fault.http(502), Fault.http(500))
    with pytest.raises(scillm.ServerError):
        call(mock_llm, events)
    assert [e["event"] for e in events] == ["retry", "retry", "giveup"]
    assert events[-1]["last_error"].startswith("ServerError: ")
    assert "HTTP 500" in events[-1]["last_error"]


def test_errors_without_a_status_give_their_class_as_reason() -> None:
    payload = dict.fromkeys(EVENT_KEYS[:12])
    payload.update(event="retry", attempt=1, error_class="TimeoutError", elapsed_s=0.5)
    event = with_aliases(payload)
    assert (event["event"], event["reason"]) == ("retry", "TimeoutError")
    # A key the pipeline already set is kept.
    event = with_aliases({**payload, "last_error": "TimeoutError: read timed out"})
    assert event["last_error"] == "TimeoutError: read timed out"


def test_json_lines_use_the_original_events_and_keys(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.rate_limit(retry_after=0.5), Fault.http(429))
    script = textwrap.dedent(
        f"""
        import scillm
        r = scillm.Router()
        kw = dict(model="openai/m", messages=[{{"role": "user", "content": "x"}}],
                  api_base="{mock_llm.base_url}", retry_base_s=0.01, num_retries=1)
        r.completion(**kw)  # 429, then 429 again: retried once, then given up
        """
    )
    env = {"SCILLM_LOG_JSON": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode != 0 and "RateLimitError" in out.stderr
    lines = [json.loads(line) for line in out.stderr.splitlines() if line.startswith("{")]
    retry, giveup = lines
    assert retry["event"] == "429_retry"
    assert {"model", "attempt", "sleep_s", "elapsed_s", "retry_after_s"} <= set(retry)
    assert retry["sleep_s"] == retry["next_sleep_s"] and retry["retry_after_s"] == 0.5
    assert giveup["event"] == "429_giveup"
    assert {"model", "attempts", "elapsed_s", "error"} <= set(giveup)
    assert (giveup["model"], giveup["attempts"]) == ("openai/m", 2)
    assert giveup["error"].startswith("RateLimitError: ") and "HTTP 429" in giveup["error"]


@pytest.mark.parametrize("value", ["0", "1"])
def test_retry_meta_is_always_there(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SCILLM_RETRY_META", value)  # accepted; scillm always stamps it
    mock_llm.enqueue(Fault.rate_limit(retry_after=0.5))
    resp = call(mock_llm, [])
    retries = resp.additional_kwargs["router"]["retries"]
    assert retries == resp["scillm_router"]["retries"]
    assert retries["attempts"] == 2 and retries["last_retry_after_s"] == 0.5
    assert retries["total_sleep_s"] >= 0.5
