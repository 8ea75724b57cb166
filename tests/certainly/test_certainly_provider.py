"""The certainly provider: in-process, and against a real uvicorn bridge on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from coq_exploits import EXPLOITS

import scillm
from scillm.certainly import available_backends
from scillm.certainly.server import create_app
from scillm.certainly.settings import SERVICE_LEGACY, BridgeSettings
from scillm.errors import AuthenticationError, BadRequestError, EngineUnavailable
from scillm.service import ServiceConfig
from scillm.service.config import token_names
from scillm.testing import MockLLMServer

pytestmark = pytest.mark.requires("coqc", apt="coq")

USER = [{"role": "user", "content": "check these"}]
TRUE = "Theorem t : 1 + 1 = 2. Proof. reflexivity. Qed."
ITEMS = [
    {"id": "true", "code": TRUE},
    {"id": "false", "statement": "1 = 2", "proof": "Proof. Admitted."},
]
PROOF = "```coq\nTheorem t : forall n : nat, n + 0 = n.\n```\n```coq\nProof. auto. Qed.\n```"


@pytest.fixture(scope="module", autouse=True)
def registered() -> None:
    """The registration scillm ships (public API; registering again is harmless)."""
    scillm.register_provider(
        "certainly", "scillm.certainly.provider:CertainlyProvider", aliases=("lean4",)
    )


TOKEN = "tok"


@pytest.fixture(scope="module")
def bridge_model() -> Iterator[MockLLMServer]:
    """The model the live bridge asks to write proofs."""
    with MockLLMServer(reply=PROOF) as server:
        yield server


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    """The live bridge's token, where the provider reads it (tests that need none unset it)."""
    for name in token_names("certainly", SERVICE_LEGACY):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CERTAINLY_TOKEN", TOKEN)


@pytest.fixture(scope="module")
def live_bridge(bridge_model: MockLLMServer) -> Iterator[str]:
    """A real bridge (uvicorn, token :data:`TOKEN`) on a free loopback port."""
    settings = BridgeSettings(
        max_workers=2,
        lean_path="/nonexistent/lean",
        model="openai/mock",
        llm_api_base=bridge_model.base_url,
        llm_api_key="k",
    )
    config = uvicorn.Config(
        create_app(settings, ServiceConfig(token=TOKEN)),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        ws="none",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "bridge did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def summary(resp: Any) -> dict[str, int]:
    return json.loads(resp.choices[0].message.content)  # type: ignore[no-any-return]


EXPECTED = {"items": 2, "proved": 1, "failed": 1, "unproved": 1, "unavailable": 0}


async def test_in_process_the_reply_is_a_compact_summary_with_the_payload() -> None:
    resp = await scillm.acompletion("certainly/coq", USER, items=ITEMS, session_id="s")
    assert summary(resp) == EXPECTED
    assert resp.model == "certainly/coq" and resp.choices[0].finish_reason == "stop"
    payload = resp["certainly"]
    assert resp.additional_kwargs["certainly"] is payload
    assert [r["status"] for r in payload["results"]] == ["proved", "failed"]
    assert payload["run_manifest"]["session_id"] == "s"
    assert resp.usage.total_tokens == 0


def test_the_sync_call_and_the_bare_name_work_too() -> None:
    resp = scillm.completion("certainly", USER, items=ITEMS, backend="coq")
    assert summary(resp) == EXPECTED and resp.model == "certainly"


async def test_a_requirement_is_proved_by_the_configured_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with MockLLMServer(reply=PROOF) as model:
        monkeypatch.setenv("SCILLM_CERTAINLY_MODEL", "openai/mock")
        monkeypatch.setenv("OPENAI_BASE_URL", model.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "k")
        resp = await scillm.acompletion(
            "certainly/coq", [{"role": "user", "content": "n + 0 = n"}], max_refinements=0
        )
    assert summary(resp)["proved"] == 1
    [result] = resp["certainly"]["results"]
    assert result["formal_statement"] == "Theorem t : forall n : nat, n + 0 = n."
    assert resp.usage.total_tokens == result["usage"]["total_tokens"] > 0


async def test_streaming_gives_one_chunk_with_the_payload() -> None:
    stream = await scillm.acompletion("certainly/coq", USER, items=ITEMS, stream=True)
    chunks = [chunk async for chunk in stream]
    [chunk] = chunks
    assert json.loads(chunk.choices[0].delta.content) == EXPECTED
    assert chunk["certainly"]["summary"]["items"] == 2


@pytest.mark.parametrize(
    ("model", "kwargs", "error", "message"),
    [
        ("certainly/isabelle", {}, BadRequestError, "unknown certainly model"),
        ("certainly/coq", {"backend": "lean4"}, BadRequestError, "checks coq"),
        ("certainly/coq", {"lean4_flags": ["--shell"]}, BadRequestError, "unknown flag"),
        ("certainly/coq", {"options": ["x"]}, BadRequestError, "options must be a dict"),
        ("certainly/coq", {"itmes": []}, BadRequestError, "unknown parameter"),
        ("lean4", {}, EngineUnavailable, "lean4"),
    ],
)
def test_bad_requests_raise_clear_errors(
    model: str, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    items = [{"id": "t", "code": "theorem t : True := trivial"}] if model == "lean4" else ITEMS
    if model == "lean4" and available_backends()["lean4"]["available"]:
        pytest.skip("a Lean toolchain is installed here")
    with pytest.raises(error, match=message):
        scillm.completion(model, USER, **{"items": items, **kwargs})


async def test_a_bridge_url_sends_the_envelope_over_http(
    live_bridge: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTAINLY_BRIDGE_BASE", live_bridge)
    resp = await scillm.acompletion("certainly/coq", USER, items=ITEMS, track_id="t", timeout=30)
    assert summary(resp) == EXPECTED
    manifest = resp["certainly"]["run_manifest"]
    # The bridge is told to finish before the client gives up.
    assert manifest["track_id"] == "t" and manifest["options"]["max_seconds"] == 25


async def test_api_base_wins_and_bridge_errors_keep_their_meaning(live_bridge: str) -> None:
    resp = await scillm.acompletion("certainly", USER, items=ITEMS, api_base=live_bridge + "/")
    assert summary(resp) == EXPECTED
    with pytest.raises(BadRequestError, match="unknown option") as caught:
        await scillm.acompletion(
            "certainly", USER, items=ITEMS, options={"x": 1}, api_base=live_bridge
        )
    assert caught.value.status_code == 400
    # No prover for the request: the same error over HTTP as in-process.
    with pytest.raises(EngineUnavailable, match="lean4"):
        await scillm.acompletion("lean4", USER, items=ITEMS, api_base=live_bridge)


async def test_the_token_is_sent_and_its_absence_is_a_clear_authentication_error(
    live_bridge: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CERTAINLY_TOKEN")
    with pytest.raises(AuthenticationError) as caught:
        await scillm.acompletion("certainly/coq", USER, items=ITEMS, api_base=live_bridge)
    assert caught.value.status_code == 401
    assert "api_key=" in str(caught.value) and "SCILLM_CERTAINLY_TOKEN" in str(caught.value)
    with pytest.raises(AuthenticationError):
        await scillm.acompletion(
            "certainly/coq", USER, items=ITEMS, api_base=live_bridge, api_key="wrong"
        )
    resp = await scillm.acompletion(
        "certainly/coq", USER, items=ITEMS, api_base=live_bridge, api_key=TOKEN
    )
    assert summary(resp) == EXPECTED
    monkeypatch.setenv("SCILLM_SERVICE_TOKEN", TOKEN)  # the token `serve all` shares
    resp = await scillm.acompletion("certainly/coq", USER, items=ITEMS, api_base=live_bridge)
    assert summary(resp) == EXPECTED


async def test_a_text_plain_post_is_415_and_runs_nothing(
    live_bridge: str, bridge_model: MockLLMServer
) -> None:
    """A browser's cross-site "simple" POST: refused before any prover or model call runs."""
    body = json.dumps({"lean4_requirements": ["n + 0 = n"], "backend": "coq"}).encode()
    bridge_model.clear()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=live_bridge, headers=auth, timeout=60) as client:
        refused = await client.post(
            "/bridge/complete", content=body, headers={"Content-Type": "text/plain"}
        )
        assert refused.status_code == 415
        assert refused.json()["error"]["code"] == "unsupported_media_type"
        assert bridge_model.requests == []
        # The same body as JSON does run (so the check above could have seen it).
        ran = await client.post(
            "/bridge/complete", content=body, headers={"Content-Type": "application/json"}
        )
    assert ran.status_code == 200 and ran.json()["summary"]["proved"] == 1
    assert bridge_model.requests != []


@pytest.mark.parametrize("where", ["in-process", "loopback bridge"])
async def test_the_guard_checker_exploits_are_failed(where: str, live_bridge: str) -> None:
    names = ("guard_20455_in_proof", "guard_20413_let_fix")
    items = [{"id": name, "backend": "coq", **EXPLOITS[name]} for name in names]
    base = live_bridge if where == "loopback bridge" else None
    resp = await scillm.acompletion("certainly/coq", USER, items=items, api_base=base)
    assert summary(resp)["proved"] == 0 and summary(resp)["failed"] == 2
    for result in resp["certainly"]["results"]:
        assert result["statement_matches"] is True and result["status"] == "failed"
        assert any("unsafe_recursion" in m["text"] for m in result["messages"])
        assert result["prover"] == "Coq" and result["known_bugs"] is not None
