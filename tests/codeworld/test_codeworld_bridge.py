"""The bridge in-process over httpx's ASGI transport: health, envelope, and every error in
OpenAI's shape (404/405/400/422/401/503)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from scillm.codeworld import BridgeSettings
from scillm.codeworld.server import create_app
from scillm.service import ServiceConfig

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


async def client_for(
    settings: BridgeSettings, config: ServiceConfig | None = None
) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(settings, config or ServiceConfig()))
    return httpx.AsyncClient(transport=transport, base_url="http://localhost")


def error_of(resp: httpx.Response, status: int) -> dict[str, Any]:
    """The reply's ``error``, checked to have OpenAI's shape and ``status``."""
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    return error  # type: ignore[no-any-return]


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
    error = error_of(resp, 422)
    detail = resp.json()["detail"]
    assert loc in [d["loc"] for d in detail]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_request"


async def test_the_param_names_the_first_bad_field(bridge: httpx.AsyncClient) -> None:
    body = {**ENVELOPE, "items": [{**ITEM, "language": "cobol"}], "options": {"max_seconds": 0}}
    resp = await bridge.post("/bridge/complete", json=body)
    error = error_of(resp, 422)
    first = resp.json()["detail"][0]["loc"][1:]
    assert error["param"] == "items[0].language" and first == ["items", 0, "language"]
    assert "cobol" in error["message"] and "max_seconds" in error["message"]


async def test_a_body_that_is_not_json_is_a_400_in_shape(bridge: httpx.AsyncClient) -> None:
    resp = await bridge.post(
        "/bridge/complete", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    error = error_of(resp, 400)
    assert error["code"] == "invalid_json" and "not valid JSON" in error["message"]


async def test_unknown_routes_and_methods_answer_in_shape(bridge: httpx.AsyncClient) -> None:
    missing = error_of(await bridge.get("/v1/chat/completions"), 404)
    assert missing["code"] == "not_found" and missing["type"] == "invalid_request_error"
    wrong = error_of(await bridge.get("/bridge/complete"), 405)
    assert wrong["code"] == "method_not_allowed"
    assert error_of(await bridge.post("/healthz", json={}), 405)["code"] == "method_not_allowed"


async def test_the_bridge_caps_a_request_s_max_seconds() -> None:
    async with await client_for(BridgeSettings(max_seconds=7)) as client:
        greedy = {**ENVELOPE, "options": {"max_seconds": 10_000}}
        modest = {**ENVELOPE, "options": {"max_seconds": 2}}
        manifests = [
            (await client.post("/bridge/complete", json=body)).json()["run_manifest"]
            for body in (greedy, modest)
        ]
    assert [m["options"]["max_seconds"] for m in manifests] == [7, 2]


async def test_a_failing_item_is_a_result_not_a_500(bridge: httpx.AsyncClient) -> None:
    late = {**ENVELOPE, "options": {"max_seconds": 1e-9}}
    resp = await bridge.post("/bridge/complete", json=late)
    assert resp.status_code == 200
    assert resp.json()["results"][0]["status"] == "error"
    assert resp.json()["summary"]["errors"] == 1


async def test_a_token_is_required_when_configured_but_healthz_stays_open() -> None:
    async with await client_for(BridgeSettings(), ServiceConfig(token="s3cret")) as client:
        error = error_of(await client.post("/bridge/complete", json=ENVELOPE), 401)
        assert error["type"] == "authentication_error"
        for given in ("Bearer nope", "Bearer s3cret2", "s3cret", "Basic s3cret", "Bearer"):
            resp = await client.post(
                "/bridge/complete", json=ENVELOPE, headers={"Authorization": given}
            )
            assert error_of(resp, 401)["code"] == "invalid_api_key", given
        # Unknown routes are behind the door too: no probing without the token.
        assert error_of(await client.get("/nope"), 401)["type"] == "authentication_error"
        right = {"Authorization": "Bearer s3cret"}
        resp = await client.post("/bridge/complete", json=ENVELOPE, headers=right)
        assert resp.status_code == 200 and resp.json()["summary"]["succeeded"] == 1
        health = await client.get("/healthz")
        assert health.status_code == 200 and health.json()["auth"] is True


async def test_the_token_comes_from_the_environment_old_name_included(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SCILLM_CODEWORLD_TOKEN", raising=False)
    monkeypatch.delenv("SCILLM_SERVICE_TOKEN", raising=False)
    monkeypatch.setenv("CODEWORLD_TOKEN", "old-name")
    transport = httpx.ASGITransport(app=create_app(BridgeSettings()))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        assert (await client.post("/bridge/complete", json=ENVELOPE)).status_code == 401
        right = {"Authorization": "Bearer old-name"}
        resp = await client.post("/bridge/complete", json=ENVELOPE, headers=right)
        assert resp.status_code == 200


async def test_without_a_sandbox_the_bridge_answers_503(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCILLM_BWRAP", "/nonexistent/bwrap")
    async with await client_for(BridgeSettings()) as client:
        health = await client.get("/healthz")
        assert health.status_code == 503 and health.json()["ok"] is False
        problem = health.json()["problem"]
        assert "apt install bubblewrap" in problem and "--allow-rlimits-only" in problem
        error = error_of(await client.post("/bridge/complete", json=ENVELOPE), 503)
        assert error["code"] == "engine_unavailable" and error["type"] == "server_error"
        assert "bubblewrap" in error["message"]
        # A failed probe is never reused: once the sandbox is back, health says so at once.
        monkeypatch.delenv("SCILLM_BWRAP")
        health = await client.get("/healthz")
        assert health.status_code == 200 and health.json()["problem"] is None
