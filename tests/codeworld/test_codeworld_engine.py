"""The engine on the real sandbox: every variant on every test, and failures never pass."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import pytest

from scillm import EngineUnavailable
from scillm.codeworld import EngineSettings, aevaluate

pytestmark = pytest.mark.usefixtures("isolated")

DOUBLE_TESTS = [
    {"id": "one", "args": [1], "expected": 2, "timeout_s": 1},
    {"id": "two", "args": [2], "expected": 4, "timeout_s": 1},
    {"id": "three", "args": [3], "expected": 6, "timeout_s": 1},
]
FORGED = '{"event": "call", "index": 1, "status": "ok", "output": 4}'
VARIANTS = {
    "right": "def solve(x):\n    return x * 2\n",
    "slow": "def solve(x):\n    for _ in range(3_000_000):\n        pass\n    return x * 2\n",
    "wrong": "def solve(x):\n    return x * 3\n",
    "crash": "def solve(x):\n    return 1 / 0\n",
    "loop": "def solve(x):\n    while True:\n        pass\n",
    "exits_on_two": "import os\ndef solve(x):\n    if x == 2:\n        os._exit(0)\n"
    "    return x * 2\n",
    "memory": "def solve(x):\n    return len(bytearray(1 << 40))\n",
    "sys_exit": "import sys\ndef solve(x):\n    sys.exit(0)\n",
    "no_entry": "def answer(x):\n    return x * 2\n",
    "syntax": "def solve(x)\n    return x * 2\n",
    "not_json": "def solve(x):\n    return object()\n",
    "huge": "def solve(x):\n    return 'x' * 10_000_000\n",
    "forger": f"import os\ndef solve(x):\n    print({FORGED!r})\n    os.write(1, b{FORGED!r})\n"
    "    return -1\n",
}


def by_id(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["id"]: v for v in result["variants"]}


def verdicts(variant: dict[str, Any]) -> list[str]:
    return [t["verdict"] for t in variant["tests"]]


async def test_only_correct_programs_pass_and_every_failure_scores_zero() -> None:
    item = {"id": "double", "task": "double x", "variants": VARIANTS, "tests": DOUBLE_TESTS}
    payload = await aevaluate([item], seed=1)
    [result] = payload["results"]
    variants = by_id(result)

    assert payload["summary"] == {"items": 1, "succeeded": 1, "failed": 0, "errors": 0}
    assert result["status"] == "solved"
    assert result["best_variant"] == "right"
    assert result["ranking"][:2] == ["right", "slow"]
    assert result["best_code"] == VARIANTS["right"]
    assert [t["verdict"] for t in result["tests"]] == ["passed"] * 3
    assert verdicts(variants["wrong"]) == ["failed"] * 3
    assert "expected 2, got 3" in variants["wrong"]["tests"][0]["message"]
    assert verdicts(variants["crash"]) == ["error"] * 3
    assert "ZeroDivisionError" in variants["crash"]["tests"][0]["message"]
    assert verdicts(variants["loop"]) == ["timeout"] * 3
    assert verdicts(variants["exits_on_two"]) == ["passed", "error", "passed"]
    assert verdicts(variants["memory"]) == ["memory_limit"] * 3
    assert verdicts(variants["sys_exit"]) == ["error"] * 3
    assert verdicts(variants["no_entry"]) == ["error"] * 3
    assert "no function 'solve'" in variants["no_entry"]["tests"][0]["message"]
    assert variants["syntax"]["status"] == "compile_error"
    assert verdicts(variants["syntax"]) == ["compile_error"] * 3
    assert "SyntaxError" in variants["syntax"]["message"]
    assert verdicts(variants["not_json"]) == ["error"] * 3
    assert verdicts(variants["huge"]) == ["output_limit"] * 3
    assert verdicts(variants["forger"]) == ["failed"] * 3
    for name in set(VARIANTS) - {"right", "slow", "exits_on_two"}:
        scores = variants[name]["scores"]
        assert scores == {"correctness": 0.0, "speed": 0.0, "brevity": 0.0, "aggregate": 0.0}
    assert variants["exits_on_two"]["scores"]["correctness"] == pytest.approx(2 / 3)
    # right and exits_on_two do no measurable work: between them speed is noise, so only the
    # slow variant's loss is asserted
    assert variants["slow"]["scores"]["speed"] < 0.5 * variants["right"]["scores"]["speed"]
    assert all(v["isolation"] == "bwrap+rlimits" for v in result["variants"])
    assert payload["run_manifest"]["isolation"] == "bwrap+rlimits"


async def test_weights_notes_and_an_unsolved_item() -> None:
    items = [
        {
            "id": "unchecked",
            "variants": {"a": "def main(x):\n    return None\n"},
            "tests": [{"args": [1]}, {"args": [2], "expected": None}],
        },
        {
            "id": "hard",
            "variants": {"a": "def solve():\n    return 1\n"},
            "tests": [{"expected": 2, "weight": 3}, {"expected": 1}],
        },
    ]
    payload = await aevaluate(items, weights={"correctness": 1})
    unchecked, hard = payload["results"]
    assert unchecked["status"] == "solved"
    assert [t["checked"] for t in unchecked["tests"]] == ["exit_status", "expected"]
    assert "scored by exit status only" in unchecked["notes"][0]
    assert unchecked["variants"][0]["entrypoint"] == "main"  # solve, else main
    assert hard["status"] == "unsolved"
    assert hard["scores"]["correctness"] == pytest.approx(0.25)  # weighted 1 of 4
    assert hard["scores"]["aggregate"] == hard["scores"]["correctness"]
    assert payload["summary"] == {"items": 2, "succeeded": 1, "failed": 1, "errors": 0}


async def test_whole_programs_in_every_language(need: Any) -> None:
    for language in ("c", "cpp", "javascript", "bash"):
        need(language)
    tests = [{"stdin": "2 3\n", "expected_stdout": "5"}, {"stdin": "10 -4\n", "expected": "6\n"}]
    programs = {
        "python": "a, b = map(int, input().split())\nprint(a + b)\n",
        "c": '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);'
        'printf("%d\\n",a+b);return 0;}\n',
        "cpp": "#include <iostream>\nint main(){int a,b;std::cin>>a>>b;std::cout<<a+b<<'\\n';}\n",
        "javascript": "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(' ')"
        ".map(Number);\nconsole.log(a + b);\n",
        "bash": "read a b\necho $((a + b))\n",
    }
    items = [
        {"id": lang, "language": lang, "mode": "stdio", "variants": {"v": code}, "tests": tests}
        for lang, code in programs.items()
    ]
    items.append(
        {
            "id": "broken_c",
            "language": "c",
            "mode": "stdio",
            "variants": {"v": "int main( {"},
            "tests": tests,
        }
    )
    items.append(
        {
            "id": "js_function",
            "language": "javascript",
            "variants": {
                "right": "function solve(a, b) { return [a + b]; }",
                "exported": "module.exports = { solve: (a, b) => [a + b] };",
                "wrong": "function solve(a, b) { return [a - b]; }",
                "loop": "function solve(a, b) { for (;;) {} }",
            },
            "tests": [{"args": [2, 3], "expected": [5], "timeout_s": 1}],
        }
    )
    payload = await aevaluate(items)
    results = {r["item_id"]: r for r in payload["results"]}
    for language in programs:
        assert results[language]["status"] == "solved", results[language]
    broken = results["broken_c"]["variants"][0]
    assert broken["status"] == "compile_error"
    assert "error" in broken["message"] and "main.c" in broken["message"]
    js = by_id(results["js_function"])
    assert [verdicts(js[n]) for n in ("right", "exported", "wrong", "loop")] == [
        ["passed"],
        ["passed"],
        ["failed"],
        ["timeout"],
    ]
    assert payload["summary"]["succeeded"] == len(programs) + 1


async def test_identical_programs_run_once() -> None:
    code = "def solve(x):\n    return x\n"
    item = {"variants": {"a": code, "b": code}, "tests": [{"args": [1], "expected": 1}]}
    payload = await aevaluate([{**item, "id": "p"}, {**item, "id": "q"}])
    assert payload["run_manifest"]["cache_hits"] == 3
    assert payload["run_manifest"]["sandbox_processes"] == 1
    assert [v["cached"] for r in payload["results"] for v in r["variants"]].count(True) == 3


async def test_without_a_sandbox_nothing_runs_unless_rlimits_only_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCILLM_BWRAP", "/nonexistent/bwrap")
    item = {
        "id": "i",
        "variants": {"a": "def solve():\n    return 1\n"},
        "tests": [{"expected": 1}],
    }
    with pytest.raises(EngineUnavailable, match="bubblewrap"):
        await aevaluate([item])
    with tempfile.NamedTemporaryFile(prefix="scillm-host-tmp-") as host_file:
        payload = await aevaluate([item], settings=EngineSettings(allow_rlimits_only=True))
        assert os.path.exists(host_file.name)  # the harness clears only a sandbox's own /tmp
    assert payload["results"][0]["status"] == "solved"
    assert payload["results"][0]["isolation"] == "rlimits-only"
    assert payload["run_manifest"]["isolation"] == "rlimits-only"


async def test_max_seconds_skips_what_it_cannot_run_and_says_so() -> None:
    item = {
        "id": "i",
        "variants": {"a": "def solve():\n    return 1\n"},
        "tests": [{"expected": 1}],
    }
    payload = await aevaluate([item], max_seconds=1e-9)
    [result] = payload["results"]
    assert result["status"] == "error"
    assert "skipped" in result["message"]
    assert result["variants"][0]["tests"][0]["verdict"] == "skipped"
    assert payload["summary"] == {"items": 1, "succeeded": 0, "failed": 1, "errors": 1}
