"""``scillm report``: what a run did, from its run records — a terminal summary and one
self-contained HTML file with plots (throughput, concurrency, latency, 429s and retries, tokens
and cost by model, errors, the run's configuration).

    from scillm.report import load_run, write_html
    run = load_run("answers.jsonl")      # a `scillm batch` output or a proxy usage log
    write_html(run, "answers.report.html")

The HTML needs the ``report`` extra (Plotly, inlined: the file opens without a network).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from scillm.report.data import Run

__all__ = ["load_run", "write_html"]


def load_run(path: str | Path, config: dict[str, Any] | None = None) -> Run:
    """The run recorded in ``path``; see :func:`scillm.report.data.load_run`."""
    from scillm.report.data import load_run as load

    return load(path, config)


def write_html(run: Run, out: str | Path) -> Path:
    """Write the run's HTML report to ``out``; see :func:`scillm.report.html.write_html`."""
    from scillm.report.html import write_html as write

    return write(run, out)
