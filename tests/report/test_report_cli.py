"""``scillm report`` on a real batch output: the summary, the HTML file, bad input."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_helpers import HOSTILE_MODEL, ROWS, SECRET_KEY, BatchRun, scillm

from scillm.cli import app
from scillm.report.html import CHARTS


class Resources(HTMLParser):
    """The URLs an HTML page would load (script/link/img ``src``/``href``)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and tag in ("script", "link", "img", "iframe"):
                self.found.append(f"{tag} {value}")


def external_resources(text: str) -> list[str]:
    parser = Resources()
    parser.feed(text)
    return parser.found


def test_summary_counts_the_run(batch_run: BatchRun, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    done = scillm("report", str(batch_run.output), "--json", "-o", str(out))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rows"] == ROWS + 3 and summary["calls"] == ROWS + 2
    assert summary["errors"] == {"BadRequestError": 1, "BadInput": 1}
    assert summary["failed_rows"] == 2 and summary["failed_calls"] == 1
    assert summary["rate_limited"] == 2 and summary["retries"] >= 2
    assert summary["cost_usd"] > 0 and summary["calls_of_unknown_cost"] == 2  # 2 unpriced
    p = summary["latency_ms"]
    assert 0 < p["p50"] <= p["p95"] <= p["p99"]
    assert out.is_file()


def test_the_terminal_summary_is_readable(batch_run: BatchRun) -> None:
    done = scillm("report", str(batch_run.output), "--no-html")
    assert done.returncode == 0, done.stderr
    for text in ("p50 / p95 / p99", "by model", "openai/gpt-4o-mini", "BadRequestError",
                 "unknown"):  # fmt: skip
        assert text in done.stdout, text


def test_batch_report_is_one_offline_file_without_secrets(batch_run: BatchRun) -> None:
    assert batch_run.report.is_file(), batch_run.done.stderr
    text = batch_run.report.read_text()
    for chart in CHARTS:
        assert f'id="{chart}"' in text
    assert external_resources(text) == []
    assert SECRET_KEY not in text
    assert "option.concurrency" in text  # the run's configuration
    assert HOSTILE_MODEL not in text  # escaped everywhere
    assert "window.pwned=1" in text  # ... but shown


def test_bad_input_is_refused_clearly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('not json\n[1, 2]\n{"torn": \n')
    for path, said in ((tmp_path / "missing.jsonl", "no such file"), (tmp_path, "no such file"),
                       (empty, "holds no rows"), (garbage, "holds no rows")):  # fmt: skip
        code = app(["report", str(path)], standalone_mode=False)
        err = capsys.readouterr().err
        assert code == 2, (path, err)
        assert err.startswith("error:") and said in err and err.count("\n") == 1


def test_hostile_records_do_not_break_the_report(tmp_path: Path) -> None:
    from scillm.report import load_run, write_html

    good = {"v": 1, "source": "batch", "ts": 1.8e9, "latency_ms": 10.0, "status": "ok",
            "model": "m", "tokens_in": 1, "tokens_out": 1, "cost_usd": None}  # fmt: skip
    weird = [
        {**good, "latency_ms": -1e12},
        {**good, "ts": 1e300},
        {**good, "latency_ms": 1e15},
        {**good, "ts": "soon", "latency_ms": "fast"},
        {**good, "tokens_in": -5, "tokens_out": 1.5, "rate_limited": True, "cost_usd": "free"},
        {**good, "v": 99},
    ]
    lines = [json.dumps({"id": i, "record": r}) for i, r in enumerate([good, *weird])]
    lines += ["[" * 5000 + "]" * 5000, '{"id": "x", "ok": false, "error": "not a mapping"}']
    path = tmp_path / "weird.jsonl"
    path.write_text("\n".join(lines) + "\n")
    run = load_run(path)
    summary = run.summary()
    assert summary["rows"] == len(weird) + 2 and summary["tokens_in"] >= 0
    assert summary["cost_usd"] is None  # nothing was priced: unknown, not $0
    assert write_html(run, tmp_path / "weird.html").stat().st_size > 1000
