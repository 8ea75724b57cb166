"""The sandbox's contract on ordinary programs: every language, stdin/args, files, errors."""

from __future__ import annotations

import dataclasses
import inspect
import json
import resource
from collections.abc import Callable
from typing import Any

import pytest

from scillm import sandbox
from scillm.sandbox import STATUSES, SandboxResult, arun, run

pytestmark = pytest.mark.usefixtures("isolated")
LIMITS: dict[str, Any] = {"timeout_s": 3, "memory_mb": 256}  # small: fast on 2 cores

ECHO = {
    "python": "import sys\nprint(sys.argv[1], input().upper())",
    "javascript": (
        "const line = require('fs').readFileSync(0, 'utf8').trim();\n"
        "console.log(process.argv[2], line.toUpperCase());"
    ),
    "c": (
        "#include <stdio.h>\n#include <ctype.h>\n"
        "int main(int argc, char **argv) {\n"
        '  char s[64]; if (scanf("%63s", s) != 1) return 2;\n'
        "  for (char *p = s; *p; ++p) *p = toupper(*p);\n"
        '  printf("%s %s\\n", argv[1], s); return 0;\n}\n'
    ),
    "cpp": (
        "#include <iostream>\n#include <string>\n#include <cctype>\n"
        "int main(int argc, char **argv) {\n"
        "  std::string s; std::cin >> s;\n"
        "  for (auto &c : s) c = std::toupper(c);\n"
        '  std::cout << argv[1] << " " << s << std::endl;\n}\n'
    ),
    "bash": 'read -r line\necho "$1" "${line^^}"',
}


@pytest.mark.parametrize("language", sorted(ECHO))
def test_each_language_reads_stdin_and_args(need: Callable[[str], None], language: str) -> None:
    need(language)
    result = run(ECHO[language], language, stdin="shout\n", args=["arg-1"], **LIMITS)
    assert result.status == "ok", result
    assert result.stdout == "arg-1 SHOUT\n"
    assert result.exit_code == 0 and result.signal is None
    assert result.isolation == sandbox.ISOLATION_BWRAP
    assert result.message == ""
    assert (result.compile_stderr is not None) == (sandbox.LANGUAGES[language].compile is not None)


def test_files_form_a_program_with_a_harness_and_data() -> None:
    harness = (
        "import json, solution\n"
        "cases = json.load(open('cases.json'))\n"
        "print(json.dumps([solution.solve(*case) for case in cases]))\n"
    )
    result = run(
        files={
            "main.py": harness,
            "solution.py": "def solve(a, b):\n    return a + b\n",
            "cases.json": b"[[1, 2], [3, 4]]",
        },
        **LIMITS,
    )
    assert result.status == "ok", result
    assert json.loads(result.stdout) == [3, 7]


def test_files_may_live_in_subdirectories() -> None:
    files = {"pkg/__init__.py": "", "pkg/answer.py": "VALUE = 42\n"}
    result = run("from pkg.answer import VALUE\nprint(VALUE)", files=files, **LIMITS)
    assert result.status == "ok", result
    assert result.stdout == "42\n"


def test_usage_is_the_programs_own_not_the_callers() -> None:
    ballast = bytearray(128 << 20)  # the caller's peak RSS must not leak into the measurement
    ballast[:: 1 << 12] = b"\1" * len(ballast[:: 1 << 12])
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss > 128 << 10

    tiny = run("print(1)", **LIMITS)
    big = run("x = bytearray(96 << 20)\nx[::4096] = b'1' * len(x[::4096])", **LIMITS)

    assert tiny.status == big.status == "ok"
    assert 0 < tiny.max_rss_kb < 64 << 10
    assert big.max_rss_kb > 96 << 10
    assert tiny.cpu_ms > 0 and tiny.wall_ms > 0


def test_compile_errors_carry_the_compiler_message(need: Callable[[str], None]) -> None:
    need("c")
    result = run("int main(void) { return undefined_name; }", "c", **LIMITS)
    assert result.status == "compile_error"
    assert result.compile_stderr is not None and "undefined_name" in result.compile_stderr
    assert result.message.startswith("compilation failed")
    assert result.stdout == ""


def test_cpp_compile_error(need: Callable[[str], None]) -> None:
    need("cpp")
    result = run("int main() { std::vector<int> v; }", "cpp", **LIMITS)
    assert result.status == "compile_error"
    assert result.compile_stderr is not None and "vector" in result.compile_stderr


def test_nonzero_exit_is_a_runtime_error() -> None:
    result = run("import sys\nprint('partial')\nsys.exit(3)", **LIMITS)
    assert result.status == "runtime_error"
    assert result.exit_code == 3 and result.signal is None
    assert result.stdout == "partial\n"
    assert "3" in result.message


def test_exception_is_a_runtime_error_with_traceback() -> None:
    result = run("1 / 0", **LIMITS)
    assert result.status == "runtime_error"
    assert "ZeroDivisionError" in result.stderr


def test_crash_reports_the_exact_signal(need: Callable[[str], None]) -> None:
    need("c")
    result = run("int main(void) { volatile int *p = 0; return *p; }", "c", **LIMITS)
    assert result.status == "runtime_error"
    assert result.signal == 11 and result.exit_code is None
    assert "SIGSEGV" in result.message


def test_bash_exit_status(need: Callable[[str], None]) -> None:
    need("bash")
    result = run("echo out; echo err >&2; exit 4", "bash", **LIMITS)
    assert (result.status, result.exit_code) == ("runtime_error", 4)
    assert (result.stdout, result.stderr) == ("out\n", "err\n")


def test_caller_env_is_passed_and_nothing_else() -> None:
    code = "import json, os\nprint(json.dumps(dict(os.environ)))"
    result = run(code, env={"GREETING": "hello"}, **LIMITS)
    assert result.status == "ok", result
    assert json.loads(result.stdout) == {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/sandbox",
        "LANG": "C.UTF-8",
        "GREETING": "hello",
        "SCILLM_SANDBOX_PRIVATE_TMP": "1",  # for CodeWorld's harness: /tmp is ours to clear
    }


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"code": "print(1)", "language": "cobol"}, "supported: bash, c, cpp, javascript, python"),
        ({"code": "print(1)", "network": True}, "network"),
        ({"code": "print(1)", "timeout_s": 0}, "timeout_s"),
        ({"code": "print(1)", "cpu_s": -1}, "cpu_s"),
        ({"code": "print(1)", "memory_mb": 1}, "memory_mb"),
        ({"code": "print(1)", "output_limit_bytes": 0}, "output_limit_bytes"),
        ({}, "nothing to run"),
        ({"files": {"other.py": ""}}, "main.py"),
        ({"code": "x", "files": {"main.py": "y"}}, "both"),
        ({"code": "x", "files": {"../escape.py": ""}}, "relative path"),
        ({"code": "x", "files": {"/etc/passwd": ""}}, "relative path"),
        ({"code": "x", "env": {"A=B": "c"}}, "environment variable"),
        ({"code": "x", "args": ["a\0b"]}, "NUL"),
    ],
)
def test_bad_requests_are_rejected_with_a_reason(kwargs: dict[str, Any], fragment: str) -> None:
    result = run(**kwargs)
    assert result.status == "rejected"
    assert fragment in result.message
    assert result.isolation == sandbox.ISOLATION_NONE


def test_result_serialises_to_json() -> None:
    result = run("print('x')", **LIMITS)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["status"] == "ok" and data["stdout"] == "x\n"
    assert set(data) == {f.name for f in dataclasses.fields(SandboxResult)}
    assert result.ok and set(STATUSES) >= {"ok", "rejected", "sandbox_error"}


async def test_arun_is_the_async_twin() -> None:
    result = await arun("print(input())", stdin="async", **LIMITS)
    assert (result.status, result.stdout) == ("ok", "async\n")
    sync, asynchronous = inspect.signature(run), inspect.signature(arun)
    assert sync.parameters == asynchronous.parameters


def test_isolation_report(host: dict[str, Any]) -> None:
    assert host["isolated"] is True and host["problem"] is None
    assert host["isolation"] == sandbox.ISOLATION_BWRAP
    assert set(host["languages"]) == set(sandbox.LANGUAGES)
    assert host["languages"]["python"] is not None


def test_public_surface() -> None:
    assert set(sandbox.__all__) == {
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
    }
