"""``scillm demo --full`` for real: the embedded model, the sandbox and coqc, run once; every
claim it prints is checked against the files it leaves (the batch output and its run records,
the schema, the CodeWorld payload, the Coq verdicts, the agent's run, the HTML report)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

pytestmark = [
    pytest.mark.requires("bwrap", apt="bubblewrap"),
    pytest.mark.requires("coqc", apt="coq"),
]

ROWS = 200  # the demo's default


@dataclass(frozen=True)
class Demo:
    out: Path
    done: subprocess.CompletedProcess[str]


def _demo(out: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scillm", "demo", "--full", "--out", str(out), *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "COLUMNS": "200", **env},
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    out = tmp_path_factory.mktemp("demo") / "out"
    return Demo(out, _demo(out))


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_every_step_passes_and_says_what_it_proved(demo: Demo) -> None:
    assert demo.done.returncode == 0, demo.done.stdout + demo.done.stderr
    out = demo.done.stdout
    assert f"files in {demo.out}" in out
    for step in ("1. batch", "2. structured", "3. CodeWorld", "4. Certainly", "5. agent", "6."):
        assert step in out
    assert "all 6 steps passed" in out
    assert f"report: {demo.out / 'report.html'}" in out
    assert "unavailable" not in out and "failed:" not in out


def test_the_batch_was_stopped_then_resumed_without_sending_a_finished_row(demo: Demo) -> None:
    questions = _lines(demo.out / "questions.jsonl")
    rows = _lines(demo.out / "answers.jsonl")
    assert len(questions) == ROWS
    # one line per row, no id twice: a finished row sent again would have a second line
    assert len(rows) == ROWS
    assert sorted(r["id"] for r in rows) == sorted(q["id"] for q in questions)
    assert all("error" not in r and r["record"]["status"] == "ok" for r in rows)
    stopped = json.loads((demo.out / "answers.stopped.summary.json").read_text())
    resumed = json.loads((demo.out / "answers.jsonl.summary.json").read_text())
    assert stopped["interrupted"] is True and 0 < stopped["processed"] < ROWS
    assert resumed["interrupted"] is False
    assert resumed["skipped"] == stopped["processed"]
    assert resumed["processed"] == ROWS - stopped["processed"]
    # the run records: every call of the resumed run started after the stopped run's last call
    done = stopped["processed"]
    first_run, second_run = rows[:done], rows[done:]
    last_end = max(r["record"]["ts"] for r in first_run)
    first_start = min(r["record"]["ts"] - r["record"]["latency_ms"] / 1000 for r in second_run)
    assert first_start > last_end - 0.002  # ts is rounded to the millisecond


def test_the_extraction_satisfies_its_schema(demo: Demo) -> None:
    schema = json.loads((demo.out / "lab_note.schema.json").read_text())["schema"]
    rows = _lines(demo.out / "extracted.jsonl")
    assert len(rows) == 6
    for row in rows:
        value = json.loads(row["response"]["choices"][0]["message"]["content"])
        jsonschema.validate(value, schema)
        assert row["scillm_router"]["schema_valid"] is True


def test_codeworld_scores_what_the_sandbox_saw(demo: Demo) -> None:
    result = json.loads((demo.out / "codeworld.json").read_text())["results"][0]
    variants = {v["id"]: v for v in result["variants"]}
    assert {name: v["passed"] for name, v in variants.items()} == {
        "correct": 3,
        "buggy": 2,
        "crashing": 0,
    }
    assert variants["crashing"]["scores"]["correctness"] == 0.0
    assert all(t["verdict"] == "error" for t in variants["crashing"]["tests"])
    assert all(v["isolation"] == "bwrap+rlimits" for v in variants.values())
    assert result["best_variant"] == "correct"
    assert "correct 1.00, buggy 0.67, crashing 0.00" in demo.done.stdout


def test_certainly_proves_the_lemma_and_refuses_both_cheats(demo: Demo) -> None:
    verdicts = {v["id"]: v for v in json.loads((demo.out / "certainly.json").read_text())}
    assert verdicts["add_zero"]["status"] == "proved"
    assert verdicts["add_zero"]["statement_matches"] is True
    assert verdicts["axiom_1_eq_2"]["status"] == "failed"
    assert "Top.cheat" in verdicts["axiom_1_eq_2"]["axioms"]
    guard = verdicts["guard_bug_1_eq_2"]
    assert guard["status"] == "failed"
    assert any(m["text"].startswith("unsafe_recursion") for m in guard["messages"])


def test_the_agent_ran_model_written_code_in_the_sandbox(demo: Demo) -> None:
    run = json.loads((demo.out / "agent.json").read_text())
    calls = [c for it in run["iterations"] for c in it["tool_invocations"]]
    assert calls and calls[0]["name"] == "exec_code"
    assert calls[0]["arguments"]["language"] == "python"
    assert calls[0]["ok"] is True and calls[0]["rc"] == 0
    assert run["stopped_reason"] == "final_answer"
    written = run["messages"][1]["content"]
    assert calls[0]["arguments"]["code"].strip() in written  # the model's own code block
    shown = calls[0]["stdout"].strip()
    assert f"stdout {shown!r}" in demo.done.stdout


class _Loads(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [f"{tag} {v}" for k, v in attrs if k in ("src", "href", "data")]


def test_the_report_is_one_self_contained_file_of_the_batch_run(demo: Demo) -> None:
    html = (demo.out / "report.html").read_text()
    parser = _Loads()
    parser.feed(html)
    assert [f for f in parser.found if not f.startswith("a ")] == []  # links may point out
    assert "scillm demo --full" in html  # the run's configuration
    assert f"{ROWS} calls" in demo.done.stdout


def test_a_missing_engine_is_unavailable_and_fails_the_demo(tmp_path: Path) -> None:
    done = _demo(
        tmp_path / "out",
        "--rows",
        "10",
        SCILLM_BWRAP=str(tmp_path / "no-bwrap"),
        SCILLM_COQC=str(tmp_path / "no-coqc"),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    steps = dict(_step_lines(done.stdout))
    for name in ("3. CodeWorld", "4. Certainly", "5. agent"):
        assert steps[name].startswith("unavailable: "), steps
    assert "bubblewrap" in steps["3. CodeWorld"] and "coqc" in steps["4. Certainly"]
    assert "steps did not pass" in done.stdout
    # the steps that need neither still ran
    assert len(_lines(tmp_path / "out" / "extracted.jsonl")) == 6
    assert (tmp_path / "out" / "report.html").is_file()


def _step_lines(stdout: str) -> list[tuple[str, str]]:
    """(step name, the line it printed last) for each numbered step of the demo's output."""
    steps: list[tuple[str, str]] = []
    for line in stdout.splitlines():
        if line[:2] in {f"{n}." for n in range(1, 7)}:
            steps.append((" ".join(line.split()[:2]).rstrip(":,"), ""))
        elif steps and line.startswith("   "):
            steps[-1] = (steps[-1][0], line.strip())
    return steps


def test_out_must_be_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("x")
    done = _demo(tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error:") and "not an empty folder" in done.stderr
    quick = subprocess.run(
        [sys.executable, "-m", "scillm", "demo", "--rows", "20"], capture_output=True, text=True
    )
    assert quick.returncode == 2 and "go with --full" in quick.stderr
