"""The transport's limits, against real loopback servers: reply size, redirects, SSE framing,
replies without choices, and no raw exception escaping the HTTP seam."""

from __future__ import annotations

import asyncio
import gc
import gzip
import pickle
import weakref
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
from aiohttp import web

import scillm
from scillm import _http
from scillm._http import Endpoint
from scillm.providers import Call, resolve
from scillm.testing import Fault, MockLLMServer, Reply
from scillm.testing._background import BackgroundServer

USER = [{"role": "user", "content": "hi"}]
CAP = 1 << 20  # the reply cap set by these tests: 1 MiB
CHUNK = 64 * 1024


def completion_of(size: int) -> bytes:
    """A valid chat completion of exactly ``size`` bytes."""
    empty = orjson.dumps(_completion(""))
    return orjson.dumps(_completion("x" * (size - len(empty))))


def _completion(content: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": content}
    return {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}


def event(content: str) -> bytes:
    return orjson.dumps({"choices": [{"index": 0, "delta": {"content": content}}]})


class Wire:
    """A loopback server answering ``POST /{mode}/{arg}/chat/completions`` as scripted.

    Modes: ``length``/``chunked``/``gzip`` send a completion of ``arg`` bytes (with a
    Content-Length, chunked, gzip-encoded); ``sse`` sends 1 KiB events up to ``arg`` bytes;
    ``raw`` sends ``scripts[arg]`` as an event stream. Each request's client port is noted in
    ``ports``; ``finished[port]`` says whether the last reply on that connection was written
    to its end.
    """

    def __init__(self) -> None:
        self.ports: list[int] = []
        self.finished: dict[int, bool] = {}
        self.scripts: dict[str, bytes] = {}
        self._server = BackgroundServer(self._app, "127.0.0.1", 0)

    def base(self, mode: str, arg: object) -> str:
        return f"http://127.0.0.1:{self._server.port}/{mode}/{arg}"

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{mode}/{arg}/chat/completions", self._answer)
        return app

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        peer = request.transport.get_extra_info("peername") if request.transport else None
        port = peer[1] if peer else -1
        self.ports.append(port)
        mode, arg = request.match_info["mode"], request.match_info["arg"]
        if mode == "length":
            self.finished[port] = True
            return web.Response(body=completion_of(int(arg)), content_type="application/json")
        if mode == "gzip":
            self.finished[port] = True
            body, headers = gzip.compress(completion_of(int(arg))), {"Content-Encoding": "gzip"}
            return web.Response(body=body, headers=headers, content_type="application/json")
        if mode == "chunked":
            return await self._send(request, port, completion_of(int(arg)), "application/json")
        if mode == "sse":
            one = b"data: " + event("x" * 1000) + b"\n\n"
            body = one * (int(arg) // len(one) + 1)
            return await self._send(request, port, body, "text/event-stream")
        return await self._send(request, port, self.scripts[arg], "text/event-stream")

    async def _send(
        self, request: web.Request, port: int, body: bytes, kind: str
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": kind})
        response.enable_chunked_encoding()
        await response.prepare(request)
        try:
            for at in range(0, len(body), CHUNK):
                await response.write(body[at : at + CHUNK])
            await response.write_eof()
        except ConnectionError:  # the client closed the connection
            self.finished[port] = False
        else:
            self.finished[port] = True
        return response

    def __enter__(self) -> Wire:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()


@pytest.fixture
def wire() -> Iterator[Wire]:
    with Wire() as server:
        yield server


@pytest.fixture
def other() -> Iterator[MockLLMServer]:
    """A second mock server: another origin (another port)."""
    with MockLLMServer(host="127.0.0.1") as server:
        yield server


def call(api_base: str, **kwargs: Any) -> Call:
    return Call("m", list(USER), api_base=api_base, api_key="sk-secret", **kwargs)


async def complete(api_base: str, **kwargs: Any) -> Any:
    provider, _ = resolve("openai/m")
    return await provider.acompletion(call(api_base, **kwargs))


async def stream(api_base: str, **kwargs: Any) -> list[Any]:
    provider, _ = resolve("openai/m")
    chunks: AsyncIterator[Any] = await provider.astream(call(api_base, **kwargs))
    return [chunk async for chunk in chunks]


def text_of(chunks: list[Any]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


# -- reply size -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["length", "chunked", "gzip"])
async def test_a_reply_at_the_cap_is_read(wire: Wire, mode: str) -> None:
    resp = await complete(wire.base(mode, CAP), max_response_bytes=CAP)
    assert len(resp.choices[0].message.content) > CAP - 100


@pytest.mark.parametrize("mode", ["length", "chunked", "gzip"])
async def test_a_reply_over_the_cap_is_refused(wire: Wire, mode: str) -> None:
    with pytest.raises(scillm.APIError) as info:
        await complete(wire.base(mode, CAP + 1), max_response_bytes=CAP)
    err = info.value
    assert type(err) is scillm.APIError and err.status_code == 200
    assert f"more than {CAP} bytes" in str(err) and "max_response_bytes" in str(err)
    assert "SCILLM_MAX_RESPONSE_BYTES" in str(err)
    if mode == "length":
        assert "Content-Length" in str(err)  # refused before reading
    assert (await complete(wire.base(mode, CAP), max_response_bytes=CAP)).choices


@pytest.mark.parametrize("mode", ["length", "chunked"])
async def test_a_refused_reply_is_not_read_on_nor_pooled(wire: Wire, mode: str) -> None:
    await complete(wire.base("length", 100))
    await complete(wire.base("length", 100))
    assert wire.ports[0] == wire.ports[1]  # a reply read whole leaves its connection pooled
    with pytest.raises(scillm.APIError, match="more than"):
        await complete(wire.base(mode, 64 * CAP), max_response_bytes=CAP)
    await complete(wire.base("length", 100))
    assert wire.ports[3] != wire.ports[2]  # the refused reply's connection was closed
    refused = wire.ports[2]
    for _ in range(500):  # the server notices the closed connection when it next writes
        if refused in wire.finished:
            break
        await asyncio.sleep(0.01)
    assert wire.finished[refused] is (mode == "length")  # a reply with a length is one write


async def test_a_stream_over_the_cap_is_cut_with_a_clear_error(wire: Wire) -> None:
    with pytest.raises(scillm.APIError, match=f"more than {CAP} bytes") as info:
        await stream(wire.base("sse", 4 * CAP), max_response_bytes=CAP)
    assert info.value.status_code == 200
    await complete(wire.base("length", 100))
    assert wire.ports[1] != wire.ports[0]


async def test_a_stream_under_the_cap_is_read_whole(wire: Wire) -> None:
    chunks = await stream(wire.base("sse", CAP - 2048), max_response_bytes=CAP)
    assert text_of(chunks) == "x" * 1000 * len(chunks)


async def test_the_cap_comes_from_the_environment(
    wire: Wire, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCILLM_MAX_RESPONSE_BYTES", str(CAP))
    with pytest.raises(scillm.APIError, match=f"more than {CAP} bytes"):
        await complete(wire.base("length", CAP + 1))
    resp = await complete(wire.base("length", CAP + 1), max_response_bytes=CAP + 1)  # call wins
    assert resp.choices[0].message.content


async def test_the_default_cap_is_generous(wire: Wire) -> None:
    resp = await complete(wire.base("chunked", 8 * CAP))
    assert len(resp.choices[0].message.content) > 8 * CAP - 100


@pytest.mark.parametrize(
    ("variable", "value"),
    [("SCILLM_MAX_RESPONSE_BYTES", "lots"), ("SCILLM_FOLLOW_REDIRECTS", "maybe")],
)
async def test_a_malformed_environment_value_is_named(
    mock_llm: MockLLMServer, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    mock_llm.enqueue(redirect(307, "/v1/chat/completions"))
    with pytest.raises(scillm.BadRequestError, match=f"{variable}='{value}'"):
        await complete(mock_llm.base_url)


@pytest.mark.parametrize("cap", [0, -1])
async def test_a_cap_that_is_not_positive_is_refused(wire: Wire, cap: int) -> None:
    with pytest.raises(scillm.BadRequestError, match="positive"):
        await complete(wire.base("length", 100), max_response_bytes=cap)
    assert wire.ports == []


async def test_an_error_body_over_the_cap_keeps_its_status(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.http(503, b"x" * (CAP + 1)))
    with pytest.raises(scillm.ServerError, match=f"exceeded {CAP} bytes") as info:
        await complete(mock_llm.base_url, max_response_bytes=CAP)
    assert info.value.status_code == 503


async def test_a_stream_error_body_over_the_cap_keeps_its_status(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.http(429, b"x" * (CAP + 1)))
    with pytest.raises(scillm.RateLimitError, match=f"exceeded {CAP} bytes"):
        await stream(mock_llm.base_url, max_response_bytes=CAP)


# -- SSE framing ------------------------------------------------------------------------------


async def test_a_2_mib_stream_event_is_one_chunk(mock_llm: MockLLMServer) -> None:
    word = "y" * (2 << 20)
    mock_llm.set_reply(Reply(word))
    chunks = await stream(mock_llm.base_url)
    assert text_of(chunks) == word
    assert max(len(c["choices"][0]["delta"].get("content") or "") for c in chunks) == len(word)


async def test_sse_lines_in_every_legal_shape(wire: Wire) -> None:
    multi = b'data: {"choices": [{"index": 0,\r\ndata:  "delta": {"content": "c"}}]}\r\n\r\n'
    wire.scripts["shapes"] = (
        b": keep-alive\n\n"
        + b"data:" + event("a") + b"\r\n\r\n"  # no space, CRLF
        + b"event: message\nid: 2\nretry: 10\ndata: " + event("b") + b"\n\n"
        + multi  # one event over two data lines
        + b"data: " + event("d") + b"\n"  # no blank line before the next event
        + b"data: \n\n"  # an empty event
        + b"data: " + event("e")  # the last line has no newline, and no [DONE] follows
    )  # fmt: skip
    chunks = await stream(wire.base("raw", "shapes"))
    assert text_of(chunks) == "abcde"


async def test_done_ends_the_stream(wire: Wire) -> None:
    wire.scripts["done"] = b"data: " + event("a") + b"\n\ndata: [DONE]\n\ndata: " + event("z")
    assert text_of(await stream(wire.base("raw", "done"))) == "a"


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (b'data: {"choices": [\ndata: oops\n\n', "not JSON"),
        (b"data: [1, 2]\n\n", "not a JSON object"),
        (b'data: {"error": {"message": "overloaded"}}\n\n', "error mid-stream.*overloaded"),
        (b'data: {"choices": {"index": 0}}\n\n', "choices are not a list of objects"),
        (b'data: {"choices": ["a"]}\n\n', "choices are not a list of objects"),
    ],
)
async def test_unusable_stream_events_are_api_errors(
    wire: Wire, script: bytes, message: str
) -> None:
    wire.scripts["bad"] = script
    with pytest.raises(scillm.APIError, match=message):
        await stream(wire.base("raw", "bad"))


# -- redirects --------------------------------------------------------------------------------


def redirect(status: int, location: str) -> Fault:
    return Fault.http(status, b"", headers={"Location": location})


@pytest.mark.parametrize("status", [307, 308])
@pytest.mark.parametrize("location", ["/v1/chat/completions", "{url}/v1/chat/completions"])
async def test_a_same_origin_redirect_is_followed_with_its_body(
    mock_llm: MockLLMServer, status: int, location: str
) -> None:
    mock_llm.enqueue(redirect(status, location.format(url=mock_llm.url)))
    resp = await complete(mock_llm.base_url, extra_headers={"X-Team": "t"})
    assert resp.choices[0].message.content == "hi"
    first, second = mock_llm.requests
    assert second.method == "POST" and second.body == first.body
    assert second.headers["authorization"] == "Bearer sk-secret"
    assert second.headers["x-team"] == "t"


async def test_a_same_origin_redirect_of_a_stream_is_followed(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(redirect(307, "/chat/completions"))
    assert text_of(await stream(mock_llm.base_url)) == "hi"
    assert [r.path for r in mock_llm.requests] == ["/v1/chat/completions", "/chat/completions"]


async def test_a_303_becomes_a_get_without_body(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(redirect(303, "/v1/elsewhere"))
    with pytest.raises(scillm.NotFoundError):
        await complete(mock_llm.base_url)
    second = mock_llm.requests[1]
    assert second.method == "GET" and second.path == "/v1/elsewhere" and second.body is None
    assert "content-type" not in second.headers


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("streamed", [False, True])
async def test_a_cross_origin_redirect_is_refused_and_sends_nothing(
    mock_llm: MockLLMServer, other: MockLLMServer, status: int, streamed: bool
) -> None:
    target = other.base_url + "/chat/completions"
    mock_llm.enqueue(redirect(status, target))
    send = stream if streamed else complete
    with pytest.raises(scillm.APIError) as info:
        await send(mock_llm.base_url)
    message = str(info.value)
    assert info.value.status_code == status
    assert target in message and "follow_redirects=True" in message and "api_base" in message
    assert "SCILLM_FOLLOW_REDIRECTS" in message
    assert other.requests == []


async def test_a_redirect_to_another_scheme_is_another_origin(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(redirect(307, f"https://127.0.0.1:{mock_llm.port}/v1/chat/completions"))
    with pytest.raises(scillm.APIError, match="another origin"):
        await complete(mock_llm.base_url)
    assert len(mock_llm.requests) == 1


async def test_an_allowed_cross_origin_redirect_carries_no_credentials(
    mock_llm: MockLLMServer, other: MockLLMServer
) -> None:
    mock_llm.enqueue(redirect(307, other.base_url + "/chat/completions"))
    resp = await complete(mock_llm.base_url, follow_redirects=True, extra_headers={"X-Team": "t"})
    assert resp.choices[0].message.content == "hi"
    received = other.last_request
    assert received.body == mock_llm.last_request.body  # 307 keeps method and body
    assert "authorization" not in received.headers and "x-team" not in received.headers
    assert mock_llm.last_request.headers["authorization"] == "Bearer sk-secret"


async def test_the_environment_can_allow_cross_origin_redirects(
    mock_llm: MockLLMServer, other: MockLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCILLM_FOLLOW_REDIRECTS", "1")
    mock_llm.enqueue(redirect(308, other.base_url + "/chat/completions"))
    assert text_of(await stream(mock_llm.base_url)) == "hi"
    assert "authorization" not in other.last_request.headers
    with pytest.raises(scillm.APIError, match="another origin"):  # the call's False wins
        mock_llm.enqueue(redirect(308, other.base_url + "/chat/completions"))
        await complete(mock_llm.base_url, follow_redirects=False)


async def test_a_redirect_loop_ends(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(*[redirect(307, "/v1/chat/completions")] * 10)
    with pytest.raises(scillm.APIError, match="more than 5 times"):
        await complete(mock_llm.base_url)
    assert len(mock_llm.requests) == 6


async def test_a_redirect_without_location_is_an_error(mock_llm: MockLLMServer) -> None:
    mock_llm.enqueue(Fault.http(307, b""))
    with pytest.raises(scillm.APIError, match="without a usable Location"):
        await complete(mock_llm.base_url)


# -- replies without choices ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "without choices"),
        ({"choices": None}, "without choices"),
        ({"choices": []}, "without choices"),
        ({"choices": {"0": {}}}, "not a list of objects"),
        ({"choices": ["hello"]}, "not a list of objects"),
        ({"error": {"message": "quota exhausted", "code": 429}}, "error.*quota exhausted"),
        ({"error": "model is loading"}, "model is loading"),
    ],
)
def test_a_200_reply_without_choices_is_an_api_error(
    mock_llm: MockLLMServer, body: dict[str, Any], message: str
) -> None:
    mock_llm.set_reply(lambda _: body)
    with pytest.raises(scillm.APIError, match=message) as info:
        scillm.completion("openai/m", USER, api_base=mock_llm.base_url, api_key="k")
    assert info.value.status_code == 200 and "HTTP 200" in str(info.value)


def test_a_reply_not_from_http_without_choices_names_no_status() -> None:
    from scillm.providers.openai_compat import to_completion

    with pytest.raises(scillm.APIError, match=r"^my-llm returned a reply without choices") as info:
        to_completion({"result": "x"}, provider="my-llm")
    assert info.value.status_code is None and "api_base" not in str(info.value)


# -- the pooled session ----------------------------------------------------------------------


async def test_a_closed_pooled_session_is_replaced_once(mock_llm: MockLLMServer) -> None:
    await complete(mock_llm.base_url)
    first = await _http.session()
    await first.close()  # closed behind the pool's back, not through _http.aclose
    await complete(mock_llm.base_url)
    second = await _http.session()
    await complete(mock_llm.base_url)
    assert second is not first and not second.closed and await _http.session() is second
    assert len(mock_llm.requests) == 3


def test_a_finished_event_loop_leaves_no_session_behind(mock_llm: MockLLMServer) -> None:
    loops: list[weakref.ref[asyncio.AbstractEventLoop]] = []

    async def one_call() -> None:
        loops.append(weakref.ref(asyncio.get_running_loop()))
        await complete(mock_llm.base_url)

    for _ in range(3):
        asyncio.run(one_call())
    gc.collect()
    assert len(mock_llm.requests) == 3
    assert [ref() for ref in loops] == [None, None, None]  # each loop and its session are freed


# -- the client's name ------------------------------------------------------------------------


async def test_requests_name_scillm_as_their_user_agent(mock_llm: MockLLMServer) -> None:
    await complete(mock_llm.base_url)
    assert mock_llm.requests[0].headers["user-agent"] == f"scillm/{scillm.__version__}"


@pytest.mark.parametrize("name", ["User-Agent", "user-agent", "USER-AGENT"])
async def test_a_callers_user_agent_replaces_scillms(mock_llm: MockLLMServer, name: str) -> None:
    await complete(mock_llm.base_url, extra_headers={name: "my-app/2"})
    assert mock_llm.requests[0].headers["user-agent"] == "my-app/2"
    endpoint = Endpoint(mock_llm.base_url, {name: "my-app/2"}, "openai")
    assert [k for k in endpoint.headers if k.lower() == "user-agent"] == [name]


async def test_an_endpoint_and_a_provider_holding_one_survive_pickling(
    mock_llm: MockLLMServer,
) -> None:
    url = mock_llm.base_url + "/chat/completions"
    endpoint = Endpoint(url, {"X-Team": "a"}, "openai", max_response_bytes=10_000)
    copy = pickle.loads(pickle.dumps(endpoint))
    assert (copy.url, dict(copy.headers), copy.provider) == (url, dict(endpoint.headers), "openai")
    assert (copy.follow_redirects, copy.max_response_bytes) == (None, 10_000)
    reply, _ = await _http.post_json(copy, {"model": "m", "messages": []}, timeout=5, model="m")
    assert reply["choices"]
    assert mock_llm.requests[-1].headers["x-team"] == "a"
    await complete(mock_llm.base_url)  # the provider now keeps an endpoint
    provider, _ = resolve("openai/m")
    assert type(pickle.loads(pickle.dumps(provider))) is type(provider)


# -- no raw exception escapes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{"X-Team": "a\nb"}, {"X-Team\r": "a"}, {"X-Team": "\x00"}, {"X-Team": 1}]
)
async def test_an_unsendable_header_is_a_bad_request(
    mock_llm: MockLLMServer, headers: dict[str, Any]
) -> None:
    with pytest.raises(scillm.BadRequestError, match="extra_headers"):
        await complete(mock_llm.base_url, extra_headers=headers)
    assert mock_llm.requests == []


async def test_a_key_with_a_newline_is_refused_without_showing_it(mock_llm: MockLLMServer) -> None:
    provider, _ = resolve("openai/m")
    key = "sk-from-a-file\n"
    with pytest.raises(scillm.BadRequestError, match="api_key") as info:
        await provider.acompletion(Call("m", USER, api_base=mock_llm.base_url, api_key=key))
    assert "sk-from-a-file" not in str(info.value)
    assert mock_llm.requests == []


@pytest.mark.parametrize(
    "base", ["ftp://127.0.0.1/v1", "//127.0.0.1/v1", "http://127.0.0.1:99999/v1", "http://a..b/v1"]
)
async def test_an_unusable_url_is_a_bad_request(base: str) -> None:
    with pytest.raises(scillm.BadRequestError, match="api_base"):
        await complete(base)


async def test_a_body_that_is_not_json_is_a_bad_request(mock_llm: MockLLMServer) -> None:
    with pytest.raises(scillm.BadRequestError, match="JSON"):
        await complete(mock_llm.base_url, params={"metadata": {"tags": {1, 2}}})
    assert mock_llm.requests == []


# -- the per-request timeout ------------------------------------------------------------------


def test_a_timeout_is_cut_down_to_the_millisecond_and_made_once() -> None:
    from scillm._http import _timeout

    first, second = _timeout(599.99971), _timeout(599.99932)  # two calls' time left
    assert first is second and first.total == 599.999
    assert _timeout(2.0).total == 2.0 and _timeout(None).total is None
    assert _timeout(0.0004).total == 0.0004  # under a millisecond: kept, never cut to zero
