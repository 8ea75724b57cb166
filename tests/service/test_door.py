"""The door every service shares (scillm.service): each attack a page, a rebinding DNS name or a
careless client could try, against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import Request

from scillm.service import (
    ApiError,
    PortBusy,
    ServiceConfig,
    bind,
    create_service_app,
    read_json,
)

TOKEN = "s3cret-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}


@dataclass
class Served:
    url: str
    port: int
    ran: list[str] = field(default_factory=list)


def _serve(config: ServiceConfig) -> Iterator[Served]:
    import uvicorn

    app = create_service_app("door-test", config)
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    served = Served(f"http://127.0.0.1:{port}", port)

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, object]:
        served.ran.append("echo")
        body = await read_json(request)
        if body.get("missing"):
            raise ApiError(404, "no such thing", code="model_not_found", param="model")
        if body.get("crash"):
            raise RuntimeError(f"internal detail {TOKEN}")
        return {"got": body}

    @app.get("/list")
    async def listing() -> list[int]:
        served.ran.append("list")
        return [1]

    server = uvicorn.Server(uvicorn.Config(app, log_level="critical"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            threading.Event().wait(0.02)
        yield served
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="module")
def svc() -> Iterator[Served]:
    yield from _serve(ServiceConfig(host="127.0.0.1", token=TOKEN, max_body_bytes=4096))


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as c:
        yield c


def _error(reply: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
    assert reply.status_code == status, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["type"], str) and error["type"].endswith("_error")
    if code is not None:
        assert error["code"] == code
    return error


def test_a_good_request_passes(svc: Served, client: httpx.Client) -> None:
    reply = client.post(f"{svc.url}/echo", json={"a": 1}, headers=AUTH)
    assert reply.status_code == 200 and reply.json() == {"got": {"a": 1}}
    charset = {**AUTH, "content-type": "application/json; charset=utf-8"}
    assert client.post(f"{svc.url}/echo", content=b"{}", headers=charset).status_code == 200
    vendor = {**AUTH, "content-type": "application/vnd.api+json"}
    assert client.post(f"{svc.url}/echo", content=b"{}", headers=vendor).status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.nip.io", "attacker.localhost.com"])
def test_a_rebound_dns_name_is_refused(svc: Served, client: httpx.Client, host: str) -> None:
    before = len(svc.ran)
    reply = client.post(f"{svc.url}/echo", json={}, headers={**AUTH, "host": f"{host}:{svc.port}"})
    error = _error(reply, 400, "host_not_allowed")
    assert host in str(error["message"]) and "--allowed-host" in str(error["message"])
    assert len(svc.ran) == before  # the route never ran


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "[::1]", "127.0.0.2"])
def test_loopback_names_pass(svc: Served, client: httpx.Client, host: str) -> None:
    reply = client.get(f"{svc.url}/list", headers={**AUTH, "host": f"{host}:{svc.port}"})
    assert reply.status_code == 200


def test_a_cross_site_page_is_refused(svc: Served, client: httpx.Client) -> None:
    before = len(svc.ran)
    cross = {**AUTH, "origin": "http://evil.example"}
    _error(client.post(f"{svc.url}/echo", json={}, headers=cross), 403, "origin_not_allowed")
    _error(client.get(f"{svc.url}/list", headers=cross), 403, "origin_not_allowed")
    assert len(svc.ran) == before
    same = {**AUTH, "origin": f"http://127.0.0.1:{svc.port}"}
    assert client.get(f"{svc.url}/list", headers=same).status_code == 200
    # No CORS unless configured: a preflight gets no Access-Control-* header.
    preflight = client.options(
        f"{svc.url}/echo",
        headers={"origin": "http://evil.example", "access-control-request-method": "POST"},
    )
    assert not any(k.lower().startswith("access-control") for k in preflight.headers)


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ],
)
def test_a_simple_cross_site_post_is_refused(
    svc: Served, client: httpx.Client, content_type: str | None
) -> None:
    before = len(svc.ran)
    headers = dict(AUTH)
    if content_type is not None:
        headers["content-type"] = content_type
    reply = client.post(f"{svc.url}/echo", content=b'{"a": 1}', headers=headers)
    error = _error(reply, 415, "unsupported_media_type")
    assert "application/json" in str(error["message"])
    assert len(svc.ran) == before


def test_the_token_is_required_except_on_healthz(svc: Served, client: httpx.Client) -> None:
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
        reply = client.post(f"{svc.url}/echo", json={}, headers=headers)
        _error(reply, 401, "invalid_api_key")
        assert reply.headers["www-authenticate"] == "Bearer"
        _error(client.get(f"{svc.url}/list", headers=headers), 401)
        # An unknown route does not tell a stranger which routes exist.
        _error(client.get(f"{svc.url}/secret-route", headers=headers), 401)
    assert client.get(f"{svc.url}/healthz").status_code == 200
    # The scheme is case-insensitive (RFC 9110); the token is not.
    assert client.get(f"{svc.url}/list", headers={"authorization": f"bearer {TOKEN}"}).is_success
    upper = {"authorization": f"Bearer {TOKEN.upper()}"}
    _error(client.get(f"{svc.url}/list", headers=upper), 401)


def test_a_body_over_the_cap_is_refused_unread(svc: Served, client: httpx.Client) -> None:
    before = len(svc.ran)
    big = {"text": "x" * 10_000}
    error = _error(client.post(f"{svc.url}/echo", json=big, headers=AUTH), 413)
    assert "4,096 bytes" in str(error["message"]) and "--max-body-bytes" in str(error["message"])
    assert len(svc.ran) == before  # refused on its Content-Length, before the route


def test_a_chunked_body_is_cut_off_at_the_cap(svc: Served, client: httpx.Client) -> None:
    sent = []

    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(64):  # 64 KiB, 16 times the cap
            sent.append(1)
            yield b"x" * 1024
        yield b'"}'

    headers = {**AUTH, "content-type": "application/json"}
    reply = client.post(f"{svc.url}/echo", content=chunks(), headers=headers)
    _error(reply, 413, "request_too_large")


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"a": "\\ud800"}', "not valid JSON"),  # an unpaired surrogate
        (b'{"a": "\xed\xa0\x80"}', "not valid JSON"),  # a surrogate encoded in UTF-8
        (b"[" * 129 + b"]" * 129, "deeper than 128"),
        (b'{"a":' * 200 + b"1" + b"}" * 200, "deeper than 128"),
        (b"[" * 1500 + b"]" * 1500, "not valid JSON"),  # past orjson's own limit
        (b"[1, 2]", "must be a JSON object"),
    ],
)
def test_bad_json_is_a_400_not_a_crash(
    svc: Served, client: httpx.Client, body: bytes, says: str
) -> None:
    headers = {**AUTH, "content-type": "application/json"}
    error = _error(client.post(f"{svc.url}/echo", content=body, headers=headers), 400)
    assert error["code"] == "invalid_json" and says in str(error["message"])


def test_every_error_has_the_one_shape(svc: Served, client: httpx.Client) -> None:
    error = _error(client.get(f"{svc.url}/nowhere", headers=AUTH), 404, "not_found")
    assert error["message"] == "Invalid URL (GET /nowhere)"
    _error(client.get(f"{svc.url}/echo", headers=AUTH), 405, "method_not_allowed")
    error = _error(client.post(f"{svc.url}/echo", json={"missing": 1}, headers=AUTH), 404)
    assert error == {
        "message": "no such thing",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


def test_a_crash_is_a_500_without_its_details(svc: Served, client: httpx.Client) -> None:
    reply = client.post(f"{svc.url}/echo", json={"crash": 1}, headers=AUTH)
    error = _error(reply, 500, "internal_error")
    assert error["type"] == "server_error"
    assert TOKEN not in reply.text and "Traceback" not in reply.text


def test_configured_cors_answers_preflights_for_its_origin_only() -> None:
    origin = "http://notebook.example"
    config = ServiceConfig(token=TOKEN, cors_origins=(origin,))
    for served in _serve(config):
        with httpx.Client() as client:
            preflight = client.options(
                f"{served.url}/echo",
                headers={"origin": origin, "access-control-request-method": "POST"},
            )
            assert preflight.headers["access-control-allow-origin"] == origin
            reply = client.post(
                f"{served.url}/echo", json={"a": 1}, headers={**AUTH, "origin": origin}
            )
            assert reply.status_code == 200
            other = {**AUTH, "origin": "http://evil.example"}
            _error(client.post(f"{served.url}/echo", json={}, headers=other), 403)


def test_allowed_hosts_extend_the_loopback_names() -> None:
    config = ServiceConfig(allowed_hosts=("lab-box.internal",))
    for served in _serve(config):
        with httpx.Client() as client:
            ok = {"host": "lab-box.internal"}
            assert client.get(f"{served.url}/list", headers=ok).status_code == 200
            _error(client.get(f"{served.url}/list", headers={"host": "other.internal"}), 400)


def test_beyond_loopback_a_token_is_always_required() -> None:
    generated = ServiceConfig(host="0.0.0.0").secured()
    assert generated.token and len(generated.token) >= 24 and generated.token_generated
    assert ServiceConfig(host="0.0.0.0").secured().token != generated.token
    assert ServiceConfig(host="10.1.2.3", token="given").secured().token == "given"
    with pytest.raises(ValueError, match="without a token"):
        ServiceConfig(host="0.0.0.0", token="").secured()
    assert ServiceConfig(host="127.0.0.1", token="").secured().token is None
    assert ServiceConfig(host="::1").secured().token is None


def test_config_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SCILLM_AGENT_TOKEN", "OLD_TOKEN", "SCILLM_SERVICE_TOKEN", "SCILLM_AGENT_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert ServiceConfig.from_env("agent").port == 8788  # the catalog's
    assert ServiceConfig.from_env("unknown-thing").port == 0
    monkeypatch.setenv("SCILLM_SERVICE_TOKEN", "shared")
    legacy = {"token": ("OLD_TOKEN",)}
    assert ServiceConfig.from_env("agent", legacy=legacy).token == "shared"
    monkeypatch.setenv("OLD_TOKEN", "old")
    assert ServiceConfig.from_env("agent", legacy=legacy).token == "old"
    monkeypatch.setenv("SCILLM_AGENT_TOKEN", "new")
    assert ServiceConfig.from_env("agent", legacy=legacy).token == "new"
    assert ServiceConfig.from_env("agent", legacy=legacy, token="arg").token == "arg"
    monkeypatch.setenv("SCILLM_AGENT_PORT", "9001")
    assert ServiceConfig.from_env("agent").port == 9001
    monkeypatch.setenv("SCILLM_MAX_BODY_BYTES", "-5")
    with pytest.raises(ValueError, match="SCILLM_MAX_BODY_BYTES"):
        ServiceConfig.from_env("agent")


def test_a_busy_port_is_one_clear_error() -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        with pytest.raises(PortBusy, match=f"port {port} on 127.0.0.1 is already in use"):
            bind("127.0.0.1", port)
    finally:
        holder.close()
