"""Run untrusted code (python, javascript, c, cpp, bash) and say exactly what happened.

    from scillm import sandbox
    result = sandbox.run("print(input()[::-1])", stdin="abc", timeout_s=2, memory_mb=256)
    result.status, result.stdout          # ('ok', 'cba\\n')

``run``/``arun`` never raise for bad input or a broken host: ``status`` is one of ok,
runtime_error, timeout, memory_limit, output_limit, compile_error, rejected, sandbox_error, and
``message`` explains it. ``result.isolation`` says what protected the run.

Isolation model ("bwrap+rlimits")
---------------------------------
Each stage (compile, then run) is one bubblewrap sandbox:

- namespaces: ``--unshare-ipc --unshare-pid --unshare-net --unshare-uts --unshare-cgroup-try``
  (``--unshare-all`` minus the user namespace for a root caller, see below). The new network
  namespace has only its own loopback: the host's loopback and every network are unreachable.
- filesystem: a fresh root with ``/usr`` (and the ``/bin``, ``/lib*``, ``/sbin`` dirs or their
  merged-/usr symlinks) read-only, ``/etc`` reduced to ``ld.so.cache``/``ld.so.conf*``/
  ``alternatives``, the language's install prefix and the Python interpreter's prefix
  (``sys.base_prefix``, e.g. a pyenv tree: it runs the waiter) read-only, a new ``/proc``,
  a minimal ``/dev``, a private 64 MiB tmpfs ``/tmp``, and a private tmpfs of ``disk_mb``
  (default 128) at ``/sandbox`` (cwd and HOME) holding a copy of the files. Both tmpfs live in
  host RAM, so they are capped; a full one is ``output_limit`` and ``disk_kb`` reports their
  use. (A compiler writes the binary into a private host dir, bound there, which is then copied
  in.) The rest (bwrap's own ``/`` and ``/dev``) is read-only. Nothing else of the host
  (``/root``, ``/home``, ``/work``, the rest of ``/etc``) exists inside.
- system calls: a seccomp filter (:mod:`scillm.sandbox.seccomp`) refuses new namespaces
  (``unshare``, ``clone`` with a namespace flag), every mount call, ``ptrace``,
  ``process_vm_*``, ``pidfd_getfd``, SysV shared memory, ``memfd_create``, keyrings, ``bpf``
  and ``io_uring``. Without it, ``unshare -Urm`` gave a program a root of its own that could
  mount a tmpfs holding host RAM outside RLIMIT_AS.
- processes: ``--die-with-parent`` (the sandbox dies with us), ``--new-session`` (no terminal
  injection). bwrap's init is pid 1; under it runs scillm's waiter (``_waiter_script.py``, run by
  the host's Python interpreter with an empty environment), which reads the program's argv, env
  and limits from an in-memory file, forks, applies the rlimits, drops privileges, execs the
  program, and reports its exact exit status, CPU time and peak RSS on a private pipe. (The
  caller's own ``wait4`` cannot: Linux carries the calling process's peak RSS across ``exec``,
  and bwrap never reaps its init.) Killing bwrap (wall timeout, output cap) kills pid 1, and
  with it the whole pid namespace; ``run`` returns only once that namespace is empty.
- privileges: bwrap always sets ``no_new_privs`` and mounts ``nosuid``. For a root caller there
  is no user namespace (see the fork bomb below): the waiter stays root with only
  CAP_SETUID/CAP_SETGID and drops the program to a fresh uid/gid picked at random per run from
  [2e9, 2e9+2^24), with no supplementary groups (setting all three uids clears every
  capability), so the program can neither signal nor trace the waiter. A non-root caller gets
  a user namespace mapping its own uid.
- environment: exactly ``PATH``, ``HOME=/sandbox``, ``LANG=C.UTF-8`` plus the caller's ``env``,
  given to the program only (never to bwrap or the waiter, so e.g. ``LD_PRELOAD`` cannot reach
  root code); neither env nor argv appears in the host's process list.

Resource limits (set by the waiter, soft = hard, inherited by every descendant):
RLIMIT_CPU = ``cpu_s`` rounded up (default ``timeout_s``; the kernel SIGKILLs at the limit),
RLIMIT_AS = ``memory_mb`` (+ a language's up-front reservation: node gets 1 GiB more and
``--max-old-space-size=memory_mb``), RLIMIT_NPROC = 64, RLIMIT_FSIZE = 64 MiB,
RLIMIT_NOFILE = 256, RLIMIT_CORE = 0. Wall time ``timeout_s`` and output
``output_limit_bytes`` per stream are enforced by the parent, which kills the process group.

What stops a fork bomb: RLIMIT_NPROC. The kernel exempts uid 0 from it, which is why a root
caller's program runs as its own fresh uid (a user namespace mapped to host root would still
count as root); then the limit counts only this run's processes, fork() fails with EAGAIN at
64, and the wall timeout ends the rest. For a non-root caller the limit is set inside the user
namespace, where it also counts only this run's processes. The pid namespace keeps the host's
processes invisible and unsignalable.

Measurements: ``cpu_ms`` is the CPU time of the program and the descendants it waited for
(not the sandbox's); ``max_rss_kb`` is the peak RSS of the largest of them, never below ~8 MB
(the waiter it was forked from). For runs we killed (timeout, output cap) there is no report:
both then come from ``wait4`` on bwrap and mean little.

Statuses: a CPU-limit kill counts as ``timeout`` like the wall clock. ``memory_limit`` is inferred
(RLIMIT_AS makes allocations fail instead of killing): see :mod:`scillm.sandbox.verdict`.
Compilers run in the same sandbox with their own budget (60 s, 2 GiB); failure is
``compile_error`` with ``compile_stderr``. ``network=True`` is ``rejected``.

Without bwrap (or where it cannot create namespaces) ``run`` refuses with ``sandbox_error``,
unless the caller passes ``allow_rlimits_only=True``: then the program runs on the host under the
same rlimits and scrubbed environment and every result says ``isolation="rlimits-only"``. That
mode does not hide files or the network, and as root RLIMIT_NPROC does not bind.
``SCILLM_BWRAP`` names the bwrap binary (a missing path means "no bwrap").
``isolation_available()`` reports what works here, for health checks.

Known limits: the sandbox can see the host's CPU count and kernel version; for a non-root
caller the program shares the waiter's uid and can kill it (reported as ``runtime_error``).
Kernel memory that no rlimit counts is bounded only by the timeout: socket buffers (a program
queued ~300 MiB through 40 Unix socket pairs with ``memory_mb=16``; up to ~4 MiB per socket,
256 descriptors, 64 processes) — a memory cgroup per sandbox would close it. Isolation
protects the host, not the integrity of results computed inside the sandbox: a harness running
in the same process as untrusted code can be lied to by it (CodeWorld's never does).
"""

from scillm.sandbox.languages import LANGUAGES, Language
from scillm.sandbox.result import (
    ISOLATION_BWRAP,
    ISOLATION_NONE,
    ISOLATION_RLIMITS,
    STATUSES,
    SandboxResult,
    Status,
)
from scillm.sandbox.runner import DEFAULT_OUTPUT_LIMIT, arun, isolation_available, run

__all__ = [
    "DEFAULT_OUTPUT_LIMIT",
    "ISOLATION_BWRAP",
    "ISOLATION_NONE",
    "ISOLATION_RLIMITS",
    "LANGUAGES",
    "STATUSES",
    "Language",
    "SandboxResult",
    "Status",
    "arun",
    "isolation_available",
    "run",
]
