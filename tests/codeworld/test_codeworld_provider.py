"""The codeworld provider: in-process engine, and a real uvicorn bridge on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

import scillm
from scillm.codeworld import BridgeSettings
from scillm.codeworld.server import create_app
from scillm.codeworld.settings import SERVICE_LEGACY
from scillm.errors import AuthenticationError, BadRequestError
from scillm.service import ServiceConfig
from scillm.service.config import token_names

USER = [{"role": "user", "content": "Which variant is right?"}]
ITEM = {
    "id": "abs",
    "task": "absolute value",
    "variants": {"identity": "def solve(x):\n    return x\n"},
    "tests": [{"args": [2], "expected": 2}, {"args": [-3], "expected": 3}],
}
FIXED = "def solve(x):\n    return abs(x)\n"


def fixer(prompt: str) -> str:
    return f"```python\n{FIXED}```"


@pytest.fixture(scope="module")
def live_bridge() -> Iterator[str]:
    """A real bridge (uvicorn, token "tok") on a free loopback port."""
    config = uvicorn.Config(
        create_app(BridgeSettings(), ServiceConfig(token="tok")),
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


def summary(resp: Any) -> dict[str, Any]:
    return json.loads(resp.choices[0].message.content)  # type: ignore[no-any-return]


@pytest.mark.usefixtures("isolated")
async def test_in_process_the_reply_is_a_compact_summary_with_the_payload() -> None:
    resp = await scillm.acompletion("codeworld", USER, items=[ITEM])
    assert resp.model == "codeworld"
    assert summary(resp) == {
        "summary": {"items": 1, "succeeded": 0, "failed": 1, "errors": 0},
        "items": [
            {
                "id": "abs",
                "status": "unsolved",
                "best_variant": "identity",
                "aggregate": resp["codeworld"]["results"][0]["scores"]["aggregate"],
                "pass_rate": 0.5,
            }
        ],
    }
    assert resp.additional_kwargs["codeworld"] is resp["codeworld"]
    assert resp["codeworld"]["run_manifest"]["strategy_name"] == "baseline"
    assert resp.usage.total_tokens == 0


@pytest.mark.usefixtures("isolated")
def test_the_sync_call_with_custom_llm_provider(scripted_llm: Any) -> None:
    llm = scripted_llm(fixer)
    resp = scillm.completion(
        model="codeworld",
        messages=USER,
        custom_llm_provider="codeworld",
        items=[ITEM],
        strategy="mcts",
        strategy_config={"rollouts": 3, "seed": 1},
        **llm.args,
    )
    result = resp["codeworld"]["results"][0]
    assert result["status"] == "solved" and result["best_code"] == FIXED
    assert resp.usage.total_tokens == result["search"]["llm"]["total_tokens"] > 0


@pytest.mark.usefixtures("isolated")
async def test_mcts_models_search_and_auto_generates_first(scripted_llm: Any) -> None:
    llm = scripted_llm(fixer)
    resp = await scillm.acompletion("codeworld/mcts", USER, items=[ITEM], seed=5, **llm.args)
    assert resp.model == "codeworld/mcts"
    assert summary(resp)["items"][0]["status"] == "solved"
    search = resp["codeworld"]["results"][0]["search"]
    assert (search["seed"], search["autogenerate"]) == (5, False)
    auto = await scillm.acompletion(
        "codeworld/mcts:auto", USER, items=[ITEM], n_variants=2, rollouts=1, **llm.args
    )
    result = auto["codeworld"]["results"][0]
    assert result["search"]["autogenerate"] is True
    assert {v["origin"] for v in result["variants"]} == {"given", "generated"}


@pytest.mark.usefixtures("isolated")
async def test_streaming_yields_the_reply_as_one_chunk() -> None:
    stream = await scillm.acompletion("codeworld", USER, items=[ITEM], stream=True)
    chunks = [chunk async for chunk in stream]
    assert len(chunks) == 1
    assert json.loads(chunks[0].choices[0].delta.content)["items"][0]["id"] == "abs"
    assert chunks[0]["codeworld"]["summary"]["items"] == 1


@pytest.mark.parametrize(
    ("model", "kwargs", "fragment"),
    [
        ("codeworld/nope", {"items": [ITEM]}, "unknown CodeWorld model"),
        ("codeworld", {}, "needs items"),
        ("codeworld/mcts", {"items": [ITEM], "strategy": "baseline"}, "strategy='mcts'"),
        ("codeworld", {"items": [{**ITEM, "language": "cobol"}]}, "items[0].language"),
        ("codeworld", {"items": [ITEM], "rollout": 3}, "unknown parameter"),
    ],
)
async def test_bad_requests_are_refused_before_running(
    model: str, kwargs: dict[str, Any], fragment: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await scillm.acompletion(model, USER, **kwargs)
    assert fragment in str(caught.value)


@pytest.mark.usefixtures("isolated")
async def test_through_a_live_bridge(live_bridge: str, monkeypatch: pytest.MonkeyPatch) -> None:
    resp = await scillm.acompletion(
        "codeworld", USER, items=[ITEM], api_base=live_bridge, api_key="tok"
    )
    assert summary(resp)["items"][0]["best_variant"] == "identity"
    assert resp["codeworld"]["run_manifest"]["isolation"] == "bwrap+rlimits"

    monkeypatch.setenv("CODEWORLD_BASE", live_bridge)
    monkeypatch.setenv("CODEWORLD_TOKEN", "tok")
    via_env = await scillm.acompletion("codeworld", USER, items=[ITEM])
    assert (
        via_env["codeworld"]["run_manifest"]["run_id"]
        != resp["codeworld"]["run_manifest"]["run_id"]
    )

    with pytest.raises(AuthenticationError):
        await scillm.acompletion("codeworld", USER, items=[ITEM], api_key="wrong")
    bad = {**ITEM, "tests": [{"args": 1}]}
    with pytest.raises(BadRequestError) as caught:
        await scillm.acompletion("codeworld", USER, items=[bad])
    assert "items[0].tests[0].args" in str(caught.value)


@pytest.mark.usefixtures("isolated")
async def test_without_its_token_the_bridge_is_a_clear_authentication_error(
    live_bridge: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in token_names("codeworld", SERVICE_LEGACY):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(AuthenticationError) as caught:
        await scillm.acompletion("codeworld", USER, items=[ITEM], api_base=live_bridge)
    assert caught.value.status_code == 401
    assert "api_key=" in str(caught.value) and "SCILLM_CODEWORLD_TOKEN" in str(caught.value)
    monkeypatch.setenv("SCILLM_SERVICE_TOKEN", "tok")  # the token `serve all` shares
    resp = await scillm.acompletion("codeworld", USER, items=[ITEM], api_base=live_bridge)
    assert summary(resp)["items"][0]["best_variant"] == "identity"


@pytest.mark.usefixtures("isolated")
async def test_a_text_plain_post_is_415_and_runs_nothing(
    live_bridge: str, scripted_llm: Any
) -> None:
    """A browser's cross-site "simple" POST: refused before any code or model call runs."""
    llm = scripted_llm(fixer)
    args = {"strategy": "mcts", "autogenerate": True, "n_variants": 1, "rollouts": 1, **llm.args}
    envelope = {"messages": USER, "items": [ITEM], "provider": {"name": "codeworld", "args": args}}
    body = json.dumps(envelope).encode()
    token = {"Authorization": "Bearer tok"}
    async with httpx.AsyncClient(base_url=live_bridge, headers=token, timeout=60) as client:
        refused = await client.post(
            "/bridge/complete", content=body, headers={"Content-Type": "text/plain"}
        )
        assert refused.status_code == 415
        assert refused.json()["error"]["code"] == "unsupported_media_type"
        assert llm.server.requests == []
        # The same body as JSON does run (so the check above could have seen it).
        ran = await client.post(
            "/bridge/complete", content=body, headers={"Content-Type": "application/json"}
        )
    assert ran.status_code == 200 and llm.server.requests != []
