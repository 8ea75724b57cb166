"""CodeWorld's stdio driver, run inside the sandbox: ``python -B main.py START``.

Builds the program in ``prog/`` once (``compile`` argv, for C/C++), then runs it once per call in
``spec.json`` with that call's stdin, each run under its own limits (wall time, CPU, address
space, output size via RLIMIT_FSIZE on files) and in its own process group, so a timeout kills
everything it started. CPU per call is the children's rusage delta; for interpreted languages the
CPU of an empty program (``startup`` argv) is reported so the host can discount start-up.
One JSON line per event goes to stdout. Standard library only: the sandbox cannot see scillm.

This file is trusted, the program is not. For a root caller the driver runs as the sandbox's
root with CAP_SETUID/CAP_SETGID, and each process it starts (the compiler, each call) runs as a
fresh uid of its own (``$SCILLM_SANDBOX_UIDS`` on): a program can neither signal, trace nor
read the driver (``/proc/<pid>/fd``, ``pidfd_getfd``), and everything of a call's uid is killed
once the call ends. ``spec.json`` is deleted before anything untrusted runs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import subprocess
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

SIGKILL, SIGXCPU, SIGXFSZ = 9, 24, 25
CPU_KILL_FRACTION = 0.8  # as in scillm.sandbox.verdict: RLIMIT_CPU fires a little early
STDERR_TAIL = 4096
COMPILE_FILE_BYTES = 64 << 20  # the compiler writes the binary
MAX_PROCESSES = 64
PR_SET_DUMPABLE = 4


def main() -> None:
    start = int(sys.argv[1])
    with open("spec.json", encoding="utf-8") as spec_file:
        spec = json.load(spec_file)
    os.unlink("spec.json")
    base = os.environ.get("SCILLM_SANDBOX_UIDS")
    spec["first_uid"] = int(base) if base else None
    if spec["first_uid"] is None:
        undumpable()
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
        emit({"event": "call", "index": index, **record})
    emit({"event": "done"})


def undumpable() -> None:
    """With no uid of their own, programs share ours: make this process non-dumpable, so that
    ``/proc/<pid>/fd`` and ptrace need a capability they do not have."""
    import ctypes  # only here: ~5 ms, and only non-root callers need it

    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE) failed")


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
    uid = None if spec["first_uid"] is None else spec["first_uid"] + job
    limits = confine(cpu_limit, memory, file_bytes, uid)
    before = children_cpu()
    wall = time.perf_counter()
    with open("out.bin", "w+b") as out, open("err.bin", "w+b") as err:
        try:
            proc = subprocess.Popen(
                argv,
                cwd="prog",
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                start_new_session=True,
                preexec_fn=limits,  # the driver is single-threaded, so this is safe
            )
        except OSError as exc:  # the tool is not visible inside the sandbox
            return {"status": "sandbox_error", "message": f"cannot start {argv[0]}: {exc}"}
        timed_out = False
        try:
            proc.communicate(stdin, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_leftovers(proc.pid, uid)
            proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(spec["output_cap"] + 1), err.read()[-STDERR_TAIL:]
    cpu_ms = (children_cpu() - before) * 1000
    kill_leftovers(proc.pid, uid)  # anything it left running
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


def confine(cpu_s: int, memory: int, file_bytes: int, uid: int | None) -> Callable[[], None]:
    """What the child does before exec: its own uid (all three: no capability is left), then
    the limits."""

    def apply() -> None:
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        for kind, value in (
            (resource.RLIMIT_CPU, cpu_s),
            (resource.RLIMIT_AS, memory),
            (resource.RLIMIT_FSIZE, file_bytes),
            (resource.RLIMIT_NPROC, MAX_PROCESSES),
        ):
            hard = resource.getrlimit(kind)[1]  # the sandbox's own limit stays the ceiling
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(kind, (value, value))

    return apply


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def kill_leftovers(pid: int, uid: int | None) -> None:
    """Kill every process of ``uid`` (the driver may not signal it: that uid does), else the
    child's process group."""
    if uid is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, SIGKILL)
        return
    killer = os.fork()
    if killer == 0:
        try:
            os.setresuid(uid, uid, uid)
            os.kill(-1, SIGKILL)  # every process this uid may signal, but the caller
        finally:
            os._exit(0)
    os.waitpid(killer, 0)


def emit(record: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
