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
own tools. The door (Host, Origin, bearer token, JSON content type, body cap) is
:mod:`scillm.service`'s; errors have OpenAI's shape. Statuses: 400 bad request, 401 bad token,
502 Codex failed or broke the format, 503 CLI missing, 504 timeout. ``/healthz`` (no token)
asks the CLI for ``--version`` (the answer is reused for a while) and is 503 when it does not
answer; it never runs a model. With ``CODEX_SIDECAR_ECHO=1`` nothing runs: the reply echoes the
prompt and it and ``/healthz`` say ``"echo": true``.
"""

from __future__ import annotations

import asyncio
import shutil
from typing import Any

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import Response, StreamingResponse
except ImportError:  # without the 'serve' extra, say so
    from scillm._extras import require

    require("fastapi", extra="serve", feature="the Codex sidecar")
    raise

from scillm._request import OPENAI_PARAMS, normalise
from scillm.agent.answer import fit, plan_format
from scillm.agent.codex.events import CodexRun
from scillm.agent.codex.prompt import build_prompt
from scillm.agent.codex.runner import CodexFailure, CodexJob, run_codex
from scillm.agent.codex.settings import (
    LEGACY_ENV,
    REASONING_EFFORTS,
    SERVICE,
    CodexSidecarSettings,
)
from scillm.agent.wire import chunks, completion_body, sse
from scillm.errors import BadRequestError
from scillm.service import ApiError, ServiceConfig, create_service_app, json_response, read_json
from scillm.service.health import CachedProbe

__all__ = ["VERSION_TTL_S", "create_app"]

HONOURED = frozenset(
    {"model", "messages", "stream", "stream_options", "response_format", "reasoning_effort"}
) | {"reasoning", "user", "metadata", "store"}
REFUSED = frozenset({"tools", "tool_choice", "functions", "function_call", "parallel_tool_calls"})
JSON_ONLY = "Reply with one JSON object only, no prose and no code fence."
INSTALL = "install it with `npm install -g @openai/codex@0.169.0` or set CODEX_CMD / --codex-cmd"
VERSION_TTL_S = 30.0
"""How long the CLI's ``--version`` answer is reused by /healthz."""
CODES = {502: "upstream_error", 503: "engine_unavailable", 504: "timeout"}


def create_app(
    settings: CodexSidecarSettings | None = None, config: ServiceConfig | None = None
) -> FastAPI:
    """The FastAPI app of the sidecar (``settings`` default: ``from_env()``; ``config``, its
    door, default: ``ServiceConfig.from_env("codex-sidecar")`` with the CODEX_SIDECAR_* names)."""
    settings = settings or CodexSidecarSettings.from_env()
    config = config or ServiceConfig.from_env(SERVICE, legacy=LEGACY_ENV)
    side = _Sidecar(settings)
    app = create_service_app(SERVICE, config)

    @app.get("/healthz")
    async def healthz() -> Response:
        report = await side.health()
        return json_response(report, 200 if report["ok"] else 503)

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        entry = {"id": settings.model or "codex", "object": "model", "owned_by": "openai-codex"}
        return {"object": "list", "data": [entry]}

    @app.post("/v1/chat/completions")
    @app.post("/chat/completions")
    async def chat(request: Request) -> Response:
        body = await read_json(request)
        reply = await side.answer(body)
        if body.get("stream") is True:
            opts = body.get("stream_options")
            usage = isinstance(opts, dict) and opts.get("include_usage") is True
            events = sse(chunks(reply, include_usage=usage))
            return StreamingResponse(events, media_type="text/event-stream")
        return json_response(reply)

    return app


class _Sidecar:
    """Settings, the concurrency limit, health, and the request → CLI → reply steps."""

    def __init__(self, settings: CodexSidecarSettings) -> None:
        self.settings = settings
        self.in_flight = 0
        self._slots: asyncio.Semaphore | None = None
        self._cli_check = CachedProbe(
            lambda: _cli_answers(settings.codex_cmd), VERSION_TTL_S, lambda r: bool(r["ok"])
        )

    async def health(self) -> dict[str, Any]:
        """``ok`` when the CLI answers ``--version`` (or in echo mode); never runs a model."""
        s = self.settings
        not_checked = ["a Codex run and its model (never started by /healthz: it may cost money)"]
        if s.echo:
            cli: dict[str, Any] = {"ok": None, "detail": "not run: echo mode never runs the CLI"}
            not_checked.append("the Codex CLI (echo mode: requests do not run it)")
        else:
            cli = await self._cli_check()
        missing = [] if s.echo or cli["ok"] else [cli["detail"]]
        return {
            "ok": not missing,
            "service": SERVICE,
            "echo": s.echo,
            "missing": missing,
            "checks": {"codex_cli": cli},
            "not_checked": not_checked,
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
                raise ApiError(
                    502,
                    f"Codex's answer does not satisfy response_format ({plan.mode}): "
                    f"{content[:300]!r}",
                    code="invalid_response_format",
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
                raise ApiError(exc.status, exc.message, code=CODES.get(exc.status)) from None
            finally:
                self.in_flight -= 1


def _job(body: dict[str, Any]) -> tuple[CodexJob, Any, list[str]]:
    """The CLI job, the response-format plan and the ignored parameters of a request."""
    unknown = sorted(set(body) - OPENAI_PARAMS - HONOURED)
    if unknown:
        message = f"unknown field(s) {', '.join(unknown)}"
        raise ApiError(400, message, param=unknown[0], code="unknown_parameter")
    refused = sorted(REFUSED & set(body))
    if refused or body.get("n") not in (None, 1):
        raise ApiError(
            400,
            f"the Codex sidecar cannot honour {', '.join(refused) or 'n > 1'}: Codex runs "
            "its own tools and gives one answer",
            param=refused[0] if refused else "n",
            code="unsupported_parameter",
        )
    try:
        openai = {k: v for k, v in body.items() if k in OPENAI_PARAMS}
        messages = normalise(None, body.get("messages"), openai).messages
        plan = plan_format(body.get("response_format"))
        suffix = JSON_ONLY if plan is not None and plan.schema is None else ""
        job = CodexJob(
            prompt=build_prompt(messages, suffix),
            model=body.get("model") or None,
            effort=_effort(body),
            schema=plan.schema if plan is not None else None,
        )
    except BadRequestError as exc:
        raise ApiError(400, str(exc), code="invalid_value") from None
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


async def _cli_answers(cmd: tuple[str, ...]) -> dict[str, Any]:
    """Whether ``cmd --version`` answers within a few seconds: ok, path, version, detail."""
    path = shutil.which(cmd[0])
    out: dict[str, Any] = {"ok": False, "path": path, "version": None}
    if path is None:
        return out | {"detail": f"the Codex CLI {cmd[0]!r} is not found: {INSTALL}"}
    try:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            "--version",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        return out | {"detail": f"the Codex CLI at {path} cannot be started ({exc}); {INSTALL}"}
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return out | {"detail": f"the Codex CLI at {path} did not answer --version in 10 s"}
    version = stdout.decode("utf-8", "replace").strip()
    if proc.returncode != 0 or not version:
        said = stderr.decode("utf-8", "replace").strip()[-300:] or "no output"
        return out | {
            "detail": f"the Codex CLI at {path} failed on --version (exit {proc.returncode}: "
            f"{said}); {INSTALL}"
        }
    return out | {"ok": True, "version": version, "detail": f"{path} answered --version"}
