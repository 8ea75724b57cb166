"""The doctor's checks: each one does a real tiny job and says what it found.

Environment: ``sandbox`` (bubblewrap isolation and a program run in it), ``coqc`` (a Coq proof
through Certainly), ``lean`` (optional: a Lean 4 proof), ``node`` (a JavaScript program),
``codex-cli`` (optional: ``codex --version`` where the sidecar looks: ``CODEX_CMD``, then
PATH), ``embedded`` (a completion on the embedded model). Then every provider model (a ping
through the Router) and every named service (``GET`` its health path).

A required check that cannot run fails; an optional one whose tool is absent is ``skipped``
with what to install, and fails when the tool is there but broken.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from scillm.ops.probe import ProbeResult

__all__ = ["ENV_CHECKS", "Check", "check_service", "model_check", "timed"]

COQ_PROOF = "Theorem doctor : 1 + 1 = 2. Proof. reflexivity. Qed."
EMBEDDED_MODEL = "local/smollm2"
LEAN_PROOF = "theorem doctor : 1 + 1 = 2 := rfl"
NODE_HINT = "install Node.js (Debian/Ubuntu: apt-get install nodejs)"
CODEX_HINT = (
    "install the Codex CLI (npm install -g @openai/codex) or point CODEX_CMD at it; "
    "only the codex-sidecar service needs it"
)


@dataclass(frozen=True)
class Check:
    """One line of the report. ``skipped`` checks are neither ok nor failed."""

    name: str
    ok: bool
    details: str
    required: bool = True
    skipped: bool = False
    elapsed_ms: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "skipped": self.skipped,
            "required": self.required,
            "details": self.details,
            "elapsed_ms": self.elapsed_ms,
        }


def passed(name: str, details: str, *, required: bool = True) -> Check:
    return Check(name, True, details, required)


def failed(name: str, details: str, *, required: bool = True) -> Check:
    return Check(name, False, details, required)


def skipped(name: str, details: str) -> Check:
    return Check(name, False, details, required=False, skipped=True)


async def timed(make: Callable[[], Awaitable[Check]], name: str, required: bool) -> Check:
    """Run a check, stamping its time; an unexpected exception is a failed check."""
    started = time.perf_counter()
    try:
        check = await make()
    except Exception as exc:  # the report must name what broke, never crash
        check = Check(name, False, f"the check crashed: {type(exc).__name__}: {exc}", required)
    elapsed = round((time.perf_counter() - started) * 1000, 1)
    return Check(**{**check.__dict__, "elapsed_ms": elapsed})


async def check_sandbox() -> Check:
    from scillm import sandbox

    found = await asyncio.to_thread(sandbox.isolation_available)
    if not found["isolated"]:
        return failed("sandbox", f"no bubblewrap isolation: {found['problem']}")
    result = await sandbox.arun("print(6 * 7)", language="python", timeout_s=20)
    if result.status != "ok" or result.stdout != "42\n":
        said = f"a sandboxed python program gave {result.status}: {result.message}"
        return failed("sandbox", said)
    return passed("sandbox", f"{result.isolation} via {found['bwrap']}; a python program ran")


async def _proof(backend: str, code: str) -> tuple[str, str]:
    """(status, what the verdict says) of one tiny proof."""
    from scillm.certainly import acheck

    [verdict] = await acheck([{"id": "doctor", "backend": backend, "code": code}], timeout_s=60)
    said = "; ".join(message.text for message in verdict.messages) or verdict.status
    if verdict.status == "proved":
        said = f"{verdict.prover} {verdict.backend_version} proved 1 + 1 = 2"
    return verdict.status, said


async def check_coqc() -> Check:
    status, said = await _proof("coq", COQ_PROOF)
    return (passed if status == "proved" else failed)("coqc", said)


async def check_lean() -> Check:
    status, said = await _proof("lean4", LEAN_PROOF)
    if status == "unavailable":
        return skipped("lean", said)
    return (passed if status == "proved" else failed)("lean", said, required=False)


async def check_node() -> Check:
    from scillm import sandbox

    result = await sandbox.arun(
        "console.log(6 * 7)", language="javascript", timeout_s=20, allow_rlimits_only=True
    )
    if result.status == "ok" and result.stdout == "42\n":
        return passed("node", "a JavaScript program ran")
    if "not found" in result.message:
        return failed("node", f"{result.message}: {NODE_HINT}")
    return failed("node", f"a JavaScript program gave {result.status}: {result.message}")


async def check_codex_cli() -> Check:
    import shutil

    from scillm.agent.codex import CodexSidecarSettings

    try:
        command = CodexSidecarSettings.from_env().codex_cmd
    except ValueError as exc:
        return failed("codex-cli", f"the sidecar's settings are not usable: {exc}", required=False)
    path = shutil.which(command[0])
    if path is None:
        return skipped("codex-cli", f"{command[0]!r} not found; {CODEX_HINT}")
    proc = await asyncio.create_subprocess_exec(
        path,
        *command[1:],
        "--version",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return failed("codex-cli", f"{path} --version did not answer in 30 s", required=False)
    text = out.decode(errors="replace").strip()
    if proc.returncode != 0:
        detail = f"{path} --version exited {proc.returncode}: {text[:300]}"
        return failed("codex-cli", detail, required=False)
    return passed("codex-cli", f"{text} at {path}", required=False)


def model_check(name: str, result: ProbeResult) -> Check:
    """A provider model's ping as a check."""
    if not result.ok:
        return Check(name, False, result.error or "failed", elapsed_ms=result.elapsed_ms)
    details = f"answered {result.content!r:.80}"
    return Check(name, True, details, elapsed_ms=result.elapsed_ms)


async def check_service(name: str, url: str, token: str | None, timeout: float) -> Check:
    """``GET url``: healthy on 200 whose JSON does not say ``"ok": false``."""
    import aiohttp

    label = f"service {name}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(url, headers=headers, allow_redirects=False) as reply,
        ):
            status = reply.status
            raw = await reply.content.read(64 * 1024)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        reason = "no answer in time" if isinstance(exc, TimeoutError) else str(exc)
        return failed(
            label, f"{url}: {reason}; start it with `scillm serve {name}` (or `scillm serve all`)"
        )
    body = _json(raw)
    if status != 200:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        shown = message if isinstance(message, str) else raw[:200].decode(errors="replace")
        return failed(label, f"{url}: HTTP {status}: {shown}")
    if isinstance(body, dict) and body.get("ok") is False:
        return failed(label, f"{url}: says it is not ok: {raw[:300].decode(errors='replace')}")
    return passed(label, f"{url}: healthy")


def _json(raw: bytes) -> Any:
    import orjson

    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


async def check_embedded() -> Check:
    from scillm.ops.probe import probe
    from scillm.ops.targets import Target

    result = await probe(Target(EMBEDDED_MODEL), api_base=None, api_key=None, timeout=120)
    return model_check("embedded", result)


ENV_CHECKS: dict[str, tuple[Callable[[], Awaitable[Check]], bool]] = {
    "sandbox": (check_sandbox, True),
    "coqc": (check_coqc, True),
    "lean": (check_lean, False),
    "node": (check_node, True),
    "codex-cli": (check_codex_cli, False),
    "embedded": (check_embedded, True),
}
"""Name → (check, required), in report order."""
