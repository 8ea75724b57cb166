"""The full demo's report step: the batch run's HTML report (``scillm report``), checked to be
one self-contained file: no script, style sheet, image or frame loaded from elsewhere."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from scillm.demo.steps import StepResult

__all__ = ["external_resources", "report_step"]

LOADING_TAGS = frozenset({"script", "link", "img", "iframe", "embed", "object", "source"})


class _Resources(HTMLParser):
    """Collects the ``src``/``href``/``data`` of tags that would load something."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in LOADING_TAGS:
            self.found += [
                f"{tag} {value}" for name, value in attrs if name in ("src", "href", "data")
            ]


def external_resources(html: str) -> list[str]:
    """What ``html`` would load from outside itself (empty: it is self-contained)."""
    parser = _Resources()
    parser.feed(html)
    return parser.found


def report_step(run_path: Path, out: Path, config: dict[str, object]) -> StepResult:
    """Write ``run_path``'s report to ``out``; ok when it covers every row and is offline."""
    from scillm.report import load_run, write_html

    run = load_run(run_path, dict(config))
    written = write_html(run, out)
    html = written.read_text(encoding="utf-8")
    external = external_resources(html)
    p50 = run.latency_percentiles()["p50"] or 0.0
    line = (
        f"{run.calls} calls, {run.failed_calls} failed, p50 latency {p50:.0f} ms; one "
        f"self-contained file ({len(html) // 1024} KB, {len(external)} outside resources): "
        f"{written}"
    )
    ok = run.calls == run.rows > 0 and not external
    return StepResult.judged("report", ok, line)
