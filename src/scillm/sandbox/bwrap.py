"""The bubblewrap layer: which bwrap, the argv that isolates one run, and its teardown."""

from __future__ import annotations

import os
import re
import secrets
import select
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from scillm._config import env

__all__ = [
    "BWRAP_ENV",
    "WORKDIR",
    "Staged",
    "await_teardown",
    "command_started",
    "find_bwrap",
    "pick_uid",
    "sandbox_argv",
]

BWRAP_ENV = "SCILLM_BWRAP"  # path to bwrap; a path that does not exist means "no bwrap"
WORKDIR = "/sandbox"  # the private work dir (also HOME and cwd) as the sandbox sees it
TEARDOWN_S = 5.0  # longest wait for a sandbox's last processes to be gone
TMP_SIZE = 64 << 20  # the private /tmp is a tmpfs in host RAM, so it is capped
# Shown read-only (or re-created as the same symlink on merged-/usr systems).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# The only /etc entries a language needs: the loader cache and Debian's tool alternatives.
ETC_ENTRIES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives")
NAMESPACES = (
    "--unshare-ipc",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-uts",
    "--unshare-cgroup-try",
)
# What a root caller's waiter keeps: enough to drop the program to its uid, nothing else.
WAITER_CAPS = ("CAP_SETUID", "CAP_SETGID")
# A root caller's program runs as a fresh unprivileged uid from this range, so RLIMIT_NPROC
# binds (the kernel exempts uid 0) and counts only this run's processes. The range is unused
# by distributions and systemd (containers stop below 1879048192); a rare collision only makes
# two concurrent runs share one process budget.
UID_BASE = 2_000_000_000
UID_SPAN = 1 << 24


def find_bwrap() -> str | None:
    """``$SCILLM_BWRAP`` if set (None when that path does not exist), else bwrap on PATH."""
    configured = env(BWRAP_ENV)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("bwrap")


def pick_uid() -> int | None:
    """A fresh uid for a root caller's program; None when we are not root (a user ns is used)."""
    return UID_BASE + secrets.randbelow(UID_SPAN) if os.geteuid() == 0 else None


@dataclass(frozen=True)
class Staged:
    """A file copied into a tmpfs work dir: an open fd to read it from, where, and its mode."""

    fd: int
    name: str
    mode: int


def sandbox_argv(
    bwrap: str,
    command: Sequence[str],
    *,
    workdir: str | Sequence[Staged],
    read_only: Sequence[str],
    status_fd: int,
    seccomp_fd: int,
    as_root: bool,
    disk_bytes: int = 0,
) -> list[str]:
    """bwrap argv that runs ``command`` in a private, writable ``/sandbox``.

    ``workdir`` is a host directory bound there, or the files to copy into a fresh tmpfs of
    ``disk_bytes`` (host RAM: capped, and gone with the sandbox). ``read_only`` are extra host
    trees (install prefixes), shown at the same path. A root caller's sandbox has no user
    namespace (one mapped to host root would exempt the program from RLIMIT_NPROC):
    ``command`` starts as root with only :data:`WAITER_CAPS` and must drop the program to an
    unprivileged uid itself. Anyone else gets a user namespace, as bwrap requires. bwrap always
    sets ``no_new_privs`` and mounts everything ``nosuid``; ``seccomp_fd`` holds the filter of
    :mod:`scillm.sandbox.seccomp`. ``status_fd`` receives bwrap's JSON status (see
    :func:`await_teardown`).
    """
    argv = [bwrap, *NAMESPACES]
    if as_root:
        argv += ["--cap-drop", "ALL"]
        for cap in WAITER_CAPS:
            argv += ["--cap-add", cap]
    else:
        argv.append("--unshare-user")
    argv += ["--die-with-parent", "--new-session", "--hostname", "sandbox"]
    argv += _system_mounts()
    argv += ["--proc", "/proc", "--dev", "/dev"]
    argv += ["--perms", "1777", "--size", str(TMP_SIZE), "--tmpfs", "/tmp"]
    argv += _tree_mounts(read_only)
    if isinstance(workdir, str):
        argv += ["--bind", workdir, WORKDIR]
    else:
        argv += _tmpfs_workdir(workdir, disk_bytes)
    # bwrap's own tmpfs (the new root, /dev) would be writable, without a cap, by a program
    # that owns them (a non-root caller's): only /tmp and /sandbox are.
    argv += ["--remount-ro", "/dev", "--remount-ro", "/"]
    argv += ["--chdir", WORKDIR, "--seccomp", str(seccomp_fd)]
    argv += ["--json-status-fd", str(status_fd), "--"]
    return [*argv, *command]


def _tmpfs_workdir(files: Sequence[Staged], size: int) -> list[str]:
    """A size-capped tmpfs at ``/sandbox`` holding ``files``; the program may add its own."""
    argv = ["--perms", "0777", "--size", str(size), "--tmpfs", WORKDIR]
    made: set[str] = set()
    for staged in files:
        parts = staged.name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            directory = "/".join(parts[:depth])
            if directory not in made:
                argv += ["--perms", "0777", "--dir", f"{WORKDIR}/{directory}"]
                made.add(directory)
        argv += ["--perms", f"{staged.mode:04o}", "--file", str(staged.fd)]
        argv.append(f"{WORKDIR}/{staged.name}")
    return argv


def _system_mounts() -> list[str]:
    argv: list[str] = []
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    # bwrap creates missing parents 0700, which an unprivileged uid could not traverse.
    argv += ["--perms", "0755", "--dir", "/etc"]
    for path in ETC_ENTRIES:
        argv += ["--ro-bind-try", path, path]
    return argv


def _tree_mounts(trees: Sequence[str]) -> list[str]:
    """Read-only binds of trees outside the system dirs, with traversable parents."""
    argv: list[str] = []
    made: set[str] = set()
    for tree in trees:
        if tree == "/" or any(tree == d or tree.startswith(d + "/") for d in SYSTEM_DIRS):
            continue
        parent = os.path.dirname(tree)
        parents: list[str] = []
        while parent not in ("/", *made):
            parents.append(parent)
            parent = os.path.dirname(parent)
        for directory in reversed(parents):
            argv += ["--perms", "0755", "--dir", directory]
            made.add(directory)
        argv += ["--ro-bind", tree, tree]
    return argv


def command_started(status: bytes) -> bool:
    """bwrap reports an ``exit-code`` only for a command it started (not when setup failed)."""
    return b'"exit-code"' in status


def await_teardown(status: bytes) -> None:
    """Return once the sandbox's processes are all gone.

    bwrap exits as soon as its pid 1 reports the command's end, and a killed bwrap takes the
    sandbox down via the parent-death signal: both asynchronous. Pid 1 itself exits only after
    the kernel has killed and reaped every process of its pid namespace, so we wait for that.
    Bounded, in case the pid was already reaped and reused.
    """
    match = re.search(rb'"child-pid": *(\d+)', status)
    if match is None:
        return
    try:
        pidfd = os.pidfd_open(int(match[1]))
    except ProcessLookupError:
        return
    try:
        select.select([pidfd], [], [], TEARDOWN_S)
    finally:
        os.close(pidfd)
