"""The proxy's usage log counts what the Router did for a request: 429s answered by the
upstream and retried, the retries and the waits they asked for."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from proxy_helpers import MASTER, deployment, running_proxy

from scillm.testing import Fault, MockLLMServer

USER = [{"role": "user", "content": "hello there"}]


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_retried_429_is_in_the_record(tmp_path: Path) -> None:
    log = tmp_path / "usage.jsonl"
    with MockLLMServer() as upstream:
        config = {
            "model_list": [deployment("fast", upstream.base_url, "gpt-4o-mini")],
            "general_settings": {"master_key": MASTER},
            "router_settings": {"num_retries": 3},
        }
        upstream.enqueue(Fault.rate_limit(retry_after=0.01), Fault.rate_limit(retry_after=0.02))
        with running_proxy(config, log) as proxy:
            headers = {"Authorization": f"Bearer {MASTER}"}
            url = proxy.base_url + "/chat/completions"
            body = {"model": "fast", "messages": USER}
            assert httpx.post(url, json=body, headers=headers, timeout=30).status_code == 200
            upstream.enqueue(*(Fault.rate_limit(retry_after=0.01) for _ in range(4)))
            assert httpx.post(url, json=body, headers=headers, timeout=30).status_code == 429
        assert upstream.stats.rate_limited + upstream.stats.faults >= 6
    ok, refused = (line["record"] for line in lines(log))
    assert (ok["status"], ok["http_status"], ok["source"]) == ("ok", 200, "proxy")
    assert (ok["attempts"], ok["retries"], ok["rate_limited"]) == (3, 2, 2)
    assert ok["retry_after_s"] == 0.02 and ok["retry_wait_s"] >= 0.03
    assert ok["cost_usd"] > 0
    assert (refused["http_status"], refused["attempts"], refused["rate_limited"]) == (429, 4, 4)
    assert refused["retries"] == 3 and refused["cost_usd"] == 0
