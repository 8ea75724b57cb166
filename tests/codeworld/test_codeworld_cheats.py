"""Programs that try to forge their verdict: each cheat ends in timeout, failed or error.

A model rewarded by these scores (MCTS) will look for such holes by itself, so every way the
program could touch its own measurement is tried here, in python, javascript and stdio modes.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from scillm.codeworld import aevaluate
from scillm.codeworld.execute import function_program
from scillm.sandbox import run

pytestmark = pytest.mark.usefixtures("isolated")

# Expected values are x * 2; every cheat below returns a wrong value or runs too long.
TESTS = [{"args": [1], "expected": 2, "timeout_s": 1}, {"args": [2], "expected": 4, "timeout_s": 1}]
FAKE = '{"event": "call", "index": %d, "status": "ok", "output": %d}\n'
FAKES = "".join(FAKE % (i, 2 * (i + 1)) for i in range(2))

PYTHON_CHEATS = {
    "ignores_sigalrm": "import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
    "def solve(x):\n    time.sleep(2.5)\n    return x * 2\n",
    "catches_the_timeout": "import time\ndef solve(x):\n    end = time.time() + 2.5\n"
    "    while time.time() < end:\n        try:\n            time.sleep(0.05)\n"
    "        except BaseException:\n            pass\n    return x * 2\n",
    "replaces_setitimer": "import signal, time\nsignal.setitimer = lambda *a, **k: 0\n"
    "signal.alarm = lambda *a: 0\ndef solve(x):\n    time.sleep(2.5)\n    return x * 2\n",
    "fakes_lines_on_every_fd_then_hangs": "import os, time\n"
    "def solve(x):\n    for fd in range(256):\n        try:\n"
    f"            os.write(fd, {FAKES.encode()!r})\n"
    "        except OSError:\n            pass\n    time.sleep(30)\n",
    "writes_into_the_harness_fds": "import os, time\ndef solve(x):\n"
    "    for pid in (os.getppid(), 1):\n        for fd in range(64):\n            try:\n"
    f"                with open(f'/proc/{{pid}}/fd/{{fd}}', 'w') as out:\n"
    f"                    out.write({FAKES!r})\n            except OSError:\n                pass\n"
    "    return -1\n",
    "steals_the_harness_stdout": "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "def solve(x):\n    pidfd = libc.syscall(434, os.getppid(), 0)\n"
    "    fd = libc.syscall(438, pidfd, 1, 0)\n"
    f"    if fd >= 0:\n        os.write(fd, {FAKES.encode()!r})\n    return -1\n",
    "kills_the_harness": "import os, signal\ndef solve(x):\n"
    "    for pid in (os.getppid(), 1):\n        try:\n            os.kill(pid, signal.SIGKILL)\n"
    "        except OSError:\n            pass\n    return -1\n",
    # The runner is the program's own process: patching it only forges the program's own value
    # (here 3, like returning 3), never another call's or the harness's judgement.
    "patches_main": "import sys\nmain = sys.modules['__main__']\n"
    "main.emit = main.encode = main.parse = lambda *a, **k: {'status': 'ok', 'output': 3}\n"
    "def solve(x):\n    return -1\n",
    "patches_getrusage_and_time": "import resource, time\n"
    "resource.getrusage = lambda *a: resource.struct_rusage((0.0,) * 16)\n"
    "time.perf_counter = lambda: 0.0\ntime.process_time = lambda: 0.0\n"
    "def solve(x):\n    time.sleep(2.5)\n    return x * 2\n",
    "leaves_a_daemon_for_the_next_call": "import os, time\n"
    "def solve(x):\n    if x == 1 and os.fork() == 0:\n        os.setsid()\n"
    "        for _ in range(40):\n            for fd in range(3, 64):\n"
    f"                try:\n                    os.write(fd, {FAKES.encode()!r})\n"
    "                except OSError:\n                    pass\n            time.sleep(0.05)\n"
    "        os._exit(0)\n    time.sleep(0.3)\n    return -1\n",
}

JAVASCRIPT_CHEATS = {
    "busy_loop": "function solve(x) { for (;;) {} }",
    "fakes_stdout_and_fd3_then_hangs": "const fs = require('fs');\n"
    "function solve(x) {\n  for (let fd = 0; fd < 64; fd++) {\n"
    f"    try {{ fs.writeSync(fd, {FAKES!r}); }} catch (e) {{}}\n  }}\n  for (;;) {{}}\n}}",
    "writes_into_the_harness_fds": "const fs = require('fs');\nfunction solve(x) {\n"
    "  for (let fd = 0; fd < 64; fd++) {\n    try {\n"
    f"      fs.writeFileSync(`/proc/${{process.ppid}}/fd/${{fd}}`, {FAKES!r});\n"
    "    } catch (e) {}\n  }\n  return -1;\n}",
    "patches_cpu_usage": "process.cpuUsage = () => ({ user: 0, system: 0 });\n"
    "function solve(x) { const end = Date.now() + 2500; while (Date.now() < end) {} "
    "return x * 2; }",
}

STDIO_TESTS = [
    {"stdin": "1\n", "expected_stdout": "2", "timeout_s": 1},
    {"stdin": "2\n", "expected_stdout": "4", "timeout_s": 1},
]
STDIO_CHEATS = {
    "prints_fake_events": f"print({FAKES!r})",
    "writes_into_the_driver_fds": "import os\nfor pid in (os.getppid(), 1):\n"
    "    for fd in range(64):\n        try:\n"
    "            with open(f'/proc/{pid}/fd/{fd}', 'w') as out:\n"
    f"                out.write({FAKES!r})\n        except OSError:\n            pass\n",
    "steals_the_driver_stdout": "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
    "pidfd = libc.syscall(434, os.getppid(), 0)\nfd = libc.syscall(438, pidfd, 1, 0)\n"
    f"if fd >= 0:\n    os.write(fd, {FAKES.encode()!r})\n",
    "ignores_signals_and_sleeps": "import signal, time\n"
    "for s in (signal.SIGTERM, signal.SIGALRM, signal.SIGXCPU):\n"
    "    signal.signal(s, signal.SIG_IGN)\ntime.sleep(2.5)\nprint(int(input()) * 2)\n",
}


def _tests_of(result: dict[str, Any]) -> dict[str, list[str]]:
    return {v["id"]: [t["verdict"] for t in v["tests"]] for v in result["variants"]}


def _assert_no_cheat_scores(result: dict[str, Any], honest: str) -> None:
    verdicts = _tests_of(result)
    assert verdicts.pop(honest) == ["passed", "passed"]
    for name, outcome in verdicts.items():
        assert "passed" not in outcome, (name, outcome)
    for variant in result["variants"]:
        if variant["id"] != honest:
            assert variant["scores"]["correctness"] == 0.0, variant["id"]
    assert result["best_variant"] == honest


async def test_python_cheats_never_pass() -> None:
    variants = {"honest": "def solve(x):\n    return x * 2\n", **PYTHON_CHEATS}
    item = {"id": "double", "variants": variants, "tests": TESTS}
    [result] = (await aevaluate([item]))["results"]
    _assert_no_cheat_scores(result, "honest")
    verdicts = _tests_of(result)
    for slow in ("ignores_sigalrm", "catches_the_timeout", "replaces_setitimer"):
        assert verdicts[slow] == ["timeout", "timeout"], slow
    assert verdicts["patches_getrusage_and_time"] == ["timeout", "timeout"]
    assert verdicts["fakes_lines_on_every_fd_then_hangs"] == ["timeout", "timeout"]


async def test_patched_clocks_do_not_make_a_program_faster() -> None:
    work = "    total = 0\n    for i in range(3_000_000):\n        total += i\n    return x * 2\n"
    patch = (
        "import resource, time\n"
        "resource.getrusage = lambda *a: resource.struct_rusage((0.0,) * 16)\n"
        "time.perf_counter = time.process_time = time.monotonic = lambda: 0.0\n"
    )
    variants = {"honest": f"def solve(x):\n{work}", "patched": f"{patch}def solve(x):\n{work}"}
    item = {"id": "double", "variants": variants, "tests": TESTS}
    [result] = (await aevaluate([item]))["results"]
    cpu = {
        v["id"]: sum(t["cpu_ms"] for t in v["tests"]) for v in result["variants"]
    }  # measured by the harness from wait4, whatever the program patched
    assert cpu["patched"] > 0.25 * cpu["honest"] > 0, cpu


async def test_javascript_cheats_never_pass(need: Any) -> None:
    need("javascript")
    variants = {"honest": "function solve(x) { return x * 2; }", **JAVASCRIPT_CHEATS}
    item = {"id": "double", "language": "javascript", "variants": variants, "tests": TESTS}
    [result] = (await aevaluate([item]))["results"]
    _assert_no_cheat_scores(result, "honest")
    verdicts = _tests_of(result)
    assert verdicts["busy_loop"] == ["timeout", "timeout"]
    assert verdicts["patches_cpu_usage"] == ["timeout", "timeout"]


async def test_stdio_cheats_never_pass() -> None:
    variants = {"honest": "print(int(input()) * 2)\n", **STDIO_CHEATS}
    item = {"id": "double", "mode": "stdio", "variants": variants, "tests": STDIO_TESTS}
    [result] = (await aevaluate([item]))["results"]
    _assert_no_cheat_scores(result, "honest")
    assert _tests_of(result)["ignores_signals_and_sleeps"] == ["timeout", "timeout"]


async def test_max_seconds_bounds_the_whole_request() -> None:
    slow = "import time\ndef solve(x):\n    time.sleep(0.9)\n    return x * 2\n"
    tests = [{"args": [i], "expected": 2 * i, "timeout_s": 1} for i in range(40)]
    item = {"id": "slow", "variants": {"a": slow}, "tests": tests}
    started = time.monotonic()
    payload = await aevaluate([item], max_seconds=3)
    assert time.monotonic() - started < 10  # 40 calls of 0.9 s would take 36 s
    [result] = payload["results"]
    assert result["status"] == "unsolved"
    verdicts = [t["verdict"] for t in result["variants"][0]["tests"]]
    assert verdicts[0] == "passed" and verdicts[-1] == "timeout", verdicts
    assert "max_seconds ran out" in result["variants"][0]["tests"][-1]["message"]


def test_without_a_uid_per_call_the_harness_is_out_of_reach() -> None:
    """A non-root caller's sandbox has one uid, so calls share the harness's: it then makes
    itself non-dumpable, and a call cannot open its ``/proc/<pid>/fd``. Run here as a plain
    sandboxed program (not a supervisor), which is exactly that situation."""
    code = PYTHON_CHEATS["writes_into_the_harness_fds"]
    program = function_program("python", code, ["solve"], [((1,), 2.0), ((2,), 2.0)], 256)
    result = run(files=program.files, language="bash", args=["0"], timeout_s=30)
    events = [json.loads(line) for line in result.stdout.splitlines()]
    calls_seen = [e for e in events if e["event"] == "call"]
    assert [e["index"] for e in calls_seen] == [0, 1], result  # nothing forged, nothing lost
    assert [e["output"] for e in calls_seen] == [-1, -1]


async def test_hundreds_of_timeouts_in_one_sandbox_each_get_a_verdict() -> None:
    """More calls than the sandbox has file descriptors (256), every one killed at its limit."""
    tests = [{"args": [i], "expected": 2 * i, "timeout_s": 0.01} for i in range(300)]
    item = {"id": "loop", "variants": {"loop": "def solve(x):\n    while True:\n        pass\n"}}
    payload = await aevaluate([{**item, "tests": tests}])
    [variant] = payload["results"][0]["variants"]
    assert [t["verdict"] for t in variant["tests"]] == ["timeout"] * 300
    assert payload["run_manifest"]["sandbox_processes"] == 1  # the harness itself held out


LEAK_FINDER = """import gc
def secret(v):
    return isinstance(v, str) and len(v) == 8 and v[:7] == 'secret-'
def solve(x):
    found = set()
    for o in gc.get_objects():
        values = o.values() if isinstance(o, dict) else o if isinstance(o, (list, tuple)) else ()
        for v in values:
            if secret(v):
                found.add(v)
            elif isinstance(v, list):
                found.update(w for w in v if secret(w))
    try:
        with open('/tmp/seen') as seen:
            found.update(seen.read().split())
    except OSError:
        pass
    with open('/tmp/seen', 'a') as seen:
        seen.write(x + ' ')
    return sorted(found - {x})
"""


async def test_a_call_sees_neither_other_calls_arguments_nor_what_they_left() -> None:
    """Not in its memory (a fresh runner per call, not a copy of the harness), not in /tmp."""
    tests = [{"args": [f"secret-{c}"], "expected": []} for c in "ABC"]
    item = {"id": "leak", "variants": {"finder": LEAK_FINDER}, "tests": tests}
    [result] = (await aevaluate([item]))["results"]
    [variant] = result["variants"]
    assert [t["verdict"] for t in variant["tests"]] == ["passed"] * 3, variant["tests"]


WORK = (
    "def work(x):\n    total = 0\n    for i in range(3_000_000):\n        total += i\n"
    "    return x * 2\n"
)
ORPHAN = (
    "import os\n" + WORK + "def solve(x):\n    r, w = os.pipe()\n    if os.fork() == 0:\n"
    "        if os.fork() == 0:\n            os.write(w, str(work(x)).encode())\n"
    "            os._exit(0)\n        os._exit(0)\n    os.close(w)\n    os.wait()\n"
    "    return int(os.read(r, 100))\n"
)


async def test_work_done_in_an_orphan_still_counts_as_cpu_time() -> None:
    variants = {"honest": WORK + "def solve(x):\n    return work(x)\n", "orphan": ORPHAN}
    item = {"id": "double", "variants": variants, "tests": TESTS}
    [result] = (await aevaluate([item]))["results"]
    cpu = {v["id"]: sum(t["cpu_ms"] for t in v["tests"]) for v in result["variants"]}
    assert _tests_of(result) == {"honest": ["passed"] * 2, "orphan": ["passed"] * 2}
    assert cpu["orphan"] > 0.5 * cpu["honest"] > 0, cpu


async def test_stdio_work_done_in_an_orphan_still_counts_as_cpu_time() -> None:
    orphan = (
        ORPHAN.replace("def solve(x):", "def solve(x):  # noqa") + "print(solve(int(input())))\n"
    )
    honest = WORK + "print(work(int(input())))\n"
    item = {
        "id": "double",
        "mode": "stdio",
        "variants": {"honest": honest, "orphan": orphan},
        "tests": STDIO_TESTS,
    }
    [result] = (await aevaluate([item]))["results"]
    cpu = {v["id"]: sum(t["cpu_ms"] for t in v["tests"]) for v in result["variants"]}
    assert _tests_of(result) == {"honest": ["passed"] * 2, "orphan": ["passed"] * 2}
    assert cpu["orphan"] > 0.5 * cpu["honest"] > 0, cpu


async def test_a_stdio_call_cannot_change_the_program_or_the_drivers_files() -> None:
    tamper = (
        "import os, sys\ntry:\n    with open(sys.argv[0], 'w') as me:\n"
        "        me.write(\"print('REWRITTEN')\\n\")\nexcept OSError:\n    pass\n"
        "for name in ('../err.bin', '../out.bin', 'leftover', '/tmp/leftover'):\n"
        "    try:\n        os.symlink('/proc/self/mem', name)\n    except OSError:\n"
        "        pass\nprint(int(input()) * 2)\n"
    )
    item = {"id": "double", "mode": "stdio", "variants": {"tamper": tamper}, "tests": STDIO_TESTS}
    [result] = (await aevaluate([item]))["results"]
    assert _tests_of(result) == {"tamper": ["passed", "passed"]}  # the rewrite never took


async def test_values_that_would_stall_or_crash_the_host_are_errors_of_their_variant() -> None:
    tests = [
        {"args": [1], "expected": 2, "tolerance": 0.01},
        {"args": [2], "expected": 4, "tolerance": 0.01},
    ]
    variants = {
        "honest": "def solve(x):\n    return x * 2\n",
        "huge_int": "def solve(x):\n    return 1 << 15000\n",
        "float_overflow": "def solve(x):\n    return 10 ** 400\n",
        "hash_flood": "def solve(x):\n    return {k * (2 ** 61 - 1) for k in range(1, 3000)}\n",
        "deep_record": "import os\ndef solve(x):\n    os.write(3, b'[' * 200000)\n"
        "    os._exit(0)\n",
    }
    started = time.monotonic()
    payload = await aevaluate([{"id": "double", "variants": variants, "tests": tests}])
    [result] = payload["results"]
    assert result["status"] == "solved" and result["best_variant"] == "honest"
    verdicts = _tests_of(result)
    assert verdicts["huge_int"] == verdicts["float_overflow"] == ["failed", "failed"]
    assert verdicts["hash_flood"] == verdicts["deep_record"] == ["error", "error"]
    assert time.monotonic() - started < 60  # a quadratic set build would take minutes
    assert payload["run_manifest"]["sandbox_processes"] == len(variants)  # no harness died


# The load probe (and every call) tries to leave something for the calls after it, through each
# channel that could outlive a process; each call reports what it finds: it must find nothing.
PERSISTER = r"""import ctypes, glob, json, os
libc = ctypes.CDLL(None, use_errno=True)
probe = json.loads(os.pread(0, 1 << 20, 0))["entry"] is None  # the runner's stdin
def leave():
    for d, mode in (("/tmp/.hidden", 0o311), ("/tmp/.locked", 0o555)):
        os.makedirs(d, exist_ok=True)
        with open(d + "/v", "w") as out:
            out.write("x")
        os.chmod(d, mode)
    for pyc in glob.glob("/sandbox/__pycache__/*.pyc"):
        try:
            with open(pyc, "ab") as out:
                out.write(b"tampered")
        except OSError:
            pass
    libc.msgget(42, 0o1000 | 0o666)
def found():
    seen = [d for d in ("/tmp/.hidden/v", "/tmp/.locked/v") if os.path.exists(d)]
    for pyc in glob.glob("/sandbox/__pycache__/*.pyc"):
        with open(pyc, "rb") as f:
            if f.read().endswith(b"tampered"):
                seen.append(pyc)
    if libc.msgget(42, 0) >= 0:
        seen.append("message queue")
    return seen
if probe:
    leave()
def solve(x):
    seen = found()
    leave()
    return seen
"""


async def test_nothing_a_call_or_the_probe_leaves_reaches_a_later_call() -> None:
    tests = [{"args": [i], "expected": []} for i in range(3)]
    payload = await aevaluate([{"id": "persist", "variants": {"p": PERSISTER}, "tests": tests}])
    [variant] = payload["results"][0]["variants"]
    assert [t["verdict"] for t in variant["tests"]] == ["passed"] * 3, variant["tests"]


async def test_a_record_too_deep_for_the_host_costs_only_its_own_call() -> None:
    deep = (
        "import os\ndef solve(x):\n"
        "    os.write(3, b'{\"status\": \"ok\", \"output\": ' + b'[' * 985 + b']' * 985 + b'}')\n"
        "    os._exit(0)\n"
    )
    variants = {"honest": "def solve(x):\n    return x * 2\n", "deep": deep}
    item = {"id": "deep", "variants": variants, "tests": TESTS}
    [result] = (await aevaluate([item]))["results"]
    verdicts = _tests_of(result)
    assert verdicts["honest"] == ["passed", "passed"]
    assert "passed" not in verdicts["deep"]
