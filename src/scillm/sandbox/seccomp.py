"""The sandbox's seccomp filter: a classic BPF program that bwrap installs before the program runs.

Namespaces and rlimits bound what a process can reach and use, but a process that may create
a user namespace gets a root of its own in it: it can mount a tmpfs (host RAM outside
RLIMIT_AS), re-arrange its mounts, and so on. Other calls reach memory or processes the limits
do not count. The filter refuses, with ``EPERM``, the calls that open those doors:

- new namespaces and mounts: ``unshare``, ``setns``, ``clone``/``clone3`` with a namespace
  flag, ``mount`` and the new mount API, ``umount2``, ``pivot_root``, ``chroot``;
- reaching into other processes: ``ptrace``, ``process_vm_readv/writev``, ``pidfd_getfd``,
  ``kcmp``;
- memory outside RLIMIT_AS, and state that would outlive a process: SysV shared memory,
  message queues and semaphores, POSIX message queues, ``memfd_create``/``memfd_secret`` (file
  memory capped only per file), ``userfaultfd``;
- kernel surfaces sandboxed code has no use for: keyrings, ``bpf``, ``perf_event_open``,
  ``io_uring`` (its requests are not seen by seccomp).

``clone3`` passes its flags in memory that a filter cannot read, so it fails with ``ENOSYS``:
glibc then falls back to ``clone``, whose flags are checked. Calls of another ABI (x32 on
x86_64, or a foreign architecture) kill the process. The filter is inherited by every
descendant and cannot be removed; bwrap sets ``no_new_privs`` so it can be installed unprivileged.
"""

from __future__ import annotations

import functools
import os
import struct

__all__ = ["filter_fd", "supported"]

# Linux UAPI constants (linux/filter.h, linux/seccomp.h, linux/audit.h, linux/sched.h).
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
RET = 0x06  # BPF_RET | BPF_K
RET_KILL_PROCESS = 0x80000000
RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
EPERM, ENOSYS = 1, 38
X32_BIT = 0x40000000
# CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (clone's low byte is
# the exit signal, so CLONE_NEWTIME, 0x80, cannot be told apart there; it needs unshare/clone3).
CLONE_NAMESPACES = 0x7E020000
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0 = 0, 4, 16  # struct seccomp_data, little-endian

REFUSED = (
    "unshare", "setns", "mount", "umount2", "pivot_root", "chroot",
    "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp",
    "shmget", "msgget", "semget", "mq_open", "memfd_create", "memfd_secret", "userfaultfd",
    "add_key", "request_key", "keyctl", "bpf", "perf_event_open",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
)  # fmt: skip


# Syscall numbers: arch/x86/entry/syscalls/syscall_64.tbl and include/uapi/asm-generic/unistd.h.
SYSCALLS = """
name              x86_64  aarch64
clone                 56      220
clone3               435      435
ptrace               101      117
chroot               161       51
mount                165       40
umount2              166       39
pivot_root           155       41
unshare              272       97
setns                308      268
process_vm_readv     310      270
process_vm_writev    311      271
kcmp                 312      272
shmget                29      194
msgget                68      186
semget                64      190
mq_open              240      180
memfd_create         319      279
memfd_secret         447      447
userfaultfd          323      282
add_key              248      217
request_key          249      218
keyctl               250      219
bpf                  321      280
perf_event_open      298      241
io_uring_setup       425      425
io_uring_enter       426      426
io_uring_register    427      427
open_tree            428      428
move_mount           429      429
fsopen               430      430
fsconfig             431      431
fsmount              432      432
fspick               433      433
pidfd_getfd          438      438
mount_setattr        442      442
"""
# AUDIT_ARCH_* of each machine, and whether its ABI has an x32 twin to shut out.
AUDIT_ARCH = {"x86_64": (0xC000003E, True), "aarch64": (0xC00000B7, False)}


def _numbers(machine: str) -> dict[str, int]:
    header, *rows = (line.split() for line in SYSCALLS.strip().splitlines())
    column = header.index(machine)
    return {row[0]: int(row[column]) for row in rows}


def supported() -> bool:
    """Whether this machine's architecture has a filter (x86_64 and aarch64 do)."""
    return os.uname().machine in AUDIT_ARCH


def program(machine: str) -> bytes:
    """The filter for ``machine`` as ``struct sock_filter[]`` bytes, ready for bwrap."""
    audit, x32 = AUDIT_ARCH[machine]
    numbers = _numbers(machine)
    refused = sorted({numbers[name] for name in REFUSED})
    # Instructions as (code, jump-if-true label, jump-if-false label, k); labels are names of
    # the return instructions at the end, or None for "the next instruction".
    code: list[tuple[int, str | None, str | None, int]] = [
        (LD_W_ABS, None, None, OFFSET_ARCH),
        (JEQ, None, "kill", audit),
        (LD_W_ABS, None, None, OFFSET_NR),
    ]
    if x32:
        code.append((JGE, "kill", None, X32_BIT))
    code += [(JEQ, "deny", None, number) for number in refused]
    code += [
        (JEQ, "nosys", None, numbers["clone3"]),
        (JEQ, None, "allow", numbers["clone"]),
        (LD_W_ABS, None, None, OFFSET_ARG0),
        (JSET, "deny", "allow", CLONE_NAMESPACES),
    ]
    returns = {
        "allow": RET_ALLOW,
        "deny": RET_ERRNO | EPERM,
        "nosys": RET_ERRNO | ENOSYS,
        "kill": RET_KILL_PROCESS,
    }
    at = {name: len(code) + i for i, name in enumerate(returns)}
    out = bytearray()
    for index, (op, true, false, k) in enumerate(code):
        jt = at[true] - index - 1 if true else 0
        jf = at[false] - index - 1 if false else 0
        out += struct.pack("<HBBI", op, jt, jf, k)
    for value in returns.values():
        out += struct.pack("<HBBI", RET, 0, 0, value)
    return bytes(out)


def filter_fd() -> int:
    """An in-memory file holding this machine's filter, rewound (the caller closes it)."""
    fd = os.memfd_create("scillm-seccomp")
    os.write(fd, _program())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


@functools.cache
def _program() -> bytes:
    return program(os.uname().machine)
