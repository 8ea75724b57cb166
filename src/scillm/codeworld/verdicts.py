"""Per-test verdicts: how a call ended, compared with the test's expected value on the host.

Only ``passed`` is a pass. A crash, a timeout, a refusal or a broken sandbox is never one: the
verdict names what happened. Function results (decoded with :mod:`scillm.codeworld.values`)
must equal ``expected`` type for type: ``True`` is not ``1``, a tuple is not a list, a set is a
set; ints and floats compare as numbers, within ``tolerance`` when one is given, and an expected
NaN wants a NaN. JavaScript has no tuples, frozensets or whole-number floats, so for a
``javascript`` program an Array result equals an expected tuple with equal items. Program
output must equal ``expected_stdout`` line by line, trailing whitespace ignored. A test without
an expected value passes when the call ended normally, and its verdict says
``checked: "exit_status"``. JSON results show outputs as ``values.encode`` writes them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from scillm.codeworld.execute import CallRun
from scillm.codeworld.items import Test
from scillm.codeworld.values import encode

__all__ = ["VERDICTS", "TestVerdict", "json_safe", "judge_call", "same_stdout", "same_value"]

VERDICTS = (
    "passed",
    "failed",
    "error",
    "timeout",
    "memory_limit",
    "output_limit",
    "compile_error",
    "rejected",
    "sandbox_error",
    "skipped",
)
# Why a whole program did not run → the verdict each of its tests gets.
PROGRAM_VERDICTS = {
    "compile_error": "compile_error",
    "load_error": "error",
    "no_entrypoint": "error",
    "rejected": "rejected",
    "sandbox_error": "sandbox_error",
    "skipped": "skipped",
}
REPR_CAP = 300


@dataclass(frozen=True)
class TestVerdict:
    """One test of one variant: the verdict and its evidence."""

    __test__ = False  # not a pytest test class, despite the name

    id: str
    verdict: str
    checked: str  # "expected" or "exit_status"
    weight: float
    message: str = ""
    output: Any = None
    stdout: str = ""
    stderr: str = ""
    cpu_ms: float | None = None
    wall_ms: float | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["output"] = json_safe(self.output)
        return data


def judge_call(
    test: Test, run: CallRun, program_status: str, stdio: bool, language: str = "python"
) -> TestVerdict:
    """The verdict of ``test`` given how its call ran (and whether the program ran at all)."""
    checked = "expected" if test.checked else "exit_status"
    base = TestVerdict(test.id, "error", checked, test.weight, message=run.message)
    if program_status != "ran":
        return replace(base, verdict=PROGRAM_VERDICTS.get(program_status, "error"))
    evidence = replace(
        base, stdout=run.stdout, stderr=run.stderr, cpu_ms=run.cpu_ms, wall_ms=run.wall_ms
    )
    if run.status != "ok":
        return replace(evidence, verdict=run.status)
    if not test.checked:
        return replace(evidence, verdict="passed", output=run.output)
    if stdio:
        good = same_stdout(str(run.output), str(test.expected))
    else:
        good = same_value(run.output, test.expected, test.tolerance, language)
    message = "" if good else f"expected {_short(test.expected)}, got {_short(run.output)}"
    verdict = "passed" if good else "failed"
    return replace(evidence, verdict=verdict, message=message, output=run.output)


def same_value(got: Any, want: Any, tolerance: float = 0.0, language: str = "python") -> bool:
    """``got`` (a program's decoded result) equals ``want``, as the module docstring says."""
    if isinstance(got, bool) or isinstance(want, bool):
        return type(got) is type(want) and got == want
    if isinstance(got, int | float) and isinstance(want, int | float):
        if want != want:  # NaN
            return got != got
        if tolerance:
            try:
                return math.isclose(got, want, rel_tol=tolerance, abs_tol=tolerance)
            except OverflowError:  # an int too large for a float: only exact equality is left
                return got == want
        return got == want
    if isinstance(got, list | tuple) and isinstance(want, list | tuple):
        lenient = language == "javascript" and isinstance(got, list)
        return (
            (lenient or type(got) is type(want))
            and len(got) == len(want)
            and all(same_value(g, w, tolerance, language) for g, w in zip(got, want, strict=True))
        )
    if isinstance(got, dict) and isinstance(want, dict):
        keys = {_key(k): k for k in got}
        return len(keys) == len(want) and all(
            _key(k) in keys and same_value(got[keys[_key(k)]], w, tolerance, language)
            for k, w in want.items()
        )
    if isinstance(got, set | frozenset) and isinstance(want, set | frozenset):
        return {_key(g) for g in got} == {_key(w) for w in want}
    return type(got) is type(want) and bool(got == want)


def _key(value: Any) -> Any:
    """A dict key or set element made comparable strictly: True is not 1, NaN is NaN."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, float) and value != value:
        return ("nan",)
    if isinstance(value, int | float):
        return ("number", value)
    if isinstance(value, tuple):
        return ("tuple", tuple(_key(v) for v in value))
    if isinstance(value, frozenset):
        return ("frozenset", frozenset(_key(v) for v in value))
    return (type(value).__name__, value)


def json_safe(value: Any) -> Any:
    """``value`` as JSON data: :func:`scillm.codeworld.values.encode` (plain JSON stays as is)."""
    return encode(value)


def same_stdout(got: str, want: str) -> bool:
    """Line by line, ignoring trailing whitespace on each line and at the end."""
    return _lines(got) == _lines(want)


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.rstrip().splitlines()]


def _short(value: Any) -> str:
    """A bounded repr; a value Python will not spell out (an int of thousands of digits) is
    described instead."""
    try:
        text = repr(value)
    except ValueError:
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= REPR_CAP else text[:REPR_CAP] + "…"
