"""The HTML report in a real browser (headless Chromium over the DevTools protocol): it loads
with no console error, no exception and no network request, and every chart is drawn with its
marks. A screenshot goes to ``bench/results/report.png``. Two broken copies prove the checks
can fail: one whose chart library is missing, one that logs an error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browser import PageLoad, chromium_page
from report_helpers import BatchRun

from scillm.report.html import CHARTS

pytestmark = pytest.mark.requires("chromium", apt="chromium")

SCREENSHOT = Path(__file__).parents[2] / "bench" / "results" / "report.png"

# Marks Plotly draws: a <path> per bar, the line of a scatter trace.
MARKS_JS = """
(() => {
  const out = {};
  for (const id of %s) {
    const root = document.getElementById(id);
    const svg = root && root.querySelector('svg.main-svg');
    const bars = root ? [...root.querySelectorAll('.bars .point path')]
        .filter(p => (p.getAttribute('d') || '').length > 3 && p.getAttribute('d') !== 'M0,0Z')
        : [];
    const lines = root ? [...root.querySelectorAll('.scatterlayer path.js-line')]
        .filter(p => (p.getAttribute('d') || '').length > 10) : [];
    const box = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
    out[id] = {svg: !!svg, width: box.width, height: box.height, bars: bars.length,
               lines: lines.length};
  }
  return out;
})()
"""


async def open_report(path: Path, shot: Path | None = None) -> tuple[PageLoad, dict, dict]:
    async with chromium_page() as page:
        seen = await page.load(path.resolve().as_uri())
        marks = await page.evaluate(MARKS_JS % json.dumps(list(CHARTS)))
        page_facts = await page.evaluate(
            "({pwned: typeof window.pwned, errors: document.getElementById('errors')?.innerText,"
            " title: document.title})"
        )
        if shot is not None:
            await page.screenshot(shot)
    return seen, marks, page_facts


async def test_the_report_renders_in_chromium(batch_run: BatchRun) -> None:
    seen, marks, facts = await open_report(batch_run.report, SCREENSHOT)
    assert seen.console_errors == [] and seen.exceptions == []
    assert [url for url in seen.requests if not url.startswith("file:")] == []
    for chart in CHARTS:
        mark = marks[chart]
        assert mark["svg"] and mark["width"] > 300 and mark["height"] > 200, (chart, mark)
    assert marks["concurrency"]["lines"] == 1
    for chart in ("throughput", "latency", "retries", "tokens", "cost"):
        assert marks[chart]["bars"] > 0, (chart, marks[chart])
    assert marks["tokens"]["bars"] >= 2 * 3  # in and out for each priced model
    assert facts["pwned"] == "undefined"  # the hostile model name stayed text
    assert "BadRequestError" in facts["errors"] and "BadInput" in facts["errors"]
    assert SCREENSHOT.stat().st_size > 10_000


async def test_the_checks_fail_on_a_broken_report(batch_run: BatchRun, tmp_path: Path) -> None:
    text = batch_run.report.read_text()
    start = text.index('<script type="text/javascript">')
    end = text.index("</script>", start) + len("</script>")
    no_library = tmp_path / "no-library.html"
    no_library.write_text(text[:start] + text[end:])
    seen, marks, _ = await open_report(no_library)
    assert any("Plotly" in e for e in seen.exceptions), seen
    assert not any(m["svg"] for m in marks.values())

    noisy = tmp_path / "noisy.html"
    noisy.write_text(text.replace("</body>", "<script>console.error('boom')</script></body>"))
    seen, marks, _ = await open_report(noisy)
    assert seen.console_errors == ["boom"]
    assert all(m["svg"] for m in marks.values())
