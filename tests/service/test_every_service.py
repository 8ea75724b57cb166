"""Every HTTP service scillm runs has the same door: the attacks of ``test_door.py`` against
each real app (agent, Codex sidecar, CodeWorld, Certainly, proxy), served on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from scillm.service import ServiceConfig, bind

TOKEN = "every-service-token"
CAP = 64 * 1024


def _agent(config: ServiceConfig) -> Any:
    from scillm.agent.server import create_app
    from scillm.agent.settings import AgentServerSettings

    return create_app(AgentServerSettings(target_model="openai/nowhere"), config)


def _sidecar(config: ServiceConfig) -> Any:
    from scillm.agent.codex.settings import CodexSidecarSettings
    from scillm.agent.codex.sidecar import create_app

    return create_app(CodexSidecarSettings(echo=True), config)


def _codeworld(config: ServiceConfig) -> Any:
    from scillm.codeworld.server import create_app
    from scillm.codeworld.settings import BridgeSettings

    return create_app(BridgeSettings(), config)


def _certainly(config: ServiceConfig) -> Any:
    from scillm.certainly.server import create_app
    from scillm.certainly.settings import BridgeSettings

    return create_app(BridgeSettings(), config)


def _proxy(config: ServiceConfig) -> Any:
    from scillm.proxy.app import Gateway, create_app
    from scillm.proxy.config import parse_config

    raw = {
        "model_list": [
            {
                "model_name": "m",
                "litellm_params": {"model": "openai/m", "api_base": "http://127.0.0.1:9/v1"},
            }
        ],
        "general_settings": {"master_key": TOKEN},
    }
    return create_app(Gateway(parse_config(raw, {})), config)


SERVICES: dict[str, tuple[Callable[[ServiceConfig], Any], str]] = {
    "agent": (_agent, "/v1/chat/completions"),
    "codex-sidecar": (_sidecar, "/v1/chat/completions"),
    "codeworld": (_codeworld, "/bridge/complete"),
    "certainly": (_certainly, "/bridge/complete"),
    "proxy": (_proxy, "/v1/chat/completions"),
}


@pytest.fixture(scope="module", params=list(SERVICES))
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    import uvicorn

    make, route = SERVICES[request.param]
    config = ServiceConfig(token=TOKEN, max_body_bytes=CAP)
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(make(config), log_level="critical"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(500):
        if server.started:
            break
        threading.Event().wait(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", route
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _shape(reply: httpx.Response, status: int) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    error: dict[str, Any] = reply.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert error["type"] in {
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "rate_limit_error",
        "server_error",
    }
    assert "Traceback" not in reply.text
    return error


AUTH = {"authorization": f"Bearer {TOKEN}"}
JSON = {**AUTH, "content-type": "application/json"}
BODY = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'


def test_a_rebound_dns_name_is_refused(served: tuple[str, str]) -> None:
    url, route = served
    reply = httpx.post(url + route, content=BODY, headers={**JSON, "host": "evil.example"})
    assert _shape(reply, 400)["code"] == "host_not_allowed"


def test_a_cross_site_simple_post_is_refused(served: tuple[str, str]) -> None:
    url, route = served
    plain = {**AUTH, "content-type": "text/plain"}
    assert _shape(httpx.post(url + route, content=BODY, headers=plain), 415)
    page = {**JSON, "origin": "http://evil.example"}
    assert _shape(httpx.post(url + route, content=BODY, headers=page), 403)


def test_no_token_no_entry_but_healthz_is_open(served: tuple[str, str]) -> None:
    url, route = served
    headers = {"content-type": "application/json"}
    assert _shape(httpx.post(url + route, content=BODY, headers=headers), 401)
    assert httpx.get(url + "/healthz", timeout=60).status_code in (200, 503)


def test_big_and_deep_bodies_are_refused(served: tuple[str, str]) -> None:
    url, route = served
    big = b'{"messages": "' + b"x" * (CAP + 1) + b'"}'
    assert _shape(httpx.post(url + route, content=big, headers=JSON), 413)
    deep = b"[" * 200 + b"]" * 200
    error = _shape(httpx.post(url + route, content=deep, headers=JSON), 400)
    assert error["code"] == "invalid_json"
    lone = b'{"messages": "\\udc00"}'
    assert _shape(httpx.post(url + route, content=lone, headers=JSON), 400)


def test_unknown_routes_and_methods_have_the_shape(served: tuple[str, str]) -> None:
    url, route = served
    assert _shape(httpx.get(url + "/no/such/route", headers=AUTH), 404)["code"] == "not_found"
    assert _shape(httpx.put(url + route, content=BODY, headers=JSON), 405)
