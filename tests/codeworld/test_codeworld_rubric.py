"""The pure parts: comparing outputs, the metrics, the ranking, fingerprints, code extraction."""

from __future__ import annotations

from typing import Any

import pytest

from scillm.codeworld.execute import CallRun
from scillm.codeworld.fingerprint import shape_hash
from scillm.codeworld.items import Test
from scillm.codeworld.llm import extract_code
from scillm.codeworld.metrics import aggregate, brevity, lines_of_code, search_reward, speeds
from scillm.codeworld.verdicts import TestVerdict, judge_call, same_stdout, same_value


@pytest.mark.parametrize(
    ("got", "want", "tolerance", "same"),
    [
        (3, 3, 0, True),
        (3, 3.0, 0, True),
        (True, 1, 0, False),
        (1, True, 0, False),
        ([1, [2]], [1, [2]], 0, True),
        ([1, 2], [2, 1], 0, False),
        ({"a": 1}, {"a": 1.0}, 0, True),
        ({"a": 1}, {"a": 1, "b": 2}, 0, False),
        (0.1 + 0.2, 0.3, 0, False),
        (0.1 + 0.2, 0.3, 1e-9, True),
        (None, None, 0, True),
        ("3", 3, 0, False),
        (float("nan"), float("nan"), 0, True),  # an expected NaN wants a NaN
    ],
)
def test_json_equality(got: Any, want: Any, tolerance: float, same: bool) -> None:
    assert same_value(got, want, tolerance) is same


def test_stdout_is_compared_line_by_line_ignoring_trailing_space() -> None:
    assert same_stdout("1 2  \n3\n\n", "1 2\n3")
    assert not same_stdout(" 1 2\n3", "1 2\n3")
    assert not same_stdout("1\n2", "1 2")


def test_only_a_clean_matching_call_passes() -> None:
    test = Test("t", args=(1,), expected=2, checked=True)
    ok = CallRun("ok", output=2, cpu_ms=1.0)
    assert judge_call(test, ok, "ran", stdio=False).verdict == "passed"
    assert judge_call(test, CallRun("ok", output=3), "ran", False).verdict == "failed"
    for status in ("error", "timeout", "memory_limit", "output_limit", "sandbox_error"):
        crashed = CallRun(status, output=2, message="boom")  # even with the right output
        assert judge_call(test, crashed, "ran", False).verdict == status
    for program, verdict in [
        ("compile_error", "compile_error"),
        ("no_entrypoint", "error"),
        ("load_error", "error"),
        ("rejected", "rejected"),
        ("sandbox_error", "sandbox_error"),
        ("skipped", "skipped"),
    ]:
        assert judge_call(test, ok, program, False).verdict == verdict


def test_a_test_without_expected_value_is_scored_by_how_the_call_ended() -> None:
    test = Test("t", args=(1,))
    verdict = judge_call(test, CallRun("ok", output="anything"), "ran", False)
    assert (verdict.verdict, verdict.checked) == ("passed", "exit_status")
    assert judge_call(test, CallRun("error"), "ran", False).verdict == "error"


def verdict(passed: bool, cpu_ms: float | None, weight: float = 1.0) -> TestVerdict:
    return TestVerdict("t", "passed" if passed else "failed", "expected", weight, cpu_ms=cpu_ms)


def test_speed_is_relative_to_the_fastest_passing_variant_per_test() -> None:
    table = {
        "fast": [verdict(True, 1.0), verdict(True, 2.0)],
        "slow": [verdict(True, 4.0), verdict(True, 2.0)],
        "wrong_but_quick": [verdict(False, 0.1), verdict(True, 1.0)],
    }
    result = speeds(table)
    assert result["fast"] == pytest.approx((1.0 + 0.5) / 2)
    assert result["slow"] == pytest.approx((0.25 + 0.5) / 2)
    assert result["wrong_but_quick"] == pytest.approx((0 + 1.0) / 2)


def test_a_variant_that_passes_nothing_scores_zero_everywhere() -> None:
    assert speeds({"x": [verdict(False, 0.5)]}) == {"x": 0.0}
    assert brevity(1, 0.0) == 0.0
    assert aggregate({"correctness": 0.0, "speed": 0.0, "brevity": 0.0}, {"correctness": 1}) == 0


def test_aggregate_uses_the_weights_and_counts_a_missing_metric_as_zero() -> None:
    scores = {"correctness": 1.0, "speed": 0.5, "brevity": 0.9, "style": None}
    weights = {"correctness": 0.7, "speed": 0.2, "brevity": 0.1}
    assert aggregate(scores, weights) == pytest.approx(0.7 + 0.1 + 0.09)
    assert aggregate(scores, {"correctness": 1, "style": 1}) == pytest.approx(0.5)
    assert search_reward(1.0, 0.9, weights) == pytest.approx((0.7 + 0.09) / 0.8)


def test_lines_of_code_skip_blanks_and_comments() -> None:
    code = "# header\n\ndef f():\n    # note\n    return 1\n"
    assert lines_of_code(code, "python") == 2
    assert lines_of_code("// c\nint main(){}\n", "c") == 1


def test_the_shape_hash_ignores_layout_comments_and_docstrings() -> None:
    a = "def solve(x):\n    return x + 1\n"
    b = 'def solve( x ):\n    """Add one."""\n    # comment\n    return (x + 1)\n'
    assert shape_hash(a, "python") == shape_hash(b, "python")
    assert shape_hash(a, "python") != shape_hash("def solve(x):\n    return x + 2\n", "python")
    assert shape_hash("int  main() {}", "c") == shape_hash("int main()\n{}", "c")


def test_code_is_taken_from_the_reply() -> None:
    reply = "Sure!\n```text\nnot code\n```\n```python\ndef f():\n    pass\n```\nDone."
    assert extract_code(reply, "python") == "def f():\n    pass\n"
    assert extract_code("```\nx = 1\n```", "python") == "x = 1\n"
    assert extract_code("x = 1", "python") == "x = 1\n"
    assert extract_code("```python\n```", "python") is None
