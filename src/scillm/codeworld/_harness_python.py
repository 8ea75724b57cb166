"""CodeWorld's function harness, run inside the sandbox: ``python -I -S -B main.py START``.

Loads the program (``spec.json``'s ``filename``, e.g. ``solution.py``) as a module, finds the
entrypoint, and calls it once per call in ``spec.json`` (``{"filename", "entrypoints",
"calls": [{"args", "timeout_s"}], "load_timeout_s", "output_cap", "stdout_cap"}``) from index
START on, timing each call with the process's CPU time (so interpreter start-up is not counted).
It reports one JSON line per event on a private copy of stdout; the program's own fd 1 goes to
/dev/null and ``print`` is captured per call. Per-call time limits use SIGALRM; the sandbox's
limits are the backstop (the host re-runs from the call after one that killed the process).
Standard library only: the sandbox cannot see scillm.
"""

from __future__ import annotations

import functools
import io
import json
import os
import resource
import sys
import time

# The public ``signal`` module imports enum (~7 ms per run); its C core has no stubs.
from _signal import ITIMER_REAL, SIGALRM, setitimer, signal  # type: ignore[import-not-found]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TextIO

MESSAGE_CAP = 2000
FILENAME = "solution.py"  # set from the spec; tracebacks are reported against this file


class Expired(BaseException):
    """The call ran past its time limit (a BaseException, so ``except Exception`` misses it)."""


def on_alarm(signum: int, frame: object) -> None:
    raise Expired


def main() -> None:
    start = int(sys.argv[1])
    global FILENAME
    with open("spec.json", encoding="utf-8") as spec_file:
        spec = json.load(spec_file)
    FILENAME = spec["filename"]
    report = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    signal(SIGALRM, on_alarm)
    entry = load(spec, report)
    if entry is None:
        return
    for index in range(start, len(spec["calls"])):
        args, timeout_s = spec["calls"][index]["args"], spec["calls"][index]["timeout_s"]
        record = invoke(functools.partial(entry, *args), timeout_s, spec)
        emit(report, {"event": "call", "index": index, **record})
    emit(report, {"event": "done"})


def load(spec: dict[str, Any], report: TextIO) -> Callable[..., Any] | None:
    with open(FILENAME, encoding="utf-8", errors="replace") as source_file:
        source = source_file.read()
    try:
        code = compile(source, FILENAME, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        emit(report, {"event": "compile_error", "message": describe(exc)})
        return None
    module = FILENAME.removesuffix(".py")
    namespace: dict[str, Any] = {"__name__": module, "__builtins__": __builtins__}
    outcome = invoke(lambda: exec(code, namespace), spec["load_timeout_s"], spec)
    if outcome["status"] != "ok":
        emit(report, {"event": "load_error", **outcome})
        return None
    for name in spec["entrypoints"]:
        if callable(namespace.get(name)):
            emit(report, {"event": "loaded", "entrypoint": name})
            return namespace[name]  # type: ignore[no-any-return]
    names = " or ".join(repr(n) for n in spec["entrypoints"])
    emit(report, {"event": "no_entrypoint", "message": f"the program defines no function {names}"})
    return None


def invoke(fn: Callable[[], Any], timeout_s: float, spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``fn`` under a time limit; the record says how it ended and what it cost."""
    captured = io.StringIO()
    sys.stdout = captured
    status, value, message = "ok", None, ""
    wall, cpu = time.perf_counter(), cpu_seconds()
    try:
        try:
            setitimer(ITIMER_REAL, timeout_s)
            value = fn()
        finally:
            setitimer(ITIMER_REAL, 0)
    except Expired:
        status, message = "timeout", f"ran longer than {timeout_s:g} s"
    except MemoryError:
        status, message = "memory_limit", "MemoryError: the memory limit was reached"
    except BaseException as exc:  # the program's exceptions, SystemExit included, are verdicts
        status, message = "error", describe(exc)
    cpu_ms = (cpu_seconds() - cpu) * 1000
    wall_ms = (time.perf_counter() - wall) * 1000
    sys.stdout = sys.__stdout__
    record = {"status": status, "message": message, "cpu_ms": cpu_ms, "wall_ms": wall_ms}
    record["stdout"] = captured.getvalue()[: spec["stdout_cap"]]
    if status == "ok":
        record.update(encode(value, spec["output_cap"]))
    return record


def cpu_seconds() -> float:
    """CPU time of the whole process (all threads), to the microsecond.

    Not ``time.process_time()``: with RLIMIT_CPU set (the sandbox sets it) Linux samples the
    process clock only at scheduler ticks, so short calls would all measure 0 or one tick.
    """
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def encode(value: Any, cap: int) -> dict[str, Any]:
    """The return value as JSON (checked here, so one bad value spoils only its own call)."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError) as exc:
        kind = type(value).__name__
        return {"status": "error", "message": f"returned a {kind}, which is not JSON data: {exc}"}
    if len(text) > cap:
        return {"status": "output_limit", "message": f"return value over {cap} bytes as JSON"}
    return {"output": value}


def describe(exc: BaseException) -> str:
    """``ZeroDivisionError: division by zero (solution.py, line 3)``."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError):  # its text already says where
        return text[:MESSAGE_CAP]
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == FILENAME:
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is not None:
        text += f" ({FILENAME}, line {line})"
    return text[:MESSAGE_CAP]


def emit(report: TextIO, record: dict[str, Any]) -> None:
    report.write(json.dumps(record) + "\n")
    report.flush()


if __name__ == "__main__":
    main()
