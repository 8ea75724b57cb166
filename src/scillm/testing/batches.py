"""The mock server's OpenAI-style Files and Batches APIs, for offline tests of provider batches.

    with MockLLMServer(reply=ECHO) as srv:
        srv.batches.processing_s = 2.0          # a batch completes 2 s after it is created
        srv.batches.fail_ids = {"q7"}           # these custom_ids get an HTTP 500 in the error file
        srv.batches.expire_after = 10           # the batch expires after 10 requests
        srv.batches.throttle(2, retry_after_s=0.2)   # the next 2 file/batch requests get a 429

Endpoints: ``POST /v1/files`` (multipart ``purpose=batch`` + ``file``), ``GET /v1/files/{id}``,
``GET /v1/files/{id}/content``, ``POST /v1/batches``, ``GET /v1/batches`` (newest first,
``limit``/``after``), ``GET /v1/batches/{id}``,
``POST /v1/batches/{id}/cancel``. A batch's state follows the clock: ``in_progress`` (with
``request_counts.completed`` growing) until ``processing_s`` has passed, then ``completed``
(or ``expired``) with an output file and, when any request failed, an error file. Each request
line is answered like ``POST /v1/chat/completions`` (the server's reply spec; no faults).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import count
from typing import Any

import orjson
from aiohttp import web

from scillm.testing import _send as send
from scillm.testing.replies import JSONDict

__all__ = ["MockBatches"]

Render = Callable[[JSONDict], tuple[int, JSONDict]]
"""Answers one chat request body: (HTTP status, response body)."""

CHAT_URL = "/v1/chat/completions"


@dataclass(slots=True)
class _Batch:
    id: str
    input_file_id: str
    lines: list[JSONDict]
    created_at: float
    processing_s: float
    expire_after: int | None
    metadata: Any
    status: str = "in_progress"
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"completed": 0, "failed": 0})
    ended_at: float | None = None


class MockBatches:
    """Files and Batches state of one mock server; see the module docstring."""

    def __init__(self, render: Render) -> None:
        self._render = render
        self.processing_s = 0.0
        self.fail_ids: set[str] = set()
        self.expire_after: int | None = None
        self.max_requests_per_file = 50_000
        self.max_file_bytes = 200 * 1024 * 1024
        self._throttled = 0
        self._retry_after_s = 1.0
        self._files: dict[str, bytes] = {}
        self._batches: dict[str, _Batch] = {}
        self._uploaded: list[str] = []
        self._ids = count(1)
        self._lock = threading.Lock()
        self.authorizations: list[str | None] = []
        """The ``Authorization`` header of every file/batch request, oldest first."""
        self.throttled_served = 0
        """429s served by :meth:`throttle` so far."""

    # -- test controls ------------------------------------------------------------------------

    def throttle(self, times: int, retry_after_s: float = 1.0) -> None:
        """Answer the next ``times`` file/batch requests with a 429 and ``Retry-After``."""
        self._throttled, self._retry_after_s = times, retry_after_s

    @property
    def created(self) -> list[str]:
        """Ids of every batch created, oldest first."""
        with self._lock:
            return list(self._batches)

    def status(self, batch_id: str) -> str:
        """The status a retrieve would report now."""
        with self._lock:
            batch = self._batches[batch_id]
            self._advance(batch, time.time())
            return batch.status

    @property
    def uploads(self) -> list[bytes]:
        """Every uploaded file's content, oldest first."""
        with self._lock:
            return [self._files[file_id] for file_id in self._uploaded]

    def request_lines(self, batch_id: str) -> list[JSONDict]:
        """The request lines of batch ``batch_id``, as uploaded."""
        with self._lock:
            return list(self._batches[batch_id].lines)

    def file_bytes(self, file_id: str) -> bytes:
        """What was uploaded (or produced) under ``file_id``."""
        with self._lock:
            return self._files[file_id]

    # -- routes -------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Route the Files and Batches endpoints of ``app`` here."""
        app.router.add_post("/v1/files", self._guard(self._upload))
        app.router.add_get("/v1/files/{file_id}", self._guard(self._file))
        app.router.add_get("/v1/files/{file_id}/content", self._guard(self._content))
        app.router.add_post("/v1/batches", self._guard(self._create))
        app.router.add_get("/v1/batches", self._guard(self._list))
        app.router.add_get("/v1/batches/{batch_id}", self._guard(self._retrieve))
        app.router.add_post("/v1/batches/{batch_id}/cancel", self._guard(self._cancel))

    def _guard(self, handler: Callable[[web.Request], Any]) -> Callable[[web.Request], Any]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            with self._lock:
                self.authorizations.append(request.headers.get("Authorization"))
                throttled = self._throttled > 0
                if throttled:
                    self._throttled -= 1
                    self.throttled_served += 1
            if throttled:
                headers = {"Retry-After": f"{self._retry_after_s:g}"}
                return send.error(429, "Too many requests (mock server)", headers)
            result: web.StreamResponse = await handler(request)
            return result

        return guarded

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-mock{next(self._ids)}"

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        if form.get("purpose") != "batch" or not isinstance(upload, web.FileField):
            return send.error(400, "multipart form needs purpose=batch and a file")
        data = upload.file.read()
        if len(data) > self.max_file_bytes:
            return send.error(400, f"file is over {self.max_file_bytes} bytes")
        if data.count(b"\n") + (not data.endswith(b"\n")) > self.max_requests_per_file:
            return send.error(400, f"file has over {self.max_requests_per_file} requests")
        with self._lock:
            file_id = self._new_id("file")
            self._files[file_id] = data
            self._uploaded.append(file_id)
        return _json(_file_object(file_id, data, "batch", upload.filename))

    async def _file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        with self._lock:
            data = self._files.get(file_id)
        if data is None:
            return send.error(404, f"no file {file_id}")
        return _json(_file_object(file_id, data, "batch", file_id))

    async def _content(self, request: web.Request) -> web.Response:
        with self._lock:
            data = self._files.get(request.match_info["file_id"])
        if data is None:
            return send.error(404, "no such file")
        return web.Response(body=data, content_type="application/jsonl")

    async def _create(self, request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return send.error(400, "body must be JSON")
        if not isinstance(body, dict) or body.get("endpoint") != CHAT_URL:
            return send.error(400, f"endpoint must be {CHAT_URL}")
        if body.get("completion_window") != "24h":
            return send.error(400, "completion_window must be 24h")
        with self._lock:
            data = self._files.get(str(body.get("input_file_id")))
        if data is None:
            return send.error(404, f"no file {body.get('input_file_id')!r}")
        try:
            lines = _request_lines(data)
        except ValueError as exc:
            return send.error(400, str(exc))
        with self._lock:
            batch = _Batch(
                self._new_id("batch"),
                str(body["input_file_id"]),
                lines,
                time.time(),
                self.processing_s,
                self.expire_after,
                body.get("metadata"),
            )
            self._batches[batch.id] = batch
            return _json(_batch_object(batch))

    async def _list(self, request: web.Request) -> web.Response:
        """Newest first, ``limit`` (default 20) per page, from after the batch ``after``."""
        try:
            limit = int(request.query.get("limit", "20"))
        except ValueError:
            return send.error(400, "limit must be an integer")
        after = request.query.get("after")
        now = time.time()
        with self._lock:
            batches = list(reversed(self._batches.values()))
            if after is not None:
                ids = [b.id for b in batches]
                batches = batches[ids.index(after) + 1 :] if after in ids else []
            page = batches[:limit]
            for batch in page:
                self._advance(batch, now)
            data = [_batch_object(b) for b in page]
        body = {"object": "list", "data": data, "has_more": len(batches) > limit}
        return _json(body)

    async def _retrieve(self, request: web.Request) -> web.Response:
        with self._lock:
            batch = self._batches.get(request.match_info["batch_id"])
            if batch is None:
                return send.error(404, "no such batch")
            self._advance(batch, time.time())
            return _json(_batch_object(batch))

    async def _cancel(self, request: web.Request) -> web.Response:
        with self._lock:
            batch = self._batches.get(request.match_info["batch_id"])
            if batch is None:
                return send.error(404, "no such batch")
            self._advance(batch, time.time())
            if batch.status == "in_progress":
                batch.status, batch.ended_at = "cancelled", time.time()
            return _json(_batch_object(batch))

    # -- processing ---------------------------------------------------------------------------

    def _advance(self, batch: _Batch, now: float) -> None:
        """Bring ``batch`` up to ``now`` (call with the lock held)."""
        if batch.status != "in_progress":
            return
        elapsed = now - batch.created_at
        total = len(batch.lines)
        if elapsed < batch.processing_s:
            batch.counts["completed"] = int(total * elapsed / batch.processing_s)
            return
        done = total if batch.expire_after is None else min(total, batch.expire_after)
        outputs: list[JSONDict] = []
        errors: list[JSONDict] = []
        for number, line in enumerate(batch.lines):
            custom_id = line["custom_id"]
            if number >= done:
                errors.append(_expired(custom_id))
                continue
            if custom_id in self.fail_ids:
                status, reply = 500, {"error": {"message": "mock failure", "type": "server_error"}}
            else:
                status, reply = self._render(line["body"])
            result = _result(custom_id, status, reply)
            (outputs if status == 200 else errors).append(result)
        batch.counts = {"completed": len(outputs), "failed": len(errors)}
        batch.status = "completed" if done == total else "expired"
        batch.ended_at = now
        batch.output_file_id = self._store(outputs)
        batch.error_file_id = self._store(errors) if errors else None

    def _store(self, rows: list[JSONDict]) -> str:
        file_id = self._new_id("file")
        self._files[file_id] = b"".join(orjson.dumps(r) + b"\n" for r in rows)
        return file_id


def _request_lines(data: bytes) -> list[JSONDict]:
    """The request lines of a batch input file (ValueError naming the first bad one)."""
    lines: list[JSONDict] = []
    seen: set[str] = set()
    for number, raw in enumerate(data.splitlines(), 1):
        try:
            line = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise ValueError(f"line {number} is not JSON") from None
        ok = (
            isinstance(line, dict)
            and isinstance(line.get("custom_id"), str)
            and line.get("method") == "POST"
            and line.get("url") == CHAT_URL
            and isinstance(line.get("body"), dict)
        )
        if not ok:
            raise ValueError(f"line {number} needs custom_id, method POST, url, body")
        if line["custom_id"] in seen:
            raise ValueError(f"line {number}: duplicate custom_id {line['custom_id']!r}")
        seen.add(line["custom_id"])
        lines.append(line)
    return lines


def _result(custom_id: str, status: int, body: JSONDict) -> JSONDict:
    response = {"status_code": status, "request_id": f"req-{custom_id}", "body": body}
    return {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": response,
        "error": None,
    }


def _expired(custom_id: str) -> JSONDict:
    error = {"code": "batch_expired", "message": "This request could not be executed in time."}
    return {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": None,
        "error": error,
    }


def _file_object(file_id: str, data: bytes, purpose: str, name: str) -> JSONDict:
    return {
        "id": file_id,
        "object": "file",
        "bytes": len(data),
        "created_at": int(time.time()),
        "filename": name,
        "purpose": purpose,
    }


def _batch_object(batch: _Batch) -> JSONDict:
    total = len(batch.lines)
    return {
        "id": batch.id,
        "object": "batch",
        "endpoint": CHAT_URL,
        "errors": None,
        "input_file_id": batch.input_file_id,
        "completion_window": "24h",
        "status": batch.status,
        "output_file_id": batch.output_file_id,
        "error_file_id": batch.error_file_id,
        "created_at": int(batch.created_at),
        "expires_at": int(batch.created_at) + 86_400,
        "request_counts": {"total": total, **batch.counts},
        "metadata": batch.metadata,
    }


def _json(obj: JSONDict) -> web.Response:
    return send.json_response(200, orjson.dumps(obj))
