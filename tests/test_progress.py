"""The one progress display: a rich bar on a terminal, plain periodic lines elsewhere, counters
only in between; and the batch line and warm-up built on it."""

from __future__ import annotations

import asyncio
import io
import re
import time
from typing import Any

import pytest
from rich.console import Console

from scillm.batch import BatchSummary, run_batch
from scillm.batch.display import live_progress
from scillm.ops.targets import model_targets
from scillm.ops.warmup import run_warmup
from scillm.progress import INTERVAL_ENV, ProgressTask, track
from scillm.testing import Fault, MockLLMServer

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
WAIT_S = 30.0  # how long to wait for a periodic line at most (never a measurement)


def terminal() -> tuple[Console, io.StringIO]:
    """A console that is a terminal, writing to a buffer."""
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, force_interactive=True, width=160)
    return console, buffer


def frames(buffer: io.StringIO) -> list[str]:
    """What a terminal showed, drawing after drawing, without the escape codes."""
    plain = ANSI.sub("", buffer.getvalue())
    return [line.strip() for line in re.split(r"[\r\n]", plain) if line.strip()]


def wait_for(capsys: pytest.CaptureFixture[str], text: str) -> str:
    """Stderr collected until it holds ``text`` (or the wait runs out)."""
    seen, deadline = "", time.monotonic() + WAIT_S
    while text not in seen and time.monotonic() < deadline:
        seen += capsys.readouterr().err
        time.sleep(0.01)
    return seen


def test_without_a_terminal_lines_come_every_interval_and_once_at_the_end(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with track("job", 5, unit="rows", counts=("failed",), interval_s=0.05) as task:
        task.advance(3)
        task.count("failed")
        periodic = wait_for(capsys, "job  3/5 rows")
        task.advance(2)
    end = capsys.readouterr().err
    assert "job  3/5 rows" in periodic and "rows/s  failed 1" in periodic
    assert "in 0:" not in periodic  # the duration is said once, at the end
    last = end.strip().splitlines()[-1]
    assert last.startswith("job  5/5 rows  ") and "failed 1" in last
    assert re.search(r"in \d+:\d\d:\d\d$", last)
    assert not ANSI.search(periodic + end)  # plain text for logs


def test_on_a_terminal_a_bar_is_drawn_with_the_final_counts() -> None:
    console, buffer = terminal()
    with track("prove", 10, unit="attempts", counts=("proved",), console=console) as task:
        for _ in range(10):
            task.advance()
        task.count("proved", 2)
    out = buffer.getvalue()
    assert ANSI.search(out) and "━" in out  # a rich bar, drawn with escape codes
    final = frames(buffer)[-1]
    assert "10/10 attempts" in final and "proved 2" in final and "in 0:" in final


def test_a_million_updates_are_counted_not_drawn() -> None:
    console, _ = terminal()
    draws = 0

    def poll(task: ProgressTask) -> None:
        nonlocal draws
        draws += 1

    with track("rows", 1_000_000, console=console, poll=poll) as task:
        for _ in range(1_000_000):
            task.advance()
    assert task.done == 1_000_000
    assert draws < 1_000  # drawn on rich's clock (4/s), not once per update


@pytest.mark.parametrize("tty", [True, False])
def test_zero_and_unknown_totals(tty: bool, capsys: pytest.CaptureFixture[str]) -> None:
    console, buffer = terminal()
    chosen = console if tty else None
    with track("empty", 0, console=chosen, interval_s=60):
        pass
    with track("open", None, unit="rows", console=chosen, interval_s=60) as task:
        task.advance(7)
    lines = frames(buffer) if tty else capsys.readouterr().err.strip().splitlines()
    assert "empty" in lines[0] and "0/0 items" in lines[0]
    assert "open" in lines[-1] and "7 rows" in lines[-1] and "/" not in lines[-1].split("rows")[0]
    assert "ETA" not in lines[-1]


def test_disabled_shows_nothing_but_still_counts(capsys: pytest.CaptureFixture[str]) -> None:
    with track("quiet", 3, enabled=False) as task:
        task.advance(3)
        task.count("failed")
    assert (task.done, task.counts) == (3, {"failed": 1})
    assert capsys.readouterr().err == ""


def test_bad_settings_say_what_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="total must be"), track("x", -1):
        pass
    with pytest.raises(ValueError, match="above 0 seconds"), track("x", 1, interval_s=0):
        pass
    monkeypatch.setenv(INTERVAL_ENV, "soon")
    with pytest.raises(ValueError, match=INTERVAL_ENV), track("x", 1):
        pass


def test_the_interval_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(INTERVAL_ENV, "0.05")
    with track("env", 2) as task:
        task.advance()
        seen = wait_for(capsys, "env  1/2 items")
        task.advance()
    assert "env  1/2 items" in seen


def test_the_batch_line_reads_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    summary = BatchSummary(path="out.jsonl", total=10)
    with live_progress(summary, llm=True):
        summary.skipped, summary.succeeded, summary.failed = 3, 5, 2
        summary.tokens, summary.rate_limited = 1234, 4
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("batch  10/10 rows  ")
    assert "failed 2  tokens 1,234  429s 4  in 0:" in last


def test_run_batch_shows_its_rows(capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    async def double(item: dict[str, Any]) -> int:
        return int(item["n"]) * 2

    items = [{"id": i, "n": i} for i in range(6)]
    summary = asyncio.run(run_batch(items, "id", double, tmp_path / "out.jsonl"))
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert summary.processed == 6 and "batch  6/6 rows" in last and "failed 0" in last


def test_warmup_shows_the_models_answered(capsys: pytest.CaptureFixture[str]) -> None:
    with MockLLMServer(reply="pong") as server:
        server.enqueue(Fault.http(500))  # one of the two models fails (no retries in a probe)
        targets = model_targets(["openai/mock,openai/other"])
        report = run_warmup(
            targets, api_base=server.base_url, api_key="k", timeout=10, concurrency=1, progress=True
        )
        quiet = run_warmup(
            targets[:1], api_base=server.base_url, api_key="k", timeout=10, concurrency=1
        )
    err = capsys.readouterr().err.strip().splitlines()
    assert report.failed == 1 and quiet.ok
    assert len(err) == 1 and err[0].startswith("warmup  2/2 models") and "failed 1" in err[0]


def test_stdout_going_to_a_file_is_left_alone_under_a_bar(
    capsys: pytest.CaptureFixture[str],
) -> None:
    console, buffer = terminal()
    with track("job", 1, console=console) as task:
        print("a result line")  # stdout here is captured, not a terminal
        task.advance()
    assert capsys.readouterr().out == "a result line\n"
    assert "a result line" not in buffer.getvalue()
