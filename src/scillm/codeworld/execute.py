"""Run one program on many calls in the sandbox: one sandbox for all of them, resumed on a crash.

A harness (``_harness_python.py``, which execs a fresh runner per call: ``_call_python.py``,
``_harness_javascript.js``) or, for whole programs, the stdio driver (``_driver_stdio.py``)
supervises inside the sandbox, runs every call as a process of its own uid, and reports one
JSON line per call. Should the whole
sandbox die mid-way (its wall budget, the harness killed), the call it was on gets the
sandbox's verdict and a fresh sandbox continues from the next call, so a crash is never
mistaken for a pass. Nothing here compares outputs: the expected values never enter the
sandbox.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
import json
import marshal
import math
import shlex
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scillm.codeworld import values
from scillm.sandbox import ISOLATION_NONE, LANGUAGES, SandboxResult, arun
from scillm.sandbox.languages import locate, this_python
from scillm.sandbox.verdict import MEMORY_MARKERS

__all__ = [
    "CALL_STATUSES",
    "CallRun",
    "Execution",
    "Program",
    "SandboxPool",
    "execute",
    "function_program",
    "stdio_program",
]

HERE = Path(__file__).parent
HARNESSES = {
    "python": "_harness_python.py",
    "javascript": "_harness_javascript.js",
    "values": "values.py",
    "values.js": "_values.js",
    "supervise": "_supervise.py",
    "call.py": "_call_python.py",
}
# Python runs with the standard library only: no site-packages (whose .pth hooks can cost the
# sandbox ~70 ms per start here), no PYTHON* variables, no user site. bash starts it so the
# flags can be given; the sandbox always shows the interpreter that runs scillm.
PYTHON_FLAGS = ("-I", "-S", "-B")
LOAD_TIMEOUT_S = 10.0  # module-level code of a function-mode program
COMPILE_TIMEOUT_S = 60.0
COMPILE_MEMORY_MB = 1024
SLACK_S = 2.0  # on top of the calls' own limits, before the sandbox kills the process
PER_CALL_S = 0.1  # a call's own cost beyond its limit: a runner's start, the clean-up after it
OUTPUT_CAP = 256 << 10  # one return value (as JSON) or one program's stdout
CAPTURE_CAP = 4096  # prints / stderr kept per call
PROCESS_OUTPUT_LIMIT = 16 << 20
CALL_STATUSES = ("ok", "error", "timeout", "memory_limit", "output_limit", "sandbox_error")
HEADERS = ("loaded", "compile_error", "load_error", "no_entrypoint", "sandbox_error")
FROM_SANDBOX = {"runtime_error": "error", "ok": "error"}  # other sandbox statuses keep their name


@dataclass(frozen=True)
class CallRun:
    """How one call ended. ``output`` is the return value (function mode) or stdout (stdio)."""

    status: str
    output: Any = None
    stdout: str = ""
    stderr: str = ""
    message: str = ""
    cpu_ms: float | None = None
    wall_ms: float | None = None


@dataclass(frozen=True)
class Execution:
    """Every call's run, plus why the program as a whole did not run when it did not.

    ``status``: ran, compile_error, load_error, no_entrypoint, rejected, sandbox_error.
    """

    runs: tuple[CallRun, ...]
    status: str = "ran"
    message: str = ""
    isolation: str = ISOLATION_NONE
    processes: int = 0
    entrypoint: str | None = None
    startup_cpu_ms: float | None = None


@dataclass(frozen=True)
class Program:
    """A sandbox job: the harness language, its files, and each call's time limit."""

    language: str
    files: dict[str, str | bytes]
    timeouts: tuple[float, ...]
    memory_mb: int
    fixed_s: float
    stdio: bool = False


@dataclass
class SandboxPool:
    """Runs sandbox jobs, at most ``concurrency`` at a time, and counts the processes."""

    concurrency: int
    allow_rlimits_only: bool = False
    processes: int = 0
    _gate: asyncio.Semaphore = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._gate = asyncio.Semaphore(self.concurrency)

    async def run(self, program: Program, start: int, deadline: float) -> SandboxResult | None:
        """Run ``program`` from call ``start``; never past ``deadline`` (None: it had passed)."""
        left_calls = program.timeouts[start:]
        budget = program.fixed_s + sum(left_calls) + PER_CALL_S * len(left_calls) + SLACK_S
        async with self._gate:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.processes += 1
            return await arun(
                files=program.files,
                language=program.language,
                args=[str(start)],
                timeout_s=min(budget, left),
                memory_mb=program.memory_mb,
                allow_rlimits_only=self.allow_rlimits_only,
                output_limit_bytes=PROCESS_OUTPUT_LIMIT,
                supervisor=True,
            )


def function_program(
    language: str,
    code: str,
    entrypoints: Sequence[str],
    calls: Sequence[tuple[Sequence[Any], float]],
    memory_mb: int,
    module: str = "solution",
) -> Program:
    """Call ``entrypoints[0]`` (else the next name) of ``code`` once per ``(args, timeout_s)``.

    The Python harness supervises every language: each call is a fresh runner process
    (``_call_python.py``, ``_harness_javascript.js``) under a uid and limits of its own.
    """
    lang = LANGUAGES[language]
    filename = module + Path(lang.source).suffix
    empty = "empty" + Path(lang.source).suffix
    files = {"main.py": _harness("python"), **_harness_modules(), filename: code, empty: ""}
    if language == "python":
        runner = [this_python().executable, *PYTHON_FLAGS, "call.py"]
        files["call.py"] = _harness("call.py")
    else:
        toolchain = locate(lang)
        tool = toolchain.executable if toolchain else lang.tool
        runner = [tool, f"--max-old-space-size={memory_mb}", "call.js"]
        files["call.js"] = _harness(language)
        files["values.js"] = _harness("values.js")
    spec = {
        "filename": filename,
        "entrypoints": list(entrypoints),
        "calls": [{"args": values.encode(list(args)), "timeout_s": t} for args, t in calls],
        "load_timeout_s": LOAD_TIMEOUT_S,
        "memory": (memory_mb + lang.reserve_mb) << 20,
        "memory_markers": list(MEMORY_MARKERS),
        "runner": runner,
        "empty": empty,
        "output_cap": OUTPUT_CAP,
        "stdout_cap": CAPTURE_CAP,
    }
    files["spec.json"] = json.dumps(spec)
    timeouts = tuple(timeout for _, timeout in calls)
    return _python_job(files, timeouts, memory_mb + lang.reserve_mb, LOAD_TIMEOUT_S, stdio=False)


def stdio_program(
    language: str, code: str, calls: Sequence[tuple[str, float]], memory_mb: int
) -> Program | str:
    """Run ``code`` as a whole program once per ``(stdin, timeout_s)``; a str says why not."""
    lang = LANGUAGES[language]
    toolchain = locate(lang)
    if toolchain is None:
        return f"{lang.tool} not found: install it to run {language} programs"
    empty = "empty" + Path(lang.source).suffix

    def argv(template: Sequence[str], source: str) -> list[str]:
        fields = {"tool": toolchain.executable, "source": source, "memory_mb": memory_mb}
        return [part.format(**fields) for part in template]

    run_mb = memory_mb + lang.reserve_mb
    run = ("{tool}", *PYTHON_FLAGS, "{source}") if language == "python" else lang.run
    spec = {
        "compile": argv(lang.compile, lang.source) if lang.compile else None,
        "compile_timeout_s": COMPILE_TIMEOUT_S,
        "compile_memory": COMPILE_MEMORY_MB << 20,
        "run": argv(run, lang.source),
        "startup": None if lang.compile else argv(run, empty),
        "memory": run_mb << 20,
        "calls": [{"stdin": stdin, "timeout_s": timeout} for stdin, timeout in calls],
        "output_cap": OUTPUT_CAP,
        "stderr_cap": CAPTURE_CAP,
        "memory_markers": list(MEMORY_MARKERS),
    }
    files = {
        "main.py": _harness("stdio"),
        **_harness_modules(),
        f"prog/{lang.source}": code,
        "spec.json": json.dumps(spec),
    }
    if not lang.compile:
        files[f"prog/{empty}"] = ""
    fixed = COMPILE_TIMEOUT_S if lang.compile else LOAD_TIMEOUT_S
    memory = max(run_mb, COMPILE_MEMORY_MB if lang.compile else 0)
    timeouts = tuple(timeout for _, timeout in calls)
    return _python_job(files, timeouts, memory, fixed, stdio=True)


def _python_job(
    files: dict[str, str | bytes],
    timeouts: tuple[float, ...],
    memory_mb: int,
    fixed_s: float,
    stdio: bool,
) -> Program:
    """``files["main.py"]`` run by the sandbox's Python with PYTHON_FLAGS, via bash."""
    python = this_python().executable
    launcher = f'exec {shlex.quote(python)} {" ".join(PYTHON_FLAGS)} main.py "$@"\n'
    files = {**files, "main.sh": launcher}
    return Program("bash", files, timeouts, memory_mb, fixed_s=fixed_s, stdio=stdio)


@functools.cache
def _harness_modules() -> dict[str, str | bytes]:
    """The modules the in-sandbox harnesses import, under the names they import them by, with
    the codec compiled ahead (an unchecked pyc: each runner would spend ~7 ms compiling it)."""
    values = _harness("values")
    pyc = importlib.util.cache_from_source("scillm_values.py")
    code = compile(values, "scillm_values.py", "exec", dont_inherit=True)
    source_hash = importlib.util.source_hash(values.encode())
    compiled = _pyc(code, source_hash)
    return {"scillm_values.py": values, pyc: compiled, "_supervise.py": _harness("supervise")}


def _pyc(code: Any, source_hash: bytes) -> bytes:
    """A hash-based pyc (PEP 552) that Python loads without checking its source."""
    flags = 0b01  # hash-based, check_source off
    header = importlib.util.MAGIC_NUMBER + struct.pack("<I", flags) + source_hash
    return header + marshal.dumps(code)


@functools.cache
def _harness(kind: str) -> str:
    return (HERE / HARNESSES.get(kind, "_driver_stdio.py")).read_text()


async def execute(program: Program, pool: SandboxPool, deadline: float = math.inf) -> Execution:
    """Every call's verdict, in as few sandbox processes as the program's crashes allow.

    Nothing runs past ``deadline`` (a ``time.monotonic()`` value): the sandbox is killed then,
    and the calls it had not finished are ``timeout``.
    """
    total = len(program.timeouts)
    runs: dict[int, CallRun] = {}
    start, processes, isolation = 0, 0, ISOLATION_NONE
    header: dict[str, Any] = {}
    while start < total:
        result = await pool.run(program, start, deadline)
        if result is None or time.monotonic() >= deadline:
            late = CallRun("timeout", message="max_seconds ran out before this call finished")
            if result is not None:
                runs.update(_finished(_events(result.stdout), program, start))
            runs.update({i: late for i in range(total) if i not in runs})
            break
        processes, isolation = processes + 1, result.isolation
        events = _events(result.stdout)
        header = next((e for e in events if e["event"] in HEADERS), {})
        if header.get("event") != "loaded":
            status, message = _refusal(header, result)
            failed = CallRun(status if status in CALL_STATUSES else "error", message=message)
            runs.update({i: failed for i in range(start, total) if i not in runs})
            return _done(program, runs, status, message, isolation, processes, header)
        for index, run in _finished(events, program, start).items():
            runs.setdefault(index, run)
        missing = [i for i in range(start, total) if i not in runs]
        if not missing:
            break
        resume = _abandoned_at(events)
        if resume is None or resume != missing[0]:  # no: the process died during a call
            runs[missing[0]] = _killed(result)
            resume = missing[0] + 1
        start = resume
    return _done(program, runs, "ran", "", isolation, processes, header)


def _abandoned_at(events: list[dict[str, Any]]) -> int | None:
    """Where a fresh sandbox must go on when the harness gave this one up (its /tmp unclean)."""
    for event in events:
        if event["event"] == "abandon" and isinstance(event.get("next"), int):
            return int(event["next"])
    return None


def _finished(events: list[dict[str, Any]], program: Program, start: int) -> dict[int, CallRun]:
    """The calls a process reported from ``start`` on, by index."""
    header = next((e for e in events if e["event"] in HEADERS), {})
    startup = _number(header.get("startup_cpu_ms")) or 0.0
    runs: dict[int, CallRun] = {}
    for event in events:
        index = event.get("index")
        if event["event"] != "call" or not isinstance(index, int):
            continue
        if start <= index < len(program.timeouts):
            runs[index] = _call_run(event, program.stdio, startup)
    return runs


def _done(
    program: Program,
    runs: dict[int, CallRun],
    status: str,
    message: str,
    isolation: str,
    processes: int,
    header: dict[str, Any],
) -> Execution:
    entry = header.get("entrypoint")
    return Execution(
        runs=tuple(runs[i] for i in range(len(program.timeouts))),
        status=status,
        message=message,
        isolation=isolation,
        processes=processes,
        entrypoint=entry if isinstance(entry, str) else None,
        startup_cpu_ms=_number(header.get("startup_cpu_ms")),
    )


def _refusal(header: dict[str, Any], result: SandboxResult) -> tuple[str, str]:
    """Why no call ran: the harness said so, or the process died before it could."""
    kind = header.get("event")
    message = str(header.get("message") or "")[:CAPTURE_CAP]
    if kind == "compile_error":
        return "compile_error", message
    if kind == "no_entrypoint":
        return "no_entrypoint", message
    if kind == "load_error":
        return "load_error", f"loading the program failed: {message}"
    if kind == "sandbox_error":
        return "sandbox_error", message
    if result.status in ("rejected", "sandbox_error"):
        return result.status, result.message
    stderr = result.stderr.strip()[-CAPTURE_CAP:]
    why = result.message or f"the process ended with status {result.exit_code}"
    return "load_error", f"the program stopped while loading: {why}" + (
        f"\n{stderr}" if stderr else ""
    )


def _killed(result: SandboxResult) -> CallRun:
    """The verdict of the call a process died on."""
    status = FROM_SANDBOX.get(result.status, result.status)
    why = result.message or f"the process ended with status {result.exit_code}"
    message = f"the program ended its process during this call: {why}"
    return CallRun(status if status in CALL_STATUSES else "error", message=message)


def _events(stdout: str) -> list[dict[str, Any]]:
    """The harness's report lines; anything else on stdout is not evidence."""
    events = []
    for line in stdout.splitlines():
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):  # a record nested past the host's stack
            continue
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            events.append(event)
    return events


def _call_run(event: dict[str, Any], stdio: bool, startup_cpu_ms: float) -> CallRun:
    status = event.get("status")
    if status not in CALL_STATUSES:
        return CallRun("error", message=f"the harness reported an unknown status {status!r}")
    stdout = _text(event.get("stdout"))[: OUTPUT_CAP if stdio else CAPTURE_CAP]
    cpu = _number(event.get("cpu_ms"))
    output: Any = stdout
    if not stdio and status == "ok":
        try:
            output = values.decode(event.get("output"), "output")
        except values.Malformed as exc:
            return CallRun("error", message=f"the harness reported a malformed value: {exc}")
    return CallRun(
        status=status,
        output=output if status == "ok" or stdio else None,
        stdout=stdout,
        stderr=_text(event.get("stderr")),
        message=_text(event.get("message"))[:CAPTURE_CAP],
        cpu_ms=None if cpu is None else max(0.0, cpu - startup_cpu_ms),
        wall_ms=_number(event.get("wall_ms")),
    )


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
