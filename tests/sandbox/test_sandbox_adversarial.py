"""Hostile programs stay contained, and each one gets the status that names what it did."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from scillm.sandbox import run

pytestmark = pytest.mark.usefixtures("isolated")
LIMITS: dict[str, Any] = {"timeout_s": 3, "memory_mb": 256}  # small: fast on 2 cores

PROBE_PATHS = """
import json, sys
seen = {}
for path in sys.argv[1:]:
    try:
        with open(path, "rb") as handle:
            seen[path] = handle.read(64).decode(errors="replace")
    except OSError as exc:
        seen[path] = type(exc).__name__
print(json.dumps(seen))
"""


def host_processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker`` (the host sees every namespace)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:  # exited while we looked
                continue
    return found


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.setblocking(False)
        yield server


def test_host_loopback_is_unreachable(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    code = f"""
import socket
print(sorted(name for _, name in socket.if_nameindex()))
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=1)
    print("connected")
except OSError as exc:
    print("failed", type(exc).__name__)
"""
    result = run(code, **LIMITS)
    assert result.status == "ok", result
    # bwrap brings up the sandbox's own loopback; nothing listens there and the host's is not it
    assert result.stdout.splitlines() == ["['lo']", "failed ConnectionRefusedError"]
    with pytest.raises(BlockingIOError):
        listener.accept()  # nothing ever reached the host's socket


def test_host_environment_is_invisible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCILLM_TEST_SECRET", "hunter2-do-not-leak")
    code = """
import os
print(os.environ)
for pid in (1, os.getppid()):  # bwrap's init and the waiter run with an empty environment
    try:
        print(open(f"/proc/{pid}/environ").read())
    except OSError as exc:
        print(type(exc).__name__)
"""
    result = run(code, **LIMITS)
    assert result.status == "ok", result
    assert "hunter2" not in result.stdout and "SCILLM_TEST_SECRET" not in result.stdout


def test_caller_env_reaches_only_the_program() -> None:
    # bwrap and the waiter (root for a root caller) must never load the caller's LD_PRELOAD
    result = run("print('ran')", env={"LD_PRELOAD": "/nonexistent/evil.so"}, **LIMITS)
    assert (result.status, result.stdout) == ("ok", "ran\n")
    assert result.stderr.count("evil.so") == 1  # the loader's warning, from the program only


def test_host_files_are_invisible(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"  # outside the work dir, under /tmp
    secret.write_text("hunter2")
    paths = [str(secret), __file__, "/etc/shadow", "/etc/passwd", "/root/.bashrc"]
    listing = "import json, os\nprint(json.dumps(os.listdir('/')))"
    result = run(PROBE_PATHS, args=paths, **LIMITS)
    root = run(listing, **LIMITS)
    assert result.status == root.status == "ok"
    assert set(json.loads(result.stdout).values()) <= {"FileNotFoundError", "PermissionError"}
    # the system dirs, the sandbox's own dirs, and the top of the Python prefix (/root for pyenv)
    python_top = Path(os.path.realpath(sys.base_prefix)).parts[1]
    allowed = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sandbox", "sbin"}
    assert set(json.loads(root.stdout)) <= allowed | {"tmp", "usr", python_top}


def test_writes_outside_the_work_dir_fail(tmp_path: Path) -> None:
    escape = f"scillm-escape-{uuid.uuid4().hex}"
    code = f"""
import json, os, sys
targets = ["/usr/{escape}", "/etc/{escape}", "/{escape}", os.path.join(sys.base_prefix, "{escape}"),
           "{tmp_path}/{escape}", "/sandbox/../{escape}", "/proc/sys/kernel/hostname"]
outcome = {{}}
for target in targets:
    try:
        with open(target, "w") as handle:
            handle.write("x")
        outcome[target] = "written"
    except OSError as exc:
        outcome[target] = type(exc).__name__
with open("/tmp/{escape}", "w") as handle:  # the private /tmp is writable...
    handle.write("x")
with open("inside.txt", "w") as handle:  # ...and so is the work dir
    handle.write("x")
print(json.dumps(outcome))
"""
    result = run(code, **LIMITS)
    assert result.status == "ok", result
    assert "written" not in json.loads(result.stdout).values()
    assert not (tmp_path / escape).exists()
    assert not Path("/tmp", escape).exists()  # ...but private to the sandbox
    assert not Path("/", escape).exists()


def test_fork_bomb_is_contained_by_the_process_limit() -> None:
    marker = f"scillm-bomb-{uuid.uuid4().hex}"
    code = """
import errno, os, sys
children = 0
while True:
    try:
        pid = os.fork()
    except OSError as exc:
        print("blocked", children, errno.errorcode[exc.errno])
        break
    if pid == 0:
        os.execv("/bin/sleep", ["sleep", "60", sys.argv[1]])
    children += 1
"""
    result = run(code, args=[marker], **LIMITS)
    assert result.status == "ok", result
    word, children, error = result.stdout.split()
    assert (word, error) == ("blocked", "EAGAIN")
    assert int(children) < 64
    assert host_processes_with(marker) == []  # the sleepers died with the sandbox


def test_exponential_fork_bomb_times_out_and_leaves_nothing_behind() -> None:
    marker = f"scillm-bomb-{uuid.uuid4().hex}"
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    result = run(code, args=[marker], timeout_s=2, memory_mb=256)
    assert result.status == "timeout"
    assert host_processes_with(marker) == []
    assert subprocess.run(["true"], check=False).returncode == 0  # the host can still fork
    assert run("print('alive')", **LIMITS).stdout == "alive\n"


def test_memory_bomb_hits_the_memory_limit() -> None:
    code = "hoard = []\nwhile True:\n    hoard.append(bytearray(1 << 20))"
    result = run(code, **LIMITS)
    assert result.status == "memory_limit", result
    assert "256 MiB" in result.message


def test_one_huge_allocation_hits_the_memory_limit() -> None:
    result = run("block = bytearray(8 << 30)", **LIMITS)
    assert result.status == "memory_limit", result


def test_javascript_memory_bomb(need: Callable[[str], None]) -> None:
    need("javascript")
    code = "const hoard = [];\nwhile (true) hoard.push(new Array(1e5).fill(Math.random()));"
    result = run(code, "javascript", timeout_s=10, memory_mb=128)
    assert result.status == "memory_limit", result


def test_infinite_loop_times_out() -> None:
    result = run("while True:\n    pass", timeout_s=2, memory_mb=256)
    assert result.status == "timeout"


def test_sleeping_forever_hits_the_wall_clock() -> None:
    result = run("import time\nprint('start', flush=True)\ntime.sleep(600)", **LIMITS)
    assert result.status == "timeout"
    assert "wall-clock" in result.message
    assert result.stdout == "start\n"  # what was written before the kill is kept


def test_cpu_limit_is_a_timeout() -> None:
    result = run("while True:\n    pass", timeout_s=20, cpu_s=1, memory_mb=256)
    assert result.status == "timeout"
    assert "CPU limit" in result.message


def test_huge_output_is_cut_and_killed() -> None:
    code = "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)"
    result = run(code, output_limit_bytes=100_000, **LIMITS)
    assert result.status == "output_limit"
    assert result.truncated is True
    assert len(result.stdout) == 100_000


def test_huge_stderr_is_cut_too(need: Callable[[str], None]) -> None:
    need("bash")
    result = run("yes error >&2", "bash", output_limit_bytes=10_000, **LIMITS)
    assert result.status == "output_limit"
    assert len(result.stderr) == 10_000


def test_signalling_the_parent_and_the_host_has_no_effect() -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        code = """
import json, os, signal, sys
outcome = {}
for name, pid in [("parent", os.getppid()), ("test", int(sys.argv[1])),
                  ("bystander", int(sys.argv[2])), ("everyone", -1)]:
    try:
        os.kill(pid, signal.SIGKILL)
        outcome[name] = "sent"
    except OSError as exc:
        outcome[name] = type(exc).__name__
print(json.dumps(outcome))
"""
        result = run(code, args=[str(os.getpid()), str(bystander.pid)], **LIMITS)
        assert result.status == "ok", result  # the waiter (its parent, pid 1) survived
        assert json.loads(result.stdout)["parent"] in {"sent", "PermissionError"}
        assert bystander.poll() is None  # still running
    finally:
        bystander.kill()
        bystander.wait()


def test_a_runaway_child_cannot_outlive_the_run() -> None:
    marker = f"scillm-orphan-{uuid.uuid4().hex}"
    code = (
        "import subprocess, sys\nsubprocess.Popen(['/bin/sleep', '60', sys.argv[1]])\nprint('bye')"
    )
    result = run(code, args=[marker], **LIMITS)
    assert (result.status, result.stdout) == ("ok", "bye\n")
    assert host_processes_with(marker) == []
