"""Tools served over HTTP: ``GET {base}/tools`` lists them, ``POST {base}/invoke`` runs one.

    tools = HttpTools("http://127.0.0.1:9000", headers={"Authorization": "Bearer ..."})

``/tools`` answers a list of specs (OpenAI ``{"type": "function", "function": {...}}`` or flat
``{"name", "description", "parameters"}``), bare or as ``{"tools": [...]}``. ``/invoke`` gets
``{"name", "arguments"}`` once per call, retried only on 429 and 5xx (honouring Retry-After).
A JSON object reply with ``ok`` is read as a tool result (``result``/``stdout``/``stderr``/
``rc``/``error``); any other JSON value or plain text is the result.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import orjson

from scillm import _http
from scillm._retry_after import parse_retry_after
from scillm.agent.tools.base import ToolResult, function_spec, spec_name
from scillm.errors import EngineUnavailable

__all__ = ["HttpTools"]

MAX_ATTEMPTS = 3
BACKOFF_S = 0.5
EXCERPT = 500


class HttpTools:
    """The tools of one HTTP tool server; ``headers`` go with every request to it."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"tool server URL must start with http:// or https://: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.headers = dict(headers or {})
        self.timeout_s, self.max_attempts = timeout_s, max(1, max_attempts)
        self._specs: list[dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return f"HttpTools({self.base_url!r})"

    async def list_tools(self) -> list[dict[str, Any]]:
        """``GET /tools``, once; a server that cannot list its tools is unavailable."""
        if self._specs is None:
            status, _, body = await self._request("GET", "/tools", None, self.timeout_s)
            if status != 200 or not isinstance(body, list | dict):
                raise EngineUnavailable(
                    f"tool server {self.base_url}/tools answered HTTP {status}: "
                    f"{str(body)[:EXCERPT]}"
                )
            self._specs = [_spec(raw) for raw in _tool_list(body)]
        return list(self._specs)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], *, timeout_s: float
    ) -> ToolResult:
        """``POST /invoke`` once; again only after a 429 or 5xx, while time is left."""
        deadline = time.monotonic() + timeout_s
        payload = {"name": name, "arguments": arguments}
        attempt = 0
        while True:
            attempt += 1
            left = max(deadline - time.monotonic(), 0.001)
            status, headers, body = await self._request("POST", "/invoke", payload, left)
            retryable = status == 429 or status >= 500
            wait_s = _wait_s(headers, attempt) if retryable else 0.0
            if not retryable or attempt >= self.max_attempts:
                return _result(status, body, attempt)
            if time.monotonic() + wait_s >= deadline:
                return _result(status, body, attempt)
            await asyncio.sleep(wait_s)

    async def _request(
        self, method: str, path: str, payload: Any, timeout_s: float
    ) -> tuple[int, Mapping[str, str], Any]:
        import aiohttp

        session = await _http.session()
        data = orjson.dumps(payload) if payload is not None else None
        headers = {"Content-Type": "application/json", **self.headers}
        try:
            async with session.request(
                method,
                self.base_url + path,
                data=data,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=timeout_s),
            ) as resp:
                return resp.status, dict(resp.headers), _decode(await resp.read())
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise EngineUnavailable(
                f"tool server {self.base_url}{path} unreachable or too slow "
                f"({type(exc).__name__}: {exc})"
            ) from exc


def _wait_s(headers: Mapping[str, str], attempt: int) -> float:
    after = parse_retry_after(headers)
    return after if after is not None else BACKOFF_S * 2 ** (attempt - 1)


def _decode(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


def _tool_list(body: Any) -> list[Any]:
    tools = body.get("tools") if isinstance(body, dict) else body
    if not isinstance(tools, list):
        raise EngineUnavailable(
            f"tool list must be a list or {{'tools': [...]}}: {str(body)[:200]}"
        )
    return tools


def _spec(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise EngineUnavailable(f"tool spec must be an object: {str(raw)[:200]}")
    inner = raw.get("function", raw)
    parameters = inner.get("parameters") or {"type": "object", "properties": {}}
    name = spec_name(raw)
    return function_spec(name, str(inner.get("description") or name), parameters)


def _result(status: int, body: Any, attempts: int) -> ToolResult:
    if status >= 400:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        return ToolResult(
            ok=False, error=f"tool server answered HTTP {status}{tries}: {str(body)[:EXCERPT]}"
        )
    if isinstance(body, dict) and isinstance(body.get("ok"), bool):
        rc = body.get("rc")
        return ToolResult(
            ok=body["ok"],
            result=body.get("result"),
            stdout=str(body.get("stdout") or ""),
            stderr=str(body.get("stderr") or ""),
            rc=rc if isinstance(rc, int) else None,
            error=str(body["error"]) if body.get("error") else None,
        )
    return ToolResult(ok=True, result=body)
