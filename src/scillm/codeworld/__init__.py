"""CodeWorld: run code variants x tests in the sandbox, score them, rank them, search for better.

    from scillm import codeworld
    payload = codeworld.evaluate([{
        "id": "add", "task": "Add two numbers", "entrypoint": "solve",
        "variants": {"plus": "def solve(a, b):\\n    return a + b\\n",
                     "minus": "def solve(a, b):\\n    return a - b\\n"},
        "tests": [{"args": [1, 2], "expected": 3}, {"args": [5, 5], "expected": 10}],
    }])
    result = payload["results"][0]
    result["best_variant"], result["status"], result["scores"]["correctness"]
    # ('plus', 'solved', 1.0)

Every variant runs on every test in the sandbox (one sandbox per variant, one process per test).
Verdicts are ``passed`` or what went wrong (failed, error, timeout,
memory_limit, output_limit, compile_error, rejected, sandbox_error, skipped): only ``passed``
counts. Metrics (see :mod:`scillm.codeworld.metrics`): correctness, speed, brevity, aggregate.
``strategy="mcts"`` searches with an LLM (:mod:`scillm.codeworld.mcts`). The HTTP bridge is
:func:`create_app`; the ``codeworld`` provider calls it or this engine.

Threat model
------------
The program under test is an adversary: a model in a search loop that is rewarded by these
scores will find any way to raise them that is not being correct. A verdict may depend only on
what the program returns (or prints, for whole programs), never on anything it can touch.

- Trusted: the host process, the kernel, bubblewrap with scillm's seccomp filter
  (:mod:`scillm.sandbox`), and the in-sandbox supervisors (``_harness_python.py``,
  ``_driver_stdio.py``, ``_supervise.py``). The runners (``_call_python.py``,
  ``_harness_javascript.js``) share a process with the program: they carry its value, nothing
  more.
- Untrusted: the program's code and every process, file or byte it produces.
- The supervisor never runs the program in its own process nor in a copy of it. Each call (and
  a load probe) is a fresh runner process that gets only its own arguments, a uid of its own (a
  root caller: the supervisor keeps CAP_SETUID and CAP_SETGID, nothing else) and its own
  RLIMIT_CPU/AS/NPROC, and reports its value on a pipe that only it holds. The wall clock, the
  exit status, CPU time and peak memory (``wait4``; orphans are reaped by the supervisor as
  subreaper and counted) are the supervisor's measurements; a runner cannot claim a timeout, a
  cost or another call's result. After each call every process of that uid is killed and its
  files in the sandbox's ``/tmp`` deleted. The program cannot signal, trace or read the
  supervisor: another uid, and ``ptrace``/``pidfd_getfd``/``process_vm_*`` are refused.
- Expected values never enter the sandbox; the spec (every call's arguments) is read and
  deleted before any untrusted code runs, and the work dir is read-only for the program.
- ``max_seconds`` bounds the whole request from the host: a sandbox still running then is
  killed, and its unfinished calls are ``timeout``.
- Values cross the boundary losslessly (:mod:`scillm.codeworld.values`); a value built to
  stall the host (a hash-flooding set) is refused as malformed, an error of its own call.

- Nothing outlives a call inside the sandbox: /tmp is emptied (a job's directories opened up
  first; a sandbox whose /tmp could not be emptied is abandoned and the next call runs in a
  fresh one), the work dir and the precompiled codec are read-only, and SysV/POSIX IPC objects
  cannot be created. So work done in the load probe (which is not timed) cannot help a call.

What a ``passed`` guarantees: the program, run alone under the test's limits, returned (or
printed) a value equal to the expected one. Known limits: a test's time limit covers the
program's module-level code and the call; CPU time includes ~1 ms that the start-up discount
does not remove, so ``speed`` treats times under 1 ms as equal. ``speed`` can be gamed by a
program that sets SIGCHLD to SIG_IGN and works in a child (the kernel reaps it: no ``wait4``
sees its CPU); the wall clock still binds it. Memory is limited per process (up to 64
processes per call), and /tmp caps bytes, not files; a memory cgroup per sandbox would bound
both and give exact CPU accounting. For a non-root
caller the sandbox has a single uid: the supervisor is non-dumpable (no ``/proc/<pid>/fd``),
but a call could signal it (the run then fails, it never passes). Repair prompts show
failing tests' expected values to the LLM, so a searched program may special-case them: keep
held-out tests for the final verdict. Python runs with the standard library only (``-I -S``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scillm.codeworld.api import aevaluate, evaluate
from scillm.codeworld.engine import SCHEMA
from scillm.codeworld.items import FUNCTION_LANGUAGES
from scillm.codeworld.metrics import BUILTIN_METRICS, DEFAULT_WEIGHTS
from scillm.codeworld.request import STRATEGIES
from scillm.codeworld.settings import BridgeSettings, EngineSettings
from scillm.codeworld.signals import Sessions
from scillm.codeworld.validation import InvalidRequest, Problem
from scillm.codeworld.verdicts import VERDICTS

if TYPE_CHECKING:
    from fastapi import FastAPI

    from scillm.service import ServiceConfig

__all__ = [
    "BUILTIN_METRICS",
    "DEFAULT_WEIGHTS",
    "FUNCTION_LANGUAGES",
    "SCHEMA",
    "STRATEGIES",
    "VERDICTS",
    "BridgeSettings",
    "EngineSettings",
    "InvalidRequest",
    "Problem",
    "Sessions",
    "aevaluate",
    "create_app",
    "evaluate",
]


def create_app(
    settings: BridgeSettings | None = None, config: ServiceConfig | None = None
) -> FastAPI:
    """The CodeWorld bridge (FastAPI); see :mod:`scillm.codeworld.server`. Imports FastAPI."""
    from scillm.codeworld.server import create_app as build

    return build(settings, config)
