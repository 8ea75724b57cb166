"""A client of an OpenAI-style Files + Batches API (``{base}/files``, ``{base}/batches``).

    api = BatchApi("https://api.openai.com/v1", {"Authorization": "Bearer ..."}, "openai")
    file_id = await api.upload(path)
    batch = await api.create(file_id, {"scillm_rows": "0-49999"})
    batch = await api.retrieve(batch["id"])
    await api.download(batch["output_file_id"], local_path)

A 429 or 5xx, or a connection failure, is retried after the server's ``Retry-After`` (else a
growing pause) up to :data:`MAX_ATTEMPTS` times; other errors raise at once. JSON requests go
through the transport seam (:func:`scillm._http.post_json`); the multipart upload and the
downloads use its pooled session.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from scillm import _http
from scillm.errors import APIError, ConnectionError, ScillmError, error_from_response

__all__ = ["MAX_ATTEMPTS", "BatchApi", "checked_id"]

if TYPE_CHECKING:
    import aiohttp

T = TypeVar("T")

MAX_ATTEMPTS = 8
BASE_PAUSE_S = 1.0
MAX_PAUSE_S = 60.0
REQUEST_TIMEOUT_S = 600.0
_CHUNK = 1 << 20
MAX_REPLY_BYTES = 16 * 1024 * 1024
LIST_PAGE = 100
MAX_LIST_PAGES = 10


_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.:-]{0,199}")


def checked_id(value: object, what: str, provider: str) -> str:
    """A file or batch id from the server, refused unless it is a plain token (it goes into
    URL paths: ``../`` or ``?`` would send later requests elsewhere)."""
    if not isinstance(value, str) or _ID.fullmatch(value) is None:
        raise APIError(
            f"the server sent a {what} id that is not a plain token: {value!r:.80}",
            provider=provider,
        )
    return value


async def _read_capped(resp: aiohttp.ClientResponse) -> bytes:
    """A JSON reply's body, refused past :data:`MAX_REPLY_BYTES` (a file's content is streamed
    to disk instead)."""
    parts, size = [], 0
    async for chunk in resp.content.iter_chunked(_CHUNK):
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            raise APIError(f"{resp.url} sent over {MAX_REPLY_BYTES} bytes for a JSON reply")
        parts.append(chunk)
    return b"".join(parts)


def _retryable(exc: ScillmError) -> bool:
    if isinstance(exc, ConnectionError):
        return True
    status = getattr(exc, "status_code", None)
    return status == 429 or (isinstance(status, int) and status >= 500)


class BatchApi:
    """Files and Batches calls against ``base`` (the ``.../v1`` URL) with ``headers``."""

    def __init__(self, base: str, headers: Mapping[str, str], provider: str) -> None:
        self.base = base.rstrip("/")
        self.headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
        self.provider = provider
        self.list_page = LIST_PAGE
        """Batches asked for per page when listing."""
        self.retries_after: list[float] = []
        """Waits the server asked for (Retry-After), in order: for tests and the run report."""

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        pause = BASE_PAUSE_S
        for number in range(1, MAX_ATTEMPTS + 1):
            try:
                return await attempt()
            except ScillmError as exc:
                if number == MAX_ATTEMPTS or not _retryable(exc):
                    raise
                told = getattr(exc, "retry_after_s", None)
                if told is not None:
                    self.retries_after.append(told)
                await asyncio.sleep(min(told if told is not None else pause, MAX_PAUSE_S))
                pause = min(pause * 2, MAX_PAUSE_S)
        raise AssertionError("unreachable")

    async def _post_json(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        endpoint = _http.Endpoint(
            self.base + path, {**self.headers, "Content-Type": "application/json"}, self.provider
        )

        async def attempt() -> dict[str, Any]:
            data, _ = await _http.post_json(
                endpoint, body, timeout=REQUEST_TIMEOUT_S, model="batches"
            )
            return data

        return await self._retrying(attempt)

    async def _get(self, path: str, target: Path | None = None) -> bytes:
        """GET ``path``; the body, or with ``target`` the body written there (returns b"")."""
        import aiohttp

        url = self.base + path

        async def attempt() -> bytes:
            sess = await _http.session()
            try:
                timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
                async with sess.get(
                    url, headers=self.headers, timeout=timeout, allow_redirects=False
                ) as resp:
                    if target is None or resp.status >= 300:
                        return self._checked(resp, await _read_capped(resp))
                    with open(target, "wb") as f:
                        async for chunk in resp.content.iter_chunked(_CHUNK):
                            f.write(chunk)
                    return b""
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise ConnectionError(f"GET {url} failed: {exc!r}") from exc

        return await self._retrying(attempt)

    def _checked(self, resp: aiohttp.ClientResponse, raw: bytes) -> bytes:
        """``raw`` of a 2xx reply; an error for a redirect (never followed: it would carry the
        key elsewhere) or an HTTP error."""
        if 300 <= resp.status < 400:
            where = resp.headers.get("Location", "?")
            raise APIError(
                f"{resp.method} {resp.url} was redirected to {where!r}; refused (set --api-base "
                "to the server itself)",
                status_code=resp.status,
                provider=self.provider,
            )
        if resp.status >= 400:
            text = raw.decode("utf-8", "replace")
            raise error_from_response(resp.status, text, resp.headers, provider=self.provider)
        return raw

    async def _get_json(self, path: str) -> dict[str, Any]:
        raw = await self._get(path)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise APIError(f"GET {path}: the reply is not a JSON object", provider=self.provider)
        return data

    async def upload(self, path: Path) -> str:
        """Upload a request file (``purpose=batch``); its file id."""
        import aiohttp

        url = self.base + "/files"

        async def attempt() -> dict[str, Any]:
            sess = await _http.session()
            form = aiohttp.FormData()
            form.add_field("purpose", "batch")
            try:
                with open(path, "rb") as f:
                    form.add_field("file", f, filename=path.name, content_type="application/jsonl")
                    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
                    async with sess.post(
                        url,
                        data=form,
                        headers=self.headers,
                        timeout=timeout,
                        allow_redirects=False,
                    ) as resp:
                        raw = self._checked(resp, await _read_capped(resp))
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                raise ConnectionError(f"POST {url} failed: {exc!r}") from exc
            try:
                data = orjson.loads(raw)
            except orjson.JSONDecodeError:
                data = None
            if not isinstance(data, dict):
                raise APIError(
                    "POST /files: the reply is not a JSON object", provider=self.provider
                )
            return data

        return checked_id((await self._retrying(attempt)).get("id"), "file", self.provider)

    async def create(self, file_id: str, metadata: Mapping[str, str]) -> dict[str, Any]:
        """Create a 24 h batch of chat completions over an uploaded file."""
        body = {
            "input_file_id": file_id,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "metadata": dict(metadata),
        }
        batch = await self._post_json("/batches", body)
        checked_id(batch.get("id"), "batch", self.provider)
        return batch

    async def find_by_file(
        self, file_id: str, pages: int = MAX_LIST_PAGES
    ) -> dict[str, Any] | None:
        """The newest batch made of ``file_id`` among the last ``pages`` pages of batches (how a
        run killed between creating a batch and recording its id finds it), or None."""
        after = ""
        for _ in range(pages):
            page = await self._get_json(f"/batches?limit={self.list_page}{after}")
            data = page.get("data")
            if not isinstance(data, list):
                return None
            for batch in data:
                if isinstance(batch, dict) and batch.get("input_file_id") == file_id:
                    checked_id(batch.get("id"), "batch", self.provider)
                    return batch
            if page.get("has_more") is not True or not data or not isinstance(data[-1], dict):
                return None
            after = f"&after={checked_id(data[-1].get('id'), 'batch', self.provider)}"
        return None

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        batch_id = checked_id(batch_id, "batch", self.provider)
        return await self._get_json(f"/batches/{batch_id}")

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        batch_id = checked_id(batch_id, "batch", self.provider)
        return await self._post_json(f"/batches/{batch_id}/cancel", {})

    async def download(self, file_id: str, target: Path) -> None:
        """Write a file's content to ``target`` (replaced whole: a partial download is not kept)."""
        file_id = checked_id(file_id, "file", self.provider)
        tmp = target.with_name(target.name + ".part")
        await self._get(f"/files/{file_id}/content", tmp)
        tmp.replace(target)
