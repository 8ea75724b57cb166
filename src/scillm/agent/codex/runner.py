"""Running ``codex exec --json`` once: the argv, a minimal environment, limits, the verdict.

Every run gets explicit flags: ``-s <sandbox>`` (read-only by default), ``approval_policy=
"never"`` (nobody is there to approve), ``--ephemeral``, ``--skip-git-repo-check``, a working
directory, and the prompt on stdin (never in the process list). The CLI runs in its own
process group, killed whole at the timeout or when the request is abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scillm.agent.codex.events import CodexRun, parse_events
from scillm.agent.codex.settings import CodexSidecarSettings

__all__ = ["CodexFailure", "CodexJob", "codex_command", "run_codex"]

STDERR_EXCERPT = 600
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY")
PROVIDER = "scillm_upstream"


class CodexFailure(Exception):
    """The CLI could not give an answer; ``status`` is the HTTP status the sidecar sends."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class CodexJob:
    """One request for the CLI."""

    prompt: str
    model: str | None = None
    effort: str | None = None
    schema: dict[str, Any] | None = None


def codex_command(
    settings: CodexSidecarSettings, job: CodexJob, scratch: Path
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of a run whose private files live in ``scratch``."""
    workdir = settings.workdir or str(_mkdir(scratch / "work"))
    argv = [*settings.codex_cmd, "exec", "--json", "--color", "never", "--ephemeral"]
    argv += ["--skip-git-repo-check", "-s", settings.sandbox, "-C", workdir]
    argv += _config(approval_policy="never")
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    if settings.base_url:
        home = str(_mkdir(scratch / "home"))
        env |= {"CODEX_HOME": home, "HOME": home}
        argv += _config(model_provider=PROVIDER)
        provider = {
            "name": "scillm upstream",
            "base_url": settings.base_url,
            "wire_api": "responses",
        }
        if settings.key_present:
            provider["env_key"] = settings.key_env
            env[settings.key_env] = os.environ[settings.key_env]
        argv += _config(**{f"model_providers.{PROVIDER}.{k}": v for k, v in provider.items()})
    else:  # the CLI's own provider and login
        passed = ("HOME", "CODEX_HOME", "OPENAI_API_KEY")
        env |= {k: os.environ[k] for k in passed if k in os.environ}
    if job.effort:
        argv += _config(model_reasoning_effort=job.effort)
    if job.schema is not None:
        schema_file = scratch / "output-schema.json"
        schema_file.write_text(json.dumps(job.schema))
        argv += ["--output-schema", str(schema_file)]
    argv += settings.extra_args
    model = job.model or settings.model
    return [*argv, *(["-m", model] if model else []), "-"], env


def _config(**values: str) -> list[str]:
    """``-c key="value"`` pairs (a JSON string is a valid TOML string)."""
    return [arg for key, value in values.items() for arg in ("-c", f"{key}={json.dumps(value)}")]


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


async def run_codex(settings: CodexSidecarSettings, job: CodexJob) -> CodexRun:
    """Run the CLI for ``job``; :class:`CodexFailure` unless it ends with a message."""
    state = Path(settings.state_dir).expanduser()
    state.mkdir(parents=True, exist_ok=True)
    # Not under the temp dir: there the CLI refuses to set up the helper its own sandbox
    # execs (codex-linux-sandbox), and every shell command of the agent fails.
    with tempfile.TemporaryDirectory(prefix="run-", dir=state) as scratch:
        argv, env = codex_command(settings, job, Path(scratch))
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise CodexFailure(
                503,
                f"the Codex CLI could not be started ({argv[0]}: {exc}); install it with "
                "`npm install -g @openai/codex@0.169.0` or set CODEX_CMD",
            ) from exc
        try:
            async with asyncio.timeout(settings.timeout_s):
                stdout, stderr = await proc.communicate(job.prompt.encode())
        except TimeoutError:
            raise CodexFailure(
                504, f"Codex did not finish within {settings.timeout_s:g} s and was stopped"
            ) from None
        finally:
            await _stop(proc)
    return _verdict(parse_events(stdout), proc.returncode, stderr)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Kill the CLI's whole process group if it is still running (timeout, cancellation)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


def _verdict(run: CodexRun, code: int | None, stderr: bytes) -> CodexRun:
    if code != 0 or run.error is not None:
        detail = run.error or stderr.decode("utf-8", "replace")[-STDERR_EXCERPT:].strip()
        raise CodexFailure(502, f"Codex error (exit {code}): {detail}")
    if run.content is None:
        raise CodexFailure(502, "Codex finished without a message")
    return run
