"""Batch resume: ``scillm batch`` against a model of the stack, interrupted midway, resumed.

40 rows go to ``SCENARIO_BATCH_MODEL`` (default: the stack's mock server, which answers each
prompt with itself, so every answer can be matched to its row). The first run is paced
(``--rpm``) and interrupted with SIGINT once some rows are written: it must exit 130 with part
of the output. The rerun of the same command must skip exactly those rows, call the rest, exit
0, and leave every row exactly once, each with its own answer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scillm.scenarios.base import Scenario, check
from scillm.scenarios.models import scenario_model
from scillm.scenarios.run_all import run_one
from scillm.scenarios.stack import Context

ROWS = 40
INTERRUPT_AFTER = 14  # rows written before SIGINT: past the rpm bucket's burst of 12
RUN_TIMEOUT_S = 300


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def run(ctx: Context) -> str:
    spec = scenario_model(ctx, "SCENARIO_BATCH_MODEL")
    env = dict(os.environ)
    if spec.mock:
        env |= {"OPENAI_BASE_URL": str(spec.api_base), "OPENAI_API_KEY": str(spec.api_key)}
    with tempfile.TemporaryDirectory(prefix="scillm-batch-resume-") as tmp:
        rows_in, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        prompts = {f"r{i}": f"row {i} says {i * 7}" for i in range(ROWS)}
        rows_in.write_text(
            "".join(json.dumps({"id": k, "prompt": v}) + "\n" for k, v in prompts.items())
        )
        base = [
            sys.executable,
            "-m",
            "scillm",
            "batch",
            str(rows_in),
            "-o",
            str(out),
            "-m",
            spec.model,
            "--no-progress",
            "-c",
            "2",
        ]
        first = subprocess.Popen(
            [*base, "--rpm", "120"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while lines(out) < INTERRUPT_AFTER and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=RUN_TIMEOUT_S)
        check(first.returncode == 130, f"the interrupted run exited {first.returncode}: {err}")
        done = {row["id"] for row in read_rows(out)}
        check(0 < len(done) < ROWS, f"{len(done)} rows after the interrupt: not midway")
        second = subprocess.run(
            base, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
        )
        check(
            second.returncode == 0,
            f"the resumed run exited {second.returncode}: {second.stderr.strip()[-500:]}",
        )
        summary = json.loads(Path(f"{out}.summary.json").read_text("utf-8"))
        check(
            summary["skipped"] == len(done) and summary["succeeded"] == ROWS - len(done),
            f"the resume should skip {len(done)} and call {ROWS - len(done)}: {summary}",
        )
        rows = read_rows(out)
        ids = [row["id"] for row in rows]
        check(sorted(ids) == sorted(prompts), f"ids not exactly once: {sorted(ids)}")
        for row in rows:
            check(row.get("ok", True) is not False, f"row {row['id']} failed: {row.get('error')}")
            if spec.mock:
                content = row["response"]["choices"][0]["message"]["content"]
                check(content == prompts[row["id"]], f"row {row['id']} got {content!r}")
    return f"interrupted at {len(done)}/{ROWS} rows (exit 130), resumed: every row exactly once"


SCENARIO = Scenario(
    "batch_resume",
    "Batch resume: scillm batch interrupted midway, resumed, every row once",
    ("mock",),
    run,
)

if __name__ == "__main__":
    run_one(SCENARIO)
