"""Limits hold for every process inside: no user namespace, no mount, no memory outside the caps.

Each attack is checked on the host side (the host's shared memory and disk while the program
runs), not only by the status the sandbox reports.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from scillm.sandbox import run

pytestmark = pytest.mark.usefixtures("isolated")
MIB = 1 << 20

# Each probe calls libc directly and prints {name: errno or 0}; EPERM is 1, ENOSYS 38.
SYSCALL_PROBES = r"""
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNS, SIGCHLD = 0x10000000, 0x00020000, 17
def errno_of(result):
    return ctypes.get_errno() if result == -1 else 0
probes = {
    "unshare_user": lambda: libc.unshare(CLONE_NEWUSER),
    "unshare_mount": lambda: libc.unshare(CLONE_NEWNS),
    "clone_newuser": lambda: libc.syscall(56, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0),
    "clone3": lambda: libc.syscall(435, 0, 0),
    "mount_tmpfs": lambda: libc.mount(b"none", b"/tmp", b"tmpfs", 0, None),
    "memfd_create": lambda: libc.memfd_create(b"x", 0),
    "shmget": lambda: libc.shmget(0, 64 << 20, 0o1600),
    "ptrace_parent": lambda: libc.ptrace(16, os.getppid(), None, None),
    "pidfd_getfd": lambda: libc.syscall(438, 0, 1, 0),
    "process_vm_readv": lambda: libc.syscall(310, os.getppid(), 0, 0, 0, 0, 0),
    "io_uring_setup": lambda: libc.syscall(425, 1, 0),
    "keyctl": lambda: libc.syscall(250, 0, 0, 0, 0, 0),
}
print(json.dumps({name: errno_of(call()) for name, call in probes.items()}))
"""


def test_namespace_mount_and_cross_process_calls_are_refused() -> None:
    result = run(SYSCALL_PROBES, timeout_s=10)
    assert result.status == "ok", result
    errnos = json.loads(result.stdout)
    assert errnos.pop("clone3") == 38  # ENOSYS: glibc falls back to clone, which is checked
    assert errnos == dict.fromkeys(errnos, 1), errnos  # EPERM for every one


def test_unshare_command_cannot_map_a_root_user() -> None:
    code = "unshare -Urm sh -c 'mount -t tmpfs none /tmp && echo MOUNTED'; echo exit=$?"
    result = run(code, "bash", timeout_s=10)
    assert result.status == "ok", result
    assert "MOUNTED" not in result.stdout
    assert "exit=1" in result.stdout
    assert "Operation not permitted" in result.stderr


def test_threads_fork_and_subprocesses_still_work() -> None:
    code = """
import subprocess, threading
out = []
threads = [threading.Thread(target=out.append, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(sorted(out), subprocess.run(["echo", "child"], capture_output=True, text=True).stdout)
"""
    result = run(code, timeout_s=10)
    assert result.status == "ok", result
    assert result.stdout.split() == ["[0,", "1,", "2,", "3]", "child"]


def _shmem_kb() -> int:
    """The host's shared memory (tmpfs, SysV and memfd pages), from /proc/meminfo."""
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("Shmem:"):
                return int(line.split()[1])
    raise AssertionError("no Shmem line in /proc/meminfo")


@contextmanager
def peak_shmem_growth() -> Iterator[list[int]]:
    """Samples the host's shared memory while the block runs; yields [peak growth in KiB]."""
    base, peak, done = _shmem_kb(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _shmem_kb() - base)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


# Fills every writable place it can find with up to 1 GiB each, then holds it for a moment.
FILLER = r"""
import os, time
chunk = b"x" * (1 << 20)
stored = {}
for place in ("/sandbox", "/tmp", "/dev/shm", "/", "/var/tmp"):
    stored[place] = 0
    try:
        with open(os.path.join(place, "fill.bin"), "wb") as handle:
            for _ in range(1024):
                handle.write(chunk)
                handle.flush()
                stored[place] += 1
    except OSError:
        pass
print(stored, flush=True)
time.sleep(1.5)
"""


def test_filling_every_writable_place_stays_within_the_caps() -> None:
    free_before = _host_free(tempfile.gettempdir())
    with peak_shmem_growth() as peak:
        result = run(FILLER, timeout_s=20, memory_mb=64, disk_mb=32)
    assert result.status == "ok", result
    stored = eval(result.stdout)  # a dict of ints printed by the program
    assert stored["/sandbox"] <= 32 and stored["/tmp"] <= 64, stored
    assert stored["/dev/shm"] == stored["/"] == stored["/var/tmp"] == 0, stored
    assert result.disk_kb is not None and result.disk_kb <= (32 + 64) * 1024
    # On the host: at most the two caps of tmpfs, never the GiBs the program asked for.
    assert peak[0] < 256 * 1024, f"host shared memory grew by {peak[0]} KiB"
    assert free_before - _host_free(tempfile.gettempdir()) < 256 * MIB


def test_a_full_work_dir_is_an_output_limit_not_host_disk() -> None:
    code = "with open('big', 'wb') as f:\n    for _ in range(400): f.write(b'x' * (1 << 20))"
    free_before = _host_free(tempfile.gettempdir())
    result = run(code, timeout_s=20, disk_mb=16)
    assert result.status == "output_limit", result
    assert "disk cap of 16 MiB" in result.message
    assert result.disk_kb is not None and 15 * 1024 <= result.disk_kb <= 16 * 1024
    assert free_before - _host_free(tempfile.gettempdir()) < 64 * MIB


def test_user_namespace_tmpfs_cannot_hold_host_ram() -> None:
    """The round-1 escape: a tmpfs mounted in a new user namespace, outside RLIMIT_AS."""
    fill = "for i in $(seq 16); do head -c 62914560 /dev/zero > /tmp/ram$i || exit; done"
    code = f"unshare -Urm sh -c 'mount -t tmpfs -o size=2g none /tmp && {fill} && echo HELD'"
    with peak_shmem_growth() as peak:
        result = run(code, "bash", timeout_s=20, memory_mb=64)
    assert "HELD" not in result.stdout
    assert peak[0] < 256 * 1024, f"host shared memory grew by {peak[0]} KiB"


def _host_free(path: str) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


SURROGATE = "\ud800"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"code": "print(1)", "timeout_s": 1e12},
        {"code": "print(1)", "timeout_s": float("nan")},
        {"code": "print(1)", "timeout_s": "10"},
        {"code": "print(1)", "cpu_s": -1},
        {"code": "print(1)", "memory_mb": 1 << 40},
        {"code": "print(1)", "memory_mb": 64.5},
        {"code": "print(1)", "disk_mb": 0},
        {"code": "print(1)", "output_limit_bytes": True},
        {"code": b"print(1)"},
        {"code": f"print('{SURROGATE}')"},
        {"code": "print(1)", "stdin": SURROGATE},
        {"code": "print(1)", "args": [SURROGATE]},
        {"code": "print(1)", "args": "abc"},
        {"code": "print(1)", "env": {"A": SURROGATE}},
        {"code": "print(1)", "env": ["A=1"]},
        {"code": "print(1)", "files": {"a": "1", "a/b": "2"}},
        {"code": "print(1)", "files": {"a/b": "1", "a": "2"}},
        {"files": {"./main.py": "print(1)", "main.py": "print(2)"}},
        {"code": "print(1)", "files": {"d//x": "1", "d/x": "2"}},
        {"code": "print(1)", "files": {"x" * 300: "1"}},
        {"code": "print(1)", "files": {f"d/{SURROGATE}": "1"}},
        {"code": "print(1)", "files": {"d/": "1"}},
        {"code": "print(1)", "files": {"a": 1}},
        {"code": "print(1)", "files": {3: "1"}},
        {"code": "print(1)", "files": ["main.py"]},
        {"code": "print(1)", "language": ["python"]},
    ],
    ids=lambda kwargs: ",".join(f"{k}" for k in kwargs if k != "code") or "code",
)
def test_bad_input_is_rejected_never_raised(kwargs: dict[str, Any]) -> None:
    result = run(**kwargs)
    assert result.status == "rejected", result
    assert result.message
