"""CodeWorld's stdio driver, run inside the sandbox: ``python -B main.py START``.

Builds the program in ``prog/`` once (``compile`` argv, for C/C++), then runs it once per call in
``spec.json`` with that call's stdin, each run under its own limits (wall time, CPU, address
space, output size via RLIMIT_FSIZE on files) and in its own process group, so a timeout kills
everything it started. CPU per call is the children's rusage delta; for interpreted languages the
CPU of an empty program (``startup`` argv) is reported so the host can discount start-up.
One JSON line per event goes to stdout. Standard library only: the sandbox cannot see scillm.

This file is trusted, the program is not. Each process it starts (the compiler, each call) is
a job of :mod:`scillm.codeworld._supervise`: a uid of its own (a root caller), so a program can
neither signal, trace nor read the driver; everything a call leaves (processes, whose CPU time
counts, and files in /tmp) is removed once it ends. ``spec.json`` is deleted and the work dir
made read-only before anything untrusted runs; outputs go to unnamed files.
"""

from __future__ import annotations

import functools
import json
import math
import os
import resource
import subprocess
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from scillm.codeworld import _supervise
else:  # the sandbox has it beside this file (``-I`` keeps its folder off sys.path)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import _supervise

SIGKILL, SIGXCPU, SIGXFSZ = 9, 24, 25
CPU_KILL_FRACTION = 0.8  # as in scillm.sandbox.verdict: RLIMIT_CPU fires a little early
STDERR_TAIL = 4096
COMPILE_FILE_BYTES = 64 << 20  # the compiler writes the binary


def main() -> None:
    start = int(sys.argv[1])
    with open("spec.json", encoding="utf-8") as spec_file:
        spec = json.load(spec_file)
    lock_work_dir()
    spec["first_uid"] = _supervise.first_uid()
    if spec["compile"]:
        limits = (spec["compile_timeout_s"], spec["compile_memory"], COMPILE_FILE_BYTES)
        built = execute(spec["compile"], b"", *limits, spec, job=0)
        if built["status"] == "sandbox_error":
            emit({"event": "sandbox_error", "message": built["message"]})
            return
        if built["status"] != "ok":
            message = (built["stderr"] + built["stdout"]).strip() or built["message"]
            emit({"event": "compile_error", "message": message})
            return
    os.chmod("prog", 0o755)  # calls may not change the program, nor leave files for the next
    run_limits = (spec["memory"], spec["output_cap"] + 1)
    startup = (
        execute(spec["startup"], b"", 10, *run_limits, spec, job=1) if spec["startup"] else None
    )
    startup_ms = startup["cpu_ms"] if startup and startup["status"] == "ok" else None
    emit({"event": "loaded", "startup_cpu_ms": startup_ms})
    for index in range(start, len(spec["calls"])):
        call = spec["calls"][index]
        stdin = call["stdin"].encode()
        record = execute(spec["run"], stdin, call["timeout_s"], *run_limits, spec, job=index + 2)
        events = _supervise.call_events(index, record)
        for event in events:
            emit(event)
        if events[-1]["event"] == "abandon":
            return
    emit({"event": "done"})


def lock_work_dir() -> None:
    """Delete the spec; only ``prog/`` stays writable (for the compiler), the rest read-only
    (a root driver owns it; where the programs share the driver's uid this changes nothing)."""
    os.unlink("spec.json")
    _supervise.lock_tree(".")
    os.chmod("prog", 0o777)  # for the compiler's uid; locked again once it is done


def scratch_file() -> Any:
    """An unnamed file in /tmp that only the driver can reach by name: a program's output."""
    return os.fdopen(os.open("/tmp", os.O_TMPFILE | os.O_RDWR, 0o600), "w+b")


def execute(
    argv: list[str],
    stdin: bytes,
    timeout_s: float,
    memory: int,
    file_bytes: int,
    spec: dict[str, Any],
    job: int,
) -> dict[str, Any]:
    """Run ``argv`` in ``prog/`` as job number ``job`` and describe how it ended."""
    cpu_limit = math.ceil(timeout_s) + 1
    uid = _supervise.job_uid(spec["first_uid"], job)
    limits = {
        resource.RLIMIT_CPU: cpu_limit,
        resource.RLIMIT_AS: memory,
        resource.RLIMIT_FSIZE: file_bytes,
    }
    before = children_cpu()
    wall = time.perf_counter()
    with scratch_file() as out, scratch_file() as err:
        try:
            proc = subprocess.Popen(
                argv,
                cwd="prog",
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                start_new_session=True,
                # the driver is single-threaded, so this is safe
                preexec_fn=functools.partial(_supervise.confine, uid, limits),
            )
        except OSError as exc:  # the tool is not visible inside the sandbox
            return {"status": "sandbox_error", "message": f"cannot start {argv[0]}: {exc}"}
        timed_out = False
        try:
            proc.communicate(stdin, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
        _supervise.kill_leftovers(proc.pid, uid)  # anything it left running
        proc.wait()
        _supervise.reap_orphans(uid)  # their CPU counts in RUSAGE_CHILDREN from here on
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(spec["output_cap"] + 1), err.read()[-STDERR_TAIL:]
    cpu_ms = (children_cpu() - before) * 1000
    status, message = classify(proc.returncode, timed_out, cpu_ms, cpu_limit, stdout, stderr, spec)
    return {
        "status": status,
        "message": message,
        "exit_code": proc.returncode,
        "stdout": stdout[: spec["output_cap"]].decode("utf-8", "replace"),
        "stderr": stderr.decode("utf-8", "replace")[-spec["stderr_cap"] :],
        "cpu_ms": cpu_ms,
        "wall_ms": (time.perf_counter() - wall) * 1000,
    }


def classify(
    code: int,
    timed_out: bool,
    cpu_ms: float,
    cpu_limit: int,
    stdout: bytes,
    stderr: bytes,
    spec: dict[str, Any],
) -> tuple[str, str]:
    if len(stdout) > spec["output_cap"] or code == -SIGXFSZ:
        return "output_limit", f"output over {spec['output_cap']} bytes"
    if timed_out:
        return "timeout", "time limit exceeded; killed"
    if code == 0:
        return "ok", ""
    if code in (-SIGKILL, -SIGXCPU) and cpu_ms >= CPU_KILL_FRACTION * 1000 * cpu_limit:
        return "timeout", f"CPU limit of {cpu_limit} s exceeded"
    tail = stderr.decode("utf-8", "replace").lower()
    if any(marker in tail for marker in spec["memory_markers"]):
        return "memory_limit", "the memory limit was reached"
    if code < 0:
        return "error", f"killed by signal {-code}"
    return "error", f"exited with status {code}"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
