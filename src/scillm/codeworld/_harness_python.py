"""CodeWorld's function harness, run inside the sandbox: ``python -I -S -B main.py START``.

This file is scillm's and trusted; the program under test is not. The harness never runs the
program's code in its own process; how it keeps its jobs away from itself (a uid per job, or a
non-dumpable harness) is :mod:`scillm.codeworld._supervise`, copied beside it with
:mod:`scillm.codeworld.values` (as ``scillm_values``).

It reads ``spec.json`` (``{"filename", "entrypoints", "calls": [{"args", "timeout_s"}],
"load_timeout_s", "memory", "output_cap", "stdout_cap", "memory_markers", "runner"}``), deletes
it and makes the work dir read-only for others, then forks one child per job: first a load
probe (is the program valid, which entrypoint does it define), then one child per call from
index START. Each child drops to a uid of its own (``base + job``; no uid switch for a non-root
caller), gets the call's rlimits (CPU, address space, processes), loads the program (its
module-level code runs there), calls the entrypoint and writes one JSON record on a pipe that
only it holds. For Python that happens in the forked child itself; for other languages
``runner`` is the argv the child execs (``_harness_javascript.js``), with the call on stdin
and the pipe as fd 3. The harness alone
judges the call: the wall-clock deadline, the exit status, CPU time and peak memory (``wait4``
on the child) are measured from outside; from the child it takes only the returned value (or
the exception), which no other call's code could have written. After each call every process
of that uid is killed, so nothing a call leaves behind can touch the next one.

One JSON line per event goes to the harness's stdout (the children's stdout and stderr are
/dev/null; ``print`` is captured per call into the record). Standard library only: the
sandbox cannot see scillm.
"""

from __future__ import annotations

import io
import json
import math
import os
import resource
import select
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from scillm.codeworld import _supervise
    from scillm.codeworld import values as codec
else:  # the sandbox has these two beside this file (``-I`` keeps its folder off sys.path)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _supervise
    import scillm_values as codec

MESSAGE_CAP = 2000
SIGKILL, SIGXCPU = 9, 24
CPU_KILL_FRACTION = 0.8  # as in scillm.sandbox.verdict: RLIMIT_CPU fires a little early
RECORD_SLACK = 1 << 16  # a record's JSON around its output and captured stdout
# What a child may report; a timeout, its CPU time and memory are the harness's to measure.
REPORTABLE = ("ok", "error", "memory_limit", "output_limit", "sandbox_error", "compile_error")
STDERR_TAIL = 4096


def main() -> None:
    start = int(sys.argv[1])
    with open("spec.json", encoding="utf-8") as spec_file:
        spec = json.load(spec_file)
    lock_work_dir()
    first_uid = _supervise.first_uid()
    with open(spec["filename"], encoding="utf-8", errors="replace") as source_file:
        source = source_file.read()
    try:
        code = (
            None if spec["runner"] else compile(source, spec["filename"], "exec", dont_inherit=True)
        )
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        emit({"event": "compile_error", "message": describe(exc, spec["filename"])})
        return
    probe_job = runner_job(spec, None, []) if spec["runner"] else lambda: load(code, spec)
    probe = run_child(probe_job, spec["load_timeout_s"], spec, _supervise.job_uid(first_uid, 0))
    entry = probe.get("output") if probe["status"] == "ok" else None
    if probe["status"] == "compile_error":
        emit({"event": "compile_error", "message": probe.get("message", "")})
        return
    if probe["status"] != "ok":
        emit({"event": "load_error", **probe})
        return
    if not isinstance(entry, str):
        names = " or ".join(repr(n) for n in spec["entrypoints"])
        emit({"event": "no_entrypoint", "message": f"the program defines no function {names}"})
        return
    emit({"event": "loaded", "entrypoint": entry})
    for index in range(start, len(spec["calls"])):
        call = spec["calls"][index]
        job = (
            runner_job(spec, entry, call["args"])
            if spec["runner"]
            else python_job(code, spec, entry, call["args"])
        )
        record = run_child(job, call["timeout_s"], spec, _supervise.job_uid(first_uid, index + 1))
        emit({"event": "call", "index": index, **record})
    emit({"event": "done"})


def lock_work_dir() -> None:
    """Delete the spec and leave the other files read-only for the children (a root harness
    owns them; where the children share the harness's uid this changes nothing)."""
    os.unlink("spec.json")
    for name in [*os.listdir("."), "."]:
        if os.stat(name).st_uid == os.geteuid():
            os.chmod(name, 0o755 if os.path.isdir(name) else 0o644)


def python_job(code: Any, spec: dict[str, Any], entry: str, args: list[Any]) -> Callable[[], Any]:
    """What a Python call's child runs: load the program, call the entrypoint."""
    return lambda: load(code, spec, entry)(*codec.decode(args, "args"))


def runner_job(spec: dict[str, Any], entry: str | None, args: list[Any]) -> dict[str, Any]:
    """The stdin of a ``runner`` child: which call to make (``entry`` None: only probe)."""
    keys = ("filename", "entrypoints", "output_cap", "stdout_cap")
    return {**{key: spec[key] for key in keys}, "entry": entry, "args": args}


def load(code: Any, spec: dict[str, Any], entry: str | None = None) -> Any:
    """Run the program's module-level code; the probe returns the entrypoint's name, a call
    gets the function itself."""
    namespace: dict[str, Any] = {"__name__": spec["filename"].removesuffix(".py")}
    namespace["__builtins__"] = __builtins__
    exec(code, namespace)
    if entry is not None:
        return namespace[entry]
    return next((n for n in spec["entrypoints"] if callable(namespace.get(n))), None)


def run_child(
    job: Callable[[], Any] | dict[str, Any], timeout_s: float, spec: dict[str, Any], uid: int | None
) -> dict[str, Any]:
    """Run ``job`` in a fresh child under the limits; the record says how it ended."""
    read_end, write_end = os.pipe()
    errors = os.open("/tmp", os.O_TMPFILE | os.O_RDWR, 0o600)  # the child's stderr, for us
    cpu_limit = math.ceil(timeout_s) + 1
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        child(job, write_end, errors, cpu_limit, spec, uid)
    os.close(write_end)
    raw, timed_out = collect(pid, read_end, started + timeout_s, spec)
    _supervise.kill_leftovers(pid, uid)
    _, status, usage = os.wait4(pid, 0)
    wall_ms = (time.monotonic() - started) * 1000
    stderr = os.pread(errors, STDERR_TAIL, max(0, os.fstat(errors).st_size - STDERR_TAIL))
    os.close(errors)
    cpu_ms = (usage.ru_utime + usage.ru_stime) * 1000
    base = {"cpu_ms": cpu_ms, "wall_ms": wall_ms, "max_rss_kb": usage.ru_maxrss}
    if timed_out:
        return {"status": "timeout", "message": f"ran longer than {timeout_s:g} s", **base}
    code = os.waitstatus_to_exitcode(status)
    if code in (-SIGKILL, -SIGXCPU) and cpu_ms >= CPU_KILL_FRACTION * 1000 * cpu_limit:
        return {"status": "timeout", "message": f"CPU limit of {cpu_limit} s exceeded", **base}
    record = parse(raw) if code == 0 else None
    if record is None:
        tail = stderr.decode("utf-8", "replace").lower()
        if any(marker in tail for marker in spec["memory_markers"]):
            return {"status": "memory_limit", "message": "the memory limit was reached", **base}
        why = f"killed by signal {-code}" if code < 0 else f"exited with status {code}"
        return {"status": "error", "message": f"the program ended its process: {why}", **base}
    return {**record, **base}


def collect(pid: int, fd: int, deadline: float, spec: dict[str, Any]) -> tuple[bytes, bool]:
    """Read the child's record until it exits; True as well when the deadline passed first."""
    cap = spec["output_cap"] + spec["stdout_cap"] * 4 + RECORD_SLACK
    received = bytearray()
    pidfd = os.pidfd_open(pid)
    watched = [fd, pidfd]
    timed_out = False
    try:
        while pidfd in watched:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select(watched, [], [], left)
            if pidfd in ready:  # exited: take what it wrote, whoever still holds the pipe
                watched.remove(pidfd)
                os.set_blocking(fd, False)
            reading = fd in ready or pidfd not in watched
            if reading and not read_into(fd, received, cap) and fd in watched:
                watched.remove(fd)
    finally:
        os.close(pidfd)
        os.close(fd)
    return bytes(received[:cap]), timed_out


def read_into(fd: int, buffer: bytearray, cap: int) -> bool:
    """Append what the pipe holds now (up to ``cap``); False at its end or when it is empty."""
    while len(buffer) <= cap:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return False
        if not chunk:
            return False
        buffer += chunk
        if os.get_blocking(fd):
            return True
    return False


def child(
    job: Callable[[], Any] | dict[str, Any],
    fd: int,
    errors: int,
    cpu_limit: int,
    spec: dict[str, Any],
    uid: int | None,
) -> None:
    """The forked child: become untrusted, run ``job``, write its record, exit."""
    try:
        null = os.open(os.devnull, os.O_RDWR)
        for target, source in ((0, null), (1, null), (2, errors)):
            os.dup2(source, target)
        keep = 3 if fd == 3 else os.dup2(fd, 3)  # the record pipe becomes fd 3, the last one
        os.closerange(4, 1 << 16)
        fd = keep
        os.setsid()
        limits = {resource.RLIMIT_CPU: cpu_limit, resource.RLIMIT_AS: spec["memory"]}
        _supervise.confine(uid, limits)
        if isinstance(job, dict):
            start_runner(job, spec["runner"])
    except BaseException as exc:  # never run the program half-confined
        os.write(fd, json.dumps({"status": "sandbox_error", "message": repr(exc)}).encode())
        os._exit(0)
    assert callable(job)
    os.write(fd, json.dumps(invoke(job, spec)).encode())
    os._exit(0)


def start_runner(call: dict[str, Any], argv: list[str]) -> None:
    """Exec ``argv`` with ``call`` on stdin (an unnamed file of this uid) and fd 3 kept."""
    stdin = os.open("/tmp", os.O_TMPFILE | os.O_RDWR, 0o600)
    data = memoryview(json.dumps(call).encode())
    while data:
        data = data[os.write(stdin, data) :]
    os.lseek(stdin, 0, os.SEEK_SET)
    os.dup2(stdin, 0)
    os.close(stdin)
    env = {k: v for k, v in os.environ.items() if k != "SCILLM_SANDBOX_UIDS"}
    os.execve(argv[0], argv, env)


def invoke(job: Callable[[], Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Call ``job`` with ``print`` captured; its value or exception, as a record."""
    captured = io.StringIO()
    sys.stdout = captured
    try:
        value = job()
    except MemoryError:
        record = {"status": "memory_limit", "message": "MemoryError: the memory limit was reached"}
    except BaseException as exc:  # the program's exceptions, SystemExit included, are verdicts
        record = {"status": "error", "message": describe(exc, spec["filename"])}
    else:
        record = encode(value, spec["output_cap"])
    sys.stdout = sys.__stdout__
    record["stdout"] = captured.getvalue()[: spec["stdout_cap"]]
    return record


def parse(raw: bytes) -> dict[str, Any] | None:
    """The child's record, if it is one; a call cannot claim a timeout or its own costs."""
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("status") not in REPORTABLE:
        return None
    allowed = ("status", "message", "output", "stdout")
    return {key: record[key] for key in allowed if key in record}


def encode(value: Any, cap: int) -> dict[str, Any]:
    """The return value in the values encoding (checked here: a bad value spoils only its call)."""
    try:
        data = codec.encode(value, "the return value")
        text = json.dumps(data)
    except (ValueError, RecursionError) as exc:  # Unencodable is a ValueError
        return {"status": "error", "message": f"returned a {type(value).__name__}: {exc}"}
    if len(text) > cap:
        return {"status": "output_limit", "message": f"return value over {cap} bytes as JSON"}
    return {"status": "ok", "output": data}


def describe(exc: BaseException, filename: str) -> str:
    """``ZeroDivisionError: division by zero (solution.py, line 3)``."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError):  # its text already says where
        return text[:MESSAGE_CAP]
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is not None:
        text += f" ({filename}, line {line})"
    return text[:MESSAGE_CAP]


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
