"""The Codex sidecar: an OpenAI-compatible front for the real Codex CLI (``codex exec --json``).

    app = create_app(CodexSidecarSettings.from_env())
    # scillm serve codex-sidecar  →  http://127.0.0.1:8077

``GET /healthz``, ``GET /v1/models``, ``POST /v1/chat/completions`` (also ``/chat/completions``).
The reply's content is the CLI's final ``agent_message``; its reasoning is kept apart in
``message.reasoning_content``; usage comes from ``turn.completed``; ``reply["codex"]`` has the
thread id, CLI warnings, command/file items and the request parameters Codex cannot honour
(sampling and length settings: listed, not applied). ``reasoning_effort`` (or
``reasoning.effort``) and ``response_format`` are honoured; a ``json_schema`` goes to the CLI as
``--output-schema`` and the answer is checked either way. ``tools`` are refused: Codex runs its
own tools. Statuses: 400 bad request, 401 bad token, 502 Codex failed or broke the format,
503 CLI missing, 504 timeout. With ``CODEX_SIDECAR_ECHO=1`` nothing runs: the reply echoes the
prompt and it and ``/healthz`` say ``"echo": true``.
"""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

try:
    from fastapi import Depends, FastAPI, Request
    from fastapi.responses import JSONResponse, Response, StreamingResponse
except ImportError:  # without the 'serve' extra, say so
    from scillm._extras import require

    require("fastapi", extra="serve", feature="the Codex sidecar")
    raise

from scillm._request import OPENAI_PARAMS, normalise
from scillm.agent.answer import fit, plan_format
from scillm.agent.codex.events import CodexRun
from scillm.agent.codex.prompt import build_prompt
from scillm.agent.codex.runner import CodexFailure, CodexJob, run_codex
from scillm.agent.codex.settings import REASONING_EFFORTS, CodexSidecarSettings
from scillm.agent.guard import Refused, check_bearer, refusal
from scillm.agent.wire import chunks, completion_body, sse
from scillm.errors import BadRequestError

__all__ = ["create_app"]

HONOURED = frozenset(
    {"model", "messages", "stream", "stream_options", "response_format", "reasoning_effort"}
) | {"reasoning", "user", "metadata", "store"}
REFUSED = frozenset({"tools", "tool_choice", "functions", "function_call", "parallel_tool_calls"})
JSON_ONLY = "Reply with one JSON object only, no prose and no code fence."


def create_app(settings: CodexSidecarSettings | None = None) -> FastAPI:
    """The FastAPI app of the sidecar (``settings`` default: ``from_env()``)."""
    settings = settings or CodexSidecarSettings.from_env()
    side = _Sidecar(settings)
    app = FastAPI(title="scillm codex sidecar", docs_url=None, redoc_url=None)
    guard = [Depends(side.check_token)]

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return refusal(exc)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return await side.health()

    @app.get("/v1/models", dependencies=guard)
    async def models() -> dict[str, Any]:
        entry = {"id": settings.model or "codex", "object": "model", "owned_by": "openai-codex"}
        return {"object": "list", "data": [entry]}

    @app.post("/v1/chat/completions", dependencies=guard)
    @app.post("/chat/completions", dependencies=guard)
    async def chat(request: Request) -> Response:
        body = await _json(request)
        reply = await side.answer(body)
        if body.get("stream") is True:
            opts = body.get("stream_options")
            usage = isinstance(opts, dict) and opts.get("include_usage") is True
            events = sse(chunks(reply, include_usage=usage))
            return StreamingResponse(events, media_type="text/event-stream")
        return JSONResponse(reply)

    return app


class _Sidecar:
    """Settings, the concurrency limit, and the request → CLI → reply steps."""

    def __init__(self, settings: CodexSidecarSettings) -> None:
        self.settings = settings
        self.in_flight = 0
        self._slots: asyncio.Semaphore | None = None
        self._version: str | None = None

    def check_token(self, request: Request) -> None:
        check_bearer(request, self.settings.token)

    async def health(self) -> dict[str, Any]:
        """``ok`` when the CLI can run (or in echo mode); never calls a model."""
        s = self.settings
        path = shutil.which(s.codex_cmd[0])
        if path is not None and self._version is None:
            self._version = await _version(s.codex_cmd)
        return {
            "ok": s.echo or path is not None,
            "echo": s.echo,
            "codex": {"path": path, "version": self._version},
            "upstream": s.base_url or "the Codex CLI's own provider",
            "key_present": s.key_present if s.base_url else None,
            "sandbox": s.sandbox,
            "concurrency": s.max_concurrency,
            "in_flight": self.in_flight,
        }

    async def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """Check the request, run the CLI (or echo), and build the chat completion."""
        job, plan, ignored = _job(body)
        model = job.model or self.settings.model or "codex"
        run = CodexRun(content=job.prompt) if self.settings.echo else await self._run(job)
        content = run.content or ""
        if plan is not None:
            fitted = fit(content, plan)
            if fitted is None:
                raise Refused(
                    502,
                    f"Codex's answer does not satisfy response_format ({plan.mode}): "
                    f"{content[:300]!r}",
                    "invalid_response_format",
                )
            content = fitted
        reasoning = "\n\n".join(r for r in run.reasoning if r)
        extra: dict[str, Any] = {"codex": run.side_data() | {"ignored_params": ignored}}
        if self.settings.echo:
            extra["echo"] = True
        return completion_body(
            model,
            content,
            "stop",
            run.usage or {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            message_extra={"reasoning_content": reasoning} if reasoning else None,
            extra=extra,
        )

    async def _run(self, job: CodexJob) -> CodexRun:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.max_concurrency)
        async with self._slots:
            self.in_flight += 1
            try:
                return await run_codex(self.settings, job)
            except CodexFailure as exc:
                raise Refused(exc.status, exc.message, "codex_error") from exc
            finally:
                self.in_flight -= 1


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise Refused(400, "the request body must be a JSON object", "invalid_request_error")
    return body


def _job(body: dict[str, Any]) -> tuple[CodexJob, Any, list[str]]:
    """The CLI job, the response-format plan and the ignored parameters of a request."""
    try:
        openai = {k: v for k, v in body.items() if k in OPENAI_PARAMS}
        messages = normalise(None, body.get("messages"), openai).messages
        unknown = sorted(set(body) - OPENAI_PARAMS - HONOURED)
        if unknown:
            raise BadRequestError(f"unknown field(s) {', '.join(unknown)}")
        refused = sorted(REFUSED & set(body))
        if refused or body.get("n") not in (None, 1):
            raise BadRequestError(
                f"the Codex sidecar cannot honour {', '.join(refused) or 'n > 1'}: Codex runs "
                "its own tools and gives one answer"
            )
        plan = plan_format(body.get("response_format"))
        suffix = JSON_ONLY if plan is not None and plan.schema is None else ""
        job = CodexJob(
            prompt=build_prompt(messages, suffix),
            model=body.get("model") or None,
            effort=_effort(body),
            schema=plan.schema if plan is not None else None,
        )
    except BadRequestError as exc:
        raise Refused(400, str(exc), "invalid_request_error") from exc
    ignored = sorted(set(body) - HONOURED - {"n"})
    return job, plan, ignored


def _effort(body: dict[str, Any]) -> str | None:
    reasoning = body.get("reasoning")
    effort = body.get("reasoning_effort")
    if effort is None and isinstance(reasoning, dict):
        effort = reasoning.get("effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise BadRequestError(
            f"reasoning_effort {effort!r}: use one of {', '.join(REASONING_EFFORTS)}"
        )
    return effort


async def _version(cmd: tuple[str, ...]) -> str | None:
    """``codex --version``, or None when it does not answer within a few seconds."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd, "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
    except OSError:
        return None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None
    return out.decode().strip() or None
