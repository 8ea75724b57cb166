"""The bridge in-process over httpx's ASGI transport: health, envelope, 422/401/503."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from scillm.codeworld import BridgeSettings, create_app

pytestmark = pytest.mark.usefixtures("isolated")

ITEM = {
    "id": "add",
    "variants": {"plus": "def solve(a, b):\n    return a + b\n"},
    "tests": [{"args": [1, 2], "expected": 3}],
}
ENVELOPE = {
    "messages": [{"role": "user", "content": "judge"}],
    "items": [ITEM],
    "provider": {"name": "codeworld", "args": {"strategy": "baseline"}},
    "options": {"session_id": "s1", "track_id": "t1"},
}


async def client_for(settings: BridgeSettings) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(settings))
    return httpx.AsyncClient(transport=transport, base_url="http://bridge")


@pytest.fixture
async def bridge() -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(BridgeSettings()) as client:
        yield client


async def test_healthz_runs_a_real_sandboxed_program(bridge: httpx.AsyncClient) -> None:
    resp = await bridge.get("/healthz")
    body = resp.json()
    assert resp.status_code == 200
    assert body["ok"] is True and body["probe"]["status"] == "ok"
    assert body["isolation"] == "bwrap+rlimits"
    assert body["languages"]["python"] is not None
    assert body["strategies"] == ["baseline", "mcts"]


async def test_the_original_envelope_is_answered(bridge: httpx.AsyncClient) -> None:
    resp = await bridge.post("/bridge/complete", json=ENVELOPE)
    assert resp.status_code == 200
    payload = resp.json()
    assert payload["summary"] == {"items": 1, "succeeded": 1, "failed": 0, "errors": 0}
    assert payload["results"][0]["best_variant"] == "plus"
    assert payload["run_manifest"]["schema"] == "canonical+codeworld@v1"
    assert payload["run_manifest"]["options"]["track_id"] == "t1"
    assert payload["signals"]["session_id"] == "s1" and payload["signals"]["plateau"] is False


async def test_a_session_plateaus_after_five_equal_scores(bridge: httpx.AsyncClient) -> None:
    signals = [
        (await bridge.post("/bridge/complete", json=ENVELOPE)).json()["signals"] for _ in range(5)
    ]
    assert [s["plateau"] for s in signals] == [False] * 4 + [True]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({**ENVELOPE, "items": [{**ITEM, "language": "cobol"}]}, ["body", "items", 0, "language"]),
        ({k: v for k, v in ENVELOPE.items() if k != "messages"}, ["body", "messages"]),
        ({**ENVELOPE, "options": {"max_seconds": -1}}, ["body", "options", "max_seconds"]),
        ({**ENVELOPE, "provider": {"name": "other"}}, ["body", "provider", "name"]),
        ([1, 2], ["body"]),
    ],
)
async def test_invalid_requests_get_422_with_field_paths(
    bridge: httpx.AsyncClient, body: Any, loc: list[Any]
) -> None:
    resp = await bridge.post("/bridge/complete", json=body)
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert loc in [d["loc"] for d in detail]
    assert resp.json()["error"]["type"] == "invalid_request_error"


async def test_a_body_that_is_not_json_is_422(bridge: httpx.AsyncClient) -> None:
    resp = await bridge.post("/bridge/complete", content=b"{not json")
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["body"]


async def test_a_failing_item_is_a_result_not_a_500(bridge: httpx.AsyncClient) -> None:
    late = {**ENVELOPE, "options": {"max_seconds": 1e-9}}
    resp = await bridge.post("/bridge/complete", json=late)
    assert resp.status_code == 200
    assert resp.json()["results"][0]["status"] == "error"
    assert resp.json()["summary"]["errors"] == 1


async def test_a_token_is_required_when_configured() -> None:
    async with await client_for(BridgeSettings(token="s3cret")) as client:
        assert (await client.post("/bridge/complete", json=ENVELOPE)).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (
            await client.post("/bridge/complete", json=ENVELOPE, headers=wrong)
        ).status_code == 401
        right = {"Authorization": "Bearer s3cret"}
        assert (
            await client.post("/bridge/complete", json=ENVELOPE, headers=right)
        ).status_code == 200
        assert (await client.get("/healthz")).json()["auth"] is True


async def test_without_a_sandbox_the_bridge_answers_503(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCILLM_BWRAP", "/nonexistent/bwrap")
    async with await client_for(BridgeSettings()) as client:
        health = await client.get("/healthz")
        assert health.status_code == 503 and health.json()["ok"] is False
        assert "bubblewrap" in health.json()["problem"]
        resp = await client.post("/bridge/complete", json=ENVELOPE)
        assert resp.status_code == 503
        assert resp.json()["error"]["type"] == "engine_unavailable"
