"""CodeWorld's function harness, run inside the sandbox: ``python -I -S -B main.py START``.

This file is scillm's and trusted; the program under test is not, and never runs in this
process nor in a copy of it. The harness reads ``spec.json`` (``{"filename", "entrypoints",
"calls": [{"args", "timeout_s"}], "load_timeout_s", "memory", "output_cap", "stdout_cap",
"memory_markers", "runner", "empty"}``), deletes it and makes the work dir read-only for the
jobs, then runs one job per step: the runner on an empty program (its start-up CPU, which the
host discounts), a load probe (does the program load, which entrypoint does it define), then
one job per call from index START. A job is a forked child that becomes untrusted (a uid
of its own and the call's rlimits, see :mod:`scillm.codeworld._supervise`) and execs the
``runner`` (``_call_python.py``, ``_harness_javascript.js``): a fresh process that gets only its
own call on stdin and writes one record on fd 3, a pipe only it holds.

The harness alone judges the call: the wall-clock deadline, the exit status, CPU time and peak
memory (``wait4``, plus every orphan the job left, reaped here as the subreaper) are measured
from outside; from the record it takes only the returned value or the exception. After each
job everything it left (processes, files in /tmp) is removed, so nothing of one call can touch
the next. One JSON line per event goes to the harness's stdout (the jobs' stdout is /dev/null).
Standard library only: the sandbox cannot see scillm.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import select
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from scillm.codeworld import _supervise
else:  # the sandbox has it beside this file (``-I`` keeps its folder off sys.path)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _supervise

SIGKILL, SIGXCPU = 9, 24
CPU_KILL_FRACTION = 0.8  # as in scillm.sandbox.verdict: RLIMIT_CPU fires a little early
RECORD_SLACK = 1 << 16  # a record's JSON around its output and captured stdout
# What a job may report; a timeout, its CPU time and memory are the harness's to measure.
REPORTABLE = ("ok", "error", "memory_limit", "output_limit", "compile_error")
STDERR_TAIL = 4096


def main() -> None:
    start = int(sys.argv[1])
    with open("spec.json", encoding="utf-8") as spec_file:
        spec = json.load(spec_file)
    lock_work_dir()
    first_uid = _supervise.first_uid()
    # The runner's own start-up, on an empty program of ours: the host discounts it from every
    # call (the program's own probe cannot serve: it could make itself slow to hide its calls).
    empty = {**spec, "filename": spec["empty"]}
    baseline = run_job(call_of(empty, None, []), spec["load_timeout_s"], spec, first_uid, 0)
    startup_ms = baseline["cpu_ms"] if baseline["status"] == "ok" else None
    probe = run_job(call_of(spec, None, []), spec["load_timeout_s"], spec, first_uid, 1)
    if probe["status"] == "compile_error":
        emit({"event": "compile_error", "message": probe.get("message", "")})
        return
    if probe["status"] != "ok":
        emit({"event": "load_error", **probe})
        return
    entry = probe.get("output")
    if entry not in spec["entrypoints"]:
        names = " or ".join(repr(n) for n in spec["entrypoints"])
        emit({"event": "no_entrypoint", "message": f"the program defines no function {names}"})
        return
    emit({"event": "loaded", "entrypoint": entry, "startup_cpu_ms": startup_ms})
    for index in range(start, len(spec["calls"])):
        call = spec["calls"][index]
        job = call_of(spec, entry, call["args"])
        record = run_job(job, call["timeout_s"], spec, first_uid, index + 2)
        events = _supervise.call_events(index, record)
        for event in events:
            emit(event)
        if events[-1]["event"] == "abandon":
            return
    emit({"event": "done"})


def lock_work_dir() -> None:
    """Delete the spec and leave every other file read-only for the jobs (a root harness owns
    them; where the jobs share the harness's uid this changes nothing)."""
    os.unlink("spec.json")
    _supervise.lock_tree(".")


def call_of(spec: dict[str, Any], entry: str | None, args: Any) -> dict[str, Any]:
    """What a runner reads on stdin: which call to make (``entry`` None: only probe)."""
    keys = ("filename", "entrypoints", "output_cap", "stdout_cap")
    return {**{key: spec[key] for key in keys}, "entry": entry, "args": args}


def run_job(
    call: dict[str, Any], timeout_s: float, spec: dict[str, Any], first: int | None, job: int
) -> dict[str, Any]:
    """Run ``call`` in a fresh runner under the limits; the record says how it ended."""
    uid = _supervise.job_uid(first, job)
    read_end, write_end = os.pipe()
    errors = os.open("/tmp", os.O_TMPFILE | os.O_RDWR, 0o600)  # the job's stderr, for us
    cpu_limit = math.ceil(timeout_s) + 1
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        become_runner(call, write_end, errors, cpu_limit, spec, uid)
    os.close(write_end)
    raw, timed_out = collect(pid, read_end, started + timeout_s, spec)
    usage = _supervise.end_job(pid, uid)
    wall_ms = (time.monotonic() - started) * 1000
    stderr = os.pread(errors, STDERR_TAIL, max(0, os.fstat(errors).st_size - STDERR_TAIL))
    os.close(errors)
    cpu_ms = usage.cpu_s * 1000
    base = {"cpu_ms": cpu_ms, "wall_ms": wall_ms, "max_rss_kb": usage.max_rss_kb}
    if timed_out:
        return {"status": "timeout", "message": f"ran longer than {timeout_s:g} s", **base}
    code = os.waitstatus_to_exitcode(usage.status)
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
    """Read the job's record until it exits; True as well when the deadline passed first."""
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


def become_runner(
    call: dict[str, Any],
    fd: int,
    errors: int,
    cpu_limit: int,
    spec: dict[str, Any],
    uid: int | None,
) -> None:
    """The forked child: become untrusted and exec the runner, with ``call`` on stdin (an
    unnamed file of the job's uid) and the record pipe as fd 3. Never returns: should any step
    fail, it exits with no record, never running the program half-confined."""
    with contextlib.suppress(BaseException):
        null = os.open(os.devnull, os.O_RDWR)
        for target, source in ((1, null), (2, errors)):
            os.dup2(source, target)
        if fd != 3:
            os.dup2(fd, 3)
        os.closerange(4, 1 << 16)
        os.setsid()
        limits = {resource.RLIMIT_CPU: cpu_limit, resource.RLIMIT_AS: spec["memory"]}
        _supervise.confine(uid, limits)
        stdin = os.open("/tmp", os.O_TMPFILE | os.O_RDWR, 0o600)
        data = memoryview(json.dumps(call).encode())
        while data:
            data = data[os.write(stdin, data) :]
        os.lseek(stdin, 0, os.SEEK_SET)
        os.dup2(stdin, 0)
        os.close(stdin)
        env = {k: v for k, v in os.environ.items() if k != _supervise.UIDS_ENV}
        os.execve(spec["runner"][0], spec["runner"], env)
    os._exit(70)


def parse(raw: bytes) -> dict[str, Any] | None:
    """The job's record, if it is one; a job cannot claim a timeout or its own costs."""
    try:
        record = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or record.get("status") not in REPORTABLE:
        return None
    allowed = ("status", "message", "output", "stdout")
    return {key: record[key] for key in allowed if key in record}


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
