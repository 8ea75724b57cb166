"""run()/arun(): check a request, prepare the work dir, compile and run inside the sandbox."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from scillm.sandbox.bwrap import find_bwrap, pick_uid
from scillm.sandbox.languages import LANGUAGES, Language, Toolchain, locate
from scillm.sandbox.limits import Limits
from scillm.sandbox.request import check_request, encode, sources
from scillm.sandbox.result import ISOLATION_BWRAP, ISOLATION_RLIMITS, SandboxResult
from scillm.sandbox.stage import Plan, plan_isolation, run_stage
from scillm.sandbox.workdir import workdir

__all__ = ["DEFAULT_DISK_MB", "DEFAULT_OUTPUT_LIMIT", "arun", "isolation_available", "run"]

DEFAULT_OUTPUT_LIMIT = 1 << 20  # bytes per stream
DEFAULT_DISK_MB = 128  # the tmpfs work dir
# Compilers get their own budget: the caller's limits are about the program, not gcc.
COMPILE_LIMITS = Limits(timeout_s=60, cpu_s=60, memory_mb=2048, output_bytes=DEFAULT_OUTPUT_LIMIT)


def run(
    code: str | None = None,
    language: str = "python",
    *,
    files: Mapping[str, str | bytes] | None = None,
    stdin: str | bytes | None = None,
    args: Sequence[str] = (),
    timeout_s: float = 10,
    cpu_s: float | None = None,
    memory_mb: int = 512,
    network: bool = False,
    env: Mapping[str, str] | None = None,
    allow_rlimits_only: bool = False,
    output_limit_bytes: int = DEFAULT_OUTPUT_LIMIT,
    disk_mb: int = DEFAULT_DISK_MB,
    supervisor: bool = False,
) -> SandboxResult:
    """Run untrusted ``code`` (or ``files``) in ``language`` and say what happened.

    ``code`` becomes the language's source file (``main.py``, ``main.c``, ...); ``files`` are more
    files for the work dir (relative paths). ``timeout_s`` is wall-clock time for the run,
    ``cpu_s`` CPU time (default: ``timeout_s``), ``memory_mb`` the address-space limit,
    ``disk_mb`` the size of the tmpfs work dir (``result.disk_kb`` says what was used).
    ``network=True`` is rejected: sandboxed code never has a network. Never raises for a bad
    request or a broken host: the result's ``status`` and ``message`` say so.

    ``supervisor=True`` is for scillm's own test harnesses, never for untrusted code: the
    program keeps root's CAP_SETUID/CAP_SETGID (root callers) to run what it tests as other
    uids (see :func:`scillm.sandbox.stage.run_stage`).

    >>> run("import sys; print(sys.stdin.read()[::-1])", stdin="abc").stdout
    'cba\\n'
    """
    bad = check_request(
        code,
        language,
        files,
        args,
        env,
        network,
        timeout_s,
        cpu_s,
        memory_mb,
        output_limit_bytes,
        disk_mb,
    )
    if bad is not None:
        return SandboxResult("rejected", message=bad)
    try:
        work, data = sources(code, LANGUAGES[language], files), encode(stdin)
    except UnicodeError as exc:
        return SandboxResult("rejected", message=f"the code, files or stdin are not text: {exc}")
    lang = LANGUAGES[language]
    toolchain = locate(lang)
    if toolchain is None:
        return SandboxResult("sandbox_error", message=f"{lang.tool} not found: install it")
    plan = plan_isolation(allow_rlimits_only)
    if isinstance(plan, str):
        return SandboxResult("sandbox_error", message=plan)
    limits = Limits(
        timeout_s=timeout_s,
        cpu_s=cpu_s or timeout_s,
        memory_mb=memory_mb,
        output_bytes=output_limit_bytes,
        reserve_mb=lang.reserve_mb,
        disk_mb=disk_mb,
    )
    uid = pick_uid() if plan.bwrap else None
    try:
        with workdir(work, owner=uid) as path:
            return _stages(
                plan, uid, lang, toolchain, path, args, data, limits, env or {}, supervisor
            )
    except OSError as exc:  # the files could not be laid out (a name too long, a collision)
        return SandboxResult("rejected", message=f"the files cannot be written: {exc}")


def _stages(
    plan: Plan,
    uid: int | None,
    lang: Language,
    toolchain: Toolchain,
    path: str,
    args: Sequence[str],
    stdin: bytes,
    limits: Limits,
    env: Mapping[str, str],
    supervisor: bool,
) -> SandboxResult:
    """Compile (if the language needs it) in ``path``, then run on a copy of it."""
    program = [*_argv(lang.run, lang, toolchain, limits.memory_mb), *args]
    compile_stderr = None
    if lang.compile is not None:
        budget = replace(COMPILE_LIMITS, output_bytes=limits.output_bytes)
        build = _argv(lang.compile, lang, toolchain, limits.memory_mb)
        compiled = run_stage(plan, uid, toolchain, path, build, b"", budget, env)
        if compiled.status != "ok":
            return _compile_failure(compiled)
        compile_stderr = compiled.stderr
    ran = run_stage(
        plan, uid, toolchain, path, program, stdin, limits, env, copy_in=True, supervisor=supervisor
    )
    return replace(ran, compile_stderr=compile_stderr)


async def arun(
    code: str | None = None,
    language: str = "python",
    *,
    files: Mapping[str, str | bytes] | None = None,
    stdin: str | bytes | None = None,
    args: Sequence[str] = (),
    timeout_s: float = 10,
    cpu_s: float | None = None,
    memory_mb: int = 512,
    network: bool = False,
    env: Mapping[str, str] | None = None,
    allow_rlimits_only: bool = False,
    output_limit_bytes: int = DEFAULT_OUTPUT_LIMIT,
    disk_mb: int = DEFAULT_DISK_MB,
    supervisor: bool = False,
) -> SandboxResult:
    """Async twin of :func:`run`, on a worker thread so the event loop never blocks.

    Cancelling the awaiting task does not stop the run early; its limits still end it.
    """
    return await asyncio.to_thread(
        run,
        code,
        language,
        files=files,
        stdin=stdin,
        args=args,
        timeout_s=timeout_s,
        cpu_s=cpu_s,
        memory_mb=memory_mb,
        network=network,
        env=env,
        allow_rlimits_only=allow_rlimits_only,
        output_limit_bytes=output_limit_bytes,
        disk_mb=disk_mb,
        supervisor=supervisor,
    )


def isolation_available() -> dict[str, Any]:
    """What this host offers, for health checks; runs one trivial sandbox (once per process).

    ``isolated``: bwrap sandboxes work; ``isolation``: what ``run(allow_rlimits_only=True)``
    would use; ``problem``: why bwrap is unusable; ``languages``: each tool's path or None.
    """
    plan = plan_isolation(allow_rlimits_only=False)
    isolated = isinstance(plan, Plan)
    return {
        "isolated": isolated,
        "isolation": ISOLATION_BWRAP if isolated else ISOLATION_RLIMITS,
        "bwrap": find_bwrap(),
        "problem": None if isolated else plan,
        "runs_as": "a fresh uid" if os.geteuid() == 0 else "the caller, in a user namespace",
        "languages": {name: _tool_path(lang) for name, lang in LANGUAGES.items()},
    }


def _tool_path(lang: Language) -> str | None:
    toolchain = locate(lang)
    return toolchain.executable if toolchain else None


def _argv(
    template: Sequence[str], lang: Language, toolchain: Toolchain, memory_mb: int
) -> list[str]:
    fields = {"tool": toolchain.executable, "source": lang.source, "memory_mb": memory_mb}
    return [part.format(**fields) for part in template]


def _compile_failure(compiled: SandboxResult) -> SandboxResult:
    if compiled.status == "sandbox_error":
        return compiled
    return replace(
        compiled,
        status="compile_error",
        stdout="",
        stderr="",
        compile_stderr=compiled.stderr,
        message=f"compilation failed: {compiled.message}",
    )
